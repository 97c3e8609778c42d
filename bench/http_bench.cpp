// Micro-benchmarks of the per-request HTTP work on the hot path: parsing a
// typical `POST /v1/sms` (head scan + llhttp + framing checks + body span) and
// serialising its 202 response with every security header. Reports ns/request
// and heap allocations/request (malloc, calloc and realloc are counted).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "crypto/random.h"
#include "net/http_parser.h"
#include "net/request_id.h"
#include "net/response.h"

#include "alloc_counter.h"

using phigate::bench::g_allocs;

namespace phigate::net {
namespace {

const std::string kBody =
    R"({"to":"+919000000000","message":"Your OTP is 000000. It expires in 5 minutes.",)"
    R"("template_id":"1007000000000000000","type":"otp"})";

std::string typicalRequest() {
  return "POST /v1/sms HTTP/1.1\r\n"
         "Host: phigate.internal\r\n"
         "User-Agent: hospital-app/2.3\r\n"
         "Accept: application/json\r\n"
         "Content-Type: application/json\r\n"
         "Authorization: Bearer 0000000000000000000000000000000000000000000\r\n"
         "X-Timestamp: 1790000000\r\n"
         "X-Nonce: 0123456789abcdef0123456789abcdef\r\n"
         "Idempotency-Key: 6f1c2b9a-0000-4000-8000-000000000000\r\n"
         "X-Request-ID: req-000001\r\n"
         "Content-Length: " + std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
}

void parseOne(HttpParser& p, std::string& buf, size_t len) {
  p.begin(0);
  if (p.advance(buf.data(), len) != HttpParser::Event::kHeadersComplete) std::abort();
  p.setBodyLimit(64 * 1024);
  if (p.advance(buf.data(), len) != HttpParser::Event::kMessageComplete) std::abort();
}

void BM_ParseSmsRequest(benchmark::State& state) {
  const std::string wire = typicalRequest();
  std::string buf = wire + std::string(64, '\0');
  HeadLimits limits;
  HttpParser parser(limits);
  parseOne(parser, buf, wire.size());  // warm up vectors
  const size_t before = g_allocs;
  for (auto _ : state) {
    parseOne(parser, buf, wire.size());
    benchmark::DoNotOptimize(parser.request().body.data());
  }
  state.counters["allocs/req"] =
      benchmark::Counter(static_cast<double>(g_allocs - before) / static_cast<double>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ParseSmsRequest);

void BM_BuildAcceptedResponse(benchmark::State& state) {
  StaticHeaders fixed(true);
  WallClock clock;
  Buffer out;
  const std::string body =
      R"({"id":"6f1c2b9a5d3e4f708192a3b4c5d6e7f8","status":"queued","segments":1,"encoding":"GSM-7"})";
  char rid[kMaxRequestIdLength];
  const HeaderField extra[] = {{"RateLimit-Policy", "\"sms\";q=200;w=60"},
                               {"RateLimit", "\"sms\";r=199;t=60"}};
  const size_t before = g_allocs;
  for (auto _ : state) {
    out.clear();
    clock.refresh();
    ResponseSpec spec;
    spec.status = 202;
    spec.request_id = chooseRequestId("req-000001", rid);
    spec.extra = extra;
    appendResponse(out, fixed, clock, spec, body);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["allocs/req"] =
      benchmark::Counter(static_cast<double>(g_allocs - before) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_BuildAcceptedResponse);

// Both together: what one pipelined request costs the HTTP layer.
void BM_ParseAndRespond(benchmark::State& state) {
  const std::string wire = typicalRequest();
  std::string buf = wire + std::string(64, '\0');
  HeadLimits limits;
  HttpParser parser(limits);
  StaticHeaders fixed(true);
  WallClock clock;
  Buffer out;
  char rid[kMaxRequestIdLength];
  parseOne(parser, buf, wire.size());
  const size_t before = g_allocs;
  for (auto _ : state) {
    parseOne(parser, buf, wire.size());
    out.clear();
    clock.refresh();
    ResponseSpec spec;
    spec.status = 202;
    spec.request_id = chooseRequestId(parser.request().request_id, rid);
    appendResponse(out, fixed, clock, spec, R"({"id":"x","status":"queued"})");
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["allocs/req"] =
      benchmark::Counter(static_cast<double>(g_allocs - before) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_ParseAndRespond);

}  // namespace
}  // namespace phigate::net

int main(int argc, char** argv) {
  if (!phigate::crypto::initCrypto()) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
