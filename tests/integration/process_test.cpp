// Processes through the real binary: the master and its workers, worker
// restart, graceful drain on SIGTERM, and the production configuration
// refusing to start on weak or missing secrets without ever printing them.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace phigate::test {
namespace {

void sleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Sockets on local 127.0.0.1:port in TCP state `state` (/proc/net/tcp: "0A"
// LISTEN, "06" TIME_WAIT), by inode (0 for TIME_WAIT ones, which have none).
std::multiset<unsigned long> socketsInState(uint16_t port, const char* state_hex) {
  std::multiset<unsigned long> out;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  char want[16];
  snprintf(want, sizeof want, "0100007F:%04X", port);
  while (std::getline(in, line)) {
    char local[64], remote[64], state[8];
    unsigned long inode = 0;
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    if (sscanf(line.c_str(), "%*s %63s %63s %7s %*s %*s %*s %*s %*s %lu", local, remote, state,
               &inode) == 4 &&
        want == std::string(local) && std::string(state) == state_hex) {
      out.insert(inode);
    }
  }
  return out;
}

// Inodes of the sockets listening on 127.0.0.1:port.
std::set<unsigned long> listeningInodes(uint16_t port) {
  const std::multiset<unsigned long> all = socketsInState(port, "0A");
  return {all.begin(), all.end()};
}

// Inodes of every socket `pid` holds open.
std::set<unsigned long> socketInodes(pid_t pid) {
  std::set<unsigned long> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    char target[128];
    const ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    unsigned long inode;
    if (sscanf(target, "socket:[%lu]", &inode) == 1) out.insert(inode);
  }
  closedir(d);
  return out;
}

// Waits until `pid` has `n` children; returns them (sorted).
std::vector<pid_t> waitForChildren(pid_t pid, size_t n, int timeout_ms) {
  const int64_t deadline = nowMs() + timeout_ms;
  std::vector<pid_t> kids;
  for (;;) {
    kids = childPids(pid);
    std::sort(kids.begin(), kids.end());
    if (kids.size() == n || nowMs() >= deadline) return kids;
    sleepMs(20);
  }
}

bool exitedWith(const std::optional<int>& status, int code) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

// ---- master and workers ----------------------------------------------------------------

TEST(Process, OneWorkerRunsWithoutAMaster) {
  Server s({.workers = 1});
  ASSERT_TRUE(s.ready()) << s.logText();
  EXPECT_TRUE(childPids(s.pid()).empty());
  EXPECT_TRUE(
      s.waitForLog("{\"event\":\"worker_started\",\"pid\":" + std::to_string(s.pid()) + ","));
  // The process itself holds the listening socket.
  const std::set<unsigned long> listening = listeningInodes(s.port());
  ASSERT_EQ(listening.size(), 1u);
  EXPECT_EQ(socketInodes(s.pid()).count(*listening.begin()), 1u);
}

TEST(Process, TwoWorkersEachListenOnThePort) {
  Server s({.workers = 2});
  ASSERT_TRUE(s.ready()) << s.logText();
  const std::vector<pid_t> kids = waitForChildren(s.pid(), 2, 3000);
  ASSERT_EQ(kids.size(), 2u) << s.logText();
  // SO_REUSEPORT: one listening socket per worker, none in the master.
  std::set<unsigned long> listening;
  const int64_t deadline = nowMs() + 3000;
  while ((listening = listeningInodes(s.port())).size() < 2 && nowMs() < deadline) sleepMs(20);
  ASSERT_EQ(listening.size(), 2u);
  std::set<unsigned long> seen;
  for (pid_t k : kids) {
    EXPECT_TRUE(s.waitForLog("{\"event\":\"worker_started\",\"pid\":" + std::to_string(k) + ","));
    int held = 0;
    for (unsigned long inode : socketInodes(k)) {
      if (listening.count(inode) != 0) {
        ++held;
        seen.insert(inode);
      }
    }
    EXPECT_EQ(held, 1) << "worker " << k;
  }
  EXPECT_EQ(seen.size(), 2u);
  for (unsigned long inode : socketInodes(s.pid())) EXPECT_EQ(listening.count(inode), 0u);
  for (int i = 0; i < 20; ++i) {
    auto r = request(s.port(), get("/livez"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
}

TEST(Process, KilledWorkerIsReplacedWhileThePortKeepsAnswering) {
  Server s({.workers = 2});
  ASSERT_TRUE(s.ready()) << s.logText();
  const std::vector<pid_t> kids = waitForChildren(s.pid(), 2, 3000);
  ASSERT_EQ(kids.size(), 2u);
  const pid_t victim = kids[0];
  ASSERT_EQ(kill(victim, SIGKILL), 0);

  // The surviving worker answers (a connection queued on the dead worker's
  // socket may be reset: retry).
  int ok = 0;
  const int64_t deadline = nowMs() + 3000;
  while (ok < 10 && nowMs() < deadline) {
    auto r = request(s.port(), get("/livez"), 1000);
    if (r && r->status == 200) ++ok;
  }
  EXPECT_EQ(ok, 10) << "port stopped answering after a worker died";

  // The master notices and starts a replacement.
  std::vector<pid_t> now;
  const int64_t respawn_deadline = nowMs() + 5000;
  do {
    now = childPids(s.pid());
    if (now.size() == 2 && std::find(now.begin(), now.end(), victim) == now.end()) break;
    sleepMs(20);
  } while (nowMs() < respawn_deadline);
  ASSERT_EQ(now.size(), 2u) << s.logText();
  EXPECT_EQ(std::find(now.begin(), now.end(), victim), now.end());
  EXPECT_TRUE(s.waitForLine(
      {"\"event\":\"worker_died\"", "\"pid\":" + std::to_string(victim) + ",", "\"signal\":9"}))
      << s.logText();
  const pid_t replacement = now[0] == kids[1] ? now[1] : now[0];
  EXPECT_TRUE(
      s.waitForLog("{\"event\":\"worker_started\",\"pid\":" + std::to_string(replacement) + ","));
}

// ---- a busy address -------------------------------------------------------------------

// Every process in `pid`'s tree (itself and its direct children).
std::set<pid_t> processTree(pid_t pid) {
  std::set<pid_t> out = {pid};
  for (pid_t c : childPids(pid)) out.insert(c);
  return out;
}

/** gtest checks: `s` exited non-zero, naming the address as busy, without serving. */
void expectRefusedBusyAddress(Server& s, uint16_t port) {
  const auto status = s.waitExit(5000);
  ASSERT_TRUE(status) << "a second phigate started on a busy address";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << "wait status " << *status;
  const std::string out = s.logText();
  EXPECT_NE(out.find("phigate: cannot listen on 127.0.0.1:" + std::to_string(port) +
                     ": address already in use"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("worker_started"), std::string::npos) << out;
  EXPECT_EQ(out.find("worker_spawned"), std::string::npos) << "the master forked anyway";
}

/** gtest checks: only `first`'s processes listen on `port`, and it answers. */
void expectStillServedBy(const Server& first, int workers) {
  const std::set<pid_t> tree = processTree(first.pid());
  const std::set<unsigned long> listening = listeningInodes(first.port());
  EXPECT_EQ(listening.size(), static_cast<size_t>(workers)) << "another process joined the port";
  for (unsigned long inode : listening) {
    bool ours = false;
    for (pid_t p : tree) ours = ours || socketInodes(p).count(inode) != 0;
    EXPECT_TRUE(ours) << "a listening socket on the port belongs to someone else";
  }
  for (int i = 0; i < 10; ++i) {
    auto r = request(first.port(), get("/livez"), 2000);
    ASSERT_TRUE(r) << "the first instance stopped answering";
    EXPECT_EQ(r->status, 200);
  }
}

// (first instance's workers, second instance's workers)
class BusyAddressTest : public ::testing::TestWithParam<std::pair<int, int>> {};

// A second phigate on the address of a running one must not join its
// SO_REUSEPORT group (the kernel would split the traffic between two
// processes with different keys and state): it refuses to start.
TEST_P(BusyAddressTest, SecondPhigateExitsAndTheFirstKeepsServing) {
  const auto [first_workers, second_workers] = GetParam();
  Server first({.workers = first_workers});
  ASSERT_TRUE(first.ready()) << first.logText();
  if (first_workers > 1) {
    ASSERT_EQ(waitForChildren(first.pid(), static_cast<size_t>(first_workers), 3000).size(),
              static_cast<size_t>(first_workers));
    const int64_t deadline = nowMs() + 3000;
    while (listeningInodes(first.port()).size() < static_cast<size_t>(first_workers) &&
           nowMs() < deadline) {
      sleepMs(20);
    }
  }
  Server second({.workers = second_workers,
                 .env = {{"PHIGATE_LISTEN", "127.0.0.1:" + std::to_string(first.port())}},
                 .wait_ready = false});
  expectRefusedBusyAddress(second, first.port());
  expectStillServedBy(first, first_workers);
}

INSTANTIATE_TEST_SUITE_P(Workers, BusyAddressTest,
                         ::testing::Values(std::pair{1, 1}, std::pair{1, 2}, std::pair{2, 1},
                                           std::pair{2, 2}),
                         [](const auto& info) {
                           return "First" + std::to_string(info.param.first) + "Second" +
                                  std::to_string(info.param.second);
                         });

// Any listener counts, not only a phigate: here one with no socket options
// at all (as `nc -l` or `python3 -m http.server` listen).
TEST(Process, ForeignListenerMakesTheAddressBusy) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const uint16_t port = ntohs(a.sin_port);
  for (int workers : {1, 2}) {
    SCOPED_TRACE(workers);
    Server s({.workers = workers,
              .env = {{"PHIGATE_LISTEN", "127.0.0.1:" + std::to_string(port)}},
              .wait_ready = false});
    expectRefusedBusyAddress(s, port);
  }
  ::close(fd);
}

// What the check must not refuse: the previous run's connections in
// TIME_WAIT (the server closed them) do not make the address busy.
TEST(Process, TimeWaitLeftoversDoNotMakeTheAddressBusy) {
  uint16_t port = 0;
  {
    Server s({.workers = 1});
    ASSERT_TRUE(s.ready()) << s.logText();
    port = s.port();
    for (int i = 0; i < 3; ++i) {
      // Read to the server's FIN before closing: the server closes first,
      // so its end (on `port`) is the one left in TIME_WAIT.
      Client c(port);
      ASSERT_TRUE(c.sendAll("GET /livez HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
      ASSERT_TRUE(c.readUntilClosed().eof);
    }
  }  // stopped: the server's ends of those connections are in TIME_WAIT
  ASSERT_FALSE(socketsInState(port, "06").empty()) << "no TIME_WAIT left to test with";
  // (The harness would wait on a port of its own choosing: wait here.)
  Server again({.workers = 2,
                .env = {{"PHIGATE_LISTEN", "127.0.0.1:" + std::to_string(port)}},
                .wait_ready = false});
  std::optional<Response> r;
  for (const int64_t deadline = nowMs() + 5000; !r && nowMs() < deadline; sleepMs(20)) {
    r = request(port, get("/livez"), 1000);
  }
  ASSERT_TRUE(r) << again.logText();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(again.logText().find("cannot listen"), std::string::npos);
}

// ---- graceful shutdown ----------------------------------------------------------------

class DrainTest : public ::testing::TestWithParam<int> {};

// Requests whose head is still arriving when SIGTERM comes are finished and
// answered (with Connection: close), then the process exits 0.
TEST_P(DrainTest, InFlightRequestsAreAnsweredThenTheProcessExitsZero) {
  const int workers = GetParam();
  constexpr int kDrainMs = 8000;
  Server s({.workers = workers, .env = {{"PHIGATE_DRAIN_TIMEOUT_MS", std::to_string(kDrainMs)}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  if (workers > 1) {
    ASSERT_EQ(waitForChildren(s.pid(), 2, 3000).size(), 2u);
  }

  constexpr int kClients = 20;
  std::vector<Client> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(s.port());
    ASSERT_TRUE(clients.back().connected());
    // Everything but the final CRLF: the request is in progress.
    ASSERT_TRUE(
        clients.back().sendAll("GET /livez HTTP/1.1\r\nHost: test\r\nX-Request-ID: inflight-" +
                               std::to_string(i) + "\r\n"));
  }
  // Let the server read those bytes before the signal: a connection whose
  // bytes are still unread in the kernel is idle as far as it can know.
  sleepMs(300);
  ASSERT_EQ(s.sendSignal(SIGTERM), 0);
  const int64_t signalled = nowMs();
  sleepMs(100);  // the drain has begun; the requests now complete
  for (int i = 0; i < kClients; ++i) ASSERT_TRUE(clients[i].sendAll("\r\n"));
  for (int i = 0; i < kClients; ++i) {
    auto r = clients[i].readResponse();
    ASSERT_TRUE(r) << "in-flight request " << i << " lost";
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"status":"ok"})");
    EXPECT_EQ(r->header("x-request-id"), "inflight-" + std::to_string(i));
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(clients[i].isClosed());
    clients[i].close();
  }
  // Gone before the drain deadline would have cut anything off.
  const auto status =
      s.waitExit(static_cast<int>(std::max<int64_t>(0, signalled + kDrainMs - 500 - nowMs())));
  ASSERT_TRUE(status) << "did not exit within the drain timeout";
  EXPECT_TRUE(exitedWith(status, 0)) << "wait status " << *status;
  EXPECT_TRUE(s.waitForLog("\"event\":\"worker_stopped\"", 1000));
}

INSTANTIATE_TEST_SUITE_P(Workers, DrainTest, ::testing::Values(1, 2),
                         [](const auto& info) { return std::to_string(info.param) + "Workers"; });

TEST(Process, IdleKeepAliveConnectionsAreClosedPromptlyOnSigterm) {
  Server s;  // default drain timeout: 10 s
  ASSERT_TRUE(s.ready()) << s.logText();
  std::vector<Client> idle;
  for (int i = 0; i < 5; ++i) {
    idle.emplace_back(s.port());
    ASSERT_TRUE(idle.back().sendAll(get("/livez")));
    auto r = idle.back().readResponse();
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has("connection"));
  }
  ASSERT_EQ(s.sendSignal(SIGTERM), 0);
  for (Client& c : idle) {
    EXPECT_TRUE(c.isClosed(2000)) << "idle connection kept open during the drain";
    EXPECT_EQ(c.buffered(), "");
    c.close();
  }
  EXPECT_TRUE(exitedWith(s.waitExit(3000), 0));
}

// ---- production fail-fast -------------------------------------------------------------

struct BadConfig {
  const char* name;
  std::map<std::string, std::string> set;
  std::vector<std::string> unset;
  int workers;
  const char* names;   // the variable the error must name
  const char* secret;  // a value that must not appear (nullptr: nothing to hide)
};

// gtest prints the case name only (never the values).
void PrintTo(const BadConfig& c, std::ostream* os) { *os << c.name; }

const std::string kHex63 = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

const BadConfig kBadConfigs[] = {
    {"SecretKeyMissing", {}, {"SECRET_KEY"}, 1, "SECRET_KEY", nullptr},
    {"SecretKeyDevDefault",
     {{"SECRET_KEY", "dev-secret-key-not-for-production"}},
     {},
     1,
     "SECRET_KEY",
     "dev-secret-key-not-for-production"},
    {"SecretKey63Hex", {{"SECRET_KEY", kHex63}}, {}, 1, "SECRET_KEY", kHex63.c_str()},
    {"SecretKeyAllZeros",
     {{"SECRET_KEY", std::string(64, '0')}},
     {},
     1,
     "SECRET_KEY",
     "0000000000000000"},
    {"SecretKeyNotHex",
     {{"SECRET_KEY", "MARKERsecret" + std::string(52, 'x')}},
     {},
     1,
     "SECRET_KEY",
     "MARKERsecret"},
    {"EncryptionKeyMissing", {}, {"ENCRYPTION_KEY"}, 1, "ENCRYPTION_KEY", nullptr},
    {"EncryptionKeyWeak",
     {{"ENCRYPTION_KEY", "abababababababababababababababababababababababababababababababab"}},
     {},
     1,
     "ENCRYPTION_KEY",
     "abababababababab"},
    {"EncryptionKeySameAsSecretKey",
     {{"ENCRYPTION_KEY", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
     {},
     1,
     "ENCRYPTION_KEY",
     "0123456789abcdef"},
    {"SmsApiKeyTooShort", {{"SMS_API_KEY", "MARKERshort"}}, {}, 1, "SMS_API_KEY", "MARKERshort"},
    {"SmsApiKeyDevDefault", {{"SMS_API_KEY", "dev-api-key"}}, {}, 1, "SMS_API_KEY", "dev-api-key"},
    {"SmsApiKeyMissing", {}, {"SMS_API_KEY"}, 1, "SMS_API_KEY", nullptr},
    {"AdminApiKeyTooShort",
     {{"ADMIN_API_KEY", "MARKERadmin"}},
     {},
     1,
     "ADMIN_API_KEY",
     "MARKERadmin"},
    {"DebugTrue", {{"DEBUG", "True"}}, {}, 1, "DEBUG", nullptr},
    {"TwoWorkersWithoutSharedStore", {}, {}, 2, "RATELIMIT_STORAGE_URI", nullptr},
    {"UnknownPhigateVariable", {{"PHIGATE_FOO", "MARKERfoo"}}, {}, 1, "PHIGATE_FOO", "MARKERfoo"},
};

class ProductionConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ProductionConfigTest, RefusesToStartNamingTheVariableButNotItsValue) {
  const BadConfig& bc = GetParam();
  ServerOptions o;
  o.workers = bc.workers;
  o.env = productionEnv();
  for (const auto& [k, v] : bc.set) o.env[k] = v;
  o.unset = bc.unset;
  for (const std::string& k : bc.unset) o.env.erase(k);
  o.wait_ready = false;
  Server s(o);
  const auto status = s.waitExit(5000);
  ASSERT_TRUE(status) << "still running with a bad production configuration";
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_NE(WEXITSTATUS(*status), 0);
  const std::string out = s.logText();
  EXPECT_NE(out.find(bc.names), std::string::npos) << "error does not name " << bc.names;
  if (bc.secret != nullptr) {
    EXPECT_EQ(out.find(bc.secret), std::string::npos) << "the rejected value was printed";
  }
  EXPECT_EQ(out.find("worker_started"), std::string::npos);
  // The valid secrets of the base configuration are never printed either.
  for (const auto& [k, v] : productionEnv()) {
    // Switches ("true"/"false") are words an error text may well contain.
    if (k != "APP_ENV" && v != "true" && v != "false") {
      EXPECT_EQ(out.find(v), std::string::npos) << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(FailFast, ProductionConfigTest, ::testing::ValuesIn(kBadConfigs),
                         [](const auto& info) { return std::string(info.param.name); });

// A misspelt limit is an error in development too, never silently ignored.
TEST(Process, UnknownPhigateVariableFailsInDevelopmentToo) {
  Server s({.env = {{"PHIGATE_MAX_HEADER", "MARKERtypo"}}, .wait_ready = false});
  const auto status = s.waitExit(5000);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_NE(s.logText().find("PHIGATE_MAX_HEADER"), std::string::npos);
  EXPECT_EQ(s.logText().find("MARKERtypo"), std::string::npos);
}

// The same production configuration, valid, starts and serves.
TEST(Process, ValidProductionConfigurationStarts) {
  Server s({.env = productionEnv()});
  ASSERT_TRUE(s.ready()) << s.logText();
  for (const auto& [k, v] : productionEnv()) {
    if (k != "APP_ENV" && k != "PHIGATE_ACCEPT_MESSAGE_LOSS") {
      EXPECT_EQ(s.logText().find(v), std::string::npos) << k;
    }
  }
  EXPECT_NE(s.logText().find("queued messages are lost on every restart"), std::string::npos);
}

// A 202 must survive a restart: production refuses to keep accepted messages
// only in memory unless the operator says, in so many words, that it may.
TEST(Process, ProductionRefusesTheInProcessStoreWithoutConsent) {
  Server s({.env = productionEnv(), .unset = {"PHIGATE_ACCEPT_MESSAGE_LOSS"}, .wait_ready = false});
  const auto status = s.waitExit(5000);
  ASSERT_TRUE(status) << "started without a durable store";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_NE(s.logText().find("RATELIMIT_STORAGE_URI is required in production"), std::string::npos)
      << s.logText();
  EXPECT_NE(s.logText().find("PHIGATE_ACCEPT_MESSAGE_LOSS"), std::string::npos);
}

}  // namespace
}  // namespace phigate::test

namespace phigate::test {
namespace {

// ./.env is read at start-up; the environment wins over it; a bad name in it
// is refused like one in the environment.
TEST(Process, DotenvFileIsReadAndTheEnvironmentWins) {
  Server bad({.files = {{".env", "# a comment\nPHIGATE_MAX_HEADERZ=5\n"}}, .wait_ready = false});
  const auto status = bad.waitExit(5000);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_NE(bad.logText().find("PHIGATE_MAX_HEADERZ"), std::string::npos);

  // .env limits the header count to 3 fields; the environment says 50.
  Server s({.env = {{"PHIGATE_MAX_HEADERS", "50"}},
            .files = {{".env", "PHIGATE_MAX_HEADERS=3\nPHIGATE_MAX_REQUEST_LINE=100\n"}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  Client c(s.port());
  ASSERT_TRUE(c.sendAll("GET /livez HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"));
  std::optional<Response> r = c.readResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);  // 5 fields: the environment's 50 applies
  Client longline(s.port());
  ASSERT_TRUE(longline.sendAll("GET /livez?" + std::string(120, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n"));
  r = longline.readResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 414);  // .env's request-line limit applies
}

}  // namespace
}  // namespace phigate::test

namespace phigate::test {
namespace {

// A new user's `make run` has no key: the start-up notice says how to make one.
TEST(Process, WithoutAnyKeyTheNoticeSaysHowToCreateOne) {
  Server s;
  ASSERT_TRUE(s.ready()) << s.logText();
  EXPECT_TRUE(s.waitForLog("no API keys configured"));
  EXPECT_NE(s.logText().find("phigate keygen --id"), std::string::npos) << s.logText();
  EXPECT_NE(s.logText().find("SMS_API_KEY=$(openssl rand -hex 32)"), std::string::npos);
  // With a key there is nothing to explain.
  Server keyed({.env = {{"SMS_API_KEY", "test-token-next-step-000000000000000"}}});
  ASSERT_TRUE(keyed.ready());
  EXPECT_EQ(keyed.logText().find("no API keys configured"), std::string::npos);
}

}  // namespace
}  // namespace phigate::test
