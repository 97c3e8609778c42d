// The Redis store under concurrency and faults, through the real binary and a
// real redis-server (DESIGN §2): an exact rate limit across worker processes,
// replay nonces shared by workers and restarts, fail-closed answers while
// Redis is frozen, dead or refusing writes, recovery without help, no memory
// growth while failing, and one EVALSHA per request.
//
// Which worker holds a connection is read from /proc: the server-side
// socket's inode (/proc/net/tcp, matched on our local port) is looked up in
// each worker's fd table. Accepted requests are matched to the outbox by the
// message id each 202 carries.
//
// Deadlines are generous and every wait polls: the suite must hold on a
// loaded 2-core machine. Tests that are not about the command deadline run
// with PHIGATE_STORE_TIMEOUT_MS=1000, so that a slow scheduler cannot turn
// an answer into a 503 and blur an exact count. Tokens are never printed.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "security_fixture.h"
#include "support/redis_server.h"

namespace phigate::test {
namespace {

const std::string kKeyId = "fault";
const std::string kSigningSecret = "fault-signing-secret-3f9c2a71d8b64e05";
const std::string kSecretKey = "3c5e7a9b1d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c2e4b6d8f1a3c5e7b9d2f4a6c";  // a test key
const std::string kOutbox = "phigate:{fault}:outbox";
const std::string kWindow = "phigate:{fault}:w:sms:fault";
const std::string kProblemBase = "https://phigate.dev/problems/";
// Far above what any test sends: only the test that wants 429s sets a limit.
const std::string kNoLimits = "sms=1000000/60,health=1000000/60";

void sleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

bool waitUntil(const std::function<bool()>& done, int timeout_ms, int step_ms = 10) {
  const int64_t deadline = nowMs() + timeout_ms;
  for (;;) {
    if (done()) return true;
    if (nowMs() >= deadline) return false;
    sleepMs(step_ms);
  }
}

/** A signed POST /v1/sms with a fresh timestamp and nonce (fixed by its first raw()). */
ApiRequest smsRequest() {
  ApiRequest req = post("/v1/sms", kSmsBody, tokenFor(kKeyId));
  req.signing_secret = kSigningSecret;
  return req;
}

std::string problemType(const Response& r) {
  const std::string t = jsonField(r.body, "type");
  return t.rfind(kProblemBase, 0) == 0 ? t.substr(kProblemBase.size()) : t;
}

// ---- which worker holds a connection ---------------------------------------------

uint16_t localPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

/** The inode of phigate's end of the connection from our `client_port` (0: not accepted yet). */
unsigned long serverSideInode(uint16_t server_port, uint16_t client_port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the column titles
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string sl, local, remote, st, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    if (!(ls >> sl >> local >> remote >> st >> queues >> timer >> retransmits >> uid >> timeout >>
          inode)) {
      continue;
    }
    const size_t lc = local.find(':'), rc = remote.find(':');
    if (lc == std::string::npos || rc == std::string::npos) continue;
    const auto lport = static_cast<uint16_t>(strtoul(local.c_str() + lc + 1, nullptr, 16));
    const auto rport = static_cast<uint16_t>(strtoul(remote.c_str() + rc + 1, nullptr, 16));
    if (lport == server_port && rport == client_port) return inode;
  }
  return 0;
}

bool holdsSocket(pid_t pid, unsigned long inode) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  const std::string want = "socket:[" + std::to_string(inode) + "]";
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[64];
    const ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n > 0 && std::string_view(target, static_cast<size_t>(n)) == want) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

/** The worker that accepted `c` (waits for the accept), or -1 when /proc does not say. */
pid_t ownerOf(const Client& c, uint16_t server_port, const std::vector<pid_t>& workers) {
  const uint16_t client_port = localPort(c.fd());
  if (client_port == 0) return -1;
  pid_t owner = -1;
  waitUntil(
      [&] {
        const unsigned long inode = serverSideInode(server_port, client_port);
        if (inode == 0) return false;
        for (pid_t w : workers) {
          if (holdsSocket(w, inode)) {
            owner = w;
            return true;
          }
        }
        return false;
      },
      3000, 2);
  return owner;
}

/** Alive and not a zombie. */
bool processAlive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

// ---- load ------------------------------------------------------------------------

/** One request of a load run. */
struct Outcome {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  int status = 0;      // 0: no answer (send failed, or nothing within 5 s)
  std::string type;    // problem type slug
  bool retry_after = false;
  std::string id;      // 202: the message id
};

Outcome exchange(std::optional<Client>& c, uint16_t port, const std::string& raw) {
  Outcome o;
  o.start_ms = nowMs();
  if (!c || !c->connected()) c.emplace(port);
  std::optional<Response> r;
  if (c->connected() && c->sendAll(raw, 5000)) r = c->readResponse(5000);
  o.end_ms = nowMs();
  if (!r) {
    c.reset();
    return o;
  }
  o.status = r->status;
  o.retry_after = r->has("retry-after");
  if (r->status == 202) {
    o.id = jsonField(r->body, "id");
  } else {
    o.type = problemType(*r);
  }
  if (r->header("connection") == "close") c.reset();
  return o;
}

/** Threads sending signed POST /v1/sms, each on one keep-alive connection, until stop(). */
class Load {
 public:
  Load(uint16_t port, int threads) : port_(port) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~Load() { stop(); }

  void stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  int count(int status) const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const Outcome& o : outcomes_) n += o.status == status;
    return n;
  }
  /** Answers with `status` to requests started at or after `since_ms`. */
  int countSince(int status, int64_t since_ms) const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const Outcome& o : outcomes_) n += o.status == status && o.start_ms >= since_ms;
    return n;
  }
  std::vector<Outcome> outcomes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return outcomes_;
  }
  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void run() {
    std::optional<Client> c;
    while (!stop_) {
      ApiRequest req = smsRequest();
      Outcome o = exchange(c, port_, req.raw());
      std::lock_guard<std::mutex> lock(mu_);
      outcomes_.push_back(std::move(o));
    }
  }

  uint16_t port_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Outcome> outcomes_;
  std::vector<std::thread> threads_;
};

/** `n` requests over `threads` keep-alive connections, as fast as they go. */
std::vector<Outcome> fire(uint16_t port, int n, int threads) {
  std::atomic<int> next{0};
  std::mutex mu;
  std::vector<Outcome> all;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      std::optional<Client> c;
      std::vector<Outcome> mine;
      while (next.fetch_add(1) < n) {
        ApiRequest req = smsRequest();
        mine.push_back(exchange(c, port, req.raw()));
      }
      std::lock_guard<std::mutex> lock(mu);
      all.insert(all.end(), mine.begin(), mine.end());
    });
  }
  for (std::thread& t : pool) t.join();
  return all;
}

std::map<int, int> byStatus(const std::vector<Outcome>& outcomes) {
  std::map<int, int> m;
  for (const Outcome& o : outcomes) ++m[o.status];
  return m;
}

std::string describe(const std::map<int, int>& m) {
  std::string out;
  for (const auto& [status, n] : m) out += (out.empty() ? "" : ", ") + std::to_string(n) + "x" + std::to_string(status);
  return out.empty() ? "none" : out;
}

/** gtest checks: every 503 is store-unavailable with Retry-After, and nothing else but `allowed` came. */
void expectOnly(const std::vector<Outcome>& outcomes, std::set<int> allowed) {
  int bad_status = 0, bad_503 = 0;
  for (const Outcome& o : outcomes) {
    if (!allowed.count(o.status)) ++bad_status;
    if (o.status == 503 && (o.type != "store-unavailable" || !o.retry_after)) ++bad_503;
  }
  EXPECT_EQ(bad_status, 0) << "answers: " << describe(byStatus(outcomes));
  EXPECT_EQ(bad_503, 0) << "503s must be store-unavailable with Retry-After";
}

// ---- the fixture ----------------------------------------------------------------------

class RedisFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<RedisServer>();
    ASSERT_TRUE(redis_->ready()) << redis_->error();
  }

  /** Starts phigate on this test's Redis; returns once every worker's store is connected. */
  void startPhigate(int workers, std::map<std::string, std::string> env) {
    TestKey key;
    key.id = kKeyId;
    key.token = tokenFor(kKeyId);
    key.roles = {"sms"};
    key.signing_secret = kSigningSecret;
    env["API_KEYS_FILE"] = "keys.json";
    env["RATELIMIT_STORAGE_URI"] = redis_->uri();
    // One SECRET_KEY for every phigate of a test: nonce key names are keyed
    // pseudonyms of it, and a restarted phigate must find the old ones (in
    // development a missing key would be generated anew at each start).
    env.emplace("SECRET_KEY", kSecretKey);
    // These tests read the outbox itself: nothing consumes it unless a test says so.
    env.emplace("PHIGATE_DELIVERY", "false");
    server_.reset();
    server_ = std::make_unique<Server>(ServerOptions{.workers = workers,
                                                     .env = env,
                                                     .files = {{"keys.json", keysFileJson({key})}},
                                                     .ready_timeout_ms = 15000});
    ASSERT_TRUE(server_->ready()) << "phigate did not start";
    workers_.clear();
    if (workers == 1) {
      workers_.push_back(server_->pid());
    } else {
      ASSERT_TRUE(waitUntil([&] { return childPids(server_->pid()).size() == static_cast<size_t>(workers); },
                            10000));
      workers_ = childPids(server_->pid());
    }
    ASSERT_TRUE(waitUntil(
        [&] { return server_->countLines("\"event\":\"store_ready\"") >= static_cast<size_t>(workers); },
        10000))
        << "not every worker connected to Redis";
  }

  uint16_t port() const { return server_->port(); }

  int64_t xlen() const {
    auto r = redis_->cli("XLEN", kOutbox);
    return r && r->type == RedisReply::Type::kInteger ? r->integer : -1;
  }

  int64_t integer(const std::vector<std::string>& argv) const {
    auto r = redis_->command(argv);
    return r && r->type == RedisReply::Type::kInteger ? r->integer : -1;
  }

  /** The message ids in the outbox stream (each entry's "id" field). */
  std::set<std::string> outboxIds() const {
    std::set<std::string> ids;
    auto r = redis_->cli("XRANGE", kOutbox, "-", "+");
    if (!r || r->type != RedisReply::Type::kArray) {
      ADD_FAILURE() << "XRANGE failed";
      return ids;
    }
    for (const RedisReply& entry : r->elements) {
      if (entry.elements.size() != 2) continue;
      const auto& fields = entry.elements[1].elements;
      for (size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].str == "id") ids.insert(fields[i + 1].str);
      }
    }
    return ids;
  }

  bool configSet(const std::string& name, const std::string& value) const {
    auto r = redis_->cli("CONFIG", "SET", name, value);
    return r && r->type == RedisReply::Type::kStatus && r->str == "OK";
  }

  std::optional<Response> health() const { return request(port(), get("/health"), 3000); }

  /** Polls GET /health until it answers `status` (true) or the timeout passes. */
  bool healthBecomes(int status, int timeout_ms, std::string* body = nullptr) const {
    return waitUntil(
        [&] {
          auto r = health();
          if (!r || r->status != status) return false;
          if (body != nullptr) *body = r->body;
          return true;
        },
        timeout_ms, 20);
  }

  /** Sends `req` (exact bytes after its first use) on a fresh connection; its worker in `owner`. */
  Response sendOnNewConnection(ApiRequest& req, pid_t* owner = nullptr) {
    Client c(port());
    if (!c.connected()) {
      ADD_FAILURE() << "cannot connect";
      return Response{};
    }
    if (owner != nullptr) *owner = ownerOf(c, port(), workers_);
    std::optional<Response> r;
    if (c.sendAll(req.raw())) r = c.readResponse(5000);
    if (!r) {
      ADD_FAILURE() << "no response";
      return Response{};
    }
    return *r;
  }

  std::unique_ptr<RedisServer> redis_;  // declared first: outlives the server
  std::unique_ptr<Server> server_;
  std::vector<pid_t> workers_;
};

// ---- 1. one exact limit across processes ----------------------------------------------

TEST_F(RedisFaultTest, RateLimitIsExactAcrossFourWorkers) {
  constexpr int kWorkers = 4, kThreads = 50, kPerThread = 20, kLimit = 200;
  constexpr int kTotal = kThreads * kPerThread;
  startPhigate(kWorkers, {{"PHIGATE_RATE_LIMITS", "sms=200/60"}, {"PHIGATE_STORE_TIMEOUT_MS", "1000"}});

  // Every request built (and signed) up front, each with its own nonce.
  std::vector<std::string> raws;
  for (int i = 0; i < kTotal; ++i) raws.push_back(smsRequest().raw());
  // One keep-alive connection per thread, each traced to the worker holding it.
  std::vector<std::optional<Client>> conns(kThreads);
  std::vector<pid_t> owner(kThreads, -1);
  for (int t = 0; t < kThreads; ++t) {
    conns[t].emplace(port());
    ASSERT_TRUE(conns[t]->connected());
  }
  for (int t = 0; t < kThreads; ++t) owner[t] = ownerOf(*conns[t], port(), workers_);

  std::vector<std::vector<Outcome>> results(kThreads);
  std::vector<int> reconnects(kThreads, 0);
  std::latch go(kThreads + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      go.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        if (!conns[t]) ++reconnects[t];
        results[t].push_back(exchange(conns[t], port(), raws[static_cast<size_t>(t * kPerThread + i)]));
      }
    });
  }
  const int64_t t0 = nowMs();
  go.arrive_and_wait();
  for (std::thread& th : threads) th.join();
  const int64_t elapsed = nowMs() - t0;

  std::vector<Outcome> all;
  std::map<pid_t, int> per_worker;
  for (int t = 0; t < kThreads; ++t) {
    all.insert(all.end(), results[t].begin(), results[t].end());
    if (reconnects[t] == 0) per_worker[owner[t]] += kPerThread;
  }
  const std::map<int, int> counts = byStatus(all);
  EXPECT_EQ(counts.count(202) ? counts.at(202) : 0, kLimit) << describe(counts);
  EXPECT_EQ(counts.count(429) ? counts.at(429) : 0, kTotal - kLimit) << describe(counts);
  int bad_429 = 0;
  for (const Outcome& o : all) bad_429 += o.status == 429 && (o.type != "rate-limited" || !o.retry_after);
  EXPECT_EQ(bad_429, 0) << "every 429 is rate-limited with Retry-After";

  // Redis agrees: one outbox entry and one window entry per 202, nothing more.
  EXPECT_EQ(xlen(), kLimit);
  EXPECT_EQ(integer({"ZCARD", kWindow}), kLimit);
  std::set<std::string> ids;
  for (const Outcome& o : all) {
    if (o.status == 202) ids.insert(o.id);
  }
  EXPECT_EQ(ids, outboxIds()) << "the 202s are exactly the outbox";

  // The load was shared by the workers (connections whose holder /proc named).
  std::string spread;
  for (const auto& [pid, n] : per_worker) spread += " " + std::to_string(pid) + ":" + std::to_string(n);
  per_worker.erase(-1);
  if (per_worker.empty()) {
    printf("[ note ] /proc does not say which worker holds a connection: spread not checked\n");
  } else {
    EXPECT_GE(per_worker.size(), 2u) << "requests per worker:" << spread;
  }
  printf("[ info ] %d requests in %lld ms; requests per worker pid:%s\n", kTotal,
         static_cast<long long>(elapsed), spread.c_str());
}

// ---- 2. nonces are shared by workers and survive a restart ------------------------------

TEST_F(RedisFaultTest, NonceReplayedToAnotherWorkerOrAfterRestartIs409) {
  startPhigate(2, {{"PHIGATE_RATE_LIMITS", kNoLimits}, {"PHIGATE_STORE_TIMEOUT_MS", "1000"}});
  ApiRequest req = smsRequest();
  pid_t first = -1;
  const Response accepted = sendOnNewConnection(req, &first);
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  // Without /proc's word on who holds a connection, 40 replays reach both
  // workers but with probability 2^-39 (SO_REUSEPORT hashes each connection).
  const bool traced = first != -1;
  if (!traced) printf("[ note ] /proc does not say which worker holds a connection: 40 replays\n");

  // The same bytes on new connections until the other worker has seen them too.
  std::set<pid_t> seen = {first};
  int replays = 0;
  while (traced ? seen.size() < 2 && replays < 200 : replays < 40) {
    pid_t owner = -1;
    const Response r = sendOnNewConnection(req, &owner);
    ++replays;
    expectProblem(r, 409, "replayed");
    if (r.status != 409) break;
    if (owner != -1) seen.insert(owner);
  }
  if (traced) {
    EXPECT_EQ(seen.size(), 2u) << "the replays never reached the second worker (" << replays << " sent)";
  }
  EXPECT_EQ(xlen(), 1);

  // A new phigate on the same Redis remembers the nonce.
  startPhigate(2, {{"PHIGATE_RATE_LIMITS", kNoLimits}, {"PHIGATE_STORE_TIMEOUT_MS", "1000"}});
  std::set<pid_t> seen_after;
  for (int i = 0; i < 40 && (i < 4 || !traced || seen_after.size() < 2); ++i) {
    pid_t owner = -1;
    const Response r = sendOnNewConnection(req, &owner);
    expectProblem(r, 409, "replayed");
    if (owner != -1) seen_after.insert(owner);
  }
  if (traced) {
    EXPECT_EQ(seen_after.size(), 2u);
  }
  EXPECT_EQ(xlen(), 1);
  // A fresh nonce still goes through.
  ApiRequest fresh = smsRequest();
  EXPECT_EQ(sendOnNewConnection(fresh).status, 202);
  EXPECT_EQ(xlen(), 2);
}

// ---- 3. Redis frozen mid-load ------------------------------------------------------------

TEST_F(RedisFaultTest, PausedRedisFailsClosedFastAndRecovers) {
  constexpr int kWorkers = 2;
  startPhigate(kWorkers, {{"PHIGATE_RATE_LIMITS", kNoLimits}});  // default 50 ms deadline
  const int64_t xlen_before = std::max<int64_t>(xlen(), 0);
  Load load(port(), 4);
  ASSERT_TRUE(waitUntil([&] { return load.count(202) >= 50; }, 10000)) << "no load got through";

  ASSERT_TRUE(redis_->pause());
  // The clock counts whole milliseconds: a request that started in the
  // millisecond of the pause may have started before it (and been admitted).
  // The first millisecond surely after it:
  const int64_t paused_at = nowMs() + 1;
  ASSERT_TRUE(waitUntil([&] { return load.countSince(503, paused_at) >= 50; }, 5000))
      << "no 503s while Redis is frozen";
  std::string body;
  ASSERT_TRUE(healthBecomes(503, 5000, &body)) << "/health never said the store is down";
  EXPECT_NE(body.find(R"("store":{"backend":"redis","status":"down"})"), std::string::npos) << body;
  EXPECT_EQ(jsonField(body, "status"), "unavailable");
  sleepMs(300);  // a little more load against the frozen server

  const int64_t resumed_at = nowMs();
  ASSERT_TRUE(redis_->resume());
  ASSERT_TRUE(waitUntil([&] { return load.countSince(202, resumed_at) >= 20; }, 10000))
      << "phigate did not recover after SIGCONT";
  EXPECT_TRUE(healthBecomes(200, 10000));
  load.stop();

  const std::vector<Outcome> outcomes = load.outcomes();
  expectOnly(outcomes, {202, 503});
  int admitted_while_frozen = 0, slow = 0, during = 0;
  int64_t worst = 0, first_503 = INT64_MAX;
  std::set<std::string> accepted;
  for (const Outcome& o : outcomes) {
    if (o.status == 202) accepted.insert(o.id);
    if (o.status == 503 && o.end_ms >= paused_at) first_503 = std::min(first_503, o.end_ms);
    if (o.start_ms < paused_at || o.start_ms >= resumed_at) continue;
    ++during;
    worst = std::max(worst, o.end_ms - o.start_ms);
    if (o.end_ms - o.start_ms >= 1000) ++slow;
    if (o.status == 202 && o.end_ms < resumed_at) ++admitted_while_frozen;
  }
  EXPECT_EQ(admitted_while_frozen, 0);
  EXPECT_LT(first_503 - paused_at, 1000) << "the first 503 came late";
  EXPECT_EQ(slow, 0) << "requests against a frozen Redis must fail within a second (worst "
                     << worst << " ms of " << during << ")";

  // Nothing was admitted without Redis: every 202 is in the outbox. A command
  // that timed out was still in the frozen server's socket buffer, and Redis
  // runs it on SIGCONT although phigate answered 503 and closed the connection
  // (the outcome of a timed-out command is unknown). At most one such command
  // per request in flight when a connection was dropped.
  const std::set<std::string> ids = outboxIds();
  int missing = 0;
  for (const std::string& id : accepted) missing += ids.count(id) == 0;
  EXPECT_EQ(missing, 0) << "202s without an outbox entry";
  const int64_t xlen_after = xlen();
  EXPECT_EQ(xlen_after - xlen_before, static_cast<int64_t>(ids.size()));
  const int64_t unknown = xlen_after - xlen_before - static_cast<int64_t>(accepted.size());
  const auto drops = static_cast<int64_t>(server_->countLines("\"event\":\"redis_unavailable\""));
  EXPECT_GE(unknown, 0);
  EXPECT_LE(unknown, drops * load.threads());
  printf("[ info ] %zu accepted; first 503 %lld ms after SIGSTOP; %d answered while frozen "
         "(worst %lld ms); %lld outbox entries for requests answered 503 after a timeout; "
         "%lld connection drops\n",
         accepted.size(), static_cast<long long>(first_503 - paused_at), during,
         static_cast<long long>(worst), static_cast<long long>(unknown), static_cast<long long>(drops));
}

// ---- 4. Redis killed mid-load and restarted ---------------------------------------------

TEST_F(RedisFaultTest, KilledRedisFailsClosedAndPhigateReconnectsAfterRestart) {
  constexpr int kWorkers = 2;
  startPhigate(kWorkers, {{"PHIGATE_RATE_LIMITS", kNoLimits}, {"PHIGATE_STORE_TIMEOUT_MS", "1000"}});
  const pid_t master = server_->pid();
  const std::vector<pid_t> workers = workers_;
  Load load(port(), 4);
  ASSERT_TRUE(waitUntil([&] { return load.count(202) >= 50; }, 10000)) << "no load got through";

  ASSERT_TRUE(redis_->kill());
  const int64_t killed_at = nowMs() + 1;  // surely after the kill (as paused_at above)
  ASSERT_TRUE(waitUntil([&] { return load.countSince(503, killed_at) >= 50; }, 5000))
      << "no 503s while Redis is dead";
  std::string body;
  ASSERT_TRUE(healthBecomes(503, 5000, &body));
  EXPECT_NE(body.find(R"("store":{"backend":"redis","status":"down"})"), std::string::npos) << body;
  sleepMs(300);

  // While restart() waits for the new server to answer, phigate may already
  // have reconnected and admitted requests: "while dead" ends where the
  // restart begins.
  const int64_t restarting_at = nowMs();
  ASSERT_TRUE(redis_->restart()) << redis_->error();
  const int64_t restarted_at = nowMs();
  ASSERT_TRUE(waitUntil([&] { return load.countSince(202, restarted_at) >= 20; }, 10000))
      << "phigate did not reconnect to the restarted Redis";
  EXPECT_TRUE(healthBecomes(200, 10000));
  // Every worker reconnected by itself, loading its scripts into the empty server.
  EXPECT_TRUE(waitUntil(
      [&] { return server_->countLines("\"event\":\"store_ready\"") >= 2u * kWorkers; }, 10000));
  EXPECT_GE(redis_->commandCalls("script|load"), 4 * kWorkers) << "4 scripts per worker";
  load.stop();

  const std::vector<Outcome> outcomes = load.outcomes();
  expectOnly(outcomes, {202, 503});
  // The restarted server is empty: what it holds is exactly the 202s of
  // requests sent after the kill (none came while no Redis was running).
  std::set<std::string> after_kill;
  int admitted_while_dead = 0;
  for (const Outcome& o : outcomes) {
    if (o.status != 202 || o.start_ms < killed_at) continue;
    after_kill.insert(o.id);
    if (o.end_ms < restarting_at) ++admitted_while_dead;
  }
  EXPECT_EQ(admitted_while_dead, 0);
  EXPECT_EQ(xlen(), static_cast<int64_t>(after_kill.size()));
  EXPECT_EQ(outboxIds(), after_kill);

  // No crash: the same master and workers, all alive.
  EXPECT_TRUE(processAlive(master));
  for (pid_t w : workers) EXPECT_TRUE(processAlive(w)) << "worker " << w;
  std::vector<pid_t> now = childPids(master);
  std::vector<pid_t> before = workers;
  std::sort(now.begin(), now.end());
  std::sort(before.begin(), before.end());
  EXPECT_EQ(now, before);
  EXPECT_EQ(server_->countLines("\"event\":\"worker_died\""), 0u);
}

// ---- 5. Redis answering errors (out of memory) -------------------------------------------

TEST_F(RedisFaultTest, RedisOutOfMemoryRefusesEveryAdmitAndWritesNothing) {
  startPhigate(1, {{"PHIGATE_RATE_LIMITS", kNoLimits}, {"PHIGATE_STORE_TIMEOUT_MS", "1000"}});
  ApiRequest warm = smsRequest();
  ASSERT_EQ(sendOnNewConnection(warm).status, 202);
  ASSERT_EQ(xlen(), 1);
  const int64_t keys_before = integer({"DBSIZE"});
  const size_t drops_before = server_->countLines("\"event\":\"redis_unavailable\"");

  ASSERT_TRUE(configSet("maxmemory-policy", "noeviction"));
  ASSERT_TRUE(configSet("maxmemory", "1"));
  std::vector<ApiRequest> refused(10);
  for (ApiRequest& req : refused) {
    req = smsRequest();
    const Response r = sendOnNewConnection(req);
    expectProblem(r, 503, "store-unavailable");
    EXPECT_EQ(r.header("retry-after"), "1");
  }
  // /health asks the store too (its per-address limit) and reports the
  // refusal as the store being down, in its own document, not a problem.
  const auto h = health();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  EXPECT_NE(h->body.find(R"("store":{"backend":"redis","status":"down"})"), std::string::npos) << h->body;
  EXPECT_EQ(jsonField(h->body, "status"), "unavailable");
  // Nothing half-written: no outbox entry, no window entry, no nonce, no key at all.
  EXPECT_EQ(xlen(), 1);
  EXPECT_EQ(integer({"ZCARD", kWindow}), 1);
  EXPECT_EQ(integer({"DBSIZE"}), keys_before);
  // Nonce keys are named by a pseudonym of the nonce (never the nonce
  // itself), so count them: only the warm request's.
  const auto nonces = redis_->cli("KEYS", "phigate:{fault}:n:*");
  ASSERT_TRUE(nonces && nonces->type == RedisReply::Type::kArray);
  EXPECT_EQ(nonces->elements.size(), 1u);
  // An error reply is an answer: the connection stays up.
  EXPECT_EQ(server_->countLines("\"event\":\"redis_unavailable\""), drops_before);

  ASSERT_TRUE(configSet("maxmemory", "0"));
  // The refused request's nonce was never spent: the very same request now goes through.
  EXPECT_EQ(sendOnNewConnection(refused[0]).status, 202);
  ApiRequest fresh = smsRequest();
  EXPECT_EQ(sendOnNewConnection(fresh).status, 202);
  EXPECT_EQ(xlen(), 3);
}

// ---- 6. no growth while failing ------------------------------------------------------------

TEST_F(RedisFaultTest, FailingRequestsDoNotGrowMemory) {
  constexpr long kSlackKb = 3 * 1024;
  constexpr int kRequests = 3000;
  startPhigate(1, {{"PHIGATE_RATE_LIMITS", kNoLimits}});  // default 50 ms deadline
  const pid_t pid = server_->pid();
  // Warm every path: admitted, frozen (timeouts and reconnects), dead.
  std::vector<Outcome> warm = fire(port(), 500, 4);
  expectOnly(warm, {202, 503});  // a stalled CI machine may push a few past 50 ms
  EXPECT_GT(byStatus(warm)[202], 0);
  ASSERT_TRUE(redis_->pause());
  fire(port(), 1000, 4);
  ASSERT_TRUE(redis_->resume());
  ASSERT_TRUE(healthBecomes(200, 10000));
  ASSERT_TRUE(redis_->kill());
  fire(port(), 1000, 4);
  ASSERT_TRUE(redis_->restart());
  ASSERT_TRUE(healthBecomes(200, 10000));

  const long rss0 = vmRssKb(pid);
  ASSERT_GT(rss0, 0);
  ASSERT_TRUE(redis_->pause());
  const std::vector<Outcome> frozen = fire(port(), kRequests, 4);
  const long rss1 = vmRssKb(pid);
  ASSERT_TRUE(redis_->resume());
  ASSERT_TRUE(redis_->kill());
  const std::vector<Outcome> dead = fire(port(), kRequests, 4);
  const long rss2 = vmRssKb(pid);
  ASSERT_TRUE(redis_->restart());

  expectOnly(frozen, {503});
  expectOnly(dead, {503});
  EXPECT_LT(rss1 - rss0, kSlackKb) << "VmRSS " << rss0 << " -> " << rss1 << " KiB (frozen Redis)";
  EXPECT_LT(rss2 - rss0, kSlackKb) << "VmRSS " << rss0 << " -> " << rss2 << " KiB (dead Redis)";
  printf("[ info ] VmRSS %ld KiB, after %d requests to a frozen Redis %ld, to a dead one %ld\n", rss0,
         kRequests, rss1, rss2);
  // And it still works.
  EXPECT_TRUE(healthBecomes(200, 10000));
  ApiRequest req = smsRequest();
  EXPECT_EQ(sendOnNewConnection(req).status, 202);
}

// ---- 7. one round trip per request ---------------------------------------------------------

/** calls= of every command in INFO commandstats. */
std::map<std::string, int64_t> commandCalls(const RedisServer& redis) {
  std::map<std::string, int64_t> out;
  std::istringstream in(redis.commandstats());
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("cmdstat_", 0) != 0) continue;
    const size_t colon = line.find(':'), calls = line.find("calls=");
    if (colon == std::string::npos || calls == std::string::npos) continue;
    out[line.substr(8, colon - 8)] = strtoll(line.c_str() + calls + 6, nullptr, 10);
  }
  return out;
}

/**
 * MONITOR on a connection of its own, read by a thread: every command a
 * client sends, and (tagged "lua") those a script runs. ECHO markers sent
 * through another connection delimit what a test looks at.
 */
class Monitor {
 public:
  explicit Monitor(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const std::string cmd = "*1\r\n$7\r\nMONITOR\r\n";
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        send(fd_, cmd.data(), cmd.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(cmd.size())) {
      return;
    }
    reader_ = std::thread([this] { run(); });
  }
  ~Monitor() {
    stop_ = true;
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) close(fd_);
  }

  /** Waits for a line containing `needle`; true when it came within the timeout. */
  bool waitFor(const std::string& needle, int timeout_ms) const {
    return waitUntil(
        [&] {
          std::lock_guard<std::mutex> lock(mu_);
          return std::any_of(lines_.begin(), lines_.end(),
                             [&](const std::string& l) { return l.find(needle) != std::string::npos; });
        },
        timeout_ms, 5);
  }
  /** The lines strictly between the ones containing `from` and `to`. */
  std::vector<std::string> between(const std::string& from, const std::string& to) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    bool in = false;
    for (const std::string& l : lines_) {
      if (l.find(from) != std::string::npos) {
        in = true;
      } else if (l.find(to) != std::string::npos) {
        break;
      } else if (in) {
        out.push_back(l);
      }
    }
    return out;
  }

 private:
  void run() {
    std::string buf;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) != 1) continue;
      char chunk[65536];
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return;
      buf.append(chunk, static_cast<size_t>(n));
      size_t eol;
      std::lock_guard<std::mutex> lock(mu_);
      while ((eol = buf.find("\r\n")) != std::string::npos) {
        lines_.push_back(buf.substr(0, eol));
        buf.erase(0, eol + 2);
      }
    }
  }

  int fd_ = -1;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::thread reader_;
};

/** A MONITOR line's source ("lua" for a script's commands) and command name, upper-cased. */
std::pair<std::string, std::string> sourceAndCommand(const std::string& line) {
  const size_t open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos) return {};
  std::string source = line.substr(open + 1, close - open - 1);
  source = source.substr(source.find(' ') + 1);  // drop the db number
  const size_t q1 = line.find('"', close), q2 = line.find('"', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos) return {source, ""};
  std::string name = line.substr(q1 + 1, q2 - q1 - 1);
  for (char& c : name) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return {source, name};
}

TEST_F(RedisFaultTest, OneEvalshaPerAcceptedRequest) {
  constexpr int kWorkers = 2, kRequests = 300;
  startPhigate(kWorkers, {{"PHIGATE_RATE_LIMITS", kNoLimits}, {"PHIGATE_STORE_TIMEOUT_MS", "1000"}});
  Monitor monitor(redis_->port());
  ASSERT_TRUE(redis_->cli("ECHO", "burst-start"));
  ASSERT_TRUE(monitor.waitFor("burst-start", 3000)) << "MONITOR does not work";
  const std::map<std::string, int64_t> before = commandCalls(*redis_);
  const int64_t t0 = nowMs();
  const std::vector<Outcome> outcomes = fire(port(), kRequests, 4);
  const double seconds = static_cast<double>(nowMs() - t0) / 1000.0;
  const std::map<std::string, int64_t> after = commandCalls(*redis_);
  ASSERT_TRUE(redis_->cli("ECHO", "burst-end"));
  ASSERT_TRUE(monitor.waitFor("burst-end", 3000));
  ASSERT_EQ(byStatus(outcomes)[202], kRequests) << describe(byStatus(outcomes));

  // INFO commandstats: besides the requests' EVALSHAs, each worker refreshes
  // its block list (one EVALSHA) every 500 ms, at most 2 * seconds + 1 times
  // per worker here.
  auto calls = [](const std::map<std::string, int64_t>& m, const std::string& name) {
    auto it = m.find(name);
    return it == m.end() ? int64_t{0} : it->second;
  };
  const int64_t evalsha = calls(after, "evalsha") - calls(before, "evalsha");
  const auto refresh_bound = static_cast<int64_t>(kWorkers * (2 * std::ceil(seconds) + 1));
  EXPECT_GE(evalsha, kRequests);
  EXPECT_LE(evalsha, kRequests + refresh_bound) << "in " << seconds << " s";
  for (const char* name : {"script|load", "eval", "evalsha_ro", "eval_ro", "multi", "exec", "ping"}) {
    EXPECT_EQ(calls(after, name) - calls(before, name), 0) << name;
  }

  // MONITOR, exactly: what phigate sent during the burst is one EVALSHA on
  // this key's slot per request, plus block-list refreshes, and nothing else.
  // (commandstats also counts the commands the scripts run.)
  int64_t admits = 0, refreshes = 0, watermarks = 0;
  std::map<std::string, int> others;
  for (const std::string& line : monitor.between("burst-start", "burst-end")) {
    const auto [source, name] = sourceAndCommand(line);
    if (source == "lua" || name == "INFO") continue;  // a script's commands; our own reads
    if (name == "EVALSHA" && line.find("\"phigate:{fault}:") != std::string::npos) {
      ++admits;
    } else if (name == "EVALSHA" && line.find("\"phigate:{blocks}\"") != std::string::npos) {
      ++refreshes;
    } else if (name == "HSET" && line.find("\"phigate:{wm}\"") != std::string::npos) {
      ++watermarks;  // per worker every 20 ms while it admits, not per request (redis_settle.cpp)
    } else {
      ++others[name.empty() ? "?" : name];
    }
  }
  EXPECT_EQ(admits, kRequests);
  EXPECT_LE(refreshes, refresh_bound);
  EXPECT_LE(watermarks, static_cast<int64_t>(kWorkers * (50 * std::ceil(seconds + 1) + 1)));
  EXPECT_EQ(evalsha, admits + refreshes) << "commandstats and MONITOR disagree";
  std::string other_text;
  for (const auto& [name, n] : others) other_text += " " + name + "x" + std::to_string(n);
  EXPECT_TRUE(others.empty()) << "other commands:" << other_text;
  printf("[ info ] %d requests in %.2f s: %lld EVALSHA (%lld admits, %lld block-list refreshes)\n",
         kRequests, seconds, static_cast<long long>(evalsha), static_cast<long long>(admits),
         static_cast<long long>(refreshes));
}

// A flushed script cache (SCRIPT FLUSH, a failover) costs a SCRIPT LOAD and a
// retry, never an error answer nor a reconnect.
TEST_F(RedisFaultTest, FlushedScriptCacheIsReloadedTransparently) {
  startPhigate(2, {{"PHIGATE_RATE_LIMITS", kNoLimits}, {"PHIGATE_STORE_TIMEOUT_MS", "1000"}});
  EXPECT_EQ(byStatus(fire(port(), 20, 2))[202], 20);
  const size_t drops_before = server_->countLines("\"event\":\"redis_unavailable\"");
  const int64_t loads_before = redis_->commandCalls("script|load");
  auto flushed = redis_->cli("SCRIPT", "FLUSH");
  ASSERT_TRUE(flushed && !flushed->isError());
  const std::vector<Outcome> outcomes = fire(port(), 100, 4);
  EXPECT_EQ(byStatus(outcomes)[202], 100) << describe(byStatus(outcomes));
  EXPECT_GT(redis_->commandCalls("script|load"), loads_before);
  EXPECT_EQ(server_->countLines("\"event\":\"redis_unavailable\""), drops_before);
  EXPECT_EQ(xlen(), 120);
}

}  // namespace
}  // namespace phigate::test
