// RedisClient against a real redis-server (each test starts its own on a free
// port, killed in TearDown), and RATELIMIT_STORAGE_URI parsing.
#include "state/redis_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/redis_uri.h"

// Counts write() calls to sockets connected to one port, to see the
// pipelining itself: hiredis writes with write(2), and a definition here
// takes precedence over libc's for every shared library of the process.
namespace {
int g_count_writes_to_port = 0;
int g_writes_counted = 0;
}  // namespace

extern "C" ssize_t write(int fd, const void* buf, size_t n) {
  if (g_count_writes_to_port != 0) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
        peer.sin_family == AF_INET && ntohs(peer.sin_port) == g_count_writes_to_port) {
      ++g_writes_counted;
    }
  }
  return syscall(SYS_write, fd, buf, n);
}

namespace phigate::state {
namespace {

// ---- RATELIMIT_STORAGE_URI -------------------------------------------------

RedisEndpoint parseOk(std::string_view uri) {
  RedisEndpoint ep;
  std::string error;
  EXPECT_TRUE(parseRedisUri(uri, &ep, &error)) << uri << ": " << error;
  return ep;
}

TEST(RedisUri, TcpDefaults) {
  const RedisEndpoint ep = parseOk("redis://127.0.0.1");
  EXPECT_FALSE(ep.unix_socket);
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(ep.user, "");
  EXPECT_EQ(ep.password, "");
}

TEST(RedisUri, TcpForms) {
  RedisEndpoint ep = parseOk("redis://10.0.0.5:6380/3");
  EXPECT_EQ(ep.host, "10.0.0.5");
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.db, 3);

  ep = parseOk("redis://:s3cret@127.0.0.1:6379/0");
  EXPECT_EQ(ep.user, "");
  EXPECT_EQ(ep.password, "s3cret");

  ep = parseOk("redis://alice:p%40ss%2Fw%3Ard%25@[::1]:7000/2");
  EXPECT_EQ(ep.user, "alice");
  EXPECT_EQ(ep.password, "p@ss/w:rd%");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 7000);
  EXPECT_EQ(ep.db, 2);

  ep = parseOk("redis://[2001:db8::10]");
  EXPECT_EQ(ep.host, "2001:db8::10");
  EXPECT_EQ(ep.port, 6379);

  ep = parseOk("redis://redis.internal:6390");
  EXPECT_EQ(ep.host, "redis.internal");  // resolved later, at start-up
  EXPECT_EQ(ep.port, 6390);

  ep = parseOk("redis://redis_1/");  // a trailing '/' is db 0; '_' as in container names
  EXPECT_EQ(ep.host, "redis_1");
  EXPECT_EQ(ep.db, 0);

  ep = parseOk("REDIS://u:p+q@h.example.:1/15");  // scheme case-insensitive; '+' is not a space
  EXPECT_EQ(ep.password, "p+q");
  EXPECT_EQ(ep.host, "h.example.");
  EXPECT_EQ(ep.port, 1);
  EXPECT_EQ(ep.db, 15);

  ep = parseOk("redis://:a@b@127.0.0.1:65535");  // the last '@' ends the credentials
  EXPECT_EQ(ep.password, "a@b");
  EXPECT_EQ(ep.port, 65535);
}

TEST(RedisUri, UnixForms) {
  RedisEndpoint ep = parseOk("unix:///var/run/redis/redis.sock");
  EXPECT_TRUE(ep.unix_socket);
  EXPECT_EQ(ep.path, "/var/run/redis/redis.sock");
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(ep.password, "");

  ep = parseOk("unix:///tmp/r.sock?db=2&password=x%26y%3D");
  EXPECT_EQ(ep.path, "/tmp/r.sock");
  EXPECT_EQ(ep.db, 2);
  EXPECT_EQ(ep.password, "x&y=");

  ep = parseOk("unix:///tmp/my%20dir/r.sock?password=pw&user=bob&db=9");
  EXPECT_EQ(ep.path, "/tmp/my dir/r.sock");
  EXPECT_EQ(ep.user, "bob");
  EXPECT_EQ(ep.password, "pw");
  EXPECT_EQ(ep.db, 9);
}

TEST(RedisUri, RejectsInvalidFormsWithoutEchoingThem) {
  const std::string long_path = "unix:///" + std::string(120, 'a');
  const char* bad[] = {
      "",
      "hunter2",
      "http://:hunter2@127.0.0.1",
      "rediss://:hunter2@127.0.0.1",
      "redis+unix:///tmp/hunter2.sock",
      "memory://",
      "redis://",
      "redis://:hunter2@",
      "redis://:hunter2@:6379",
      "redis://:hunter2@/0",
      "redis://hunter2@127.0.0.1",          // user without password
      "redis://user:@127.0.0.1",            // empty password
      "redis://:hunter2%zz@127.0.0.1",      // bad escape
      "redis://:hunter2%4@127.0.0.1",
      "redis://:hunter2@127.0.0.1:",
      "redis://:hunter2@127.0.0.1:0",
      "redis://:hunter2@127.0.0.1:65536",
      "redis://:hunter2@127.0.0.1:12ab",
      "redis://:hunter2@127.0.0.1:-1",
      "redis://:hunter2@127.0.0.1/x",
      "redis://:hunter2@127.0.0.1/-1",
      "redis://:hunter2@127.0.0.1/1/2",
      "redis://:hunter2@127.0.0.1/9999999999",
      "redis://:hunter2@127.0.0.1?db=1",
      "redis://:hunter2@127.0.0.1#frag",
      "redis://:hunter2@[::1",
      "redis://:hunter2@[zz::1]:6379",
      "redis://:hunter2@[127.0.0.1]",
      "redis://:hunter2@[::1]x",
      "redis://:hunter2@::1",
      "redis://:hunter2@::1:6379",
      "redis://:hunter2@bad!host",
      "redis://:hunter2@-bad.example",
      "redis://:hunter2@bad-.example",
      "redis://:hunter2@a..b",
      "redis://:hunter2@256.1.1.1",         // numeric last label: not a name either
      "redis://:hunter2@127.1",
      "redis://:hunter2@127.0.0.1 ",
      "redis://:hunter2@127.0.0.1\n",
      "redis://:hunt er2@127.0.0.1",
      "redis://pass/hunter2@127.0.0.1",      // unescaped '/' in a password
      "unix://",
      "unix:///",
      "unix:///tmp/",
      "unix://host/tmp/hunter2.sock",
      "unix:/tmp/hunter2.sock",
      "unix:///tmp/r.sock?db=x&password=hunter2",
      "unix:///tmp/r.sock?db=&password=hunter2",
      "unix:///tmp/r.sock?foo=1&password=hunter2",
      "unix:///tmp/r.sock?db=1&db=2&password=hunter2",
      "unix:///tmp/r.sock?password&db=1",
      "unix:///tmp/r.sock?password=hunter2%zz",
      "unix:///tmp/r.sock?password=",
      "unix:///tmp/r.sock?user=bob",
      "unix:///tmp/r%00.sock?password=hunter2",
      "unix:///tmp/r.sock?password=hunter2#x",
      long_path.c_str(),
  };
  for (const char* uri : bad) {
    RedisEndpoint ep;
    ep.host = "untouched";
    std::string error;
    EXPECT_FALSE(parseRedisUri(uri, &ep, &error)) << uri;
    EXPECT_NE(error.find("RATELIMIT_STORAGE_URI"), std::string::npos) << uri << ": " << error;
    EXPECT_EQ(error.find("hunter2"), std::string::npos) << uri << ": " << error;
    EXPECT_EQ(error.find("127.0.0.1"), std::string::npos) << uri << ": " << error;
    EXPECT_EQ(ep.password, "") << uri;  // nothing half-parsed is left behind
  }
}

TEST(RedisUri, ResolvesHostNamesOnceAtStartUp) {
  RedisEndpoint ep = parseOk("redis://:pw@localhost:6380/1");
  EXPECT_EQ(ep.host, "localhost");
  std::string error;
  ASSERT_TRUE(resolveRedisHost(&ep, &error)) << error;
  EXPECT_TRUE(isIpLiteral(ep.host)) << ep.host;
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.db, 1);
  EXPECT_EQ(ep.password, "pw");

  ep = parseOk("redis://[::1]:6380");
  ASSERT_TRUE(resolveRedisHost(&ep, &error));
  EXPECT_EQ(ep.host, "::1");

  ep = parseOk("unix:///tmp/x.sock");
  ASSERT_TRUE(resolveRedisHost(&ep, &error));
  EXPECT_EQ(ep.host, "");

  ep = parseOk("redis://:hunter2@no-such-host.invalid");
  EXPECT_FALSE(resolveRedisHost(&ep, &error));
  EXPECT_NE(error.find("RATELIMIT_STORAGE_URI"), std::string::npos) << error;
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  EXPECT_EQ(error.find("no-such-host"), std::string::npos) << error;
}

// ---- a real redis-server ------------------------------------------------------

bool redisServerInstalled() {
  const char* path = getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const size_t colon = dirs.find(':');
    const std::string file = std::string(dirs.substr(0, colon)) + "/redis-server";
    if (access(file.c_str(), X_OK) == 0) return true;
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
  }
  return false;
}

int freePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

uint64_t nowMs() { return uv_hrtime() / 1'000'000; }

/** A redis-server child process on 127.0.0.1:port (or only a unix socket). */
class RedisServer {
 public:
  RedisServer(int port, std::vector<std::string> extra, std::string unix_path = {})
      : port_(port), extra_(std::move(extra)), unix_path_(std::move(unix_path)) {}
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer() { kill(); }

  bool start() {
    std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_),
                                     "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                     "--daemonize", "no", "--loglevel", "warning"};
    if (!unix_path_.empty()) {
      args.insert(args.end(), {"--unixsocket", unix_path_, "--unixsocketperm", "700"});
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    fflush(nullptr);  // or the child could write the parent's buffered output again
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      const int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0) dup2(devnull, STDOUT_FILENO);  // Redis logs to stdout
      execvp("redis-server", argv.data());
      _exit(127);
    }
    const uint64_t deadline = nowMs() + 10'000;
    while (nowMs() < deadline) {
      redisContext* c = connect();
      if (c != nullptr) {
        redisFree(c);
        return true;
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      usleep(10'000);
    }
    return false;
  }

  /** A blocking control connection (answers PING, even if only with NOAUTH). */
  redisContext* connect() {
    const timeval tv{1, 0};
    redisContext* c = unix_path_.empty() || port_ != 0
                          ? redisConnectWithTimeout("127.0.0.1", port_, tv)
                          : redisConnectUnixWithTimeout(unix_path_.c_str(), tv);
    if (c == nullptr) return nullptr;
    if (c->err != 0) {
      redisFree(c);
      return nullptr;
    }
    redisSetTimeout(c, tv);
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    if (r == nullptr) {
      redisFree(c);
      return nullptr;
    }
    freeReplyObject(r);
    return c;
  }

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }
  int port() const { return port_; }

 private:
  int port_;
  std::vector<std::string> extra_;
  std::string unix_path_;
  pid_t pid_ = -1;
};

/** What a callback saw; `calls` must end at exactly 1. */
struct Result {
  int calls = 0;
  bool ok = false;  // a reply (possibly an error reply), not a failure
  int type = 0;
  std::string str;
  long long integer = 0;
  std::vector<std::string> elements;
  uint64_t at_ms = 0;
};

void onResult(void* ctx, const redisReply* r) {
  auto* res = static_cast<Result*>(ctx);
  ++res->calls;
  res->at_ms = nowMs();
  res->ok = r != nullptr;
  if (r == nullptr) return;
  res->type = r->type;
  if (r->str != nullptr) res->str.assign(r->str, r->len);
  res->integer = r->integer;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    res->elements.emplace_back(e->str != nullptr ? std::string(e->str, e->len) : std::string());
  }
}

std::string infoField(redisContext* c, const char* section, std::string_view field) {
  auto* r = static_cast<redisReply*>(redisCommand(c, "INFO %s", section));
  std::string value;
  if (r != nullptr && r->type == REDIS_REPLY_STRING) {
    const std::string_view text(r->str, r->len);
    const std::string key = std::string(field) + ":";
    const size_t at = text.find(key);
    if (at != std::string_view::npos) {
      const size_t end = text.find("\r\n", at);
      value = std::string(text.substr(at + key.size(), end - at - key.size()));
    }
  }
  if (r != nullptr) freeReplyObject(r);
  return value;
}

std::string controlCommand(redisContext* c, std::vector<std::string_view> argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (std::string_view a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
  std::string out = r == nullptr ? "<no reply>" : r->str != nullptr ? std::string(r->str, r->len)
                                                                     : std::to_string(r->integer);
  if (r != nullptr) freeReplyObject(r);
  return out;
}

class RedisClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }  // as main() does

  void SetUp() override {
    ASSERT_TRUE(redisServerInstalled())
        << "redis-server is not installed: these tests need a real Redis (run `make setup`, "
           "or apt-get install redis-server)";
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &tick_);
  }

  void TearDown() override {
    clients_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);  // the clients' handles close here
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
    servers_.clear();
  }

  RedisServer& startServer(std::vector<std::string> extra = {}, int port = 0) {
    if (port == 0) port = freePort();
    servers_.push_back(std::make_unique<RedisServer>(port, std::move(extra)));
    EXPECT_TRUE(servers_.back()->start()) << "redis-server did not start";
    return *servers_.back();
  }

  static RedisOptions options(int port, std::string_view auth = {}, int db = 0) {
    RedisOptions o;
    o.endpoint.host = "127.0.0.1";
    o.endpoint.port = static_cast<uint16_t>(port);
    o.endpoint.db = db;
    const size_t colon = auth.find(':');
    if (colon != std::string_view::npos) {
      o.endpoint.user = std::string(auth.substr(0, colon));
      o.endpoint.password = std::string(auth.substr(colon + 1));
    }
    // Generous: tests run under ASan on busy machines; deadline tests lower it.
    o.command_timeout_ms = 2000;
    o.connect_timeout_ms = 2000;
    o.backoff_min_ms = 10;
    o.backoff_max_ms = 100;
    return o;
  }

  RedisClient& makeClient(RedisOptions opts) {
    clients_.push_back(std::make_unique<RedisClient>(&loop_, std::move(opts)));
    return *clients_.back();
  }

  /** Runs the loop until `done()` or `timeout_ms`; false on timeout. */
  template <typename Pred>
  bool runUntil(Pred done, uint64_t timeout_ms = 5000) {
    // The tick keeps UV_RUN_ONCE from sleeping past our deadline.
    uv_timer_start(&tick_, [](uv_timer_t*) {}, 5, 5);
    const uint64_t deadline = nowMs() + timeout_ms;
    bool ok = true;
    while (!done()) {
      if (nowMs() >= deadline) {
        ok = false;
        break;
      }
      uv_run(&loop_, UV_RUN_ONCE);
    }
    uv_timer_stop(&tick_);
    return ok;
  }

  void runFor(uint64_t ms) {
    const uint64_t until = nowMs() + ms;
    runUntil([&] { return nowMs() >= until; }, ms + 1000);
  }

  bool connect(RedisClient& c) {
    c.start();
    return runUntil([&] { return c.connected(); });
  }

  Result call(RedisClient& c, std::vector<std::string_view> argv) {
    Result r;
    c.command(argv, &r, onResult);
    EXPECT_TRUE(runUntil([&] { return r.calls > 0; })) << "no callback for " << argv[0];
    return r;
  }

  uv_loop_t loop_;
  uv_timer_t tick_;
  std::vector<std::unique_ptr<RedisServer>> servers_;
  std::vector<std::unique_ptr<RedisClient>> clients_;
};

struct StateLog {
  std::vector<bool> events;
  static void on(void* ctx, bool up) { static_cast<StateLog*>(ctx)->events.push_back(up); }
};

TEST_F(RedisClientTest, ConnectsAndRoundTripsBinarySafe) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  StateLog log;
  c.setStateListener(&log, StateLog::on);
  ASSERT_TRUE(connect(c));
  EXPECT_EQ(log.events, std::vector<bool>{true});

  // NUL, CR LF and '%' travel as bytes: there is no format string anywhere.
  const std::string value("a\0b\r\n%s%n$3\r\n", 14);
  Result set = call(c, {"SET", "bin:key %s", value});
  EXPECT_EQ(set.calls, 1);
  ASSERT_TRUE(set.ok);
  EXPECT_EQ(set.type, REDIS_REPLY_STATUS);
  EXPECT_EQ(set.str, "OK");
  Result get = call(c, {"GET", "bin:key %s"});
  ASSERT_TRUE(get.ok);
  EXPECT_EQ(get.type, REDIS_REPLY_STRING);
  EXPECT_EQ(get.str, value);
  Result missing = call(c, {"GET", "absent"});
  ASSERT_TRUE(missing.ok);
  EXPECT_EQ(missing.type, REDIS_REPLY_NIL);
}

TEST_F(RedisClientTest, FailsAtOnceWhenNotConnectedOrRefused) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  Result before;
  const std::string_view ping[] = {"PING"};
  c.command(ping, &before, onResult);
  EXPECT_EQ(before.calls, 1) << "runs before command() returns";
  EXPECT_FALSE(before.ok);

  ASSERT_TRUE(connect(c));
  const uint64_t sent = c.commandsSent();
  for (std::vector<std::string_view> argv :
       {std::vector<std::string_view>{}, {"SUBSCRIBE", "ch"}, {"psubscribe", "*"},
        {"Monitor"}, {"CLIENT", "reply", "OFF"}, {"HELLO", "3"}, {"RESET"}, {"SELECT", "1"},
        {"auth", "x"}, {"MULTI"}, {"EXEC"}, {"WATCH", "k"}, {"QUIT"}}) {
    Result r;
    c.command(argv, &r, onResult);
    EXPECT_EQ(r.calls, 1);
    EXPECT_FALSE(r.ok);
  }
  Result bad_script;
  const std::string_view key[] = {"k"};
  c.evalsha(7, key, {}, &bad_script, onResult);
  EXPECT_EQ(bad_script.calls, 1);
  EXPECT_FALSE(bad_script.ok);
  EXPECT_EQ(c.commandsSent(), sent);
  EXPECT_TRUE(call(c, {"PING"}).ok) << "still usable";
}

TEST_F(RedisClientTest, PipelinesOneTurnInOneWrite) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  ASSERT_TRUE(connect(c));
  redisContext* ctl = server.connect();
  ASSERT_NE(ctl, nullptr);

  const long before = std::stol(infoField(ctl, "stats", "total_reads_processed"));
  const uint64_t sent = c.commandsSent();
  constexpr int kCommands = 100;
  std::vector<Result> results(kCommands);
  std::vector<std::string> keys;
  for (int i = 0; i < kCommands; ++i) keys.push_back("pipe:" + std::to_string(i));
  g_writes_counted = 0;
  g_count_writes_to_port = server.port();
  for (int i = 0; i < kCommands; ++i) {
    const std::string n = std::to_string(i);
    const std::string_view argv[] = {"INCRBY", keys[static_cast<size_t>(i)], n};
    c.command(argv, &results[static_cast<size_t>(i)], onResult);
  }
  EXPECT_EQ(g_writes_counted, 0) << "nothing is written before the loop turn ends";
  EXPECT_EQ(c.commandsSent() - sent, static_cast<uint64_t>(kCommands));
  ASSERT_TRUE(runUntil([&] { return results.back().calls > 0; }));
  g_count_writes_to_port = 0;
  EXPECT_EQ(g_writes_counted, 1) << "100 commands of one loop turn, one write()";
  for (int i = 0; i < kCommands; ++i) {
    const Result& r = results[static_cast<size_t>(i)];
    EXPECT_EQ(r.calls, 1);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.type, REDIS_REPLY_INTEGER);
    EXPECT_EQ(r.integer, i) << "replies reach their own callbacks, in order";
  }
  // The server saw the 100 commands in one read (plus this INFO's own read):
  // they left in one write.
  const long after = std::stol(infoField(ctl, "stats", "total_reads_processed"));
  EXPECT_LE(after - before, 2) << "reads processed: " << after - before;
  redisFree(ctl);
}

// The turn's commands are written by a check handle at the end of the turn.
// A command issued after that phase (here: from a close callback, which runs
// last in a turn) still leaves at once: the next turn's poll must not sleep
// on it until the command's deadline.
TEST_F(RedisClientTest, CommandIssuedLateInATurnIsNotLeftWaiting) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));  // 2000 ms deadline
  ASSERT_TRUE(connect(c));
  struct Late {
    RedisClient* client;
    Result result;
    uv_timer_t handle;
  } late{&c, {}, {}};
  uv_timer_init(&loop_, &late.handle);
  late.handle.data = &late;
  uv_close(reinterpret_cast<uv_handle_t*>(&late.handle), [](uv_handle_t* h) {
    auto* l = static_cast<Late*>(h->data);
    const std::string_view argv[] = {"PING"};
    l->client->command(argv, &l->result, onResult);
  });
  // No ticking timer here: uv_run sleeps in poll for as long as it is allowed to.
  const uint64_t start = nowMs();
  while (late.result.calls == 0 && nowMs() - start < 5000) uv_run(&loop_, UV_RUN_ONCE);
  EXPECT_TRUE(late.result.ok) << "timed out: the command was not written";
  EXPECT_EQ(late.result.str, "PONG");
  EXPECT_LT(late.result.at_ms - start, 1000u);
}

// A command too big for the socket buffer is finished by polling for
// writability (hiredis asks again from inside the end-of-turn write).
TEST_F(RedisClientTest, CommandLargerThanTheSocketBufferIsWrittenWhole) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  ASSERT_TRUE(connect(c));
  const std::string big(16 << 20, 'x');
  EXPECT_TRUE(call(c, {"SET", "big", big}).ok);
  Result len = call(c, {"STRLEN", "big"});
  ASSERT_TRUE(len.ok);
  EXPECT_EQ(len.integer, static_cast<long long>(big.size()));
}

TEST_F(RedisClientTest, CommandsFromCallbacks) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  ASSERT_TRUE(connect(c));
  struct Chain {
    RedisClient* client;
    int left = 20;
    int failures = 0;
    static void next(void* ctx, const redisReply* r) {
      auto* ch = static_cast<Chain*>(ctx);
      if (r == nullptr) ++ch->failures;
      if (--ch->left <= 0) return;
      const std::string_view argv[] = {"INCR", "chain"};
      ch->client->command(argv, ch, next);
    }
  } chain{&c};
  const std::string_view argv[] = {"INCR", "chain"};
  c.command(argv, &chain, Chain::next);
  ASSERT_TRUE(runUntil([&] { return chain.left <= 0; }));
  EXPECT_EQ(chain.failures, 0);
  EXPECT_EQ(call(c, {"GET", "chain"}).str, "20");
}

TEST_F(RedisClientTest, AuthenticatesWithPassword) {
  RedisServer& server = startServer({"--requirepass", "s3cret pw"});
  RedisClient& c = makeClient(options(server.port(), ":s3cret pw"));
  ASSERT_TRUE(connect(c));
  EXPECT_EQ(call(c, {"SET", "k", "v"}).str, "OK");
  EXPECT_EQ(call(c, {"GET", "k"}).str, "v");
}

TEST_F(RedisClientTest, WrongOrMissingPasswordNeverConnects) {
  RedisServer& server = startServer({"--requirepass", "s3cret"});
  testing::internal::CaptureStderr();
  RedisClient& wrong = makeClient(options(server.port(), ":hunter2-wrong"));
  RedisClient& none = makeClient(options(server.port()));
  StateLog log;
  wrong.setStateListener(&log, StateLog::on);
  wrong.start();
  none.start();
  runFor(400);  // several attempts, with backoff
  const std::string logged = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(wrong.connected());
  EXPECT_FALSE(none.connected());
  EXPECT_TRUE(log.events.empty());
  EXPECT_GT(wrong.commandsSent(), 2u) << "it keeps retrying";
  Result r;
  const std::string_view ping[] = {"PING"};
  wrong.command(ping, &r, onResult);
  EXPECT_EQ(r.calls, 1);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(logged.find("AUTH failed: WRONGPASS"), std::string::npos) << logged;
  EXPECT_NE(logged.find("PING failed: NOAUTH"), std::string::npos) << logged;
  EXPECT_EQ(logged.find("hunter2"), std::string::npos) << "a password was logged: " << logged;
}

TEST_F(RedisClientTest, AuthenticatesAclUser) {
  RedisServer& server =
      startServer({"--user", "alice", "on", ">alice pw", "~*", "&*", "+@all"});
  RedisClient& c = makeClient(options(server.port(), "alice:alice pw"));
  ASSERT_TRUE(connect(c));
  EXPECT_EQ(call(c, {"ACL", "WHOAMI"}).str, "alice");
}

TEST_F(RedisClientTest, SelectsDatabase) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port(), {}, 5));
  ASSERT_TRUE(connect(c));
  EXPECT_EQ(call(c, {"SET", "in-db5", "yes"}).str, "OK");
  redisContext* ctl = server.connect();
  ASSERT_NE(ctl, nullptr);
  EXPECT_EQ(controlCommand(ctl, {"EXISTS", "in-db5"}), "0");
  EXPECT_EQ(controlCommand(ctl, {"SELECT", "5"}), "OK");
  EXPECT_EQ(controlCommand(ctl, {"GET", "in-db5"}), "yes");
  redisFree(ctl);

  RedisClient& bad = makeClient(options(server.port(), {}, 99));  // only 16 databases
  bad.start();
  runFor(200);
  EXPECT_FALSE(bad.connected());
}

TEST_F(RedisClientTest, EvalshaRecoversFromNoscript) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  const int echo = c.registerScript("return {KEYS[1], ARGV[1], ARGV[2]}");
  const int incr = c.registerScript("return redis.call('INCR', KEYS[1])");
  ASSERT_GE(echo, 0);
  ASSERT_GE(incr, 0);
  ASSERT_TRUE(connect(c));
  EXPECT_EQ(c.registerScript("return 1"), -1) << "only before start()";

  const std::string_view keys[] = {"{t}:k"};
  const std::string_view args_bin[] = {std::string_view("a\0b", 3), "2"};
  Result first;
  c.evalsha(echo, keys, args_bin, &first, onResult);
  ASSERT_TRUE(runUntil([&] { return first.calls > 0; }));
  ASSERT_TRUE(first.ok);
  ASSERT_EQ(first.type, REDIS_REPLY_ARRAY) << first.str;
  EXPECT_EQ(first.elements, (std::vector<std::string>{"{t}:k", std::string("a\0b", 3), "2"}));

  redisContext* ctl = server.connect();
  ASSERT_NE(ctl, nullptr);
  EXPECT_EQ(controlCommand(ctl, {"SCRIPT", "FLUSH"}), "OK");
  const uint64_t sent = c.commandsSent();
  Result again;
  c.evalsha(echo, keys, args_bin, &again, onResult);
  ASSERT_TRUE(runUntil([&] { return again.calls > 0; }));
  EXPECT_EQ(again.calls, 1);
  ASSERT_TRUE(again.ok);
  ASSERT_EQ(again.type, REDIS_REPLY_ARRAY) << "NOSCRIPT leaked to the caller: " << again.str;
  EXPECT_EQ(again.elements.size(), 3u);
  EXPECT_EQ(c.commandsSent() - sent, 3u) << "EVALSHA, SCRIPT LOAD, EVALSHA";

  // A script's own error is a reply for the caller.
  EXPECT_EQ(controlCommand(ctl, {"SET", "{t}:str", "not a number"}), "OK");
  const std::string_view str_key[] = {"{t}:str"};
  Result err;
  c.evalsha(incr, str_key, {}, &err, onResult);
  ASSERT_TRUE(runUntil([&] { return err.calls > 0; }));
  ASSERT_TRUE(err.ok);
  EXPECT_EQ(err.type, REDIS_REPLY_ERROR);
  EXPECT_TRUE(c.connected());
  redisFree(ctl);
}

TEST_F(RedisClientTest, PassesErrorRepliesThrough) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  ASSERT_TRUE(connect(c));
  redisContext* ctl = server.connect();
  ASSERT_NE(ctl, nullptr);
  EXPECT_EQ(controlCommand(ctl, {"CONFIG", "SET", "maxmemory", "1"}), "OK");
  const std::string big(1 << 20, 'x');
  Result oom = call(c, {"SET", "big", big});
  ASSERT_TRUE(oom.ok);
  EXPECT_EQ(oom.type, REDIS_REPLY_ERROR);
  EXPECT_EQ(oom.str.rfind("OOM", 0), 0u) << oom.str;
  EXPECT_EQ(controlCommand(ctl, {"CONFIG", "SET", "maxmemory", "0"}), "OK");

  EXPECT_EQ(call(c, {"LPUSH", "list", "x"}).integer, 1);
  Result wrongtype = call(c, {"INCR", "list"});
  ASSERT_TRUE(wrongtype.ok);
  EXPECT_EQ(wrongtype.type, REDIS_REPLY_ERROR);
  EXPECT_EQ(wrongtype.str.rfind("WRONGTYPE", 0), 0u) << wrongtype.str;
  EXPECT_TRUE(c.connected()) << "an error reply is not a connection failure";
  EXPECT_EQ(call(c, {"PING"}).str, "PONG");
  redisFree(ctl);
}

TEST_F(RedisClientTest, CommandsTimeOutWhenServerIsStopped) {
  RedisServer& server = startServer();
  RedisOptions o = options(server.port());
  o.command_timeout_ms = 100;
  o.connect_timeout_ms = 300;
  RedisClient& c = makeClient(o);
  StateLog log;
  c.setStateListener(&log, StateLog::on);
  ASSERT_TRUE(connect(c));

  server.pause();  // kill -STOP: the socket stays open, nothing answers
  std::vector<Result> results(10);
  const uint64_t issued = nowMs();
  for (Result& r : results) {
    const std::string_view argv[] = {"INCR", "frozen"};
    c.command(argv, &r, onResult);
  }
  ASSERT_TRUE(runUntil([&] { return results.back().calls > 0; }, 3000));
  for (const Result& r : results) {
    EXPECT_EQ(r.calls, 1);
    EXPECT_FALSE(r.ok);
    EXPECT_LT(r.at_ms - issued, 1000u) << "the deadline is command_timeout_ms, not forever";
  }
  EXPECT_FALSE(c.connected());
  runFor(500);  // reconnects get a TCP connection but no PONG: still not ready
  EXPECT_FALSE(c.connected());
  runFor(50);
  for (const Result& r : results) EXPECT_EQ(r.calls, 1) << "exactly once";

  server.resume();
  ASSERT_TRUE(runUntil([&] { return c.connected(); }));
  Result r = call(c, {"INCR", "frozen"});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.type, REDIS_REPLY_INTEGER);
  ASSERT_GE(log.events.size(), 3u);
  EXPECT_EQ(log.events[0], true);
  EXPECT_EQ(log.events[1], false);
  EXPECT_EQ(log.events.back(), true);
}

TEST_F(RedisClientTest, FailsPendingAndReconnectsWhenServerRestarts) {
  const int port = freePort();
  auto server = std::make_unique<RedisServer>(port, std::vector<std::string>{});
  ASSERT_TRUE(server->start());
  RedisOptions o = options(port);
  o.command_timeout_ms = 10'000;  // a lost connection must not wait for the deadline
  RedisClient& c = makeClient(o);
  StateLog log;
  c.setStateListener(&log, StateLog::on);
  ASSERT_TRUE(connect(c));

  Result blocked;  // BLPOP holds the reply queue: everything after it is pending too
  Result queued;
  const std::string_view blpop[] = {"BLPOP", "never", "0"};
  const std::string_view ping[] = {"PING"};
  c.command(blpop, &blocked, onResult);
  c.command(ping, &queued, onResult);
  runFor(100);
  EXPECT_EQ(blocked.calls, 0);

  const uint64_t killed = nowMs();
  server->kill();
  ASSERT_TRUE(runUntil([&] { return queued.calls > 0; }, 3000));
  EXPECT_EQ(blocked.calls, 1);
  EXPECT_FALSE(blocked.ok);
  EXPECT_EQ(queued.calls, 1);
  EXPECT_FALSE(queued.ok);
  EXPECT_LT(queued.at_ms - killed, 1000u);
  EXPECT_FALSE(c.connected());

  runFor(300);  // refused attempts, backing off
  EXPECT_FALSE(c.connected());
  server = std::make_unique<RedisServer>(port, std::vector<std::string>{});
  ASSERT_TRUE(server->start());
  ASSERT_TRUE(runUntil([&] { return c.connected(); }));
  EXPECT_EQ(call(c, {"SET", "after", "restart"}).str, "OK");
  EXPECT_EQ(call(c, {"GET", "after"}).str, "restart");
  EXPECT_EQ(log.events, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(blocked.calls, 1);
  EXPECT_EQ(queued.calls, 1);
}

TEST_F(RedisClientTest, ConnectsOnceServerAppears) {
  const int port = freePort();
  RedisClient& c = makeClient(options(port));
  c.start();
  runFor(200);
  EXPECT_FALSE(c.connected());
  RedisServer& server = startServer({}, port);
  (void)server;
  ASSERT_TRUE(runUntil([&] { return c.connected(); }));
  EXPECT_EQ(call(c, {"PING"}).str, "PONG");
}

TEST_F(RedisClientTest, ConnectsToIpv6Literal) {
  RedisServer& server = startServer({"--bind", "127.0.0.1", "::1"});
  RedisEndpoint ep;
  std::string error;
  ASSERT_TRUE(parseRedisUri("redis://[::1]:" + std::to_string(server.port()), &ep, &error));
  RedisOptions o = options(0);
  o.endpoint = ep;
  RedisClient& c = makeClient(o);
  ASSERT_TRUE(connect(c));
  EXPECT_NE(call(c, {"CLIENT", "INFO"}).str.find("addr=[::1]:"), std::string::npos);
}

TEST_F(RedisClientTest, UnixSocketWithDbAndPassword) {
  char dir_template[] = "/tmp/phigate-redis-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string sock = std::string(dir_template) + "/redis.sock";
  {
    RedisServer server(0, {"--requirepass", "pw"}, sock);
    ASSERT_TRUE(server.start());
    RedisEndpoint ep;
    std::string error;
    ASSERT_TRUE(parseRedisUri("unix://" + sock + "?db=3&password=pw", &ep, &error)) << error;
    RedisOptions o = options(0);
    o.endpoint = ep;
    RedisClient& c = makeClient(o);
    ASSERT_TRUE(connect(c));
    EXPECT_EQ(call(c, {"SET", "u", "1"}).str, "OK");
    EXPECT_EQ(call(c, {"CLIENT", "INFO"}).str.find("db=3") != std::string::npos, true);
    clients_.clear();
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  unlink(sock.c_str());
  rmdir(dir_template);
}

TEST_F(RedisClientTest, DestructionFailsPendingExactlyOnce) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  ASSERT_TRUE(connect(c));
  Result blocked;
  const std::string_view blpop[] = {"BLPOP", "never", "0"};
  c.command(blpop, &blocked, onResult);
  runFor(50);  // BLPOP is on the wire; the next ones are still in hiredis's buffer
  std::vector<Result> results(20);
  for (Result& r : results) {
    const std::string_view argv[] = {"PING"};
    c.command(argv, &r, onResult);
  }
  // A callback that issues a command while the client is going away gets an
  // immediate failure, not a crash or a second call.
  struct Reissue {
    RedisClient* client;
    Result inner;
    int calls = 0;
    static void cb(void* ctx, const redisReply*) {
      auto* self = static_cast<Reissue*>(ctx);
      ++self->calls;
      const std::string_view argv[] = {"PING"};
      self->client->command(argv, &self->inner, onResult);
    }
  } reissue{&c};
  const std::string_view ping[] = {"PING"};
  c.command(ping, &reissue, Reissue::cb);

  clients_.clear();  // ~RedisClient with 22 commands pending
  EXPECT_EQ(blocked.calls, 1);
  EXPECT_FALSE(blocked.ok);
  for (const Result& r : results) {
    EXPECT_EQ(r.calls, 1);
    EXPECT_FALSE(r.ok);
  }
  EXPECT_EQ(reissue.calls, 1);
  EXPECT_EQ(reissue.inner.calls, 1);
  EXPECT_FALSE(reissue.inner.ok);
}

TEST_F(RedisClientTest, DestructionWhileConnectingOrBackingOff) {
  RedisServer& server = startServer();
  RedisClient& connecting = makeClient(options(server.port()));
  connecting.start();  // TCP connect in flight, handshake queued
  RedisClient& backing_off = makeClient(options(freePort()));
  backing_off.start();
  runFor(20);
  clients_.clear();  // TearDown checks that every handle closes
}

TEST_F(RedisClientTest, StopFailsPendingAndCallsOnClosed) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  StateLog log;
  c.setStateListener(&log, StateLog::on);
  ASSERT_TRUE(connect(c));
  Result blocked;
  const std::string_view blpop[] = {"BLPOP", "never", "0"};
  c.command(blpop, &blocked, onResult);
  runFor(30);
  int closed = 0;
  c.stop(&closed, [](void* ctx) { ++*static_cast<int*>(ctx); });
  EXPECT_EQ(blocked.calls, 1);
  EXPECT_FALSE(blocked.ok);
  EXPECT_FALSE(c.connected());
  ASSERT_TRUE(runUntil([&] { return closed > 0; }));
  EXPECT_EQ(closed, 1);
  EXPECT_EQ(log.events, (std::vector<bool>{true, false}));
  Result after;
  const std::string_view ping[] = {"PING"};
  c.command(ping, &after, onResult);
  EXPECT_EQ(after.calls, 1);
  EXPECT_FALSE(after.ok);
  runFor(200);
  EXPECT_FALSE(c.connected()) << "no reconnect after stop()";
  EXPECT_EQ(closed, 1);
}

TEST_F(RedisClientTest, StopFromInsideACallback) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  ASSERT_TRUE(connect(c));
  struct Stopper {
    RedisClient* client;
    int calls = 0;
    int closed = 0;
    static void cb(void* ctx, const redisReply*) {
      auto* self = static_cast<Stopper*>(ctx);
      ++self->calls;
      self->client->stop(self, [](void* p) { ++static_cast<Stopper*>(p)->closed; });
    }
  } stopper{&c};
  const std::string_view ping[] = {"PING"};
  c.command(ping, &stopper, Stopper::cb);
  std::vector<Result> results(5);
  for (Result& r : results) c.command(ping, &r, onResult);
  ASSERT_TRUE(runUntil([&] { return stopper.closed > 0; }));
  EXPECT_EQ(stopper.calls, 1);
  EXPECT_EQ(stopper.closed, 1);
  for (const Result& r : results) EXPECT_EQ(r.calls, 1);  // replies or failures, once each
  EXPECT_FALSE(c.connected());
}

TEST_F(RedisClientTest, RefusesHostNamesOnTheLoop) {
  RedisOptions o = options(6379);
  o.endpoint.host = "localhost";  // not resolved: must not reach a blocking getaddrinfo
  RedisClient& c = makeClient(o);
  testing::internal::CaptureStderr();
  c.start();
  runFor(50);
  const std::string logged = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(c.connected());
  EXPECT_NE(logged.find("not an IP address"), std::string::npos) << logged;
}

// ---- the state machine ---------------------------------------------------------

using State = RedisClient::State;

static_assert(RedisClient::transitionAllowed(State::kNew, State::kConnecting));
static_assert(!RedisClient::transitionAllowed(State::kReady, State::kBackoff),
              "a ready connection is always dropped first");
static_assert(!RedisClient::transitionAllowed(State::kStopped, State::kConnecting),
              "stopped is final");

const char* name(State s) {
  switch (s) {
    case State::kNew: return "kNew";
    case State::kConnecting: return "kConnecting";
    case State::kReady: return "kReady";
    case State::kDropping: return "kDropping";
    case State::kBackoff: return "kBackoff";
    case State::kStopping: return "kStopping";
    case State::kStopped: return "kStopped";
  }
  return "?";
}

// The table the header documents, edge by edge; enter() asserts every
// transition against it in debug builds, so the ASan run of this whole file
// checks the client never leaves it.
TEST(RedisClientStates, TransitionTableIsTheDocumentedOne) {
  const std::vector<std::pair<State, State>> documented = {
      {State::kNew, State::kConnecting},      {State::kConnecting, State::kReady},
      {State::kConnecting, State::kBackoff},  {State::kConnecting, State::kDropping},
      {State::kReady, State::kDropping},      {State::kDropping, State::kBackoff},
      {State::kBackoff, State::kConnecting},  {State::kConnecting, State::kStopping},
      {State::kReady, State::kStopping},      {State::kDropping, State::kStopping},
      {State::kStopping, State::kStopped},    {State::kNew, State::kStopped},
      {State::kBackoff, State::kStopped}};
  const State all[] = {State::kNew,     State::kConnecting, State::kReady,  State::kDropping,
                       State::kBackoff, State::kStopping,   State::kStopped};
  for (State from : all) {
    for (State to : all) {
      const bool listed =
          std::find(documented.begin(), documented.end(), std::make_pair(from, to)) != documented.end();
      EXPECT_EQ(RedisClient::transitionAllowed(from, to), listed) << name(from) << " -> " << name(to);
    }
  }
}

/** A callback that records the client's state when it runs. */
struct Seen {
  RedisClient* client = nullptr;
  int calls = 0;
  bool ok = false;
  State state = State::kNew;
  bool connected = false;
  static void on(void* ctx, const redisReply* r) {
    auto* self = static_cast<Seen*>(ctx);
    ++self->calls;
    self->ok = r != nullptr;
    self->state = self->client->state();
    self->connected = self->client->connected();
  }
};

/** A state listener that records the client's state when it is told. */
struct SeenStates {
  RedisClient* client = nullptr;
  std::vector<std::pair<bool, State>> events;
  std::vector<bool> connected;
  static void on(void* ctx, bool up) {
    auto* self = static_cast<SeenStates*>(ctx);
    self->events.emplace_back(up, self->client->state());
    self->connected.push_back(self->client->connected());
  }
};

TEST_F(RedisClientTest, StatesThroughTimeoutEofAndReconnect) {
  RedisServer& server = startServer();
  RedisOptions o = options(server.port());
  o.command_timeout_ms = 100;
  o.connect_timeout_ms = 300;
  RedisClient& c = makeClient(o);
  SeenStates seen{&c, {}, {}};
  c.setStateListener(&seen, SeenStates::on);
  EXPECT_EQ(c.state(), State::kNew);
  c.start();
  EXPECT_EQ(c.state(), State::kConnecting) << "TCP connect and handshake in flight";
  EXPECT_FALSE(c.connected());
  ASSERT_TRUE(runUntil([&] { return c.connected(); }));
  EXPECT_EQ(c.state(), State::kReady);

  // A deadline drops the connection: the failed callbacks run in kDropping,
  // while connected() still agrees with the listener (told false right after).
  server.pause();
  Seen timed_out{&c};
  const std::string_view ping[] = {"PING"};
  c.command(ping, &timed_out, Seen::on);
  ASSERT_TRUE(runUntil([&] { return timed_out.calls > 0; }));
  EXPECT_FALSE(timed_out.ok);
  EXPECT_EQ(timed_out.state, State::kDropping) << name(timed_out.state);
  EXPECT_TRUE(timed_out.connected);
  EXPECT_FALSE(c.connected());
  EXPECT_TRUE(c.state() == State::kBackoff || c.state() == State::kConnecting) << name(c.state());
  server.resume();
  ASSERT_TRUE(runUntil([&] { return c.connected(); }));

  // EOF: hiredis frees the context itself; the same states follow.
  Seen lost{&c};
  const std::string_view blpop[] = {"BLPOP", "never", "0"};
  c.command(blpop, &lost, Seen::on);
  runFor(30);
  server.kill();
  ASSERT_TRUE(runUntil([&] { return lost.calls > 0; }));
  EXPECT_EQ(lost.state, State::kDropping) << name(lost.state);

  ASSERT_EQ(seen.events.size(), 4u);
  const std::vector<std::pair<bool, State>> expected = {
      {true, State::kReady}, {false, State::kBackoff}, {true, State::kReady}, {false, State::kBackoff}};
  EXPECT_EQ(seen.events, expected);
  EXPECT_EQ(seen.connected, (std::vector<bool>{true, false, true, false}));
}

TEST_F(RedisClientTest, StopFromEveryState) {
  // kNew: nothing to take down.
  RedisClient& fresh = makeClient(options(freePort()));
  int fresh_closed = 0;
  fresh.stop(&fresh_closed, [](void* ctx) { ++*static_cast<int*>(ctx); });
  EXPECT_EQ(fresh.state(), State::kStopped);
  fresh.start();
  EXPECT_EQ(fresh.state(), State::kStopped) << "stopped is final";
  EXPECT_EQ(fresh.registerScript("return 1"), -1);

  // kBackoff: nothing listens on the port.
  RedisClient& backing_off = makeClient(options(freePort()));
  backing_off.start();
  ASSERT_TRUE(runUntil([&] { return backing_off.state() == State::kBackoff; }));
  backing_off.stop();
  EXPECT_EQ(backing_off.state(), State::kStopped);

  // kReady: pending callbacks fail inside stop(), in kStopping.
  RedisServer& server = startServer();
  RedisClient& ready = makeClient(options(server.port()));
  SeenStates seen{&ready, {}, {}};
  ready.setStateListener(&seen, SeenStates::on);
  ASSERT_TRUE(connect(ready));
  Seen pending{&ready};
  const std::string_view blpop[] = {"BLPOP", "never", "0"};
  ready.command(blpop, &pending, Seen::on);
  runFor(30);
  ready.stop();
  EXPECT_EQ(pending.calls, 1);
  EXPECT_EQ(pending.state, State::kStopping) << name(pending.state);
  EXPECT_EQ(ready.state(), State::kStopped);
  EXPECT_EQ(seen.events, (std::vector<std::pair<bool, State>>{{true, State::kReady},
                                                                {false, State::kStopped}}));

  // kConnecting: the handshake's callbacks are internal; the stop is at once.
  RedisClient& connecting = makeClient(options(server.port()));
  connecting.start();
  ASSERT_EQ(connecting.state(), State::kConnecting);
  connecting.stop();
  EXPECT_EQ(connecting.state(), State::kStopped);

  ASSERT_TRUE(runUntil([&] { return fresh_closed > 0; }));
  EXPECT_EQ(fresh_closed, 1);
}

TEST_F(RedisClientTest, DestructionFailsPendingInStateStoppingWithoutTheListener) {
  RedisServer& server = startServer();
  RedisClient& c = makeClient(options(server.port()));
  SeenStates seen{&c, {}, {}};
  c.setStateListener(&seen, SeenStates::on);
  ASSERT_TRUE(connect(c));
  Seen pending{&c};
  const std::string_view blpop[] = {"BLPOP", "never", "0"};
  c.command(blpop, &pending, Seen::on);
  runFor(30);
  clients_.clear();
  EXPECT_EQ(pending.calls, 1);
  EXPECT_EQ(pending.state, State::kStopping) << name(pending.state);
  EXPECT_EQ(seen.events.size(), 1u) << "only the connect: ~RedisClient does not call the listener";
}

// The poll error (our adapter) ends a refused connect at once, not at the
// connect deadline; the outage is reported once however many attempts fail,
// and again only after the client was ready in between.
TEST_F(RedisClientTest, RefusedConnectsBackOffAtOnceAndAreReportedOncePerOutage) {
  const int port = freePort();
  RedisOptions o = options(port);
  o.connect_timeout_ms = 10'000;
  RedisClient& c = makeClient(o);
  testing::internal::CaptureStderr();
  const uint64_t started = nowMs();
  c.start();
  ASSERT_TRUE(runUntil([&] { return c.state() == State::kBackoff; }));
  EXPECT_LT(nowMs() - started, 1000u) << "did not wait for the 10 s connect deadline";
  runFor(300);  // backoff 10..100 ms: several more refused attempts
  EXPECT_GT(c.commandsSent(), 2u) << "it kept trying";

  RedisServer& server = startServer({}, port);
  ASSERT_TRUE(runUntil([&] { return c.connected(); }));
  server.kill();
  ASSERT_TRUE(runUntil([&] { return c.state() == State::kBackoff; }));
  runFor(200);
  const std::string logged = testing::internal::GetCapturedStderr();

  auto count = [&](std::string_view needle) {
    size_t n = 0;
    for (size_t at = logged.find(needle); at != std::string::npos; at = logged.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("\"event\":\"redis_unavailable\""), 2u) << logged;
  EXPECT_EQ(count("\"event\":\"redis_connected\""), 1u) << logged;
  EXPECT_NE(logged.find("socket error: Connection refused"), std::string::npos) << logged;
}

}  // namespace
}  // namespace phigate::state
