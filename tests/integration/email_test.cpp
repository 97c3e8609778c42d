// Email delivery through the real binary: POST /v1/email -> the email lane
// -> the email consumer -> SMTP (libcurl) -> a real SMTP server on
// 127.0.0.1: aiosmtpd run by tests/support/smtp_helper.py (STARTTLS + AUTH,
// implicit TLS, a certificate from a CA this test makes, 421 / 451 / 550 on
// demand, each delivered message written to a file). Also simulated email
// (no SMTP_URL, test keys: the magic addresses of delivery/simulator.h),
// email turned off, and a mail server that is down never delaying an SMS.
// The SMTP suite is skipped (with the reason) only when no python3 can
// import aiosmtpd (make setup installs python3-aiosmtpd).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "harness.h"
#include "security_fixture.h"
#include "support/helper_process.h"
#include "support/redis_server.h"
#include "support/spawn.h"

namespace phigate::test {
namespace {

const std::string kClinic = tokenFor("clinic");
const std::string kTester = tokenFor("tester");
constexpr const char* kFrom = "noreply@hospital.test";

std::string emailBody(const std::string& to, const std::string& extra = {}) {
  return R"({"to":")" + to + R"(","subject":"Your report is ready","text":"Please log in to read it.")" +
         extra + "}";
}

/** One header's value as written (unfolded lines are enough for these). */
std::string header(const std::string& message, const std::string& name) {
  const std::string at = "\r\n" + name + ": ";
  const size_t i = ("\r\n" + message).find(at);
  if (i == std::string::npos) return {};
  const size_t start = i + at.size() - 2;
  return message.substr(start, message.find("\r\n", start) - start);
}

class EmailTest : public ::testing::Test {
 protected:
  // Once per suite: the CA, the server certificate and the SMTP helper.
  static void SetUpTestSuite() {
    const std::string python = pythonWith("aiosmtpd");
    if (python.empty()) {
      skip_ = "no python3 can import aiosmtpd (make setup installs python3-aiosmtpd)";
      return;
    }
    const std::string openssl = findProgram("openssl");
    char tmpl[] = "/tmp/phigate-email-XXXXXX";
    if (openssl.empty() || mkdtemp(tmpl) == nullptr) {
      skip_ = "needs openssl and a temporary directory";
      return;
    }
    dir_ = tmpl;
    std::filesystem::create_directory(dir_ + "/out");
    if (!makeTestCertificates(dir_, openssl, "localhost", "DNS:localhost")) {
      start_error_ = "openssl could not make the test certificates";
      return;
    }
    std::string error;
    pid_ = spawnServer({.args = {python, PHIGATE_SOURCE_DIR "/tests/support/smtp_helper.py",
                                 dir_ + "/srv.pem", dir_ + "/srv.key", dir_ + "/out"},
                        .output = dir_ + "/helper.out",
                        .truncate_output = true},
                       &error);
    if (!waitForPorts(pid_, dir_ + "/helper.out", {&starttls_port_, &plain_port_, &smtps_port_})) {
      start_error_ = "the SMTP helper did not start: " + error;
    }
  }
  static void TearDownTestSuite() { stopHelper(&pid_, dir_); }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(start_error_.empty()) << start_error_;
  }

  /** The settings of a real mail server: STARTTLS, AUTH, our CA. */
  static std::map<std::string, std::string> smtpEnv(const std::string& url) {
    return {{"SMTP_URL", url},
            {"SMTP_USERNAME", "phigate-test"},  // tests/support/smtp_helper.py's
            {"SMTP_PASSWORD", "s3cret-test"},
            {"SMTP_FROM", kFrom},
            {"OUTBOUND_CA_FILE", dir_ + "/ca.pem"},
            {"PHIGATE_RETRY_MIN_MS", "200"},
            {"PHIGATE_RETRY_MAX_MS", "400"},
            // The tests poll statuses; a restarted instance must open what this one sealed.
            {"PHIGATE_RATE_LIMITS", "email=1000000/60,sms=1000000/60,messages=1000000/60"},
            {"ENCRYPTION_KEY", std::string(64, 'e')},
            {"SECRET_KEY", std::string(64, 's')}};
  }
  static std::string url(const char* scheme, int port) {
    return std::string(scheme) + "://localhost:" + std::to_string(port);
  }

  void start(std::map<std::string, std::string> env, bool with_redis = false) {
    TestKey clinic = keyWithRoles("clinic", {"email", "sms"});
    TestKey tester = keyWithRoles("tester", {"email"});
    tester.mode = "test";
    env["API_KEYS_FILE"] = "keys.json";
    if (with_redis) {
      redis_ = std::make_unique<RedisServer>();
      ASSERT_TRUE(redis_->ready()) << redis_->error();
      env["RATELIMIT_STORAGE_URI"] = redis_->uri();
      env.emplace("PHIGATE_STORE_TIMEOUT_MS", "2000");
    }
    server_ = std::make_unique<Server>(
        ServerOptions{.env = env, .files = {{"keys.json", keysFileJson({clinic, tester})}}});
    ASSERT_TRUE(server_->ready()) << server_->logText();
    if (redis_) {
      ASSERT_TRUE(server_->waitForLine({"\"event\":\"store_ready\""}, 10000));
    }
  }

  std::string send(const std::string& body, const std::string& token = kClinic) {
    const Response r = call(server_->port(), post("/v1/email", body, token));
    EXPECT_EQ(r.status, 202) << r.body;
    return jsonField(r.body, "id");
  }

  /** Polls until the message's status is `want`; returns the last status body. */
  std::string waitStatus(const std::string& id, const std::string& want, const std::string& token = kClinic) {
    const int64_t deadline = nowMs() + 10'000;
    std::string body;
    while (nowMs() < deadline) {
      const Response r = callGet(server_->port(), "/v1/messages/" + id, token);
      body = r.body;
      if (r.status == 200 && jsonField(body, "status") == want) return body;
      usleep(20'000);
    }
    ADD_FAILURE() << "message never became " << want << "; last: " << body;
    return body;
  }

  /** Polls until `pred(status body)` holds; returns the last body. */
  template <typename Pred>
  std::string waitFor(const std::string& id, Pred pred, int timeout_ms = 10'000) {
    const int64_t deadline = nowMs() + timeout_ms;
    std::string body;
    while (nowMs() < deadline) {
      body = callGet(server_->port(), "/v1/messages/" + id, kClinic).body;
      if (pred(body)) return body;
      usleep(20'000);
    }
    ADD_FAILURE() << "never reached the expected state; last: " << body;
    return body;
  }

  /** The delivered message whose envelope names `rcpt` (waits for it). */
  static std::string deliveredTo(const std::string& rcpt, int timeout_ms = 10'000) {
    const int64_t deadline = nowMs() + timeout_ms;
    while (nowMs() < deadline) {
      for (const auto& e : std::filesystem::directory_iterator(dir_ + "/out")) {
        const std::string p = e.path().string();
        if (!p.ends_with(".env")) continue;
        if (readFile(p).find("\n" + rcpt + "\n") == std::string::npos) continue;
        return readFile(p.substr(0, p.size() - 4) + ".eml");
      }
      usleep(20'000);
    }
    return {};
  }

  static inline std::string skip_, start_error_, dir_;
  static inline pid_t pid_ = -1;
  static inline int starttls_port_ = 0, plain_port_ = 0, smtps_port_ = 0;
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<Server> server_;
};

TEST_F(EmailTest, DeliveredOverStarttlsWithAuthAsCorrectMime) {
  start(smtpEnv(url("smtp", starttls_port_)));
  const std::string to = "patient.one@example.test";
  // A non-ASCII subject, both parts, a line starting with a dot.
  const std::string id = send(R"({"to":")" + to + R"(","subject":"रिपोर्ट तैयार है",)"
                              R"("text":"Line one\n.dot line\nसमाप्त","html":"<p>Hello</p>"})");
  const std::string mail = deliveredTo(to);
  ASSERT_FALSE(mail.empty()) << "nothing arrived; " << server_->logText();
  EXPECT_EQ(header(mail, "From"), kFrom);
  EXPECT_EQ(header(mail, "To"), to);
  EXPECT_TRUE(header(mail, "Subject").starts_with("=?UTF-8?B?")) << header(mail, "Subject");
  EXPECT_EQ(header(mail, "Message-ID"), "<" + id + "@hospital.test>");
  EXPECT_EQ(header(mail, "MIME-Version"), "1.0");
  EXPECT_FALSE(header(mail, "Date").empty());
  EXPECT_NE(header(mail, "Content-Type").find("multipart/alternative"), std::string::npos);
  // Quoted-printable writes a line-initial '.' as =2E: no line of the
  // message starts with a dot, stuffed or not (delivery/mime.h).
  EXPECT_NE(mail.find("\r\n=2Edot line"), std::string::npos) << mail;
  EXPECT_EQ(mail.find("\r\n."), std::string::npos);
  const std::string body = waitStatus(id, "sent");
  EXPECT_EQ(jsonField(body, "provider"), "smtp");
  EXPECT_EQ(jsonField(body, "attempts"), "1");
  EXPECT_EQ(jsonField(body, "channel"), "email");
  EXPECT_EQ(body.find("example.test"), std::string::npos) << "no address in a status";
  EXPECT_EQ(server_->logText().find("example.test"), std::string::npos) << "no address in the log";
}

TEST_F(EmailTest, DeliveredOverSmtpsAndConnectionsAreReused) {
  start(smtpEnv(url("smtps", smtps_port_)));
  const int before = countLines(dir_ + "/out/connections");
  for (const char* to : {"reuse.one@example.test", "reuse.two@example.test"}) {
    const std::string id = send(emailBody(to));
    ASSERT_FALSE(deliveredTo(to).empty()) << server_->logText();
    waitStatus(id, "sent");
  }
  EXPECT_EQ(countLines(dir_ + "/out/connections") - before, 1) << "the second mail opened a new connection";
}

// 4xx: retried (the same message, later); 5xx: final at once, with the
// code and never the server's text (a rejection may echo the address).
TEST_F(EmailTest, SmtpRepliesMapToTheLifecycle) {
  start(smtpEnv(url("smtp", starttls_port_)));
  const std::string rcpt550 = send(emailBody("rcpt550@example.test"));
  const std::string data550 = send(emailBody("data550@example.test"));
  const std::string rcpt451 = send(emailBody("rcpt451@example.test"));
  const std::string rcpt421 = send(emailBody("rcpt421@example.test"));
  for (const std::string& id : {rcpt550, data550}) {
    const std::string body = waitStatus(id, "failed");
    EXPECT_EQ(jsonField(body, "error_code"), "smtp-550");
    EXPECT_EQ(jsonField(body, "attempts"), "1");
    EXPECT_EQ(body.find("rejected"), std::string::npos) << "the server's text";
  }
  for (const auto& [id, code] : {std::pair{rcpt451, "smtp-451"}, std::pair{rcpt421, "smtp-421"}}) {
    const std::string body = waitFor(id, [](const std::string& b) {
      const std::string attempts = jsonField(b, "attempts");
      return !attempts.empty() && std::atoi(attempts.c_str()) >= 2;
    });
    EXPECT_EQ(jsonField(body, "error_code"), code);
    EXPECT_NE(jsonField(body, "status"), "failed") << "a 4xx is retried, not final";
  }
}

// Verification is always on: a server whose certificate our CA bundle does
// not vouch for gets nothing (retried as "tls", the mail never sent).
TEST_F(EmailTest, AnUnverifiedServerGetsNothing) {
  std::map<std::string, std::string> env = smtpEnv(url("smtps", smtps_port_));
  env.erase("OUTBOUND_CA_FILE");
  start(env);
  const std::string id = send(emailBody("unverified@example.test"));
  const std::string body = waitFor(id, [](const std::string& b) { return jsonField(b, "error_code") == "tls"; });
  EXPECT_EQ(jsonField(body, "status"), "queued");
  EXPECT_TRUE(deliveredTo("unverified@example.test", 300).empty());
}

// SMTP_URL=off: POST /v1/email is no route (decided before any body).
TEST_F(EmailTest, EmailOffIsNotARoute) {
  start({{"SMTP_URL", "off"}});
  const Response r = call(server_->port(), post("/v1/email", emailBody("off@example.test"), kClinic));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_TRUE(r.header("content-type").starts_with("application/problem+json")) << r.header("content-type");
}

// Without SMTP_URL (development) and for test keys always: simulated, with
// documented addresses for a temporary and a permanent failure.
TEST_F(EmailTest, SimulatedDeliveryAndItsMagicAddresses) {
  start({{"PHIGATE_RETRY_MIN_MS", "200"}});
  const std::string ok = send(emailBody("anyone@example.test"), kTester);
  const std::string temp = send(emailBody("temporary-failure@simulator.phigate.test"));
  const std::string perm = send(emailBody("permanent-failure@simulator.phigate.test"));
  EXPECT_EQ(jsonField(waitStatus(ok, "delivered", kTester), "provider"), "simulated");
  EXPECT_EQ(jsonField(waitStatus(temp, "delivered"), "attempts"), "2");
  EXPECT_EQ(jsonField(waitStatus(perm, "failed"), "error_code"), "smtp-550");
}

// Redis: the email lane's stream carries it, is empty once it is sent, and
// a 4xx comes back through the retry schedule into the same lane.
TEST_F(EmailTest, OnRedisEmailTravelsItsOwnStreamAndRetriesIntoIt) {
  start(smtpEnv(url("smtp", starttls_port_)), /*with_redis=*/true);
  const std::string id = send(emailBody("redis.lane@example.test"));
  ASSERT_FALSE(deliveredTo("redis.lane@example.test").empty()) << server_->logText();
  EXPECT_EQ(jsonField(waitStatus(id, "sent"), "channel"), "email");
  const std::string retried = send(emailBody("rcpt451@example.test"));
  const std::string body = waitFor(retried, [](const std::string& b) {
    const std::string attempts = jsonField(b, "attempts");
    return !attempts.empty() && std::atoi(attempts.c_str()) >= 3;
  });
  EXPECT_EQ(jsonField(body, "error_code"), "smtp-451");
  EXPECT_EQ(jsonField(body, "channel"), "email");
  auto len = redis_->cli("XLEN", "phigate:{clinic}:outbox:email");
  ASSERT_TRUE(len);
  EXPECT_LE(len->integer, 1) << "only the retried message may still have an entry";
  for (const char* lane : {"phigate:{clinic}:outbox", "phigate:{clinic}:outbox:bulk"}) {
    auto other = redis_->cli("XLEN", lane);
    ASSERT_TRUE(other);
    EXPECT_EQ(other->integer, 0) << "an email in an SMS lane: " << lane;
  }
  // Cancelled while it waits for a retry: its schedule entry ("2" + id, the
  // email lane) and its payload go at once.
  server_.reset();
  std::map<std::string, std::string> env = smtpEnv(url("smtp", starttls_port_));
  env["PHIGATE_RETRY_MIN_MS"] = env["PHIGATE_RETRY_MAX_MS"] = "60000";
  env["RATELIMIT_STORAGE_URI"] = redis_->uri();
  env["API_KEYS_FILE"] = "keys.json";
  server_ = std::make_unique<Server>(
      ServerOptions{.env = env, .files = {{"keys.json", keysFileJson({keyWithRoles("clinic", {"email"})})}}});
  ASSERT_TRUE(server_->ready()) << server_->logText();
  const std::string waiting = send(emailBody("rcpt451@example.test"));
  waitFor(waiting, [](const std::string& b) { return jsonField(b, "attempts") == "1" && jsonField(b, "status") == "queued"; });
  auto scheduled = redis_->cli("ZSCORE", "phigate:{clinic}:retry", "2" + waiting);
  ASSERT_TRUE(scheduled);
  EXPECT_FALSE(scheduled->isNil()) << "not scheduled in the email lane";
  ApiRequest del;
  del.method = "DELETE";
  del.path = "/v1/messages/" + waiting;
  del.token = kClinic;
  del.content_type.clear();
  const Response r = call(server_->port(), del);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonField(r.body, "status"), "cancelled");
  scheduled = redis_->cli("ZSCORE", "phigate:{clinic}:retry", "2" + waiting);
  ASSERT_TRUE(scheduled);
  EXPECT_TRUE(scheduled->isNil()) << "the retry schedule still holds the cancelled email";
  auto payload = redis_->cli("HEXISTS", "phigate:{clinic}:retry:p", waiting);
  ASSERT_TRUE(payload);
  EXPECT_EQ(payload->integer, 0);
}

// A mail server that accepts connections and never greets holds every
// email slot: with one slot for email and one for SMS, an SMS still goes
// straight to its provider (a gate shared by both would hold it behind the
// stalled email).
TEST_F(EmailTest, AStalledMailServerNeverHoldsUpAnSms) {
  const int stalled = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(stalled, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(stalled, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(stalled, 64), 0);  // the kernel completes handshakes; nobody ever speaks
  ASSERT_EQ(getsockname(stalled, reinterpret_cast<sockaddr*>(&a), &len), 0);
  Server mock(ServerOptions{.workers = 0, .args = {"--record", "record.jsonl"}, .bin = mockProviderBin(),
                            .listen_flag = true});
  ASSERT_TRUE(mock.ready()) << mock.logText();
  std::map<std::string, std::string> env = smtpEnv("smtp://127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
  env.insert({{"SMTP_CONCURRENCY", "1"},
              {"PHIGATE_PROVIDER_CONCURRENCY", "1"},
              {"PHIGATE_PROVIDER_TIMEOUT_MS", "20000"},
              {"SMS_PROVIDER", "http"},
              {"SMS_HTTP_URL", "http://127.0.0.1:" + std::to_string(mock.port()) + "/v1/messages"},
              {"SMS_HTTP_TOKEN", "mock-token"}});
  start(env);
  const std::string stuck = send(emailBody("stalled@example.test"));
  waitStatus(stuck, "sending");  // it holds the email gate's one slot, for 20 s
  const Response r = call(server_->port(), post("/v1/sms", R"({"to":"+919800000001","message":"Your report is ready"})",
                                                kClinic));
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string sms = waitStatus(jsonField(r.body, "id"), "sent");
  EXPECT_EQ(jsonField(sms, "provider"), "http");
  EXPECT_EQ(jsonField(callGet(server_->port(), "/v1/messages/" + stuck, kClinic).body, "status"), "sending")
      << "the email was never stuck: this test proved nothing";
  close(stalled);
}

// A worker that stops with email held back by the rate cap (nothing in
// flight) hands it back and exits cleanly (the in-process store answers the
// hand-back at once, inside the drain); on Redis it is sent after a restart.
TEST_F(EmailTest, StoppingWithHeldEmailHandsItBackAndExitsCleanly) {
  for (const bool with_redis : {false, true}) {
    SCOPED_TRACE(with_redis ? "redis" : "in-process store");
    std::map<std::string, std::string> env = smtpEnv(url("smtp", starttls_port_));
    env["SMTP_RATE"] = "1";
    const std::string tag = with_redis ? "r" : "m";
    start(env, with_redis);
    std::vector<std::string> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(send(emailBody("held" + tag + std::to_string(i) + "@example.test")));
    ASSERT_FALSE(deliveredTo("held" + tag + "0@example.test").empty()) << server_->logText();
    ASSERT_EQ(server_->sendSignal(SIGTERM), 0);
    const std::optional<int> status = server_->waitExit(10'000);
    ASSERT_TRUE(status.has_value()) << "did not stop";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status << "\n"
                                                                    << server_->logText();
    if (!with_redis) continue;
    env.erase("SMTP_RATE");
    env["RATELIMIT_STORAGE_URI"] = redis_->uri();
    env["API_KEYS_FILE"] = "keys.json";
    server_ = std::make_unique<Server>(ServerOptions{
        .env = env, .files = {{"keys.json", keysFileJson({keyWithRoles("clinic", {"email", "sms"})})}}});
    ASSERT_TRUE(server_->ready()) << server_->logText();
    for (const std::string& id : ids) waitStatus(id, "sent");
    EXPECT_FALSE(deliveredTo("heldr3@example.test").empty());
  }
}

}  // namespace
}  // namespace phigate::test
