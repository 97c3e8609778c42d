// Outbound HTTP on a worker's libuv loop: one libcurl multi handle owns every
// outbound socket, driven through curl's multi-socket interface. It follows
// the adapter pattern of src/state/redis_uv_adapter.h:
//
//  1. curl says which readiness it wants per socket (CURLMOPT_SOCKETFUNCTION:
//     CURL_POLL_IN / OUT / INOUT); one uv_poll_t per socket, its own heap
//     block, started / changed / stopped only when that set changes.
//  2. Readiness goes back to the client, which calls
//     curl_multi_socket_action(fd, CURL_CSELECT_IN / OUT) itself and reads
//     completed transfers with curl_multi_info_read after every action.
//  3. A poll error is never swallowed: libuv has already stopped the handle,
//     so curl hears of it as CURL_CSELECT_ERR.
//  4. The watcher is closed by CURL_POLL_REMOVE, and also from
//     CURLOPT_CLOSESOCKETFUNCTION, just before the fd is closed: curl (7.88
//     among others) may close a socket without CURL_POLL_REMOVE first, and a
//     uv_poll_t left on a closed fd makes libuv abort (epoll_ctl EBADF), or
//     collides with the next socket that gets the same number.
//  5. One uv_timer_t for every deadline (CURLMOPT_TIMERFUNCTION). curl's
//     timer callback only (re)arms it: curl_multi_socket_action is never
//     called from inside curl.
//
// Policy, the same for every request: TLS peer and host verification always
// on (an optional CA file); `http://` only when the options say development;
// http and https only; no redirects, no proxy (not even from the
// environment), no cookies, no content decoding; CURLOPT_NOSIGNAL. HTTP/1.1
// with keep-alive (connections cached per upstream by the multi handle), h2
// over TLS when the server offers it.
//
// No blocking DNS on the loop: only IP-literal hosts are accepted for now.
// Host names come next: resolve with uv_getaddrinfo (the threadpool), then
// pin the answer with CURLOPT_RESOLVE so curl never resolves.
//
// Nothing is logged here: URLs, headers and bodies may carry secrets and PHI.
// Request and response bodies held by the client are wiped when a transfer
// ends.
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace phigate::net {

/** Why a request has no usable response. */
enum class HttpError : uint8_t {
  kNone,       // a response arrived: see `status` (any status, 4xx/5xx too)
  kRefused,    // refused before any connection: URL not allowed, bad header
  kConnect,    // no connection (refused, unreachable, connect failed)
  kTimeout,    // the connect or the total timeout ran out
  kTls,        // handshake or certificate verification failed
  kTooLarge,   // the response body exceeded the cap; the transfer was aborted
  kCancelled,  // the client was destroyed with the request in flight
  kOther,      // anything else: reset, closed mid-response, malformed response
};

const char* httpErrorName(HttpError e);

struct HttpTimeouts {
  uint32_t connect_ms = 5'000;
  uint32_t total_ms = 15'000;
};

struct HttpResult {
  HttpError error = HttpError::kNone;
  long status = 0;        // the HTTP status when a response arrived, else 0
  int curl_code = 0;      // CURLcode, for diagnostics (curl_easy_strerror: fixed text)
  std::string_view body;  // the response body; valid during the callback only
};

struct HttpClientOptions {
  /** Development only: allow `http://` upstreams. */
  bool allow_plain_http = false;
  /** PEM CA bundle for verifying upstreams; empty: the system store. */
  std::string ca_file;
  /** Response bodies above this are refused (kTooLarge). */
  size_t max_response_bytes = 64 * 1024;
  /** Open connections per upstream; 0: unlimited. Extra requests queue in curl. */
  long max_host_connections = 0;
};

class HttpClient {
 public:
  /** `ctx` is post()'s; `result` and its body are valid during the call only. */
  using DoneFn = void (*)(void* ctx, const HttpResult& result);

  HttpClient(uv_loop_t* loop, HttpClientOptions options);
  /**
   * Cancels what is in flight: each pending `done` runs exactly once, from
   * here, with kCancelled (so a heap `ctx` can be freed); it must not call
   * the client. Nothing runs after. The loop must run afterwards for the
   * client's handles to close (they free themselves).
   */
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /**
   * POSTs `body` to `url` with `headers` (each "Name: value", no CR/LF).
   * `done(ctx, result)` runs exactly once, always on a later loop turn (never
   * inside this call), even when the request is refused at once. The client
   * may be destroyed from inside `done`. Returns false only while the client
   * is being destroyed (from a cancellation callback); `done` then never runs.
   */
  bool post(std::string_view url, std::span<const std::string_view> headers,
            std::string_view body, HttpTimeouts timeouts, DoneFn done, void* ctx);

  /** Requests not yet completed (including refused ones awaiting their callback). */
  size_t inFlight() const { return transfers_.size() + refused_.size(); }

 private:
  struct Transfer;
  class SocketWatch;
  struct Timers;

  static int onCurlSocket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static int onCurlTimer(CURLM* multi, long timeout_ms, void* userp);
  static int onCurlCloseSocket(void* clientp, curl_socket_t s);
  static size_t onCurlWrite(char* data, size_t size, size_t n, void* userp);
  static void onTimer(uv_timer_t* t);
  static void onRefusedTimer(uv_timer_t* t);

  HttpError admitUrl(std::string_view url, CURLU** out) const;
  HttpError start(Transfer* t, std::string_view url, std::span<const std::string_view> headers,
                  HttpTimeouts timeouts);
  bool configure(Transfer* t, HttpTimeouts timeouts);
  void socketAction(curl_socket_t s, int flags);
  bool drainCompleted();
  void finish(Transfer* t, CURLcode code);
  bool deliverRefused();
  void forget(curl_socket_t s);
  static HttpError classify(CURLcode code, const Transfer& t);

  uv_loop_t* loop_;
  HttpClientOptions options_;
  CURLM* multi_ = nullptr;
  Timers* timers_ = nullptr;  // heap: uv_close completes after the client is gone
  std::unordered_set<Transfer*> transfers_;
  std::unordered_map<curl_socket_t, SocketWatch*> sockets_;
  std::deque<Transfer*> refused_;  // delivered on the next loop turn
  bool* destroyed_ = nullptr;       // set by the destructor while a callback runs
  bool closing_ = false;
};

}  // namespace phigate::net
