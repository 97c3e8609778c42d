#include "harness.h"
#include "support/spawn.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <simdjson.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

namespace phigate::test {

namespace {

constexpr int kStopGraceMs = 3000;

void sleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int remainingMs(int64_t deadline) {
  const int64_t left = deadline - nowMs();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Variables passed through from the test's own environment: only what a
// sanitizer build or a non-standard library path needs.
constexpr const char* kPassThrough[] = {"LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                        "LSAN_OPTIONS"};

}  // namespace

int64_t nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

namespace {
// $VAR, else <build>/<name> (this binary lives in <build>/tests/).
std::string buildBinary(const char* var, const std::string& name) {
  if (const char* bin = getenv(var); bin != nullptr && *bin != '\0') return bin;
  // Default: this binary lives in <build>/tests/, the server in <build>/.
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "build/" + name;
  std::string path(self, static_cast<size_t>(n));
  path = path.substr(0, path.rfind('/'));  // <build>/tests
  path = path.substr(0, path.rfind('/'));  // <build>
  return path + "/" + name;
}
}  // namespace

std::string phigateBin() { return buildBinary("PHIGATE_BIN", "phigate"); }
std::string mockProviderBin() { return buildBinary("PHIGATE_MOCK_BIN", "phigate-mock-provider"); }

uint16_t freePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// ---- Server -------------------------------------------------------------------

Server::Server(ServerOptions opts) {
  char tmpl[] = "/tmp/phigate-it-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return;
  dir_ = tmpl;
  log_path_ = dir_ + "/output.log";
  for (const auto& [name, content] : opts.files) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out << content;
    files_.push_back(path);
  }
  // A port taken between freePort() and the server's bind is retried.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (!start(opts)) return;
    if (!opts.wait_ready) return;
    if (waitReady(opts.ready_timeout_ms)) {
      ready_ = true;
      return;
    }
    const bool port_taken = logText().find("cannot listen") != std::string::npos;
    stop();
    if (!port_taken) return;
  }
}

Server::~Server() {
  stop();
  if (!dir_.empty()) {
    for (const std::string& f : files_) unlink(f.c_str());
    unlink(log_path_.c_str());
    rmdir(dir_.c_str());
  }
}

bool Server::start(const ServerOptions& opts) {
  port_ = freePort();
  exited_ = false;
  ready_ = false;
  std::map<std::string, std::string> env = {
      {"APP_ENV", "development"},
      {"PHIGATE_LISTEN", "127.0.0.1:" + std::to_string(port_)},
  };
  for (const char* name : kPassThrough) {
    if (const char* v = getenv(name)) env[name] = v;
  }
  for (const auto& [k, v] : opts.env) env[k] = v;
  for (const std::string& k : opts.unset) env.erase(k);

  // Everything the child needs is built before fork(): after it, only
  // async-signal-safe calls.
  std::vector<std::string> args = {opts.bin.empty() ? phigateBin() : opts.bin};
  if (opts.listen_flag) {
    args.push_back("--listen");
    args.push_back("127.0.0.1:" + std::to_string(port_));
  }
  if (opts.workers > 0) {
    args.push_back("--workers");
    args.push_back(std::to_string(opts.workers));
  }
  for (const std::string& a : opts.args) args.push_back(a);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::string error;
  const pid_t pid = spawnServer({.args = std::move(args),
                                 .env = &env_strings,
                                 .dir = dir_,
                                 .output = log_path_,
                                 .truncate_output = true},
                                &error);
  if (pid < 0) return false;
  pid_ = pid;
  return true;
}

bool Server::waitReady(int timeout_ms) {
  const int64_t deadline = nowMs() + timeout_ms;
  while (nowMs() < deadline) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = status;
      return false;
    }
    Client c(port_);
    if (c.connected() && c.sendAll(get("/livez"), 500)) {
      auto r = c.readResponse(std::min(remainingMs(deadline), 1000));
      if (r && r->status == 200) return true;
    }
    sleepMs(20);
  }
  return false;
}

void Server::stop() {
  if (pid_ <= 0 || exited_) return;
  // Workers of a master that is killed outright would otherwise linger.
  const std::vector<pid_t> children = childPids(pid_);
  kill(pid_, SIGTERM);
  if (!waitExit(kStopGraceMs)) {
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    exited_ = true;
  }
  for (pid_t c : children) kill(c, SIGKILL);
}

std::string Server::logText() const { return log_path_.empty() ? "" : readFile(log_path_); }

std::vector<std::string> Server::logLines() const {
  std::vector<std::string> lines;
  std::istringstream in(logText());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Server::waitForLog(std::string_view needle, int timeout_ms) const {
  const int64_t deadline = nowMs() + timeout_ms;
  for (;;) {
    if (logText().find(needle) != std::string::npos) return true;
    if (nowMs() >= deadline) return false;
    sleepMs(20);
  }
}

std::optional<std::string> Server::waitForLine(const std::vector<std::string>& needles,
                                               int timeout_ms) const {
  const int64_t deadline = nowMs() + timeout_ms;
  for (;;) {
    for (const std::string& line : logLines()) {
      bool all = true;
      for (const std::string& n : needles) all = all && line.find(n) != std::string::npos;
      if (all) return line;
    }
    if (nowMs() >= deadline) return std::nullopt;
    sleepMs(20);
  }
}

size_t Server::countLines(std::string_view needle) const {
  size_t n = 0;
  for (const std::string& line : logLines()) n += line.find(needle) != std::string::npos;
  return n;
}

int Server::sendSignal(int sig) const { return pid_ > 0 && !exited_ ? kill(pid_, sig) : -1; }

std::optional<int> Server::waitExit(int timeout_ms) {
  if (pid_ <= 0) return std::nullopt;
  if (exited_) return status_;
  const int64_t deadline = nowMs() + timeout_ms;
  for (;;) {
    int status;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ = status;
      return status;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (nowMs() >= deadline) return std::nullopt;
    sleepMs(10);
  }
}

// ---- Response -----------------------------------------------------------------

std::string Response::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

// ---- Client -------------------------------------------------------------------

Client::Client(uint16_t port, int rcvbuf) {
  // CLOEXEC: a server started later must not inherit (and keep open) our sockets.
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

Client::~Client() { close(); }

Client::Client(Client&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)) { o.fd_ = -1; }

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Client::shutdownWrite() {
  if (fd_ >= 0) shutdown(fd_, SHUT_WR);
}

bool Client::sendAll(std::string_view bytes, int timeout_ms) {
  if (fd_ < 0) return false;
  const int64_t deadline = nowMs() + timeout_ms;
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    pollfd p{fd_, POLLOUT, 0};
    if (remainingMs(deadline) == 0 || poll(&p, 1, remainingMs(deadline)) <= 0) return false;
  }
  return true;
}

size_t Client::sendNonBlocking(std::string_view bytes, int stall_ms, int total_ms) {
  if (fd_ < 0) return 0;
  const int64_t deadline = nowMs() + total_ms;
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
    pollfd p{fd_, POLLOUT, 0};
    const int wait = std::min(stall_ms, remainingMs(deadline));
    if (wait == 0 || poll(&p, 1, wait) <= 0) break;
  }
  return off;
}

int Client::readSome(int timeout_ms) {
  if (fd_ < 0) return -1;
  pollfd p{fd_, POLLIN, 0};
  const int r = poll(&p, 1, timeout_ms);
  if (r == 0) return -2;
  if (r < 0) return errno == EINTR ? -2 : -1;
  char tmp[65536];
  const ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
  if (n > 0) {
    buf_.append(tmp, static_cast<size_t>(n));
    return 1;
  }
  if (n == 0) return 0;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 1;  // spurious wake-up
  return -1;
}

std::optional<Response> Client::readResponse(int timeout_ms, bool head_request) {
  const int64_t deadline = nowMs() + timeout_ms;
  size_t head_end;
  while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (readSome(remainingMs(deadline)) <= 0) return std::nullopt;
  }
  Response r;
  r.head = buf_.substr(0, head_end + 2);
  std::istringstream lines(r.head);
  std::string line;
  std::getline(lines, line);
  if (line.empty() || line.back() != '\r') return std::nullopt;
  line.pop_back();
  // "HTTP/1.1 200 OK"
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string::npos) return std::nullopt;
  r.version = line.substr(0, sp1);
  const size_t sp2 = line.find(' ', sp1 + 1);
  r.status = atoi(line.substr(sp1 + 1, sp2 - sp1 - 1).c_str());
  r.reason = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    r.headers.emplace(lower(line.substr(0, colon)), value);
  }
  buf_.erase(0, head_end + 4);
  const bool no_body = head_request || r.status / 100 == 1 || r.status == 204 || r.status == 304;
  if (no_body) return r;
  if (r.has("content-length")) {
    const size_t len =
        static_cast<size_t>(strtoull(r.header("content-length").c_str(), nullptr, 10));
    while (buf_.size() < len) {
      if (readSome(remainingMs(deadline)) <= 0) return std::nullopt;
    }
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }
  // No length: the body runs to the end of the connection.
  for (;;) {
    const int rc = readSome(remainingMs(deadline));
    if (rc == 1) continue;
    if (rc == -2) return std::nullopt;
    break;
  }
  r.body = std::move(buf_);
  buf_.clear();
  return r;
}

ReadResult Client::readUntilClosed(int timeout_ms) {
  const int64_t deadline = nowMs() + timeout_ms;
  ReadResult out;
  for (;;) {
    const int rc = readSome(remainingMs(deadline));
    if (rc == 1) continue;
    if (rc == 0) out.eof = true;
    if (rc == -1) out.reset = true;
    break;
  }
  out.data = std::move(buf_);
  buf_.clear();
  return out;
}

bool Client::isClosed(int timeout_ms) {
  const size_t before = buf_.size();
  const int64_t deadline = nowMs() + timeout_ms;
  for (;;) {
    const int rc = readSome(remainingMs(deadline));
    if (rc == 1) continue;  // collect it: any data means "not (only) closed"
    return (rc == 0 || rc == -1) && buf_.size() == before;
  }
}

bool Client::peerHungUp(int timeout_ms) {
  if (fd_ < 0) return true;
  const int64_t deadline = nowMs() + timeout_ms;
  for (;;) {
    // POLLRDHUP/POLLHUP/POLLERR report a FIN or RST even while unread data
    // sits in the receive queue, so the check itself reads nothing.
    pollfd p{fd_, POLLRDHUP, 0};
    const int r = poll(&p, 1, remainingMs(deadline));
    if (r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
    if (r == 0 || nowMs() >= deadline) return false;
  }
}

std::map<std::string, std::string> productionEnv() {
  return {
      {"APP_ENV", "production"},
      {"SECRET_KEY", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
      {"ENCRYPTION_KEY", "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"},
      {"SMS_API_KEY", "fake-sms-key-for-tests-ABCDEFGHIJKLMN"},
      {"ADMIN_API_KEY", "fake-admin-key-for-tests-OPQRSTUVWXYZ"},
      // No Redis in these tests: the operator's explicit word for the in-process store.
      {"PHIGATE_ACCEPT_MESSAGE_LOSS", "true"},
      // Production refuses simulated delivery; these hosts only accept
      // (delivery has tests of its own, with a provider).
      {"PHIGATE_DELIVERY", "false"},
  };
}

std::optional<Response> request(uint16_t port, const std::string& raw, int timeout_ms) {
  Client c(port);
  if (!c.connected() || !c.sendAll(raw, timeout_ms)) return std::nullopt;
  const bool head = raw.rfind("HEAD ", 0) == 0;
  return c.readResponse(timeout_ms, head);
}

std::string get(const std::string& path, const std::string& extra_headers) {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

// ---- /proc --------------------------------------------------------------------

namespace {
long statusFieldKb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const size_t flen = strlen(field);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, flen, field) == 0 && line.size() > flen && line[flen] == ':') {
      return strtol(line.c_str() + flen + 1, nullptr, 10);
    }
  }
  return -1;
}
}  // namespace

long vmRssKb(pid_t pid) { return statusFieldKb(pid, "VmRSS"); }
long vmHwmKb(pid_t pid) { return statusFieldKb(pid, "VmHWM"); }

std::vector<pid_t> childPids(pid_t pid) {
  std::vector<pid_t> out;
  const std::string p =
      "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children";
  std::ifstream in(p);
  if (in) {
    for (long c; in >> c;) out.push_back(static_cast<pid_t>(c));
    return out;
  }
  // Kernels without CONFIG_PROC_CHILDREN: scan every process's parent.
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    const long c = strtol(e->d_name, nullptr, 10);
    if (c <= 0) continue;
    const std::string stat = readFile("/proc/" + std::string(e->d_name) + "/stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    char state;
    long ppid;
    if (sscanf(stat.c_str() + paren + 1, " %c %ld", &state, &ppid) == 2 && ppid == pid &&
        state != 'Z') {
      out.push_back(static_cast<pid_t>(c));
    }
  }
  closedir(d);
  return out;
}

// ---- API clients ----------------------------------------------------------------

namespace {
std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 0xf];
  }
  return out;
}

void initSodium() {
  if (sodium_init() < 0) abort();
}

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string jsonStrings(const std::vector<std::string>& list) {
  std::string out = "[";
  for (size_t i = 0; i < list.size(); ++i) out += (i ? "," : "") + jsonString(list[i]);
  return out + "]";
}
}  // namespace

std::string sha256Hex(std::string_view data) {
  initSodium();
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return hex(h, sizeof h);
}

std::string hmacSha256Hex(std::string_view key, std::string_view message) {
  initSodium();
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, mac);
  return hex(mac, sizeof mac);
}

int64_t unixNow() { return static_cast<int64_t>(time(nullptr)); }

std::string freshNonce() {
  initSodium();
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(32, '0');
  for (char& c : out) c = kAlphabet[randombytes_uniform(sizeof kAlphabet - 1)];
  return out;
}

std::string keysFileJson(const std::vector<TestKey>& keys) {
  std::string out = "{\"keys\": [";
  for (size_t i = 0; i < keys.size(); ++i) {
    const TestKey& k = keys[i];
    out += i ? ",\n  " : "\n  ";
    out += "{\"id\": " + jsonString(k.id) + ", \"token_sha256\": \"" + sha256Hex(k.token) +
           "\", \"roles\": " + jsonStrings(k.roles) +
           ", \"allow_cidrs\": " + jsonStrings(k.allow_cidrs) + ", \"mode\": " +
           jsonString(k.mode) + ", \"signing_secret\": " +
           (k.signing_secret.empty() ? "null" : jsonString(k.signing_secret)) +
           ", \"limits\": {}, \"revoked\": " + (k.revoked ? "true" : "false") + "}";
  }
  return out + "\n]}\n";
}

std::string requestSignature(std::string_view secret, std::string_view method,
                             std::string_view path, std::string_view timestamp,
                             std::string_view nonce, std::string_view body) {
  std::string m;
  m.append(method).append("\n").append(path).append("\n").append(timestamp).append("\n");
  m.append(nonce).append("\n").append(sha256Hex(body));
  return hmacSha256Hex(secret, m);
}

std::string ApiRequest::raw() {
  if (!timestamp) timestamp = std::to_string(unixNow());
  if (!nonce) nonce = freshNonce();
  std::string out = method + " " + path + " HTTP/1.1\r\nHost: test\r\n";
  if (!token.empty()) out += "Authorization: Bearer " + token + "\r\n";
  if (!omit_timestamp) out += "X-Timestamp: " + *timestamp + "\r\n";
  if (!omit_nonce) out += "X-Nonce: " + *nonce + "\r\n";
  if (signature) {
    out += "X-Signature: " + *signature + "\r\n";
  } else if (!signing_secret.empty()) {
    // The signed target: the path, and `?` + the query when it is not empty.
    const std::string signed_path = path.ends_with('?') ? path.substr(0, path.size() - 1) : path;
    out += "X-Signature: " +
           requestSignature(signing_secret, method, signed_path, *timestamp, *nonce, body) +
           "\r\n";
  }
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  if (!request_id.empty()) out += "X-Request-ID: " + request_id + "\r\n";
  out += extra_headers;
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  return out + body;
}

std::string authedGet(const std::string& path, const std::string& token,
                      const std::string& extra_headers) {
  return get(path, (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") +
                       extra_headers);
}

bool isJsonObject(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  return parser.parse(text).get(doc) == simdjson::SUCCESS &&
         doc.type() == simdjson::dom::element_type::OBJECT;
}

std::vector<std::pair<std::string, std::string>> problemErrors(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array errors;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS ||
      doc["errors"].get_array().get(errors) != simdjson::SUCCESS) {
    return out;
  }
  for (simdjson::dom::element e : errors) {
    std::string_view field, code;
    if (e["field"].get_string().get(field) != simdjson::SUCCESS ||
        e["code"].get_string().get(code) != simdjson::SUCCESS) {
      out.emplace_back("<malformed>", "<malformed>");
      continue;
    }
    out.emplace_back(std::string(field), std::string(code));
  }
  return out;
}

std::string expectAuditLine(const Server& s, const std::string& request_id,
                            const AuditExpectation& want) {
  SCOPED_TRACE("access-log line of request " + request_id);
  const std::string needle = "\"request_id\":\"" + request_id + "\"";
  const std::optional<std::string> found = s.waitForLine({needle});
  if (!found) {
    ADD_FAILURE() << "no access-log line";
    return "";
  }
  const std::string& line = *found;
  EXPECT_EQ(s.countLines(needle), 1u) << "one line per request";
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(line).get(obj) != simdjson::SUCCESS) {
    ADD_FAILURE() << "not one JSON object";
    return line;
  }
  std::map<std::string, std::string> fields;  // every value as text
  for (auto [key, value] : obj) {
    std::string_view sv;
    uint64_t n;
    if (value.get_string().get(sv) == simdjson::SUCCESS) {
      fields[std::string(key)] = std::string(sv);
    } else if (value.get_uint64().get(n) == simdjson::SUCCESS) {
      fields[std::string(key)] = std::to_string(n);
    } else {
      ADD_FAILURE() << "field " << key << " is neither a string nor a count";
    }
  }
  auto expectField = [&](const char* name, const std::string& value) {
    auto it = fields.find(name);
    if (value.empty()) {
      EXPECT_TRUE(it == fields.end()) << "unexpected field " << name;
    } else if (it == fields.end()) {
      ADD_FAILURE() << "missing field " << name << " (want " << value << ")";
    } else {
      EXPECT_EQ(it->second, value) << "field " << name;
    }
  };
  expectField("request_id", request_id);
  expectField("client_ip", want.client_ip);
  expectField("method", want.method);
  expectField("route", want.route);
  expectField("status", std::to_string(want.status));
  expectField("event", want.event);
  expectField("reason", want.reason);
  expectField("key_id", want.key_id);
  // time: "YYYY-MM-DDTHH:MM:SS...Z"
  const std::string time_value = fields.count("time") ? fields["time"] : "";
  EXPECT_TRUE(time_value.size() >= 20 && time_value[4] == '-' && time_value[10] == 'T' &&
              time_value.back() == 'Z')
      << "time field";
  EXPECT_TRUE(fields.count("bytes") && fields.count("latency_us")) << "bytes and latency_us";
  for (const auto& [key, value] : fields) {
    static const char* const kKnown[] = {"time",   "request_id", "client_ip", "method",
                                         "route",  "key_id",     "status",    "bytes",
                                         "latency_us", "event",  "reason"};
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    EXPECT_TRUE(known) << "unexpected field " << key;
  }
  return line;
}

std::string jsonField(const std::string& line, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  const size_t k = line.find(key);
  if (k == std::string::npos) return "";
  size_t v = k + key.size();
  if (v < line.size() && line[v] == '"') {
    const size_t end = line.find('"', v + 1);
    return end == std::string::npos ? "" : line.substr(v + 1, end - v - 1);
  }
  size_t end = v;
  while (end < line.size() && line[end] != ',' && line[end] != '}') ++end;
  return line.substr(v, end - v);
}

bool isSafeRequestId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool isFreshRequestId(const std::string& id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void expectSecurityHeaders(const Response& r, bool production) {
  SCOPED_TRACE("response " + std::to_string(r.status) + ":\n" + r.head);
  const std::pair<const char*, const char*> fixed[] = {
      {"x-content-type-options", "nosniff"},
      {"x-frame-options", "DENY"},
      {"x-xss-protection", "1; mode=block"},
      {"referrer-policy", "strict-origin-when-cross-origin"},
      {"content-security-policy", "default-src 'none'; frame-ancestors 'none'"},
      {"cache-control", "no-store"},
  };
  for (const auto& [name, value] : fixed) {
    EXPECT_EQ(r.count(name), 1u) << name;
    EXPECT_EQ(r.header(name), value) << name;
  }
  EXPECT_EQ(r.count("permissions-policy"), 1u);
  EXPECT_NE(r.header("permissions-policy").find("camera=()"), std::string::npos);
  EXPECT_NE(r.header("permissions-policy").find("geolocation=()"), std::string::npos);
  EXPECT_EQ(r.count("content-type"), 1u);
  EXPECT_NE(r.header("content-type").find("charset=utf-8"), std::string::npos);
  EXPECT_EQ(r.count("x-request-id"), 1u);
  EXPECT_TRUE(isSafeRequestId(r.header("x-request-id"))) << r.header("x-request-id");
  if (production) {
    EXPECT_EQ(r.count("strict-transport-security"), 1u);
    EXPECT_EQ(r.header("strict-transport-security"), "max-age=31536000; includeSubDomains");
  } else {
    EXPECT_FALSE(r.has("strict-transport-security"));
  }
}

void expectProblem(const Response& r, int status, const std::string& type_slug) {
  SCOPED_TRACE("response:\n" + r.head + r.body);
  EXPECT_EQ(r.status, status);
  EXPECT_EQ(r.header("content-type"), "application/problem+json; charset=utf-8");
  EXPECT_EQ(jsonField(r.body, "type"), "https://phigate.dev/problems/" + type_slug);
  EXPECT_EQ(jsonField(r.body, "status"), std::to_string(status));
  EXPECT_FALSE(jsonField(r.body, "title").empty());
  // The problem names the request it answers.
  EXPECT_EQ(jsonField(r.body, "request_id"), r.header("x-request-id"));
}

}  // namespace phigate::test
