// The mock provider as a net::Application: CDAC Mobile Seva, a generic JSON
// provider, and the test hooks, on phigate's own HTTP/1.1 server.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "mock/cdac.h"
#include "mock/recorder.h"
#include "net/exchange.h"

namespace phigate::mock {

struct MockOptions {
  CdacAccount cdac;
  std::string http_token;     // Bearer token of POST /v1/messages
  uint32_t latency_ms = 0;    // every answer waits this long (uv timer)
  uint32_t fail_next = 0;     // the next N sends get a temporary error
  int fail_code = 409;        // which CDAC code (the JSON protocol answers 503)
};

class MockApp : public net::Application {
 public:
  MockApp(MockOptions opts, Recorder& recorder) : opts_(std::move(opts)), recorder_(recorder) {}

  void onHead(net::Exchange& ex) override;
  void onRequest(net::Exchange& ex) override;
  void onDone(net::Exchange& ex) override;
  void onStart(net::Worker& worker) override;

 private:
  struct Pending;
  void handleCdac(net::Exchange& ex);
  void handleJson(net::Exchange& ex);
  void handleReceived(net::Exchange& ex);
  /** Answers now, or after --latency-ms when it is set. */
  void answer(net::Exchange& ex, int status, std::string_view type, std::string body);
  /** True (and counts one down) when --fail-next says this send fails. */
  bool takeFailure();
  std::string freshId(std::string_view prefix);
  static void onLatencyTimer(uv_timer_t* t);

  MockOptions opts_;
  Recorder& recorder_;
  uv_loop_t* loop_ = nullptr;
  uint64_t next_id_ = 1;
  // Our message id -> the provider id it got: a repeat gets the same answer.
  std::unordered_map<std::string, std::string> seen_;
};

}  // namespace phigate::mock
