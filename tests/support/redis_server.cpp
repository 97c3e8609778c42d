#include "support/redis_server.h"
#include "support/spawn.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace phigate::test {

namespace {

constexpr int kStopGraceMs = 2000;

int64_t monoMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void sleepMs(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

uint16_t freeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

bool executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

// ---- a minimal RESP client ------------------------------------------------------

/** A connected socket to 127.0.0.1:port within the deadline, or -1. */
int connectLoopback(uint16_t port, int64_t deadline) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (errno != EINPROGRESS) {
      ::close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    const int wait = static_cast<int>(std::max<int64_t>(0, deadline - monoMs()));
    int err = 0;
    socklen_t len = sizeof err;
    if (poll(&p, 1, wait) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

bool sendAll(int fd, std::string_view data, int64_t deadline) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    pollfd p{fd, POLLOUT, 0};
    const int wait = static_cast<int>(std::max<int64_t>(0, deadline - monoMs()));
    if (poll(&p, 1, wait) != 1) return false;
  }
  return true;
}

std::string encodeCommand(const std::vector<std::string>& argv) {
  std::string out = "*" + std::to_string(argv.size()) + "\r\n";
  for (const std::string& a : argv) {
    out += "$" + std::to_string(a.size()) + "\r\n";
    out += a;
    out += "\r\n";
  }
  return out;
}

// Parses one reply at `pos`: 1 done (pos advanced), 0 incomplete, -1 malformed.
int parseReply(const std::string& buf, size_t& pos, RedisReply* out) {
  const size_t eol = buf.find("\r\n", pos);
  if (eol == std::string::npos) return 0;
  if (eol == pos) return -1;
  const char kind = buf[pos];
  const std::string line = buf.substr(pos + 1, eol - pos - 1);
  size_t next = eol + 2;
  auto number = [&](int64_t* v) {
    char* end = nullptr;
    errno = 0;
    *v = strtoll(line.c_str(), &end, 10);
    return errno == 0 && end != nullptr && *end == '\0' && !line.empty();
  };
  switch (kind) {
    case '+':
      out->type = RedisReply::Type::kStatus;
      out->str = line;
      break;
    case '-':
      out->type = RedisReply::Type::kError;
      out->str = line;
      break;
    case ':':
      out->type = RedisReply::Type::kInteger;
      if (!number(&out->integer)) return -1;
      break;
    case '$': {
      int64_t n;
      if (!number(&n)) return -1;
      if (n < 0) {
        out->type = RedisReply::Type::kNil;
        break;
      }
      if (buf.size() < next + static_cast<size_t>(n) + 2) return 0;
      out->type = RedisReply::Type::kString;
      out->str = buf.substr(next, static_cast<size_t>(n));
      next += static_cast<size_t>(n) + 2;
      break;
    }
    case '*': {
      int64_t n;
      if (!number(&n)) return -1;
      if (n < 0) {
        out->type = RedisReply::Type::kNil;
        break;
      }
      out->type = RedisReply::Type::kArray;
      out->elements.clear();
      for (int64_t i = 0; i < n; ++i) {
        RedisReply e;
        const int r = parseReply(buf, next, &e);
        if (r <= 0) return r;
        out->elements.push_back(std::move(e));
      }
      break;
    }
    default: return -1;
  }
  pos = next;
  return 1;
}

/** Reads one complete reply into `out` (buffering what follows), before the deadline. */
bool readReply(int fd, std::string& buf, RedisReply* out, int64_t deadline) {
  for (;;) {
    size_t pos = 0;
    RedisReply r;
    const int parsed = buf.empty() ? 0 : parseReply(buf, pos, &r);
    if (parsed < 0) return false;
    if (parsed > 0) {
      buf.erase(0, pos);
      *out = std::move(r);
      return true;
    }
    pollfd p{fd, POLLIN, 0};
    const int wait = static_cast<int>(std::max<int64_t>(0, deadline - monoMs()));
    if (poll(&p, 1, wait) != 1) return false;
    char chunk[16384];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      return false;
    }
  }
}

}  // namespace

std::string RedisReply::text() const {
  switch (type) {
    case Type::kString:
    case Type::kStatus: return str;
    case Type::kError: return "(error) " + str;
    case Type::kInteger: return "(integer) " + std::to_string(integer);
    case Type::kNil: return "(nil)";
    case Type::kArray: {
      if (elements.empty()) return "(empty array)";
      std::string out;
      for (size_t i = 0; i < elements.size(); ++i) {
        if (i > 0) out += "\n";
        out += std::to_string(i + 1) + ") " + elements[i].text();
      }
      return out;
    }
  }
  return "";
}

// ---- RedisServer -----------------------------------------------------------------

std::string RedisServer::binary() {
  if (const char* env = getenv("REDIS_SERVER"); env != nullptr && *env != '\0') {
    return executable(env) ? env : "";
  }
  const char* path = getenv("PATH");
  std::string dirs = path != nullptr && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";  // not always on a test runner's PATH
  std::istringstream in(dirs);
  for (std::string dir; std::getline(in, dir, ':');) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/redis-server";
    if (executable(candidate)) return candidate;
  }
  return "";
}

RedisServer::RedisServer(RedisServerOptions opts) : opts_(std::move(opts)) {
  if (binary().empty()) {
    error_ = "redis-server not found (install Debian's redis-server package: make setup; "
             "or set REDIS_SERVER to its path)";
    ADD_FAILURE() << error_;
    return;
  }
  char tmpl[] = "/tmp/phigate-redis-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    error_ = std::string("mkdtemp failed: ") + strerror(errno);
    return;
  }
  dir_ = tmpl;
  log_path_ = dir_ + "/redis.log";
  // A port taken between freeLoopbackPort() and redis's bind: try another.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = freeLoopbackPort();
    if (port_ == 0) {
      error_ = "no free loopback port";
      return;
    }
    if (!start()) return;
    if (waitReady(opts_.ready_timeout_ms)) return;
    const bool port_taken = logText().find("Address already in use") != std::string::npos;
    kill();
    if (!port_taken) break;
  }
  if (error_.empty()) error_ = "redis-server did not answer PING";
  const std::string log = logText();
  error_ += "; log: " + (log.size() > 2000 ? log.substr(log.size() - 2000) : log);
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    if (paused_) ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGTERM);
    const int64_t deadline = monoMs() + kStopGraceMs;
    int status;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (monoMs() >= deadline) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      sleepMs(5);
    }
    pid_ = -1;
  }
  if (!dir_.empty()) {
    if (DIR* d = opendir(dir_.c_str())) {
      while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") unlink((dir_ + "/" + name).c_str());
      }
      closedir(d);
    }
    rmdir(dir_.c_str());
  }
}

std::string RedisServer::uri() const {
  std::string out = "redis://";
  if (!opts_.password.empty()) out += ":" + opts_.password + "@";
  return out + "127.0.0.1:" + std::to_string(port_);
}

std::string RedisServer::logText() const {
  if (dir_.empty()) return "";
  return readFile(log_path_) + readFile(dir_ + "/stdout.log");
}

bool RedisServer::start() {
  ready_ = false;
  paused_ = false;
  std::vector<std::string> args = {binary(),        "--port",       std::to_string(port_),
                                   "--bind",        "127.0.0.1",    "--save",
                                   "",              "--appendonly", "no",
                                   "--daemonize",   "no",           "--dir",
                                   dir_,            "--logfile",    log_path_};
  if (!opts_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(opts_.password);
  }
  for (const std::string& a : opts_.args) args.push_back(a);
  const pid_t pid = spawnServer({.args = std::move(args), .output = dir_ + "/stdout.log"}, &error_);
  if (pid < 0) return false;
  pid_ = pid;
  return true;
}

bool RedisServer::waitReady(int timeout_ms) {
  const int64_t deadline = monoMs() + timeout_ms;
  while (monoMs() < deadline) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "redis-server exited (status " + std::to_string(status) + ")";
      return false;
    }
    auto r = command({"PING"}, 200);
    if (r && r->type == RedisReply::Type::kStatus && r->str == "PONG") {
      ready_ = true;
      error_.clear();
      return true;
    }
    sleepMs(10);
  }
  error_ = "redis-server did not answer PING within " + std::to_string(timeout_ms) + " ms";
  return false;
}

void RedisServer::reap() {
  if (pid_ <= 0) return;
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool RedisServer::pause() {
  if (pid_ <= 0 || ::kill(pid_, SIGSTOP) != 0) return false;
  // Wait until it is really stopped, so the next request surely stalls.
  int status;
  const int64_t deadline = monoMs() + 1000;
  while (monoMs() < deadline) {
    if (waitpid(pid_, &status, WUNTRACED | WNOHANG) == pid_ && WIFSTOPPED(status)) {
      paused_ = true;
      return true;
    }
    sleepMs(1);
  }
  return false;
}

bool RedisServer::resume() {
  if (pid_ <= 0 || ::kill(pid_, SIGCONT) != 0) return false;
  paused_ = false;
  return true;
}

bool RedisServer::kill() {
  if (pid_ <= 0) return false;
  ::kill(pid_, SIGKILL);  // a stopped process dies of SIGKILL too
  reap();
  ready_ = false;
  paused_ = false;
  return true;
}

bool RedisServer::restart() {
  if (dir_.empty() || binary().empty()) return false;
  if (pid_ > 0) kill();
  if (!start()) return false;
  return waitReady(opts_.ready_timeout_ms);
}

std::optional<RedisReply> RedisServer::command(const std::vector<std::string>& argv,
                                               int timeout_ms) const {
  if (port_ == 0) return std::nullopt;
  const int64_t deadline = monoMs() + timeout_ms;
  const int fd = connectLoopback(port_, deadline);
  if (fd < 0) return std::nullopt;
  std::string out;
  if (!opts_.password.empty()) out += encodeCommand({"AUTH", opts_.password});
  out += encodeCommand(argv);
  std::optional<RedisReply> result;
  std::string buf;
  RedisReply reply;
  if (sendAll(fd, out, deadline)) {
    bool ok = true;
    if (!opts_.password.empty()) ok = readReply(fd, buf, &reply, deadline) && !reply.isError();
    if (!ok) {
      result = reply;  // the AUTH error says what is wrong
    } else if (readReply(fd, buf, &reply, deadline)) {
      result = std::move(reply);
    }
  }
  ::close(fd);
  return result;
}

std::string RedisServer::commandstats() const {
  auto r = command({"INFO", "commandstats"});
  return r && r->type == RedisReply::Type::kString ? r->str : "";
}

int64_t RedisServer::commandCalls(std::string_view name) const {
  auto r = command({"INFO", "commandstats"});
  if (!r || r->type != RedisReply::Type::kString) return -1;
  std::string needle = "cmdstat_";
  for (char c : name) needle += static_cast<char>(tolower(static_cast<unsigned char>(c)));
  needle += ":calls=";
  const size_t at = r->str.find(needle);
  if (at == std::string::npos) return 0;
  return strtoll(r->str.c_str() + at + needle.size(), nullptr, 10);
}

bool RedisServer::resetStats() const {
  auto r = command({"CONFIG", "RESETSTAT"});
  return r && r->type == RedisReply::Type::kStatus && r->str == "OK";
}

bool RedisServer::flushAll() const {
  auto r = command({"FLUSHALL"});
  return r && r->type == RedisReply::Type::kStatus && r->str == "OK";
}

}  // namespace phigate::test
