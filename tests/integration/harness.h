// Black-box test harness: starts the real phigate binary on a free loopback
// port with an environment the test controls, and talks to it over plain
// POSIX sockets. Every wait is bounded by poll() timeouts so a broken server
// fails a test instead of hanging the suite.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace phigate::test {

/** The binary under test: $PHIGATE_BIN, else the build directory's phigate. */
std::string phigateBin();
/** The mock provider: $PHIGATE_MOCK_BIN, else the build directory's phigate-mock-provider. */
std::string mockProviderBin();

/** A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, close). */
uint16_t freePort();

/** Milliseconds on the monotonic clock. */
int64_t nowMs();

struct ServerOptions {
  int workers = 1;                         // passed as --workers N (0: flag omitted)
  std::map<std::string, std::string> env;  // added to / overriding the defaults
  std::vector<std::string> unset;          // default variables to leave out
  std::vector<std::string> args;           // extra command-line arguments
  // Files written into the server's working directory before it starts, by
  // name (e.g. {"keys.json", keysFileJson(...)} with API_KEYS_FILE=keys.json).
  std::map<std::string, std::string> files;
  std::string bin;                         // the program; empty: phigateBin()
  bool listen_flag = false;                // pass "--listen 127.0.0.1:<port>" (the mock provider)
  bool wait_ready = true;                  // wait for GET /livez to answer
  int ready_timeout_ms = 5000;
};

/**
 * One phigate process. The environment holds only APP_ENV=development,
 * PHIGATE_LISTEN=127.0.0.1:<free port> and the test's overrides; the working
 * directory is a fresh temporary directory (so no stray .env is read); stdout
 * and stderr go to one file in it. The destructor stops the process (SIGTERM,
 * then SIGKILL) and any worker it left behind.
 */
class Server {
 public:
  explicit Server(ServerOptions opts = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /** True when the process started and (if asked) answered GET /livez. */
  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  /** The process's working directory (files it writes by relative path land here). */
  const std::string& dir() const { return dir_; }

  /** Everything the process wrote to stdout and stderr so far. */
  std::string logText() const;
  std::vector<std::string> logLines() const;
  /** Waits until the output contains `needle` (true) or the timeout passes. */
  bool waitForLog(std::string_view needle, int timeout_ms = 3000) const;
  /** Waits for a log line containing every one of `needles`; returns it. */
  std::optional<std::string> waitForLine(const std::vector<std::string>& needles,
                                         int timeout_ms = 3000) const;
  /** Number of output lines containing `needle`. */
  size_t countLines(std::string_view needle) const;

  int sendSignal(int sig) const;
  /** Waits for the process to exit; returns its wait status (WIFEXITED...). */
  std::optional<int> waitExit(int timeout_ms);
  bool exited() const { return exited_; }

 private:
  bool start(const ServerOptions& opts);
  bool waitReady(int timeout_ms);
  void stop();

  std::string dir_;
  std::string log_path_;
  std::vector<std::string> files_;  // written by us, removed with the directory
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  bool ready_ = false;
  bool exited_ = false;
  int status_ = 0;
};

/** One parsed HTTP/1.1 response. */
struct Response {
  std::string version;
  int status = 0;
  std::string reason;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string head;  // raw status line + headers

  /** First value of header `lower`, or "" when absent. */
  std::string header(const std::string& lower) const;
  bool has(const std::string& lower) const { return headers.count(lower) != 0; }
  size_t count(const std::string& lower) const { return headers.count(lower); }
};

/** What readUntilClosed() saw. */
struct ReadResult {
  std::string data;
  bool eof = false;    // the peer closed (FIN)
  bool reset = false;  // ECONNRESET
  bool closed() const { return eof || reset; }
};

/** A raw HTTP client over one blocking-with-poll TCP connection. */
class Client {
 public:
  /** Connects to 127.0.0.1:port. `rcvbuf` > 0 shrinks SO_RCVBUF before connecting. */
  explicit Client(uint16_t port, int rcvbuf = 0);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&& o) noexcept;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  /** Sends all of `bytes` (false on error or when the timeout passes). */
  bool sendAll(std::string_view bytes, int timeout_ms = 5000);
  /** Sends as much of `bytes` as the socket takes without blocking for longer
   *  than `stall_ms` at a time; returns the number of bytes sent. */
  size_t sendNonBlocking(std::string_view bytes, int stall_ms, int total_ms);

  /**
   * Reads one response (status line, headers, Content-Length body). With
   * `head_request` the body is not expected (a response to HEAD). Bytes after
   * the response stay buffered for the next call.
   */
  std::optional<Response> readResponse(int timeout_ms = 5000, bool head_request = false);
  /** Reads until the peer closes or the timeout passes; includes buffered bytes. */
  ReadResult readUntilClosed(int timeout_ms = 5000);
  /** True when the peer closes (EOF or reset) within the timeout with no more data. */
  bool isClosed(int timeout_ms = 3000);
  /** True when the peer closed or reset, seen without reading any data. */
  bool peerHungUp(int timeout_ms);
  /** Bytes received but not yet returned by readResponse(). */
  const std::string& buffered() const { return buf_; }

  void shutdownWrite();
  void close();

 private:
  // Reads once (waiting up to `timeout_ms`); 1 data, 0 EOF, -1 reset/error, -2 timeout.
  int readSome(int timeout_ms);

  int fd_ = -1;
  std::string buf_;
};

/**
 * A complete, valid production configuration made of obviously fake values
 * (APP_ENV=production, strong-looking SECRET_KEY / ENCRYPTION_KEY, API keys).
 */
std::map<std::string, std::string> productionEnv();

/** One-shot request on a fresh connection (nullopt on failure). */
std::optional<Response> request(uint16_t port, const std::string& raw, int timeout_ms = 5000);
/** "GET <path> HTTP/1.1\r\nHost: test\r\n<extra>\r\n" */
std::string get(const std::string& path, const std::string& extra_headers = "");

/** VmRSS / VmHWM of a process in KiB (-1 when unreadable). */
long vmRssKb(pid_t pid);
long vmHwmKb(pid_t pid);
/** The direct children of `pid` (from /proc). */
std::vector<pid_t> childPids(pid_t pid);

// ---- API clients (DESIGN §3-§4, §8) ------------------------------------------------

/** Lower-case hex SHA-256 of `data` (what a keys file stores for a token). */
std::string sha256Hex(std::string_view data);
/** Lower-case hex HMAC-SHA256 of `message` under `key` (any key length). */
std::string hmacSha256Hex(std::string_view key, std::string_view message);
/** The current wall-clock time in unix seconds (the server's X-Timestamp clock). */
int64_t unixNow();
/** A fresh random X-Nonce: 32 characters of [A-Za-z0-9]. */
std::string freshNonce();

/** One API key as a test defines it: the token in clear, the file gets its hash. */
struct TestKey {
  std::string id;
  std::string token;
  std::vector<std::string> roles;
  std::vector<std::string> allow_cidrs;
  std::string mode = "live";
  std::string signing_secret;  // empty: null (requests need not be signed)
  bool revoked = false;
};

/** An API_KEYS_FILE document ({"keys":[...]}) holding `keys`. */
std::string keysFileJson(const std::vector<TestKey>& keys);

/** X-Signature for a request: hex HMAC-SHA256(secret, "M\nPATH[?QUERY]\nTS\nNONCE\n" + hex(SHA-256(body))). */
std::string requestSignature(std::string_view secret, std::string_view method,
                             std::string_view path, std::string_view timestamp,
                             std::string_view nonce, std::string_view body);

/**
 * A request as an API client builds it: bearer token, fresh X-Timestamp and
 * X-Nonce, Content-Type and, when the key signs, X-Signature. Every part can
 * be left out or overridden to build the failure cases.
 */
struct ApiRequest {
  std::string method = "POST";
  std::string path;
  std::string body;
  std::string token;                         // empty: no Authorization header
  std::optional<std::string> timestamp;      // default: unixNow()
  std::optional<std::string> nonce;          // default: freshNonce()
  bool omit_timestamp = false;
  bool omit_nonce = false;
  std::string signing_secret;                // non-empty: X-Signature is computed
  std::optional<std::string> signature;      // sent as X-Signature as is
  std::string content_type = "application/json";  // empty: no Content-Type
  std::string extra_headers;                 // raw "Name: value\r\n" lines
  std::string request_id;                    // non-empty: sent as X-Request-ID

  /** The whole HTTP/1.1 message. Timestamp and nonce are fixed on first use. */
  std::string raw();
};

/** GET `path` with a bearer token (empty: none). */
std::string authedGet(const std::string& path, const std::string& token,
                      const std::string& extra_headers = "");

/** True when `text` is exactly one well-formed JSON object. */
bool isJsonObject(const std::string& text);
/** The {field, code} pairs of a validation problem's "errors" list, in order. */
std::vector<std::pair<std::string, std::string>> problemErrors(const std::string& body);

/** What the access-log line of one request must say (DESIGN §4 "Logs"). */
struct AuditExpectation {
  std::string method = "POST";
  std::string route;                       // route name ("sms", "message_status", "-")
  int status = 0;
  std::string event;                       // "": the line has no event (nor reason)
  std::string reason;                      // "": the line has no reason
  std::string key_id;                      // "": no key_id (not authenticated)
  std::string client_ip = "127.0.0.1";
};

/**
 * gtest checks: the request's access-log line (waited for: lines are flushed
 * every ~50 ms) is the only line naming `request_id`, is one JSON object, and
 * has exactly the expected fields. Returns the line ("" when missing). The
 * line itself is never printed: a failure names only the mismatched fields.
 */
std::string expectAuditLine(const Server& s, const std::string& request_id,
                            const AuditExpectation& want);

/** Value of a top-level field in a one-line JSON object ("" when absent). */
std::string jsonField(const std::string& line, const std::string& name);

/** True for 1-64 characters of [A-Za-z0-9._-]. */
bool isSafeRequestId(const std::string& id);
/** True for exactly 32 lower-case hex characters (a server-made request id). */
bool isFreshRequestId(const std::string& id);

/**
 * gtest checks: the headers every response carries (each exactly once), with
 * Strict-Transport-Security only in production.
 */
void expectSecurityHeaders(const Response& r, bool production = false);
/** gtest checks: an application/problem+json answer of this status and type. */
void expectProblem(const Response& r, int status, const std::string& type_slug);

}  // namespace phigate::test
