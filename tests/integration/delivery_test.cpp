// Delivery through the real binary, on both stores: an accepted SMS goes
// queued -> sent/delivered, a temporary failure is retried, a permanent one
// is final, an OTP past OTP_TTL_S expires, retries that outlive the
// deadline are dead letters, DELETE cancels what is still queued, and a
// final message leaves only its status record (payload and stream entry
// gone). These use simulated delivery (SMS_PROVIDER=mock and test keys: the
// magic recipients of delivery/simulator.h); delivery_provider_test.cpp runs
// the real adapters against phigate-mock-provider.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "harness.h"
#include "security_fixture.h"
#include "support/redis_server.h"

namespace phigate::test {
namespace {

const std::string kApp = tokenFor("app");
const std::string kTester = tokenFor("tester");

std::string smsBody(const std::string& to, const std::string& type = "transactional") {
  return R"({"to":")" + to + R"(","message":"Your report is ready","type":")" + type + R"("})";
}

enum class Backend { kMemory, kRedis };

class Delivery : public ::testing::TestWithParam<Backend> {
 protected:
  void start(std::map<std::string, std::string> env = {}) {
    TestKey app = keyWithRoles("app", {"sms", "bulk"});
    TestKey tester = keyWithRoles("tester", {"sms"});
    tester.mode = "test";
    env["API_KEYS_FILE"] = "keys.json";
    if (GetParam() == Backend::kRedis) {
      redis_ = std::make_unique<RedisServer>();
      ASSERT_TRUE(redis_->ready()) << redis_->error();
      env["RATELIMIT_STORAGE_URI"] = redis_->uri();
      env.emplace("PHIGATE_STORE_TIMEOUT_MS", "2000");  // a loaded CI machine is not a fault
    }
    server_ = std::make_unique<Server>(ServerOptions{
        .env = env, .files = {{"keys.json", keysFileJson({app, tester})}}});
    ASSERT_TRUE(server_->ready()) << server_->logText();
    if (redis_) {
      ASSERT_TRUE(server_->waitForLine({"\"event\":\"store_ready\""}, 10000));
    }
  }

  std::string send(const std::string& body, const std::string& token = kApp) {
    const Response r = call(server_->port(), post("/v1/sms", body, token));
    EXPECT_EQ(r.status, 202) << r.body;
    return jsonField(r.body, "id");
  }

  Response status(const std::string& id, const std::string& token = kApp) {
    return callGet(server_->port(), "/v1/messages/" + id, token);
  }

  /** Polls the message until its status is `want` (or the time is up); returns the last body. */
  std::string waitStatus(const std::string& id, const std::string& want, int timeout_ms = 5000) {
    const int64_t deadline = nowMs() + timeout_ms;
    std::string body;
    while (nowMs() < deadline) {
      const Response r = status(id);
      body = r.body;
      if (r.status == 200 && jsonField(body, "status") == want) return body;
      usleep(20'000);
    }
    ADD_FAILURE() << "message never became " << want << "; last: " << body;
    return body;
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<Server> server_;
};

TEST_P(Delivery, AcceptedMessageIsDeliveredAndShowsItsLifecycle) {
  start();
  const std::string id = send(smsBody("+919800000001"));
  const std::string body = waitStatus(id, "delivered");
  EXPECT_EQ(jsonField(body, "attempts"), "1");
  EXPECT_EQ(jsonField(body, "provider"), "simulated");
  EXPECT_FALSE(jsonField(body, "provider_message_id").empty());
  EXPECT_FALSE(jsonField(body, "updated_at").empty());
  // No recipient, no text.
  EXPECT_EQ(body.find("9800000001"), std::string::npos);
  EXPECT_EQ(body.find("report is ready"), std::string::npos);
  EXPECT_EQ(body.find("error_code"), std::string::npos);
}

TEST_P(Delivery, TemporaryFailureIsRetriedThenDelivered) {
  start({{"PHIGATE_RETRY_MIN_MS", "200"}});
  const std::string id = send(smsBody("+919000000001"));
  const std::string body = waitStatus(id, "delivered");
  EXPECT_EQ(jsonField(body, "attempts"), "2");
}

TEST_P(Delivery, PermanentFailureIsFinalAtOnce) {
  start();
  const std::string id = send(smsBody("+919000000002"));
  const std::string body = waitStatus(id, "failed");
  EXPECT_EQ(jsonField(body, "attempts"), "1");
  EXPECT_EQ(jsonField(body, "error_code"), "test-permanent");
  EXPECT_EQ(jsonField(body, "provider_message_id"), "null");
}

TEST_P(Delivery, UndeliveredIsFinal) {
  start();
  const std::string id = send(smsBody("+919000000003"));
  const std::string body = waitStatus(id, "undelivered");
  EXPECT_EQ(jsonField(body, "error_code"), "test-undelivered");
}

// The retry would come after OTP_TTL_S: the OTP is expired instead of sent late.
TEST_P(Delivery, OtpPastItsTtlExpiresInsteadOfBeingSentLate) {
  start({{"OTP_TTL_S", "10"}, {"PHIGATE_RETRY_MIN_MS", "60000"}});
  const std::string id = send(smsBody("+919000000001", "otp"));
  const std::string body = waitStatus(id, "expired");
  EXPECT_EQ(jsonField(body, "error_code"), "test-temporary") << "the last error is kept";
}

// Retries past PHIGATE_DELIVERY_DEADLINE_S: failed, with the last error, on the dead-letter list.
TEST_P(Delivery, RetriesPastTheDeadlineAreDeadLetters) {
  start({{"PHIGATE_DELIVERY_DEADLINE_S", "60"}, {"PHIGATE_RETRY_MIN_MS", "120000"},
         {"PHIGATE_RETRY_MAX_MS", "120000"}});
  const std::string id = send(smsBody("+919000000001"));
  const std::string body = waitStatus(id, "failed");
  EXPECT_EQ(jsonField(body, "error_code"), "test-temporary");
  if (redis_) {
    auto score = redis_->cli("ZSCORE", "phigate:{app}:dead", id);
    ASSERT_TRUE(score);
    EXPECT_FALSE(score->isNil()) << "not on the dead-letter list";
  }
}

TEST_P(Delivery, CancelStopsAQueuedMessageAndIsRefusedOnceItMoved) {
  start({{"PHIGATE_RETRY_MIN_MS", "60000"}});
  // The first attempt fails: the message is queued again, waiting a minute.
  const std::string id = send(smsBody("+919000000001"));
  const std::string waiting = waitStatus(id, "queued");
  (void)waiting;
  // Wait until the failed attempt is recorded (attempts 1), then cancel.
  const int64_t deadline = nowMs() + 5000;
  while (nowMs() < deadline && jsonField(status(id).body, "attempts") != "1") usleep(20'000);
  ApiRequest del;
  del.method = "DELETE";
  del.path = "/v1/messages/" + id;
  del.token = kApp;
  del.content_type.clear();
  const Response r = call(server_->port(), del);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonField(r.body, "status"), "cancelled");
  EXPECT_EQ(jsonField(status(id).body, "status"), "cancelled");
  if (redis_) {
    // Its payload is gone from the retry schedule at once.
    auto payload = redis_->cli("HEXISTS", "phigate:{app}:retry:p", id);
    ASSERT_TRUE(payload);
    EXPECT_EQ(payload->integer, 0);
  }
  // A delivered message cannot be cancelled: 409 with where it is.
  const std::string done = send(smsBody("+919800000004"));
  waitStatus(done, "delivered");
  ApiRequest again = del;
  again.path = "/v1/messages/" + done;
  again.nonce.reset();
  again.timestamp.reset();
  const Response refused = call(server_->port(), again);
  expectProblem(refused, 409, "message-not-cancellable");
  EXPECT_EQ(jsonField(refused.body, "message_status"), "delivered");
  // Another key's message: 404, the same as no message at all.
  ApiRequest foreign = del;
  foreign.token = kTester;
  foreign.nonce.reset();
  foreign.timestamp.reset();
  EXPECT_EQ(call(server_->port(), foreign).status, 404);
}

// Test keys never reach a provider, even when one is configured: this
// server's provider is an address nothing listens on.
TEST_P(Delivery, TestKeysAreSimulatedWhateverTheProvider) {
  start({{"SMS_PROVIDER", "http"}, {"SMS_HTTP_URL", "http://127.0.0.1:9/v1/messages"},
         {"SMS_HTTP_TOKEN", "fake-provider-token"}});
  const std::string id = send(smsBody("+919800000005"), kTester);
  const Response deadline_body = status(id, kTester);
  (void)deadline_body;
  const int64_t deadline = nowMs() + 5000;
  std::string body;
  while (nowMs() < deadline) {
    body = status(id, kTester).body;
    if (jsonField(body, "status") == "delivered") break;
    usleep(20'000);
  }
  EXPECT_EQ(jsonField(body, "status"), "delivered") << body;
  EXPECT_EQ(jsonField(body, "provider"), "simulated");
}

// Once final, only the status record stays: the stream entry and the payload
// are gone, and the record lapses after MESSAGE_RETENTION_S.
TEST_P(Delivery, FinalMessageKeepsOnlyItsStatusRecordForTheRetention) {
  if (GetParam() != Backend::kRedis) GTEST_SKIP() << "Redis keys only";
  start({{"MESSAGE_RETENTION_S", "60"}});
  std::string last;
  for (int i = 0; i < 20; ++i) last = send(smsBody("+91980000" + std::to_string(1000 + i)));
  waitStatus(last, "delivered");
  const int64_t deadline = nowMs() + 5000;
  int64_t xlen = -1;
  while (nowMs() < deadline) {
    xlen = redis_->cli("XLEN", "phigate:{app}:outbox")->integer;
    if (xlen == 0) break;
    usleep(20'000);
  }
  EXPECT_EQ(xlen, 0) << "delivered entries (sealed PHI) are deleted from the stream";
  auto ttl = redis_->cli("PTTL", "phigate:{app}:m:" + last);
  ASSERT_TRUE(ttl);
  EXPECT_GT(ttl->integer, 0);
  EXPECT_LE(ttl->integer, 60'000);
  auto pending = redis_->cli("XPENDING", "phigate:{app}:outbox", "phigate");
  ASSERT_TRUE(pending && !pending->elements.empty());
  EXPECT_EQ(pending->elements[0].integer, 0) << "everything acknowledged";
}

INSTANTIATE_TEST_SUITE_P(Backends, Delivery, ::testing::Values(Backend::kMemory, Backend::kRedis),
                         [](const auto& info) {
                           return std::string(info.param == Backend::kMemory ? "memory" : "redis");
                         });

}  // namespace
}  // namespace phigate::test
