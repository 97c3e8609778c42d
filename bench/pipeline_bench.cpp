// The whole in-process path of an accepted `POST /v1/sms`, and each security
// stage alone. "Whole" means: bytes in -> head scan + llhttp -> route ->
// client-ip -> ip-access -> authn (SHA-256 + lookup) -> rbac -> replay window
// -> simdjson validation -> seal (XChaCha20-Poly1305) -> in-process store
// (rate window + nonce + outbox) -> 202 response bytes + access-log line. Only the socket
// syscalls are missing. Reports ns/request and heap allocations/request.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <span>
#include <string>

#include "alloc_counter.h"
#include "api/app.h"
#include "crypto/hash.h"
#include "crypto/key_ring.h"
#include "crypto/pseudonym.h"
#include "crypto/random.h"
#include "net/connection.h"
#include "net/http_parser.h"
#include "net/worker.h"
#include "pipeline/authn.h"
#include "pipeline/client_ip.h"
#include "pipeline/replay.h"
#include "state/memory_store.h"

using phigate::bench::g_allocs;

namespace phigate {
namespace {

constexpr std::string_view kToken = "phg_live_benchbenchbenchbenchbenchbenchbenchb";
constexpr std::string_view kKeyHex = "8c1f0e2d3b4a59687766554433221100ffeeddccbbaa99887766554433221100";
const std::string kBody =
    R"({"to":"+919000000000","message":"Your OTP is 000000. It expires in 5 minutes.",)"
    R"("template_id":"1007000000000000000","type":"otp"})";

// A request whose nonce ends in 16 hex digits we overwrite per iteration.
struct RequestTemplate {
  std::string bytes;
  size_t nonce_counter_at = 0;

  RequestTemplate() {
    const std::string head_start =
        "POST /v1/sms HTTP/1.1\r\nHost: phigate.internal\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer " + std::string(kToken) + "\r\nX-Timestamp: " +
        std::to_string(time(nullptr)) + "\r\nX-Nonce: bench-nonce-";
    nonce_counter_at = head_start.size();
    bytes = head_start + "0000000000000000\r\nContent-Length: " + std::to_string(kBody.size()) +
            "\r\n\r\n" + kBody;
  }
  void setNonce(uint64_t n) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i, n >>= 4) bytes[nonce_counter_at + i] = kHex[n & 0xf];
  }
};

/** Everything a worker has, minus the socket. */
struct InProcessGateway {
  config::Config cfg;
  pipeline::PolicyConfig policy;
  crypto::KeyRing ring;
  std::unique_ptr<api::GatewayApp> app;
  std::unique_ptr<net::Worker> worker;
  net::Connection* conn = nullptr;  // never freed: the process ends

  InProcessGateway() {
    cfg.log_file = "/dev/null";  // the line is still formatted and queued
    cfg.limits.max_requests_per_connection = UINT32_MAX;  // one connection carries every request
    cfg.state.sms = config::RateRule{1'000'000, 1};  // charged like any request, never binding
    std::string err;
    if (!pipeline::KeyRegistry::build({}, kToken, "", &policy.keys, &err) ||
        !crypto::KeyRing::create(kKeyHex, "", false, &ring, &err)) {
      fprintf(stderr, "bench setup failed\n");
      std::abort();
    }
    state::MemoryStoreLimits limits;
    limits.max_messages = 50'000'000;
    limits.max_nonces = 50'000'000;
    app = std::make_unique<api::GatewayApp>(cfg, policy, ring,
                                            std::make_unique<state::MemoryStore>(limits),
                                            api::gatewayRoutes());
    worker = std::make_unique<net::Worker>(config::workerOptions(cfg), *app);
    worker->openLog();
    conn = new net::Connection(*worker, *app);
    conn->start();
  }
};

void BM_WholePipelineAcceptedSms(benchmark::State& state) {
  static InProcessGateway gw;
  RequestTemplate req;
  Buffer out;
  static uint64_t nonce = 0;
  req.setNonce(++nonce);
  gw.conn->injectInput(req.bytes);
  gw.conn->takeOutput(&out);
  if (out.view().rfind("HTTP/1.1 202 ", 0) != 0) {
    state.SkipWithError("the request was not accepted");
    return;
  }
  const size_t before = g_allocs;
  for (auto _ : state) {
    req.setNonce(++nonce);
    gw.conn->injectInput(req.bytes);
    gw.conn->takeOutput(&out);
    benchmark::DoNotOptimize(out.data());
  }
  if (out.view().rfind("HTTP/1.1 202 ", 0) != 0) state.SkipWithError("a request was refused");
  state.counters["allocs/req"] = static_cast<double>(g_allocs - before) /
                                 static_cast<double>(state.iterations());
}
// Fixed iterations: every accepted message stays in the in-process store.
BENCHMARK(BM_WholePipelineAcceptedSms)->Iterations(200'000)->Repetitions(5);

// ---- each stage alone ------------------------------------------------------

struct ParsedRequest {
  std::string buf;
  net::HeadLimits limits;
  net::HttpParser parser{limits};
  explicit ParsedRequest(const std::string& wire) : buf(wire + std::string(64, '\0')) {
    parser.begin(0);
    parser.advance(buf.data(), wire.size());
    parser.setBodyLimit(1 << 20);
    parser.advance(buf.data(), wire.size());
  }
  const net::HttpRequest& request() const { return parser.request(); }
};

void BM_StageClientIpTrustedProxy(benchmark::State& state) {
  pipeline::CidrList trusted;
  pipeline::CidrList::parse("10.0.0.0/8, 192.168.0.0/16, fd00::/8", &trusted, nullptr);
  pipeline::IpAddress peer;
  pipeline::parseIp("10.1.1.1", &peer);
  const std::string_view xff[] = {"203.0.113.7, 10.2.2.2"};
  for (auto _ : state) benchmark::DoNotOptimize(pipeline::resolveClientIp(peer, xff, trusted));
}
BENCHMARK(BM_StageClientIpTrustedProxy);

void BM_StageAuthn(benchmark::State& state) {
  pipeline::KeyRegistry keys;
  std::string err;
  pipeline::KeyRegistry::build({}, kToken, "", &keys, &err);
  RequestTemplate t;
  ParsedRequest p(t.bytes);
  const pipeline::ApiKey* key = nullptr;
  for (auto _ : state) benchmark::DoNotOptimize(pipeline::authenticate(p.request(), keys, &key));
}
BENCHMARK(BM_StageAuthn);

void BM_StageReplaySigned(benchmark::State& state) {
  pipeline::ApiKey key;
  key.signing_secret.assign(32, 's');
  RequestTemplate t;
  ParsedRequest p(t.bytes);  // no X-Signature: measures up to the HMAC compare
  pipeline::ReplayToken tok;
  const int64_t now = time(nullptr);
  for (auto _ : state) benchmark::DoNotOptimize(pipeline::checkReplay(p.request(), key, now, 300, &tok));
}
BENCHMARK(BM_StageReplaySigned);

void BM_StageValidateSms(benchmark::State& state) {
  pipeline::BodyValidator v;
  std::string body = kBody + std::string(64, '\0');
  pipeline::SmsMessage m;
  const size_t before = g_allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(v.validateSms(std::string_view(body.data(), kBody.size()), &m));
  }
  state.counters["allocs/req"] = static_cast<double>(g_allocs - before) /
                                 static_cast<double>(state.iterations());
}
BENCHMARK(BM_StageValidateSms);

// The bulk schemas walk up to 200 recipients or 200 SMS objects: the largest
// bodies the validator reads element by element.
std::string bulkListBody() {
  std::string body = R"({"message":"Clinic closed tomorrow","type":"otp","to":[)";
  for (int i = 0; i < 200; ++i) {
    char phone[24];
    std::snprintf(phone, sizeof phone, "%s\"+9198%08d\"", i ? "," : "", i + 1);
    body += phone;
  }
  return body + "]}";
}

std::string bulkMessagesBody() {
  std::string body = R"({"messages":[)";
  for (int i = 0; i < 200; ++i) {
    char item[96];
    std::snprintf(item, sizeof item, R"(%s{"to":"+9198%08d","message":"Reminder %d"})", i ? "," : "",
                  i + 1, i);
    body += item;
  }
  return body + "]}";
}

void validateBulk(benchmark::State& state, const std::string& json) {
  pipeline::BodyValidator v;
  std::string body = json + std::string(64, '\0');
  std::span<const pipeline::SmsMessage> out;
  const size_t before = g_allocs;
  for (auto _ : state) {
    const auto st = v.validateBulk(std::string_view(body.data(), json.size()), &out);
    if (st != pipeline::BodyStatus::kOk) state.SkipWithError("bulk body refused");
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["allocs/req"] = static_cast<double>(g_allocs - before) /
                                 static_cast<double>(state.iterations());
}

void BM_StageValidateBulkList200(benchmark::State& state) { validateBulk(state, bulkListBody()); }
BENCHMARK(BM_StageValidateBulkList200);

void BM_StageValidateBulkMessages200(benchmark::State& state) { validateBulk(state, bulkMessagesBody()); }
BENCHMARK(BM_StageValidateBulkMessages200);

void BM_StageValidateEmail(benchmark::State& state) {
  const std::string json =
      R"({"to":"patient@example.invalid","subject":"Your lab results are ready",)"
      R"("text":"Dear patient,\nyour results are ready in the portal.","reply_to":"desk@hospital.example.invalid"})";
  pipeline::BodyValidator v;
  std::string body = json + std::string(64, '\0');
  pipeline::EmailMessage m;
  const size_t before = g_allocs;
  for (auto _ : state) {
    if (v.validateEmail(std::string_view(body.data(), json.size()), &m) != pipeline::BodyStatus::kOk) {
      state.SkipWithError("email body refused");
    }
    benchmark::DoNotOptimize(m.to.data());
  }
  state.counters["allocs/req"] = static_cast<double>(g_allocs - before) /
                                 static_cast<double>(state.iterations());
}
BENCHMARK(BM_StageValidateEmail);

void BM_SealPayload(benchmark::State& state) {
  crypto::KeyRing ring;
  std::string err;
  crypto::KeyRing::create(kKeyHex, "", false, &ring, &err);
  const std::string plain(180, 'p');
  std::string out(crypto::KeyRing::sealedSize(plain.size()), '\0');
  for (auto _ : state) {
    ring.seal(plain, "0123456789abcdef0123456789abcdef\nclinic-app",
              reinterpret_cast<uint8_t*>(out.data()));
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_SealPayload);

// A Redis key name's pseudonym (RedisStore: for the nonce, the
// Idempotency-Key, a client address): one keyed BLAKE2b-128, no allocation.
// Argument: the value's length (a 22-char nonce, a 255-char Idempotency-Key).
void BM_KeyNamePseudonym(benchmark::State& state) {
  crypto::Pseudonymizer names;
  std::string err;
  crypto::Pseudonymizer::create(kKeyHex, false, &names, &err);
  const std::string value(static_cast<size_t>(state.range(0)), 'v');
  char out[crypto::Pseudonymizer::kTextChars];
  const uint64_t allocs_before = g_allocs;
  for (auto _ : state) {
    names.text(crypto::Pseudonymizer::Kind::kNonce, value, out);
    benchmark::DoNotOptimize(out);
  }
  state.counters["allocs/op"] = benchmark::Counter(static_cast<double>(g_allocs - allocs_before) /
                                                   static_cast<double>(state.iterations()));
}
BENCHMARK(BM_KeyNamePseudonym)->Arg(22)->Arg(255);

void BM_MemoryStoreAdmit(benchmark::State& state) {
  state::MemoryStoreLimits limits;
  limits.max_messages = 50'000'000;
  state::MemoryStore store(limits);
  std::string nonce = "nonce-0000000000000000";
  std::string id = "00000000000000000000000000000000";
  const std::string sealed(240, 's');
  uint64_t n = 0;
  for (auto _ : state) {
    ++n;
    for (int i = 0; i < 16; ++i) nonce[6 + i] = id[16 + i] = "0123456789abcdef"[(n >> (4 * i)) & 0xf];
    const state::OutboxEntry e{id, "sms", sealed, 1};
    state::AdmitRequest req;
    req.key_id = "clinic-app";
    req.member = nonce;
    req.rate = state::RateCharge{"clinic-app", "sms", 1'000'000'000, 60, 0};
    req.nonce = nonce;
    req.nonce_ttl_s = 600;
    req.entries = std::span(&e, 1);
    store.admit(req, nullptr, [](void*, const state::AdmitResult&) {});
  }
}
BENCHMARK(BM_MemoryStoreAdmit)->Iterations(200'000);

}  // namespace
}  // namespace phigate

int main(int argc, char** argv) {
  if (!phigate::crypto::initCrypto()) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
