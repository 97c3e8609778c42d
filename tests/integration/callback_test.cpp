// Signed status callbacks through the real binary, on both stores
// (docs/CALLBACKS.md): a receiver on 127.0.0.1 run by the test (allowed
// explicitly with CALLBACK_ALLOWED_CIDRS=127.0.0.1/32) checks every
// signature by recomputing the HMAC; a receiver that fails or is down gets
// the callback later; loopback without the allow-list, and a name that
// resolves to loopback, are refused and never connected to; a redirect is
// not followed; a big response body is ignored. Delivery is simulated (test
// magic recipients, delivery/simulator.h).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "security_fixture.h"
#include "support/redis_server.h"

namespace phigate::test {
namespace {

const std::string kApp = tokenFor("app");
const std::string kPlain = tokenFor("plain");
const std::string kCallbackSecret = "callback-secret-fake-for-tests-0123456789";
const std::string kUrlToken = "urltokenzq7";  // in the callback URL's query: must never be logged

/** One request a receiver got. */
struct Received {
  std::string method, path, head, body;
  std::string header(const std::string& lower) const {
    size_t at = 0;
    while ((at = head.find("\r\n", at)) != std::string::npos) {
      at += 2;
      const size_t colon = head.find(':', at);
      const size_t end = head.find("\r\n", at);
      if (colon == std::string::npos || end == std::string::npos || colon > end) break;
      std::string name = head.substr(at, colon - at);
      for (char& c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
      if (name == lower) {
        size_t v = colon + 1;
        while (v < end && head[v] == ' ') ++v;
        return head.substr(v, end - v);
      }
    }
    return "";
  }
};

/**
 * An HTTP/1.1 receiver on 127.0.0.1 on its own thread: records each request
 * and answers it with `fail_first` 503s, then `status` (with `body`, and a
 * Location when `location` is set), closing the connection after each.
 */
/**
 * A socket bound to a free port of 127.0.0.1 and not listening: connections
 * to it are refused (a receiver that is down), and nobody else can take the
 * port until a Receiver adopts it.
 */
struct HeldPort {
  int fd = -1;
  uint16_t port = 0;
  HeldPort() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~HeldPort() {
    if (fd >= 0) close(fd);
  }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
};

class Receiver {
 public:
  /** Listens on `held`'s socket (it takes it over). */
  explicit Receiver(HeldPort& held) : fd_(held.fd) {
    held.fd = -1;
    EXPECT_EQ(listen(fd_, 64), 0);
    port_ = held.port;
    thread_ = std::thread([this] { run(); });
  }
  explicit Receiver(uint16_t port = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << "port " << port;
    EXPECT_EQ(listen(fd_, 64), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string url(const std::string& host = "127.0.0.1") const {
    return "http://" + host + ":" + std::to_string(port_) + "/hooks/status?token=" + kUrlToken;
  }
  std::vector<Received> received() const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_.size();
  }
  /** Polls until `n` requests arrived (or the deadline). */
  bool waitFor(size_t n, int timeout_ms = 10'000) const {
    const int64_t end = nowMs() + timeout_ms;
    while (nowMs() < end) {
      if (count() >= n) return true;
      usleep(10'000);
    }
    return count() >= n;
  }
  /** Polls until a request whose body says "status":"<status>" arrived; returns it. */
  /** Polls until a callback with `status` (and, if given, for message `id`) arrived. */
  std::optional<Received> waitForStatus(const std::string& status, int timeout_ms = 10'000,
                                        const std::string& id = {}) const {
    const int64_t end = nowMs() + timeout_ms;
    while (nowMs() < end) {
      for (const Received& r : received()) {
        if (jsonField(r.body, "status") == status && (id.empty() || jsonField(r.body, "id") == id)) return r;
      }
      usleep(10'000);
    }
    return std::nullopt;
  }

  std::atomic<int> fail_first{0};
  std::atomic<int> status{200};
  std::string body = "ok";
  std::string location;
  std::atomic<bool> hang{false};

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      serve(c);
      close(c);
    }
  }
  void serve(int c) {
    std::string in;
    const int64_t end = nowMs() + 3000;
    size_t head_end = std::string::npos;
    size_t need = 0;
    while (nowMs() < end) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[8192];
      const ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
      if (head_end == std::string::npos) {
        head_end = in.find("\r\n\r\n");
        if (head_end == std::string::npos) continue;
        Received probe;
        probe.head = in.substr(0, head_end + 2);
        need = head_end + 4 + static_cast<size_t>(atoi(probe.header("content-length").c_str()));
      }
      if (in.size() >= need) break;
    }
    if (head_end == std::string::npos || in.size() < need) return;
    Received r;
    r.head = in.substr(0, head_end + 2);
    r.body = in.substr(head_end + 4, need - head_end - 4);
    const size_t sp = r.head.find(' ');
    r.method = r.head.substr(0, sp);
    r.path = r.head.substr(sp + 1, r.head.find(' ', sp + 1) - sp - 1);
    int code = status.load();
    if (fail_first.load() > 0) {
      --fail_first;
      code = 503;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      got_.push_back(r);
    }
    if (hang) {  // never answers: holds the connection until the receiver stops
      while (!stop_) usleep(10'000);
      return;
    }
    std::string out = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n";
    if (!location.empty()) out += "Location: " + location + "\r\n";
    out += "\r\n" + body;
    size_t off = 0;
    while (off < out.size()) {
      pollfd p{c, POLLOUT, 0};
      if (poll(&p, 1, 1000) <= 0) break;
      const ssize_t n = send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;  // a client that stops reading a big body: fine
      off += static_cast<size_t>(n);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Received> got_;
};

std::string smsBody(const std::string& to) {
  return R"({"to":")" + to + R"(","message":"Your report is ready","type":"transactional"})";
}

/** The receiver's check, as docs/CALLBACKS.md tells receivers to do it. */
void expectSignedByUs(const Received& r) {
  const std::string sig = r.header("x-phigate-signature");
  ASSERT_EQ(sig.rfind("t=", 0), 0u) << "no signature header";
  const size_t comma = sig.find(",v1=");
  ASSERT_NE(comma, std::string::npos);
  const std::string t = sig.substr(2, comma - 2);
  const std::string v1 = sig.substr(comma + 4);
  EXPECT_EQ(v1, hmacSha256Hex(kCallbackSecret, t + "." + r.body)) << "signature does not verify";
  const long long age = static_cast<long long>(time(nullptr)) - atoll(t.c_str());
  EXPECT_LE(age < 0 ? -age : age, 300) << "timestamp far from now";
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/hooks/status?token=" + kUrlToken);
  EXPECT_EQ(r.header("content-type"), "application/json");
  // No recipient, no text.
  EXPECT_EQ(r.body.find("9800000001"), std::string::npos);
  EXPECT_EQ(r.body.find("9000000002"), std::string::npos);
  EXPECT_EQ(r.body.find("report is ready"), std::string::npos);
}

enum class Backend { kMemory, kRedis };

class Callbacks : public ::testing::TestWithParam<Backend> {
 protected:
  /** phigate with key "app" calling back to `url` and key "plain" without a callback. */
  /** ... and each of `more_keys` (ids, tokens tokenFor(id)) calling back to `url` too. */
  void start(const std::string& url, std::map<std::string, std::string> env = {},
             const std::vector<std::string>& more_keys = {}) {
    std::vector<TestKey> list;
    for (const std::string& id : more_keys) list.push_back(keyWithRoles(id, {"sms"}));
    list.push_back(keyWithRoles("app", {"sms"}));
    list.push_back(keyWithRoles("plain", {"sms"}));
    for (TestKey& k : list) k.mode = "test";
    std::string keys = keysFileJson(list);
    const std::string tail = "\"revoked\": false}";
    size_t at = 0;
    for (size_t i = 0; i < more_keys.size() + 1; ++i) {  // every key but plain (the last)
      at = keys.find(tail, at);
      const std::string with = "\"revoked\": false, \"status_callback_url\": \"" + url +
                               "\", \"callback_secret\": \"" + kCallbackSecret + "\"}";
      keys.replace(at, tail.size(), with);
      at += with.size();
    }
    env["API_KEYS_FILE"] = "keys.json";
    env.emplace("PHIGATE_CALLBACK_RETRY_MIN_MS", "200");
    env.emplace("PHIGATE_CALLBACK_RETRY_MAX_MS", "400");
    if (GetParam() == Backend::kRedis) {
      redis_ = std::make_unique<RedisServer>();
      ASSERT_TRUE(redis_->ready()) << redis_->error();
      env["RATELIMIT_STORAGE_URI"] = redis_->uri();
      env.emplace("PHIGATE_STORE_TIMEOUT_MS", "2000");
    }
    server_ = std::make_unique<Server>(ServerOptions{.env = env, .files = {{"keys.json", keys}}});
    ASSERT_TRUE(server_->ready()) << server_->logText();
    if (redis_) {
      ASSERT_TRUE(server_->waitForLine({"\"event\":\"store_ready\""}, 10000));
    }
  }
  std::string send(const std::string& to, const std::string& token = kApp) {
    const Response r = call(server_->port(), post("/v1/sms", smsBody(to), token));
    EXPECT_EQ(r.status, 202) << r.body;
    return jsonField(r.body, "id");
  }
  std::string statusOf(const std::string& id, const std::string& token = kApp) {
    return jsonField(callGet(server_->port(), "/v1/messages/" + id, token).body, "status");
  }
  void waitStatus(const std::string& id, const std::string& want, const std::string& token = kApp) {
    const int64_t end = nowMs() + 10'000;
    while (nowMs() < end && statusOf(id, token) != want) usleep(20'000);
    ASSERT_EQ(statusOf(id, token), want);
  }
  void TearDown() override {
    if (server_) {
      const std::string log = server_->logText();
      EXPECT_EQ(log.find(kUrlToken), std::string::npos) << "the callback URL reached the log";
      EXPECT_EQ(log.find(kCallbackSecret), std::string::npos) << "the callback secret reached the log";
    }
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<Server> server_;
};

TEST_P(Callbacks, EachStatusChangeIsPostedSigned) {
  Receiver rx;
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}});
  const std::string id = send("+919800000001");
  const auto delivered = rx.waitForStatus("delivered");
  ASSERT_TRUE(delivered) << server_->logText();
  expectSignedByUs(*delivered);
  EXPECT_EQ(jsonField(delivered->body, "id"), id);
  EXPECT_EQ(jsonField(delivered->body, "channel"), "sms");
  EXPECT_EQ(jsonField(delivered->body, "attempts"), "1");
  EXPECT_FALSE(jsonField(delivered->body, "provider_message_id").empty());
  EXPECT_FALSE(jsonField(delivered->body, "updated_at").empty());
  for (const Received& r : rx.received()) {
    expectSignedByUs(r);
    EXPECT_EQ(jsonField(r.body, "id"), id);
  }
  // A permanent failure says so, with its error code.
  const std::string failed_id = send("+919000000002");
  const auto failed = rx.waitForStatus("failed");
  ASSERT_TRUE(failed);
  expectSignedByUs(*failed);
  EXPECT_EQ(jsonField(failed->body, "id"), failed_id);
  EXPECT_EQ(jsonField(failed->body, "error_code"), "test-permanent");
}

// A key without a callback URL: no callback, and (Redis) no stream at all.
TEST_P(Callbacks, KeysWithoutAUrlCostNothing) {
  Receiver rx;
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}});
  const std::string plain_id = send("+919800000001", kPlain);
  waitStatus(plain_id, "delivered", kPlain);
  const std::string id = send("+919800000001");
  ASSERT_TRUE(rx.waitForStatus("delivered"));
  for (const Received& r : rx.received()) EXPECT_EQ(jsonField(r.body, "id"), id) << "a plain key's callback";
  if (redis_) {
    EXPECT_EQ(redis_->cli("EXISTS", "phigate:{plain}:callbacks")->integer, 0);
  }
}

TEST_P(Callbacks, ACancelIsCalledBack) {
  Receiver rx;
  // The first attempt fails for a while (a temporary failure, next try in a minute).
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}, {"PHIGATE_RETRY_MIN_MS", "60000"}});
  const std::string id = send("+919000000001");
  ASSERT_TRUE(rx.waitForStatus("queued")) << "a retry (back to queued) is a status change too";
  ApiRequest del;
  del.method = "DELETE";
  del.path = "/v1/messages/" + id;
  del.token = kApp;
  del.content_type.clear();
  ASSERT_EQ(call(server_->port(), del).status, 200);
  const auto cancelled = rx.waitForStatus("cancelled");
  ASSERT_TRUE(cancelled);
  expectSignedByUs(*cancelled);
  EXPECT_EQ(jsonField(cancelled->body, "id"), id);
}

TEST_P(Callbacks, AFailingReceiverGetsItLater) {
  Receiver rx;
  rx.fail_first = 2;
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}});
  const std::string id = send("+919800000001");
  // Two 503s, then the retry that works: the same callback three times,
  // each signed afresh.
  ASSERT_TRUE(rx.waitFor(3)) << "not retried";
  const std::vector<Received> got = rx.received();
  for (const Received& r : got) {
    expectSignedByUs(r);
    EXPECT_EQ(jsonField(r.body, "id"), id);
    EXPECT_EQ(jsonField(r.body, "status"), "delivered");
  }
  EXPECT_EQ(got[0].body, got[2].body) << "a retry sends the same body";
}

// A receiver that takes the request and never answers holds only the
// dispatcher's own slots: every message is still delivered at once.
TEST_P(Callbacks, ASlowReceiverDoesNotSlowDelivery) {
  Receiver rx;
  rx.hang = true;
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}, {"PHIGATE_CALLBACK_CONCURRENCY", "2"}});
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(send("+919800000001"));
  for (const std::string& id : ids) waitStatus(id, "delivered");
  EXPECT_TRUE(rx.waitFor(1)) << "the callback never reached the receiver";
}

// The port is held (bound, not listening) until the receiver comes up on
// it: no other process can take it meanwhile; and retries up to 3 s apart
// give the 8 tries about 15 s, far more than the test needs.
TEST_P(Callbacks, AReceiverThatIsDownGetsItWhenItComesBack) {
  HeldPort held;
  ASSERT_GE(held.fd, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(held.port) + "/hooks/status?token=" + kUrlToken;
  start(url, {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}, {"PHIGATE_CALLBACK_RETRY_MAX_MS", "3000"}});
  const std::string id = send("+919800000001");
  waitStatus(id, "delivered");
  if (redis_) {
    // Proof that it was tried and failed: it waits in the retry schedule.
    const int64_t end = nowMs() + 5000;
    while (nowMs() < end && redis_->cli("ZCARD", "phigate:{app}:callbacks:r")->integer == 0) usleep(10'000);
    EXPECT_GE(redis_->cli("ZCARD", "phigate:{app}:callbacks:r")->integer, 1);
  } else {
    usleep(300'000);  // setup, not an assertion: let a try or two fail first
  }
  Receiver rx(held);
  const auto delivered = rx.waitForStatus("delivered", 20'000);
  ASSERT_TRUE(delivered) << "never delivered once the receiver came back";
  expectSignedByUs(*delivered);
  EXPECT_EQ(jsonField(delivered->body, "id"), id);
}

// Loopback without CALLBACK_ALLOWED_CIDRS: refused before any connection,
// dropped with an event line, counted.
TEST_P(Callbacks, LoopbackIsRefusedWithoutTheAllowList) {
  Receiver rx;
  start(rx.url());
  send("+919800000001");
  const auto line = server_->waitForLine({"\"event\":\"callback_dropped\"", "\"reason\":\"refused\""}, 10'000);
  ASSERT_TRUE(line) << server_->logText();
  EXPECT_NE(line->find("\"key_id\":\"app\""), std::string::npos);
  EXPECT_EQ(jsonField(*line, "tries"), "1") << "a refusal is not retried";
  EXPECT_EQ(rx.count(), 0u) << "a refused address was connected to";
}

// A name that resolves to loopback (localhost: 127.0.0.1 and ::1) is refused
// by its address, and so is an address outside the allow-list.
TEST_P(Callbacks, ANameResolvingToAPrivateAddressIsRefused) {
  Receiver rx;
  start(rx.url("localhost"), {{"CALLBACK_ALLOWED_CIDRS", "10.99.0.0/16"}});
  send("+919800000001");
  ASSERT_TRUE(server_->waitForLine({"\"event\":\"callback_dropped\"", "\"reason\":\"refused\""}, 10'000))
      << server_->logText();
  EXPECT_EQ(rx.count(), 0u);
}

// ... and a name is vetted by its answer: allowed, localhost reaches it.
TEST_P(Callbacks, ANameResolvingToAnAllowedAddressIsCalled) {
  Receiver rx;
  start(rx.url("localhost"), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}});
  send("+919800000001");
  const auto delivered = rx.waitForStatus("delivered");
  ASSERT_TRUE(delivered);
  expectSignedByUs(*delivered);
}

TEST_P(Callbacks, RedirectsAreNotFollowed) {
  Receiver target;
  Receiver rx;
  rx.status = 302;
  rx.location = target.url();
  rx.body.clear();
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}});
  send("+919800000001");
  // A 302 is not a 2xx: tried again (twice at least), never followed.
  ASSERT_TRUE(rx.waitFor(2));
  EXPECT_EQ(target.count(), 0u) << "the redirect was followed";
}

TEST_P(Callbacks, ABigResponseBodyIsIgnored) {
  Receiver rx;
  rx.body = std::string(1024 * 1024, 'x');
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}});
  const std::string id = send("+919800000001");
  ASSERT_TRUE(rx.waitForStatus("delivered"));
  const size_t first = rx.count();
  if (redis_) {
    // Acknowledged: nothing pending, nothing scheduled again.
    const int64_t end = nowMs() + 5000;
    auto pending = [&] { return redis_->cli("XPENDING", "phigate:{app}:callbacks", "phigate-cb"); };
    while (nowMs() < end && pending()->elements[0].integer != 0) usleep(10'000);
    EXPECT_EQ(pending()->elements[0].integer, 0);
    EXPECT_EQ(redis_->cli("ZCARD", "phigate:{app}:callbacks:r")->integer, 0);
  }
  // Setup, not an assertion: a retry would come within the retry delay
  // (at most 600 ms here) plus a promote interval (1 s) plus a poll; wait
  // well past that, and a later message's callback on top.
  const int64_t until = nowMs() + 2'500;
  while (nowMs() < until) usleep(20'000);
  const std::string second = send("+919800000001");
  ASSERT_TRUE(rx.waitFor(first + 1));
  size_t of_first = 0, delivered_of_first = 0;
  for (const Received& r : rx.received()) {
    if (jsonField(r.body, "id") != id) continue;
    ++of_first;
    delivered_of_first += jsonField(r.body, "status") == "delivered" ? 1 : 0;
  }
  EXPECT_EQ(delivered_of_first, 1u) << "a 2xx with a big body was retried";
  EXPECT_EQ(of_first, first) << "a 2xx with a big body was retried";
}

// A key whose queue is full (the stream and the retry set hold 100,000
// together): a new callback is not added (nothing trimmed silently), it is
// counted in phigate:{app}:callbacks:dropped and said in an event line.
TEST_P(Callbacks, AFullQueueCountsAndReportsTheDrop) {
  if (GetParam() != Backend::kRedis) GTEST_SKIP() << "the in-process queue's bound: unit test";
  Receiver rx;
  rx.status = 200;
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}});
  // 100,000 retries due in the far future fill the key's share.
  const auto filled = redis_->cli(
      "EVAL", "for i = 1, 100000 do redis.call('ZADD', KEYS[1], 9e15, 'x' .. i) end return 1", "1",
      "phigate:{app}:callbacks:r");
  ASSERT_TRUE(filled && filled->integer == 1);
  const std::string id = send("+919800000001");
  waitStatus(id, "delivered");
  const auto line = server_->waitForLine({"\"event\":\"callback_dropped\"", "\"reason\":\"queue-full\""}, 10'000);
  ASSERT_TRUE(line) << "a full queue dropped a callback silently";
  EXPECT_NE(line->find("\"key_id\":\"app\""), std::string::npos);
  EXPECT_GE(atoi(jsonField(*line, "count").c_str()), 1);
  const auto dropped = redis_->cli("GET", "phigate:{app}:callbacks:dropped");
  ASSERT_TRUE(dropped);
  EXPECT_GE(atoi(dropped->str.c_str()), 1) << "not counted";
  EXPECT_EQ(redis_->cli("XLEN", "phigate:{app}:callbacks")->integer, 0) << "added beyond the bound";
  EXPECT_EQ(redis_->cli("ZCARD", "phigate:{app}:callbacks:r")->integer, 100000);
  for (const Received& r : rx.received()) EXPECT_NE(jsonField(r.body, "id"), id);
}

// A key's stream deleted while phigate runs (its group with it): the
// multi-key read fails with NOGROUP until the groups are made again. The
// other key's callbacks, and then that key's, still arrive.
TEST_P(Callbacks, ADeletedStreamDoesNotStallTheOtherKeys) {
  if (GetParam() != Backend::kRedis) GTEST_SKIP() << "Redis streams only";
  Receiver rx;
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}}, {"k1"});
  const std::string first = send("+919800000001");
  const auto got_first = rx.waitForStatus("delivered");
  ASSERT_TRUE(got_first);
  ASSERT_EQ(jsonField(got_first->body, "id"), first);
  ASSERT_EQ(redis_->cli("DEL", "phigate:{app}:callbacks")->integer, 1);
  const std::string other = send("+919800000001", tokenFor("k1"));
  const std::string again = send("+919800000001");
  for (const std::string& id : {other, again}) {
    EXPECT_TRUE(rx.waitForStatus("delivered", 15'000, id)) << (id == other ? "the other key stalled" : "the deleted key's stream never recovered");
  }
}

// More keys than slots: one slot, five keys with a callback URL, a message
// each. Every key's callback arrives (the reads take turns over the keys).
TEST_P(Callbacks, EveryKeyGetsItsTurnWithFewerSlotsThanKeys) {
  Receiver rx;
  const std::vector<std::string> more = {"k1", "k2", "k3", "k4"};
  start(rx.url(), {{"CALLBACK_ALLOWED_CIDRS", "127.0.0.1/32"}, {"PHIGATE_CALLBACK_CONCURRENCY", "1"}}, more);
  std::vector<std::string> ids;
  for (const std::string& k : more) ids.push_back(send("+919800000001", tokenFor(k)));
  ids.push_back(send("+919800000001"));
  for (const std::string& id : ids) {
    EXPECT_TRUE(rx.waitForStatus("delivered", 15'000, id)) << "a key's callback never arrived (starved)";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Callbacks, ::testing::Values(Backend::kMemory, Backend::kRedis),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return std::string(info.param == Backend::kMemory ? "memory" : "redis");
                         });

}  // namespace
}  // namespace phigate::test
