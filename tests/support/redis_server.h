// A real redis-server for tests: started on a free loopback port with
// persistence off (`--save "" --appendonly no`) in its own temporary
// directory, waited for with PING under a deadline, and stopped by the
// destructor. Tests can freeze it (pause/resume: SIGSTOP/SIGCONT, the way a
// stalled Redis looks to a client), kill it and bring it back on the same port
// (restart), and talk to it directly (cli) to inspect keys or INFO
// commandstats (one EVALSHA per admit, DESIGN §2).
//
// cli() speaks RESP over its own socket rather than running redis-cli: no
// process per call, binary-safe arguments, and replies with their types.
//
// A missing redis-server is a test failure (ADD_FAILURE naming the package),
// never a silent skip: DESIGN §1 makes it a dependency (`make setup`).
// $REDIS_SERVER overrides the binary found on PATH.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace phigate::test {

/** One RESP reply. */
struct RedisReply {
  enum class Type { kString, kStatus, kError, kInteger, kNil, kArray };
  Type type = Type::kNil;
  std::string str;      // kString, kStatus, kError
  int64_t integer = 0;  // kInteger
  std::vector<RedisReply> elements;  // kArray

  bool isError() const { return type == Type::kError; }
  bool isNil() const { return type == Type::kNil; }
  /** Rendered roughly as redis-cli does, for messages and quick comparisons. */
  std::string text() const;
};

struct RedisServerOptions {
  std::string password;              // non-empty: --requirepass
  std::vector<std::string> args;     // extra arguments ("--maxmemory", "10mb", ...)
  int ready_timeout_ms = 5000;       // for PING after start and restart
};

class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions opts = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  /** True once the server answered PING (after start or restart). */
  bool ready() const { return ready_; }
  /** Why it is not ready (empty when it is), with the end of its log. */
  const std::string& error() const { return error_; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& password() const { return opts_.password; }
  /** redis://[:password@]127.0.0.1:<port> (RATELIMIT_STORAGE_URI). */
  std::string uri() const;
  /** What redis-server wrote to its log file. */
  std::string logText() const;

  /** SIGSTOP: the server keeps its connections but answers nothing. */
  bool pause();
  /** SIGCONT: it answers again (including what queued up meanwhile). */
  bool resume();
  bool paused() const { return paused_; }
  /** SIGKILL and reap: connections reset, data is gone (no persistence). */
  bool kill();
  /** kill() if running, then start again on the same port and wait for PING. */
  bool restart();
  bool running() const { return pid_ > 0; }

  /**
   * Sends one command on a fresh connection (AUTH first when there is a
   * password) and returns its reply; nullopt when the server cannot be
   * reached or does not answer within `timeout_ms`.
   */
  std::optional<RedisReply> command(const std::vector<std::string>& argv, int timeout_ms = 2000) const;
  /** cli("SET", "k", "v"), cli("INFO", "commandstats"): command() with the arguments. */
  template <typename... Args>
  std::optional<RedisReply> cli(const Args&... args) const {
    return command(std::vector<std::string>{std::string(args)...});
  }

  /** INFO commandstats (e.g. "cmdstat_evalsha:calls=3,usec=..."); "" on failure. */
  std::string commandstats() const;
  /** The calls count of one command in INFO commandstats (0 if absent, -1 on failure). */
  int64_t commandCalls(std::string_view command) const;
  /** CONFIG RESETSTAT (zeroes commandstats). */
  bool resetStats() const;
  /** FLUSHALL: every key of every database. */
  bool flushAll() const;

  /** The redis-server executable ($REDIS_SERVER, else PATH); "" when not found. */
  static std::string binary();

 private:
  bool start();
  bool waitReady(int timeout_ms);
  void reap();

  RedisServerOptions opts_;
  std::string dir_;
  std::string log_path_;
  std::string error_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  bool ready_ = false;
  bool paused_ = false;
};

}  // namespace phigate::test
