// Shared state through the real binary (DESIGN §2-§4): rate limits and their
// headers, daily quotas, per-address limits on /health, Idempotency-Key,
// and automatic containment of addresses that fail authentication.
//
// Every test runs once per store backend. The memory backend is phigate's
// default; the Redis one is the same test with RATELIMIT_STORAGE_URI pointing
// at a redis-server of its own (tests/support/redis_server.h). Until phigate
// reports {"store":{"backend":"redis"}} on /health when given that URI, the
// Redis instantiation is skipped (checked once per run).
//
// Distinct client addresses come from X-Forwarded-For with TRUSTED_PROXIES
// set to the loopback peer, so address-based state never leaks between tests.
#include <gtest/gtest.h>

#include <simdjson.h>

#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"
#include "security_fixture.h"
#include "support/redis_server.h"

namespace phigate::test {
namespace {

enum class Backend { kMemory, kRedis };

std::string backendName(Backend b) { return b == Backend::kMemory ? "memory" : "redis"; }
void PrintTo(Backend b, std::ostream* os) { *os << backendName(b); }

/** A key of the keys file, with the per-key "limits" object as JSON. */
struct StateKey {
  std::string id;
  std::vector<std::string> roles;
  std::string limits = "{}";
};

std::string keysJson(const std::vector<StateKey>& keys) {
  std::string out = "{\"keys\": [";
  for (size_t i = 0; i < keys.size(); ++i) {
    const StateKey& k = keys[i];
    std::string roles;
    for (size_t j = 0; j < k.roles.size(); ++j) roles += (j ? ",\"" : "\"") + k.roles[j] + "\"";
    out += i ? ",\n  " : "\n  ";
    out += "{\"id\": \"" + k.id + "\", \"token_sha256\": \"" + sha256Hex(tokenFor(k.id)) +
           "\", \"roles\": [" + roles + "], \"mode\": \"live\", \"limits\": " + k.limits + "}";
  }
  return out + "\n]}\n";
}

const std::vector<StateKey> kDefaultKeys = {
    {"clinic", {"sms", "bulk", "email"}},
    {"lab", {"sms"}},
};

const std::string kClinic = tokenFor("clinic");
const std::string kLab = tokenFor("lab");
const std::string kForeignToken = "tok_nobody_Zq7Wm2Xk9Pv4Rt8Ys3Bn6Hd1";

/** "X-Forwarded-For: <ip>\r\n" (the servers here trust the loopback peer). */
std::string from(const std::string& ip) { return "X-Forwarded-For: " + ip + "\r\n"; }

std::string idempotencyKey(const std::string& key) { return "Idempotency-Key: " + key + "\r\n"; }

/** The id of a 202 {"id": ...} ("" when absent). */
std::string messageId(const Response& r) { return jsonField(r.body, "id"); }

/** Seconds until the next 00:00 UTC. */
int64_t secondsToUtcMidnight() { return 86'400 - unixNow() % 86'400; }

/** A decimal Retry-After value (-1 when missing or not a number). */
int64_t retryAfter(const Response& r) {
  const std::string v = r.header("retry-after");
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(v);
}

/** Parses `"cls";r=N;t=M` (RateLimit); false when it is not exactly that shape. */
bool parseRateLimit(const std::string& v, const std::string& cls, int64_t* r, int64_t* t) {
  const std::string head = "\"" + cls + "\";r=";
  if (v.rfind(head, 0) != 0) return false;
  const size_t semi = v.find(";t=", head.size());
  if (semi == std::string::npos) return false;
  const std::string rs = v.substr(head.size(), semi - head.size());
  const std::string ts = v.substr(semi + 3);
  if (rs.empty() || ts.empty() || rs.find_first_not_of("0123456789") != std::string::npos ||
      ts.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *r = std::stoll(rs);
  *t = std::stoll(ts);
  return true;
}

/**
 * gtest checks: RateLimit-Policy `"cls";q=limit;w=window` and RateLimit
 * `"cls";r=remaining;t=reset`, each exactly once. An accepted request's reset
 * is about the whole window (its oldest entry is recent); a refused one's is
 * within the window and equals Retry-After.
 */
void expectRateHeaders(const Response& resp, const std::string& cls, int limit, int window, int remaining) {
  SCOPED_TRACE("response:\n" + resp.head);
  EXPECT_EQ(resp.count("ratelimit-policy"), 1u);
  EXPECT_EQ(resp.count("ratelimit"), 1u);
  EXPECT_EQ(resp.header("ratelimit-policy"),
            "\"" + cls + "\";q=" + std::to_string(limit) + ";w=" + std::to_string(window));
  int64_t r = -1, t = -1;
  ASSERT_TRUE(parseRateLimit(resp.header("ratelimit"), cls, &r, &t)) << resp.header("ratelimit");
  EXPECT_EQ(r, remaining);
  EXPECT_GE(t, 1);
  EXPECT_LE(t, window);
  if (resp.status == 429) {
    EXPECT_EQ(t, retryAfter(resp)) << "RateLimit t and Retry-After disagree";
  } else {
    EXPECT_GE(t, window - 2);
  }
}

/** gtest checks: a 429 with its type, a Retry-After within [1, max_s], and no Idempotent-Replayed. */
void expectTooMany(const Response& r, const std::string& type_slug, int64_t max_s) {
  expectProblem(r, 429, type_slug);
  EXPECT_EQ(r.count("retry-after"), 1u);
  const int64_t ra = retryAfter(r);
  EXPECT_GE(ra, 1) << r.header("retry-after");
  EXPECT_LE(ra, max_s);
  expectSecurityHeaders(r);
}

// ---- the fixture ------------------------------------------------------------------

class StateTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRedis && !redisBackendAvailable()) {
      GTEST_SKIP() << "phigate does not use a Redis store for RATELIMIT_STORAGE_URI yet";
    }
  }

  /** Starts phigate on this test's backend with `env` and `keys`; asserts it is ready. */
  void start(std::map<std::string, std::string> env = {}, const std::vector<StateKey>& keys = kDefaultKeys) {
    env["API_KEYS_FILE"] = "keys.json";
    env.emplace("TRUSTED_PROXIES", "127.0.0.1/32");
    if (GetParam() == Backend::kRedis) {
      redis_ = std::make_unique<RedisServer>();
      ASSERT_TRUE(redis_->ready()) << redis_->error();
      env["RATELIMIT_STORAGE_URI"] = redis_->uri();
      // Behaviour, not deadlines (redis_fault_test covers those): a shared CI
      // machine can stall Redis past the 50 ms default and turn a 202 into a 503.
      env.emplace("PHIGATE_STORE_TIMEOUT_MS", "2000");
    }
    server_ = std::make_unique<Server>(ServerOptions{.env = env, .files = {{"keys.json", keysJson(keys)}}});
    ASSERT_TRUE(server_->ready()) << server_->logText();
    // A worker listens before its store is ready (connected, scripts loaded,
    // clock offset measured) and answers 503 until then; these tests are
    // about the store's behaviour, not that.
    if (GetParam() == Backend::kRedis) {
      ASSERT_TRUE(server_->waitForLine({"\"event\":\"store_ready\""}, 10000)) << server_->logText();
    }
  }

  uint16_t port() const { return server_->port(); }
  const Server& server() const { return *server_; }

  Response send(ApiRequest& req) { return call(port(), req); }
  Response send(ApiRequest&& req) { return call(port(), req); }
  Response sms(const std::string& token, const std::string& extra_headers = "",
               const std::string& body = kSmsBody) {
    ApiRequest req = post("/v1/sms", body, token);
    req.extra_headers = extra_headers;
    return send(req);
  }
  Response email(const std::string& token) { return send(post("/v1/email", kEmailBody, token)); }
  Response health(const std::string& extra_headers = "") {
    auto r = request(port(), get("/health", extra_headers));
    if (!r) ADD_FAILURE() << "no response to GET /health";
    return r ? *r : Response{};
  }

  /** Sends `req` until it gets `status` or `timeout_ms` passes; the last answer. */
  Response sendUntil(const std::function<ApiRequest()>& make, int status, int timeout_ms) {
    const int64_t deadline = nowMs() + timeout_ms;
    for (;;) {
      ApiRequest req = make();
      Response r = send(req);
      if (r.status == status || nowMs() >= deadline) return r;
      usleep(50'000);
    }
  }

  /**
   * True when phigate, given RATELIMIT_STORAGE_URI, says on /health that its
   * store is Redis. Asked once per run.
   */
  static bool redisBackendAvailable() {
    static const bool available = [] {
      RedisServer redis;
      if (!redis.ready()) return false;  // already a test failure (the helper says why)
      Server s({.env = {{"RATELIMIT_STORAGE_URI", redis.uri()}}});
      if (!s.ready()) return false;
      auto r = request(s.port(), get("/health"));
      if (!r) return false;
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      std::string_view backend;
      if (parser.parse(r->body).get(doc) != simdjson::SUCCESS ||
          doc["checks"]["store"]["backend"].get_string().get(backend) != simdjson::SUCCESS) {
        return false;
      }
      return backend == "redis";
    }();
    return available;
  }

  std::unique_ptr<RedisServer> redis_;  // declared first: outlives the server
  std::unique_ptr<Server> server_;
};

// ---- rate limits and their headers ----------------------------------------------------

TEST_P(StateTest, RateLimitHeadersOnAcceptedAndRefusedRequests) {
  start({{"PHIGATE_RATE_LIMITS", "sms=3/60"}});
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const Response r = sms(kClinic);
    ASSERT_EQ(r.status, 202) << r.body;
    expectRateHeaders(r, "sms", 3, 60, 2 - i);
  }
  ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
  req.request_id = uniqueRequestId("limited");
  const Response refused = send(req);
  expectTooMany(refused, "rate-limited", 60);
  expectRateHeaders(refused, "sms", 3, 60, 0);
  EXPECT_EQ(jsonField(refused.body, "title"), "Too Many Requests");
  expectAuditLine(server(), req.request_id,
                  {.route = "sms", .status = 429, .event = "rate_limited", .reason = "rate_window",
                   .key_id = "clinic"});
  // A refused request was not charged: the answer stays the same.
  const Response again = sms(kClinic);
  expectTooMany(again, "rate-limited", 60);
  expectRateHeaders(again, "sms", 3, 60, 0);
}

// The guide's defaults: sms 200/min, bulk 10/min, email 200/min, message reads
// 600/min per key; /health 5/min per client address.
TEST_P(StateTest, DefaultPoliciesFollowTheGuide) {
  start();
  Response r = sms(kClinic);
  ASSERT_EQ(r.status, 202) << r.body;
  expectRateHeaders(r, "sms", 200, 60, 199);
  const std::string id = messageId(r);
  r = send(post("/v1/sms/bulk", kBulkBody, kClinic));
  ASSERT_EQ(r.status, 202) << r.body;
  expectRateHeaders(r, "bulk", 10, 60, 9);
  r = email(kClinic);
  ASSERT_EQ(r.status, 202) << r.body;
  expectRateHeaders(r, "email", 200, 60, 199);
  r = callGet(port(), "/v1/messages/" + id, kClinic);
  ASSERT_EQ(r.status, 200) << r.body;
  expectRateHeaders(r, "messages", 600, 60, 599);
  r = health();
  ASSERT_EQ(r.status, 200) << r.body;
  expectRateHeaders(r, "health", 5, 60, 4);
  // Unlimited routes say nothing about limits.
  auto live = request(port(), get("/livez"));
  ASSERT_TRUE(live);
  EXPECT_FALSE(live->has("ratelimit-policy"));
  EXPECT_FALSE(live->has("ratelimit"));
}

TEST_P(StateTest, RateLimitsFromTheEnvironment) {
  start({{"PHIGATE_RATE_LIMITS", "sms=2/30, email=1/45"}});
  Response r = sms(kClinic);
  ASSERT_EQ(r.status, 202);
  expectRateHeaders(r, "sms", 2, 30, 1);
  ASSERT_EQ(sms(kClinic).status, 202);
  r = sms(kClinic);
  expectTooMany(r, "rate-limited", 30);
  expectRateHeaders(r, "sms", 2, 30, 0);
  // Each route class and each key has its own window.
  r = email(kClinic);
  ASSERT_EQ(r.status, 202);
  expectRateHeaders(r, "email", 1, 45, 0);
  r = email(kClinic);
  expectTooMany(r, "rate-limited", 45);
  expectRateHeaders(r, "email", 1, 45, 0);
  r = sms(kLab);
  ASSERT_EQ(r.status, 202);
  expectRateHeaders(r, "sms", 2, 30, 1);
  r = send(post("/v1/sms/bulk", kBulkBody, kClinic));  // not overridden
  ASSERT_EQ(r.status, 202);
  expectRateHeaders(r, "bulk", 10, 60, 9);
}

TEST_P(StateTest, PerKeyLimitFromTheKeysFile) {
  start({{"PHIGATE_RATE_LIMITS", "sms=2/60"}},
        {{"clinic", {"sms"}}, {"big", {"sms"}, R"({"sms": 4})"}});
  const std::string big = tokenFor("big");
  for (int i = 0; i < 4; ++i) {
    const Response r = sms(big);
    ASSERT_EQ(r.status, 202) << i;
    expectRateHeaders(r, "sms", 4, 60, 3 - i);
  }
  Response r = sms(big);
  expectTooMany(r, "rate-limited", 60);
  expectRateHeaders(r, "sms", 4, 60, 0);
  // A key without an override has the class's limit.
  ASSERT_EQ(sms(kClinic).status, 202);
  r = sms(kClinic);
  ASSERT_EQ(r.status, 202);
  expectRateHeaders(r, "sms", 2, 60, 0);
  expectTooMany(sms(kClinic), "rate-limited", 60);
}

// ---- daily quotas -------------------------------------------------------------------

TEST_P(StateTest, DailyQuotaFromTheEnvironment) {
  start({{"PHIGATE_DAILY_QUOTA", "2"}});
  ASSERT_EQ(sms(kClinic).status, 202);
  ASSERT_EQ(sms(kClinic).status, 202);
  ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
  req.request_id = uniqueRequestId("quota");
  const Response r = send(req);
  expectTooMany(r, "quota-exceeded", 86'400);
  EXPECT_EQ(jsonField(r.body, "title"), "Daily quota exceeded");
  // It renews at 00:00 UTC.
  EXPECT_NEAR(static_cast<double>(retryAfter(r)), static_cast<double>(secondsToUtcMidnight()), 3.0);
  // The rate headers agree: nothing left until then.
  EXPECT_EQ(r.header("ratelimit-policy"), "\"sms\";q=200;w=60");
  int64_t remaining = -1, reset = -1;
  ASSERT_TRUE(parseRateLimit(r.header("ratelimit"), "sms", &remaining, &reset)) << r.header("ratelimit");
  EXPECT_EQ(remaining, 0);
  EXPECT_EQ(reset, retryAfter(r));
  expectAuditLine(server(), req.request_id,
                  {.route = "sms", .status = 429, .event = "rate_limited", .reason = "daily_quota",
                   .key_id = "clinic"});
  // Every key has its own quota.
  EXPECT_EQ(sms(kLab).status, 202);
  expectTooMany(sms(kClinic), "quota-exceeded", 86'400);
}

TEST_P(StateTest, DailyQuotaPerKeyFromTheKeysFile) {
  start({{"PHIGATE_DAILY_QUOTA", "3"}},
        {{"clinic", {"sms"}}, {"metered", {"sms"}, R"({"daily": 1})"}});
  const std::string metered = tokenFor("metered");
  { Response rr = sms(metered); ASSERT_EQ(rr.status, 202) << rr.body << server().logText(); }
  expectTooMany(sms(metered), "quota-exceeded", 86'400);
  // The others have the default quota.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(sms(kClinic).status, 202) << i;
  expectTooMany(sms(kClinic), "quota-exceeded", 86'400);
}

// ---- per-address and read limits ------------------------------------------------------

TEST_P(StateTest, HealthIsLimitedPerClientAddress) {
  start();
  for (int i = 0; i < 5; ++i) {
    const Response r = health();
    ASSERT_EQ(r.status, 200) << i << " " << r.body;
    expectRateHeaders(r, "health", 5, 60, 4 - i);
  }
  const std::string rid = uniqueRequestId("health-limited");
  auto r = request(port(), get("/health", "X-Request-ID: " + rid + "\r\n"));
  ASSERT_TRUE(r);
  expectTooMany(*r, "rate-limited", 60);
  expectRateHeaders(*r, "health", 5, 60, 0);
  expectAuditLine(server(), rid,
                  {.method = "GET", .route = "health", .status = 429, .event = "rate_limited",
                   .reason = "rate_window"});
  // Another address has its own window.
  const Response other = health(from("203.0.113.50"));
  EXPECT_EQ(other.status, 200);
  expectRateHeaders(other, "health", 5, 60, 4);
  // The probe for load balancers is never limited.
  for (int i = 0; i < 3; ++i) {
    auto live = request(port(), get("/livez"));
    ASSERT_TRUE(live);
    EXPECT_EQ(live->status, 200);
  }
}

TEST_P(StateTest, MessageReadsAreLimited) {
  start({{"PHIGATE_RATE_LIMITS", "messages=3/60"}});
  const Response created = sms(kClinic);
  ASSERT_EQ(created.status, 202);
  const std::string path = "/v1/messages/" + messageId(created);
  Response r = callGet(port(), path, kClinic);
  ASSERT_EQ(r.status, 200) << r.body;
  expectRateHeaders(r, "messages", 3, 60, 2);
  // A miss is charged too: ids cannot be probed for free.
  r = callGet(port(), "/v1/messages/0123456789abcdef0123456789abcdef", kClinic);
  expectProblem(r, 404, "not-found");
  expectRateHeaders(r, "messages", 3, 60, 1);
  r = callGet(port(), path, kClinic);
  ASSERT_EQ(r.status, 200);
  expectRateHeaders(r, "messages", 3, 60, 0);
  r = callGet(port(), path, kClinic);
  expectTooMany(r, "rate-limited", 60);
  expectRateHeaders(r, "messages", 3, 60, 0);
  // Sending is another class.
  EXPECT_EQ(sms(kClinic).status, 202);
}

// ---- Idempotency-Key ----------------------------------------------------------------

TEST_P(StateTest, IdempotentRetryGetsTheFirstAnswer) {
  start();
  const std::string key = idempotencyKey("order-0001");
  ApiRequest first = post("/v1/sms", kSmsBody, kClinic);
  first.extra_headers = key;
  const Response r1 = send(first);
  ASSERT_EQ(r1.status, 202) << r1.body;
  EXPECT_FALSE(r1.has("idempotent-replayed"));
  const std::string id = messageId(r1);
  ASSERT_EQ(id.size(), 32u) << r1.body;

  // A retry: new timestamp and nonce, same key and payload.
  ApiRequest retry = post("/v1/sms", kSmsBody, kClinic);
  retry.extra_headers = key;
  retry.request_id = uniqueRequestId("idem-replay");
  const Response r2 = send(retry);
  ASSERT_EQ(r2.status, 202) << r2.body;
  EXPECT_EQ(r2.body, r1.body);
  EXPECT_EQ(r2.count("idempotent-replayed"), 1u);
  EXPECT_EQ(r2.header("idempotent-replayed"), "true");
  EXPECT_EQ(r2.header("content-type"), r1.header("content-type"));
  EXPECT_NE(r2.header("x-request-id"), r1.header("x-request-id"));
  expectSecurityHeaders(r2);
  expectAuditLine(server(), retry.request_id, {.route = "sms", .status = 202, .key_id = "clinic"});

  // An exact retry (same nonce too) also gets the answer, not 409.
  const Response r3 = send(first);
  ASSERT_EQ(r3.status, 202) << r3.body;
  EXPECT_EQ(r3.body, r1.body);
  EXPECT_EQ(r3.header("idempotent-replayed"), "true");

  // The message exists once, for its key.
  const Response status = callGet(port(), "/v1/messages/" + id, kClinic);
  EXPECT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(jsonField(status.body, "id"), id);
  EXPECT_EQ(callGet(port(), "/v1/messages/" + id, kLab).status, 404);

  // Without the header, the same payload is a new message.
  const Response fresh = sms(kClinic);
  ASSERT_EQ(fresh.status, 202);
  EXPECT_NE(messageId(fresh), id);
  EXPECT_FALSE(fresh.has("idempotent-replayed"));
}

TEST_P(StateTest, IdempotencyKeyWithAnotherPayloadIs422) {
  start();
  const std::string key = idempotencyKey("order-0002");
  ASSERT_EQ(sms(kClinic, key).status, 202);
  const std::string other = R"({"to":"+919876543210","message":"A different text"})";
  ApiRequest req = post("/v1/sms", other, kClinic);
  req.extra_headers = key;
  const Response r = send(req);
  expectProblem(r, 422, "idempotency-mismatch");
  EXPECT_FALSE(r.has("idempotent-replayed"));
  expectSecurityHeaders(r);
  // The same key on another route is another payload too.
  ApiRequest mail = post("/v1/email", kEmailBody, kClinic);
  mail.extra_headers = key;
  expectProblem(send(mail), 422, "idempotency-mismatch");
  // Keys are per API key: another client may use the same Idempotency-Key.
  const Response lab = sms(kLab, key, other);
  EXPECT_EQ(lab.status, 202) << lab.body;
  EXPECT_FALSE(lab.has("idempotent-replayed"));
  // The original still answers for its payload.
  EXPECT_EQ(sms(kClinic, key).header("idempotent-replayed"), "true");
}

TEST_P(StateTest, IdempotentReplayDoesNotUseTheRateWindow) {
  start({{"PHIGATE_RATE_LIMITS", "sms=2/60"}});
  const std::string key = idempotencyKey("order-0003");
  const Response r1 = sms(kClinic, key);
  ASSERT_EQ(r1.status, 202);
  expectRateHeaders(r1, "sms", 2, 60, 1);
  for (int i = 0; i < 3; ++i) {
    const Response again = sms(kClinic, key);
    ASSERT_EQ(again.status, 202) << i;
    EXPECT_EQ(again.header("idempotent-replayed"), "true");
    EXPECT_EQ(again.body, r1.body);
  }
  // One admission so far: one slot is left.
  const Response r2 = sms(kClinic);
  ASSERT_EQ(r2.status, 202);
  expectRateHeaders(r2, "sms", 2, 60, 0);
  expectTooMany(sms(kClinic), "rate-limited", 60);
  // A retry of what went through is still answered with a full window.
  const Response late = sms(kClinic, key);
  EXPECT_EQ(late.status, 202);
  EXPECT_EQ(late.header("idempotent-replayed"), "true");
  EXPECT_EQ(late.body, r1.body);
}

TEST_P(StateTest, InvalidIdempotencyKeyIs400) {
  start();
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"256 characters", idempotencyKey(std::string(256, 'k'))},
      {"tab", idempotencyKey("order\t0004")},
      {"non-ASCII", idempotencyKey("order-\xc3\xa9")},
      {"empty", "Idempotency-Key: \r\n"},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE(bad[i].first);
    ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
    req.extra_headers = bad[i].second;
    const Response r = send(req);
    expectProblem(r, 400, "invalid-idempotency-key");
    EXPECT_EQ(r.body.find("order"), std::string::npos) << "the value is never echoed";
    // Nothing was recorded: the corrected request may reuse its nonce.
    req.extra_headers = idempotencyKey("fixed-" + std::to_string(i));
    const Response fixed = send(req);
    EXPECT_EQ(fixed.status, 202) << fixed.body;
    EXPECT_FALSE(fixed.has("idempotent-replayed"));
  }
  // Two keys: which would count? Neither; the HTTP parser refuses the head.
  for (const std::string& twice : {idempotencyKey("order-0004") + idempotencyKey("order-0004"),
                                   idempotencyKey("order-0004") + idempotencyKey("order-0005")}) {
    ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
    req.extra_headers = twice;
    const Response r = send(req);
    expectProblem(r, 400, "bad-request");
    EXPECT_EQ(jsonField(r.body, "code"), "duplicate_header");
    EXPECT_EQ(r.body.find("order"), std::string::npos) << "the value is never echoed";
  }
  // Other control characters (and DEL) never get past the HTTP parser: a 400 all the same.
  for (const char* value : {"order\x01" "0006", "order\x7f" "0006"}) {
    ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
    req.extra_headers = idempotencyKey(value);
    expectProblem(send(req), 400, "bad-request");
  }
  // 255 printable characters is the longest valid key.
  const Response longest = sms(kClinic, idempotencyKey(std::string(255, 'k')));
  EXPECT_EQ(longest.status, 202) << longest.body;
}

// ---- automatic containment ----------------------------------------------------------

TEST_P(StateTest, RepeatedAuthFailuresBlockTheAddressForAWhile) {
  start({{"PHIGATE_AUTH_FAILURE_LIMIT", "3"}, {"PHIGATE_AUTO_BLOCK_S", "2"}});
  const std::string attacker = "203.0.113.66";
  for (int i = 0; i < 3; ++i) expectUnauthorized(sms(kForeignToken, from(attacker)));
  // Blocked: even a valid token from that address is refused (at once with the
  // memory store; within a block-list refresh with a shared one).
  auto fromAttacker = [&] {
    ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
    req.extra_headers = from(attacker);
    req.request_id = uniqueRequestId("contained");
    return req;
  };
  ApiRequest probe = fromAttacker();
  Response r = send(probe);
  if (r.status != 403) r = sendUntil(fromAttacker, 403, 1500);
  expectProblem(r, 403, "forbidden");
  const int64_t blocked_at = nowMs();
  EXPECT_EQ(jsonField(r.body, "code"), "blocked") << "says which kind of block it is";
  // ... and when to come back (PHIGATE_AUTO_BLOCK_S=2).
  EXPECT_GE(retryAfter(r), 1);
  EXPECT_LE(retryAfter(r), 2);
  EXPECT_EQ(jsonField(r.body, "retry_after_s"), r.header("retry-after"));
  expectAuditLine(server(), r.header("x-request-id"),
                  {.route = "sms", .status = 403, .event = "ip_blocked", .reason = "blocked",
                   .client_ip = attacker});
  // Every route, before anything else.
  EXPECT_EQ(health(from(attacker)).status, 403);
  // Others are not affected.
  EXPECT_EQ(sms(kClinic).status, 202);
  EXPECT_EQ(sms(kClinic, from("203.0.113.67")).status, 202);

  // PHIGATE_AUTO_BLOCK_S=2 later (plus a refresh), the address is let in again.
  r = sendUntil(fromAttacker, 202, 4000);
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_GE(nowMs() - blocked_at, 1000) << "the block lifted too early";
}

// An IPv6 client usually holds a whole /64: failures are counted, and the
// block applies, per /64, so rotating addresses inside it gains nothing.
TEST_P(StateTest, Ipv6FailuresAndBlocksArePerSlash64) {
  start({{"PHIGATE_AUTH_FAILURE_LIMIT", "3"}, {"PHIGATE_AUTO_BLOCK_S", "60"}});
  const char* rotating[] = {"2001:db8:66:1::a", "2001:db8:66:1::b", "2001:db8:66:1:ffff::c"};
  for (const char* addr : rotating) expectUnauthorized(sms(kForeignToken, from(addr)));
  const std::string fresh = "2001:db8:66:1:1234:5678:9abc:def0";  // never failed itself
  auto fromFresh = [&] {
    ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
    req.extra_headers = from(fresh);
    req.request_id = uniqueRequestId("v6-contained");
    return req;
  };
  Response r = send(fromFresh());
  if (r.status != 403) r = sendUntil(fromFresh, 403, 1500);
  expectProblem(r, 403, "forbidden");
  // The audit line names the address itself, not the /64.
  expectAuditLine(server(), r.header("x-request-id"),
                  {.route = "sms", .status = 403, .event = "ip_blocked", .reason = "blocked",
                   .client_ip = fresh});
  // The neighbouring /64 is someone else.
  EXPECT_EQ(sms(kClinic, from("2001:db8:66:2::a")).status, 202);
}

// A request that resolves to a trusted proxy (no X-Forwarded-For from it)
// never counts toward containment: blocking the proxy would lock out every
// client behind it.
TEST_P(StateTest, FailuresFromATrustedProxyItselfNeverBlockIt) {
  start({{"PHIGATE_AUTH_FAILURE_LIMIT", "3"}, {"PHIGATE_AUTO_BLOCK_S", "60"}});
  for (int i = 0; i < 6; ++i) expectUnauthorized(sms(kForeignToken));  // from 127.0.0.1, trusted
  usleep(600'000);  // past a block-list refresh
  EXPECT_EQ(sms(kClinic).status, 202);
  EXPECT_EQ(health().status, 200);
  // Clients behind it are still counted by their own addresses.
  const std::string client = "203.0.113.90";
  for (int i = 0; i < 3; ++i) expectUnauthorized(sms(kForeignToken, from(client)));
  auto fromClient = [&] {
    ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
    req.extra_headers = from(client);
    return req;
  };
  Response r = send(fromClient());
  if (r.status != 403) r = sendUntil(fromClient, 403, 1500);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(sms(kClinic).status, 202);
}

// Per-address limits (/health's) are per /64 for IPv6 too.
TEST_P(StateTest, Ipv6HealthLimitIsPerSlash64) {
  start({{"PHIGATE_RATE_LIMITS", "health=2/60"}});
  EXPECT_EQ(health(from("2001:db8:77:1::1")).status, 200);
  EXPECT_EQ(health(from("2001:db8:77:1::2")).status, 200);
  expectTooMany(health(from("2001:db8:77:1:abcd::3")), "rate-limited", 60);
  EXPECT_EQ(health(from("2001:db8:77:2::1")).status, 200);
}

TEST_P(StateTest, FailuresBelowTheThresholdDoNotBlock) {
  start({{"PHIGATE_AUTH_FAILURE_LIMIT", "3"}, {"PHIGATE_AUTO_BLOCK_S", "60"}});
  const std::string a = "198.51.100.10", b = "198.51.100.11";
  for (int i = 0; i < 2; ++i) {
    expectUnauthorized(sms(kForeignToken, from(a)));
    expectUnauthorized(sms(kForeignToken, from(b)));
  }
  usleep(600'000);  // past a block-list refresh
  // Four failures in all, but two per address: nobody is blocked.
  EXPECT_EQ(sms(kClinic, from(a)).status, 202);
  EXPECT_EQ(sms(kClinic, from(b)).status, 202);
  EXPECT_EQ(health(from(a)).status, 200);
  // A success does not wipe the count: the third failure from `a` blocks it.
  expectUnauthorized(sms(kForeignToken, from(a)));
  auto fromA = [&] {
    ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
    req.extra_headers = from(a);
    return req;
  };
  expectProblem(sendUntil(fromA, 403, 1500), 403, "forbidden");
  EXPECT_EQ(sms(kClinic, from(b)).status, 202);
}

// ---- a store that stops answering (Redis only) --------------------------------------

TEST_P(StateTest, UnreachableStoreFailsClosed) {
  if (GetParam() != Backend::kRedis) GTEST_SKIP() << "the memory store is always there";
  start();
  ASSERT_EQ(sms(kClinic).status, 202);
  ASSERT_TRUE(redis_->pause());
  const Response r = sms(kClinic);
  expectProblem(r, 503, "store-unavailable");
  EXPECT_GE(retryAfter(r), 1);
  // Every 503 means "try again soon" and says when: /health's too.
  const Response h = health();
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(retryAfter(h), 1);
  ASSERT_TRUE(redis_->resume());
  auto again = [&] { return post("/v1/sms", kSmsBody, kClinic); };
  EXPECT_EQ(sendUntil(again, 202, 5000).status, 202);
}

// ---- answers that are not "try again soon" -----------------------------------------

// A full in-process store is not transient: its own problem type and status
// (507, no Retry-After), an event in the log, and /health says so.
TEST(StoreFull, FullMemoryStoreIsItsOwnAnswerAndHealthSaysSo) {
  // Delivery off: accepted messages stay queued and keep their room.
  Server s({.env = {{"SMS_API_KEY", kClinic}, {"PHIGATE_MEMORY_MAX_MESSAGES", "2"},
                    {"PHIGATE_DELIVERY", "false"}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  auto health = [&] {
    auto r = request(s.port(), get("/health"));
    return r ? *r : Response{};
  };
  EXPECT_EQ(health().status, 200);
  std::string id;
  for (int i = 0; i < 2; ++i) {
    const Response ok = call(s.port(), post("/v1/sms", kSmsBody, kClinic));
    EXPECT_EQ(ok.status, 202);
    id = messageId(ok);
  }
  ApiRequest third = post("/v1/sms", kSmsBody, kClinic);
  third.request_id = uniqueRequestId("full");
  const Response r = call(s.port(), third);
  expectProblem(r, 507, "store-full");
  EXPECT_FALSE(r.has("retry-after")) << "retrying soon does not help";
  EXPECT_NE(jsonField(r.body, "detail").find("RATELIMIT_STORAGE_URI"), std::string::npos);
  expectAuditLine(s, third.request_id,
                  {.route = "sms", .status = 507, .event = "store_full", .reason = "memory_store_full",
                   .key_id = "env-sms"});
  EXPECT_TRUE(s.waitForLine({"\"event\":\"store_full\"", "\"backend\":\"memory\""}));
  const Response h = health();
  EXPECT_EQ(h.status, 507) << "not 503: a full store is not 'try again soon'";
  EXPECT_FALSE(h.has("retry-after"));
  EXPECT_NE(h.body.find(R"("store":{"backend":"memory","status":"full"})"), std::string::npos) << h.body;
  // Reads still work: the store answers, it only refuses new messages.
  EXPECT_EQ(callGet(s.port(), "/v1/messages/" + id, kClinic).status, 200);
  EXPECT_EQ(call(s.port(), post("/v1/sms", kSmsBody, kClinic)).status, 507);
}

// An idempotency record sealed under a key that is no longer in the ring (an
// ENCRYPTION_KEY rotated without ENCRYPTION_KEYS_OLD) cannot be replayed, and
// never will be: its own 409, logged as an event, and nothing queued again.
TEST(IdempotencyRecord, UnreadableRecordIsNotAServiceOutage) {
  RedisServer redis;
  ASSERT_TRUE(redis.ready()) << redis.error();
  const std::string secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  auto start = [&](const std::string& encryption_key) {
    return std::make_unique<Server>(ServerOptions{
        .env = {{"SMS_API_KEY", kClinic}, {"RATELIMIT_STORAGE_URI", redis.uri()}, {"SECRET_KEY", secret},
                {"ENCRYPTION_KEY", encryption_key}, {"PHIGATE_STORE_TIMEOUT_MS", "2000"}}});
  };
  const std::string order = idempotencyKey("order-unreadable-1");
  {
    auto s = start("1111111111111111222222222222222233333333333333334444444444444444");
    ASSERT_TRUE(s->ready()) << s->logText();
    ASSERT_TRUE(s->waitForLine({"\"event\":\"store_ready\""}, 10000));
    ApiRequest req = post("/v1/sms", kSmsBody, kClinic);
    req.extra_headers = order;
    ASSERT_EQ(call(s->port(), req).status, 202);
  }
  auto s = start("5555555555555555666666666666666677777777777777778888888888888888");
  ASSERT_TRUE(s->ready()) << s->logText();
  ASSERT_TRUE(s->waitForLine({"\"event\":\"store_ready\""}, 10000));
  ApiRequest again = post("/v1/sms", kSmsBody, kClinic);
  again.extra_headers = order;
  again.request_id = uniqueRequestId("unreadable");
  const Response r = call(s->port(), again);
  expectProblem(r, 409, "idempotency-record-unreadable");
  EXPECT_FALSE(r.has("retry-after"));
  expectAuditLine(*s, again.request_id,
                  {.route = "sms", .status = 409, .event = "idempotency_record_unreadable",
                   .reason = "key_not_in_ring", .key_id = "env-sms"});
  // The same answer every time: it is not transient.
  ApiRequest third = post("/v1/sms", kSmsBody, kClinic);
  third.extra_headers = order;
  expectProblem(call(s->port(), third), 409, "idempotency-record-unreadable");
}

INSTANTIATE_TEST_SUITE_P(Stores, StateTest, ::testing::Values(Backend::kMemory, Backend::kRedis),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return backendName(info.param);
                         });

}  // namespace
}  // namespace phigate::test
