// What the mock does to the requests it gets, changeable while it runs
// (flags at start, POST /_mock/control later), so one long-running mock can
// serve several phases of a test. docs/MOCK_PROVIDER.md documents the JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace phigate::mock {

struct MockBehaviour {
  uint32_t latency_ms = 0;        // every answer waits this long (uv timer)
  double error_rate = 0;          // P(a valid send gets a temporary error)
  double drop_rate = 0;           // P(a taken send's connection is reset unanswered)
  double undelivered_rate = 0;    // P(a CDAC recipient is reported undelivered)
  uint32_t report_delay_ms = 0;   // a CDAC MsgID reports "submitted" this long
  uint32_t fail_next = 0;         // the next N valid sends get a temporary error
  int fail_code = 409;            // CDAC code for both (the JSON protocol answers 503)
  uint32_t permanent_next = 0;    // the next N valid sends get a permanent error
  int permanent_code = 406;       // CDAC code (the JSON protocol answers 422)
};

/**
 * Applies a control body (a JSON object whose members are MockBehaviour's
 * field names, each optional) to `b`. False, with `b` unchanged, when the
 * body is not such an object, names an unknown member, or a value is out of
 * range (rates 0..1, latency and delay 0..60000 ms, counts 0..1000000,
 * fail_code 405/407/408/409, permanent_code 401/403/404/406/411).
 */
bool applyControl(std::string_view json, MockBehaviour* b);

/** `b` as the JSON object applyControl reads. */
std::string behaviourJson(const MockBehaviour& b);

}  // namespace phigate::mock
