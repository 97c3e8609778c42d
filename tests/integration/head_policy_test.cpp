// Everything the head can decide is decided before a byte of the body is
// buffered: a client without a valid key, or with a request that will be
// refused anyway (RBAC, replay headers, content type), is answered at once
// and its body is never read. Bodies of authenticated clients count against
// the worker's body budget (PHIGATE_MAX_BODY_BUFFER_BYTES).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "integration/harness.h"
#include "integration/security_fixture.h"

namespace phigate::test {
namespace {

constexpr const char* kToken = "test-token-head-policy-000000000000000";

// The head of a request whose body is never sent.
std::string headOnly(const std::string& path, size_t content_length, const std::string& auth = "") {
  std::string h = "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n";
  if (!auth.empty()) h += "Authorization: Bearer " + auth + "\r\n";
  return h + "Content-Length: " + std::to_string(content_length) + "\r\n\r\n";
}

// The signed-off request head of an authenticated send (replay headers
// included) with `content_length` announced and no body.
std::string authedHead(const std::string& path, size_t content_length) {
  ApiRequest req = post(path, "", kToken);
  std::string raw = req.raw();
  const std::string cl = "Content-Length: 0\r\n";
  raw.replace(raw.find(cl), cl.size(), "Content-Length: " + std::to_string(content_length) + "\r\n");
  return raw;
}

void raiseFileLimit(rlim_t want) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
  rl.rlim_cur = std::min(want, rl.rlim_max);
  setrlimit(RLIMIT_NOFILE, &rl);
}

// The outside attack: 1000 connections announce a route-sized body (1 MiB
// for bulk) without a key. Each is answered 401 from its head alone, and the
// worker's memory barely moves.
TEST(HeadPolicy, UnauthenticatedBodiesAreNeverBuffered) {
  constexpr int kConnections = 1000;
  raiseFileLimit(4 * kConnections);
  Server s({.env = {{"SMS_API_KEY", kToken},
                    {"PHIGATE_AUTH_FAILURE_LIMIT", "1000000"},
                    {"PHIGATE_MAX_CONNECTIONS_PER_IP", "4000"}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  const long rss_before = vmRssKb(s.pid());
  ASSERT_GT(rss_before, 0);

  std::vector<Client> clients;
  clients.reserve(kConnections);
  const std::string head = headOnly("/v1/sms/bulk", 1024 * 1024);
  for (int i = 0; i < kConnections; ++i) {
    clients.emplace_back(s.port());
    ASSERT_TRUE(clients.back().connected()) << i;
    ASSERT_TRUE(clients.back().sendAll(head)) << i;
  }
  int unauthorized = 0;
  for (Client& c : clients) {
    auto r = c.readResponse(10000);  // no body was sent: the answer comes from the head
    if (!r) break;                   // (without head-time authentication: never)
    if (r->status == 401 && r->has("www-authenticate")) ++unauthorized;
  }
  EXPECT_EQ(unauthorized, kConnections);
  const long hwm = vmHwmKb(s.pid());
#if defined(__SANITIZE_ADDRESS__)
  constexpr long kBoundKib = 160 * 1024;  // ASan's shadow and quarantine
#else
  constexpr long kBoundKib = 64 * 1024;
#endif
  std::printf("[ info ] peak RSS grew %ld KiB over %d unauthenticated 1 MiB heads\n", hwm - rss_before,
              kConnections);
  EXPECT_LT(hwm - rss_before, kBoundKib);
  clients.clear();
  // The worker serves on.
  auto ok = request(s.port(), get("/livez"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

// Each head-time refusal answers before the body: RBAC, replay headers and
// the content type, not only authentication (the body is never sent here).
TEST(HeadPolicy, EveryHeadDecisionAnswersWithoutTheBody) {
  Server s({.env = {{"SMS_API_KEY", kToken}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  struct Case {
    std::string name, head;
    int status;
    std::string type;
  };
  std::string no_nonce = authedHead("/v1/sms", 1000);
  no_nonce.erase(no_nonce.find("X-Nonce:"), no_nonce.find("\r\n", no_nonce.find("X-Nonce:")) + 2 -
                                                no_nonce.find("X-Nonce:"));
  std::string text = authedHead("/v1/sms", 1000);
  text.replace(text.find("application/json"), 16, "text/plain");
  std::string long_key = authedHead("/v1/sms", 1000);
  long_key.insert(long_key.size() - 2, "Idempotency-Key: " + std::string(256, 'k') + "\r\n");
  const Case cases[] = {
      {"no key", headOnly("/v1/sms", 1000), 401, "unauthorized"},
      {"rbac", authedHead("/v1/sms/bulk", 1000), 403, "forbidden"},
      {"no nonce", no_nonce, 401, "replay-headers-required"},
      {"content type", text, 415, "unsupported-media-type"},
      {"idempotency key", long_key, 400, "invalid-idempotency-key"},
      {"too large", authedHead("/v1/sms", 64 * 1024 + 1), 413, "payload-too-large"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    Client c(s.port());
    ASSERT_TRUE(c.sendAll(k.head));
    auto r = c.readResponse(3000);
    ASSERT_TRUE(r) << "no answer before the body";
    expectProblem(*r, k.status, k.type);
    EXPECT_TRUE(c.isClosed()) << "the unread body is never read: the connection closes";
  }
  // The control: the same authenticated head gets no answer until its body.
  Client c(s.port());
  ASSERT_TRUE(c.sendAll(authedHead("/v1/sms", 1000)));
  EXPECT_FALSE(c.readResponse(300)) << "an acceptable head waits for its body";
}

// A refused head without a body keeps its connection: the message is
// complete, so nothing is left unread.
TEST(HeadPolicy, BodylessRefusalKeepsTheConnection) {
  Server s({.env = {{"SMS_API_KEY", kToken}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  Client c(s.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.sendAll("GET /v1/messages/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
}

// 60,000-byte SMS bodies outgrow the pooled 16 KiB read buffer to 64 KiB:
// 48 KiB of the body budget each, so a budget of 1.5 MiB (the smallest
// accepted holds one bulk body) holds exactly 32 of them.
constexpr size_t kSlots = 32;
constexpr const char* kBudget = "1572864";

std::string paddedSms(size_t size) {
  std::string body = R"({"to":"+919000000001","message":"x")";
  return body + std::string(size - body.size() - 1, ' ') + "}";
}

// Sends the heads of `n` 60,000-byte SMS without their bodies; the clients
// that got an answer (a refusal) are counted.
size_t refusedOf(std::vector<Client>& clients, uint16_t port, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    clients.emplace_back(port);
    EXPECT_TRUE(clients.back().sendAll(authedHead("/v1/sms", 60000)));
  }
  usleep(300'000);
  size_t refused = 0;
  for (size_t i = clients.size() - n; i < clients.size(); ++i) {
    if (auto r = clients[i].readResponse(1)) {
      expectProblem(*r, 503, "server-busy");
      EXPECT_EQ(r->header("retry-after"), "1");
      ++refused;
    }
  }
  return refused;
}

// Authenticated bodies share the worker's budget: past it the next body is
// refused with a 503 before it is sent, and the budget comes back when the
// body holding it is done.
TEST(HeadPolicy, BodyBudgetBoundsWhatAuthenticatedClientsMakeUsHold) {
  Server s({.env = {{"SMS_API_KEY", kToken}, {"PHIGATE_MAX_BODY_BUFFER_BYTES", kBudget}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  std::vector<Client> clients;
  clients.reserve(kSlots + 2);
  EXPECT_EQ(refusedOf(clients, s.port(), kSlots), 0u) << "the budget holds 32 bodies";
  EXPECT_EQ(refusedOf(clients, s.port(), 1), 1u) << "a 33rd does not fit";
  EXPECT_TRUE(s.waitForLine({"\"event\":\"body_buffer_full\""}));

  // One completes (a valid padded body) and gives its share back.
  ASSERT_TRUE(clients[0].sendAll(paddedSms(60000)));
  auto done = clients[0].readResponse();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 202) << done->body;
  EXPECT_EQ(refusedOf(clients, s.port(), 1), 0u) << "the budget was given back";
}

// A connection whose body grew the buffer gives the budget back once that
// request is answered, even with more requests pipelined behind it (they move
// to a pooled buffer); otherwise a trickle of pipelined bytes would hold it.
TEST(HeadPolicy, BodyBudgetIsReturnedWithPipelinedBytesBehindTheBody) {
  Server s({.env = {{"SMS_API_KEY", kToken}, {"PHIGATE_MAX_BODY_BUFFER_BYTES", kBudget}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  Client holder(s.port());
  ApiRequest big = post("/v1/sms", paddedSms(60000), kToken);
  // The start of the next request rides behind the body, incomplete.
  ASSERT_TRUE(holder.sendAll(big.raw() + "GET /livez HTTP/1.1\r\nHost: t\r\n"));
  auto r = holder.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  std::vector<Client> clients;
  clients.reserve(kSlots);
  EXPECT_EQ(refusedOf(clients, s.port(), kSlots), 0u) << "the answered body still holds its share";
  // The pipelined request is intact after the move.
  ASSERT_TRUE(holder.sendAll("\r\n"));
  auto live = holder.readResponse();
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
}

// The smallest budget holds one body of the largest route: below it every
// such request would be a 503 forever, so phigate refuses to start.
TEST(HeadPolicy, ABudgetBelowOneLargestBodyIsAConfigurationError) {
  Server s({.env = {{"PHIGATE_MAX_BODY_BUFFER_BYTES", "65536"}}, .wait_ready = false});
  const auto status = s.waitExit(5000);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_NE(s.logText().find("PHIGATE_MAX_BODY_BUFFER_BYTES must be at least"), std::string::npos)
      << s.logText();
}

// The head stages keep views of X-Timestamp and X-Nonce; a body that
// outgrows the pooled buffer moves it. The nonce the store records must still
// be the one sent (under ASan, a stale view is a use-after-free).
TEST(HeadPolicy, ALargeBodyKeepsItsNonce) {
  Server s({.env = {{"SMS_API_KEY", kToken}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  std::string body = R"({"to":"+919000000001","message":"x")";
  body += std::string(60000 - body.size() - 1, ' ') + "}";
  ApiRequest big = post("/v1/sms", body, kToken);
  big.nonce = "large-body-nonce-0001";
  ASSERT_EQ(call(s.port(), big).status, 202);
  ApiRequest again = post("/v1/sms", R"({"to":"+919000000001","message":"x"})", kToken);
  again.nonce = "large-body-nonce-0001";
  expectProblem(call(s.port(), again), 409, "replayed");
}

}  // namespace
}  // namespace phigate::test
