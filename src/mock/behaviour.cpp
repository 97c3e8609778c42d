#include "mock/behaviour.h"

#include <simdjson.h>

#include <cstdio>

#include "mock/cdac.h"

namespace phigate::mock {

namespace {

constexpr uint64_t kMaxMs = 60'000;
constexpr uint64_t kMaxCount = 1'000'000;

bool readRate(simdjson::dom::element v, double* out) {
  double d;
  if (v.get(d) != simdjson::SUCCESS || !(d >= 0 && d <= 1)) return false;
  *out = d;
  return true;
}

bool readUint(simdjson::dom::element v, uint64_t max, uint32_t* out) {
  uint64_t n;
  if (v.get(n) != simdjson::SUCCESS || n > max) return false;
  *out = static_cast<uint32_t>(n);
  return true;
}

bool readCode(simdjson::dom::element v, bool (*allowed)(int), int* out) {
  uint64_t n;
  if (v.get(n) != simdjson::SUCCESS || n > 999 || !allowed(static_cast<int>(n))) return false;
  *out = static_cast<int>(n);
  return true;
}

bool applyMember(std::string_view name, simdjson::dom::element v, MockBehaviour* b) {
  if (name == "latency_ms") return readUint(v, kMaxMs, &b->latency_ms);
  if (name == "error_rate") return readRate(v, &b->error_rate);
  if (name == "drop_rate") return readRate(v, &b->drop_rate);
  if (name == "undelivered_rate") return readRate(v, &b->undelivered_rate);
  if (name == "report_delay_ms") return readUint(v, kMaxMs, &b->report_delay_ms);
  if (name == "fail_next") return readUint(v, kMaxCount, &b->fail_next);
  if (name == "fail_code") return readCode(v, isCdacTemporary, &b->fail_code);
  if (name == "permanent_next") return readUint(v, kMaxCount, &b->permanent_next);
  if (name == "permanent_code") return readCode(v, isCdacPermanent, &b->permanent_code);
  return false;
}

}  // namespace

bool applyControl(std::string_view json, MockBehaviour* b) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(json.data(), json.size()).get(obj) != simdjson::SUCCESS) return false;
  MockBehaviour next = *b;  // all or nothing
  for (auto field : obj) {
    if (!applyMember(field.key, field.value, &next)) return false;
  }
  *b = next;
  return true;
}

std::string behaviourJson(const MockBehaviour& b) {
  char out[320];
  snprintf(out, sizeof out,
           "{\"latency_ms\":%u,\"error_rate\":%g,\"drop_rate\":%g,\"undelivered_rate\":%g,"
           "\"report_delay_ms\":%u,\"fail_next\":%u,\"fail_code\":%d,\"permanent_next\":%u,"
           "\"permanent_code\":%d}",
           b.latency_ms, b.error_rate, b.drop_rate, b.undelivered_rate, b.report_delay_ms,
           b.fail_next, b.fail_code, b.permanent_next, b.permanent_code);
  return out;
}

}  // namespace phigate::mock
