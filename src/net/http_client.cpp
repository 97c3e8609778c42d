#include "net/http_client.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace phigate::net {

namespace {

// curl_global_init is process-wide and, before 7.84, not thread-safe: once,
// never cleaned up (the process keeps using curl until it exits).
void curlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) std::abort();
  });
}

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

// Header lines may carry credentials (Authorization): wiped before freeing.
void freeHeaders(curl_slist* list) {
  for (curl_slist* l = list; l != nullptr; l = l->next) sodium_memzero(l->data, strlen(l->data));
  curl_slist_free_all(list);
}

// A CR, LF or NUL would let a value start a header (or a request) of its own.
bool headerLineOk(std::string_view h) {
  if (h.empty() || h.find(':') == std::string_view::npos || h.front() == ':') return false;
  for (const char c : h) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// Host names would make curl resolve, which blocks (or costs a thread) per
// request; only IP literals until uv_getaddrinfo + CURLOPT_RESOLVE come.
bool isIpLiteral(const char* host) {
  unsigned char addr[16];
  std::string_view h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    const std::string inner(h.substr(1, h.size() - 2));
    return inet_pton(AF_INET6, inner.c_str(), addr) == 1;
  }
  return inet_pton(AF_INET, host, addr) == 1;
}

}  // namespace

const char* httpErrorName(HttpError e) {
  switch (e) {
    case HttpError::kNone: return "none";
    case HttpError::kRefused: return "refused";
    case HttpError::kConnect: return "connect";
    case HttpError::kTimeout: return "timeout";
    case HttpError::kTls: return "tls";
    case HttpError::kTooLarge: return "too-large";
    case HttpError::kCancelled: return "cancelled";
    case HttpError::kOther: return "other";
  }
  return "other";
}

// One request. Owns its easy handle and everything curl points into (URL,
// header list, body), so nothing is copied by curl and all of it is wiped.
struct HttpClient::Transfer {
  DoneFn done = nullptr;
  void* ctx = nullptr;
  size_t cap = 0;
  CURL* easy = nullptr;
  CURLU* url = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  std::string response;
  bool too_large = false;
  HttpError refusal = HttpError::kNone;

  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);  // removed from the multi handle first
    if (url != nullptr) curl_url_cleanup(url);
    freeHeaders(headers);
    wipe(body);
    wipe(response);
  }
};

// The client's two timers, on the heap: uv_close completes on a later loop
// turn, possibly after the client is gone; the block frees itself then.
struct HttpClient::Timers {
  uv_timer_t curl;     // curl's one deadline (CURLMOPT_TIMERFUNCTION)
  uv_timer_t refused;  // delivers refusals on the next loop turn
  int open = 2;

  static void onClosed(uv_handle_t* h) {
    auto* t = static_cast<Timers*>(h->data);
    if (--t->open == 0) delete t;
  }
  // Their data pointed at the client, which is gone by the close callback.
  void close() {
    curl.data = this;
    refused.data = this;
    uv_close(reinterpret_cast<uv_handle_t*>(&curl), onClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&refused), onClosed);
  }
};

// One uv_poll_t per socket curl asked about, its own heap block (see the
// header's pattern, step 4).
class HttpClient::SocketWatch {
 public:
  /** nullptr: libuv cannot watch `fd`. */
  static SocketWatch* open(uv_loop_t* loop, curl_socket_t fd, HttpClient* client) {
    auto* w = new SocketWatch;
    if (uv_poll_init_socket(loop, &w->poll_, fd) != 0) {
      delete w;  // uv_poll_init registers nothing when it fails
      return nullptr;
    }
    w->poll_.data = w;
    w->fd_ = fd;
    w->client_ = client;
    return w;
  }

  /** Polls `events` (UV_READABLE | UV_WRITABLE), touching epoll only on a change. */
  bool want(int events) {
    if (events == events_) return true;
    events_ = events;
    return (events == 0 ? uv_poll_stop(&poll_) : uv_poll_start(&poll_, events, onPoll)) == 0;
  }

  /** Detaches and closes; must run while the fd is still open (epoll DEL needs it). */
  void close() {
    client_ = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), onClosed);
  }

 private:
  SocketWatch() = default;

  static void onClosed(uv_handle_t* h) { delete static_cast<SocketWatch*>(h->data); }

  // libuv reports EPOLLERR as a negative status and has already stopped the
  // handle: curl must hear of it (CURL_CSELECT_ERR), else the transfer waits
  // for its timeout. Polling restarts if curl asks again.
  static void onPoll(uv_poll_t* h, int status, int events) {
    auto* w = static_cast<SocketWatch*>(h->data);
    if (w->client_ == nullptr) return;
    int flags = 0;
    if (status < 0) {
      w->events_ = 0;
      flags = CURL_CSELECT_ERR;
    } else {
      if ((events & UV_READABLE) != 0) flags |= CURL_CSELECT_IN;
      if ((events & UV_WRITABLE) != 0) flags |= CURL_CSELECT_OUT;
    }
    w->client_->socketAction(w->fd_, flags);  // may close this watch: not touched after
  }

  uv_poll_t poll_;
  HttpClient* client_ = nullptr;
  curl_socket_t fd_ = CURL_SOCKET_BAD;
  int events_ = 0;
};

HttpClient::HttpClient(uv_loop_t* loop, HttpClientOptions options)
    : loop_(loop), options_(std::move(options)) {
  curlGlobalInit();
  timers_ = new Timers;
  uv_timer_init(loop_, &timers_->curl);
  uv_timer_init(loop_, &timers_->refused);
  timers_->curl.data = this;
  timers_->refused.data = this;
  multi_ = curl_multi_init();
  if (multi_ == nullptr) return;  // every post() is then refused (kOther)
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, onCurlSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, onCurlTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections);
}

// Callbacks run here, exactly once per pending request (kCancelled), before
// curl and the handles go: a heap ctx can then be freed by its callback.
HttpClient::~HttpClient() {
  closing_ = true;
  if (destroyed_ != nullptr) *destroyed_ = true;
  const std::vector<Transfer*> pending(transfers_.begin(), transfers_.end());
  transfers_.clear();
  for (Transfer* t : pending) {
    curl_multi_remove_handle(multi_, t->easy);
    t->done(t->ctx, HttpResult{.error = HttpError::kCancelled});
    delete t;
  }
  while (!refused_.empty()) {
    Transfer* t = refused_.front();
    refused_.pop_front();
    t->done(t->ctx, HttpResult{.error = HttpError::kCancelled});
    delete t;
  }
  // Closes the cached connections, through onCurlCloseSocket.
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
  for (auto& [fd, watch] : sockets_) watch->close();
  sockets_.clear();
  uv_timer_stop(&timers_->curl);
  uv_timer_stop(&timers_->refused);
  timers_->close();
}

bool HttpClient::post(std::string_view url, std::span<const std::string_view> headers,
                      std::string_view body, HttpTimeouts timeouts, DoneFn done, void* ctx) {
  if (closing_) return false;
  auto* t = new Transfer;
  t->done = done;
  t->ctx = ctx;
  t->cap = options_.max_response_bytes;
  t->body.assign(body);
  t->refusal = start(t, url, headers, timeouts);
  if (t->refusal == HttpError::kNone) {
    transfers_.insert(t);  // curl's timer callback (armed by add_handle) drives it
    return true;
  }
  if (t->easy != nullptr) {
    curl_multi_remove_handle(multi_, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = nullptr;
  }
  refused_.push_back(t);
  uv_timer_start(&timers_->refused, onRefusedTimer, 0, 0);
  return true;
}

HttpError HttpClient::start(Transfer* t, std::string_view url,
                            std::span<const std::string_view> headers, HttpTimeouts timeouts) {
  if (multi_ == nullptr) return HttpError::kOther;
  if (const HttpError e = admitUrl(url, &t->url); e != HttpError::kNone) return e;
  for (const std::string_view h : headers) {
    if (!headerLineOk(h)) return HttpError::kRefused;
    curl_slist* next = curl_slist_append(t->headers, std::string(h).c_str());
    if (next == nullptr) return HttpError::kOther;
    t->headers = next;
  }
  // Without it curl waits up to a second for "100 Continue" on bodies > 1 KiB.
  curl_slist* next = curl_slist_append(t->headers, "Expect:");
  if (next == nullptr) return HttpError::kOther;
  t->headers = next;
  t->easy = curl_easy_init();
  if (t->easy == nullptr || !configure(t, timeouts)) return HttpError::kOther;
  if (curl_multi_add_handle(multi_, t->easy) != CURLM_OK) return HttpError::kOther;
  return HttpError::kNone;
}

// Parsed once, by curl's own parser, and handed to curl as that parse
// (CURLOPT_CURLU): what is checked here is what curl connects to.
HttpError HttpClient::admitUrl(std::string_view url, CURLU** out) const {
  CURLU* u = curl_url();
  *out = u;
  if (u == nullptr) return HttpError::kOther;
  if (curl_url_set(u, CURLUPART_URL, std::string(url).c_str(), 0) != CURLUE_OK) {
    return HttpError::kRefused;
  }
  char* scheme = nullptr;
  char* host = nullptr;
  HttpError e = HttpError::kNone;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    e = HttpError::kRefused;
  } else if (!(std::string_view(scheme) == "https" ||
               (options_.allow_plain_http && std::string_view(scheme) == "http"))) {
    e = HttpError::kRefused;
  } else if (!isIpLiteral(host)) {
    e = HttpError::kRefused;
  }
  curl_free(scheme);
  curl_free(host);
  return e;
}

bool HttpClient::configure(Transfer* t, HttpTimeouts timeouts) {
  CURL* e = t->easy;
  const char* protocols = options_.allow_plain_http ? "http,https" : "https";
  bool ok = curl_easy_setopt(e, CURLOPT_CURLU, t->url) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;  // 2: the checking value
  if (ok && !options_.ca_file.empty()) {
    ok = curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str()) == CURLE_OK;
  }
  if (!ok) return false;
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: the worker owns signals
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");  // ignores http(s)_proxy from the environment
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max(timeouts.connect_ms, 1u)));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max(timeouts.total_ms, 1u)));
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, onCurlWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  // A declared Content-Length above the cap fails before any body is read.
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(t->cap));
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, onCurlCloseSocket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
  return true;
}

int HttpClient::onCurlSocket(CURL*, curl_socket_t s, int what, void* userp, void*) {
  auto* c = static_cast<HttpClient*>(userp);
  if (what == CURL_POLL_REMOVE) {
    c->forget(s);
    return 0;
  }
  SocketWatch* w = nullptr;
  if (auto it = c->sockets_.find(s); it != c->sockets_.end()) {
    w = it->second;
  } else {
    w = SocketWatch::open(c->loop_, s, c);
    if (w == nullptr) return -1;  // curl fails the transfers on this socket
    c->sockets_.emplace(s, w);
  }
  const int events = ((what & CURL_POLL_IN) != 0 ? UV_READABLE : 0) |
                     ((what & CURL_POLL_OUT) != 0 ? UV_WRITABLE : 0);
  return w->want(events) ? 0 : -1;
}

// curl closes sockets without CURL_POLL_REMOVE at times (cached connections
// found dead, failed happy-eyeballs attempts, 7.88's multi-socket bugs): the
// watch goes first, while the fd is still open and before its number can be
// reused by the next socket.
int HttpClient::onCurlCloseSocket(void* clientp, curl_socket_t s) {
  static_cast<HttpClient*>(clientp)->forget(s);
  return ::close(s);
}

void HttpClient::forget(curl_socket_t s) {
  auto it = sockets_.find(s);
  if (it == sockets_.end()) return;
  it->second->close();
  sockets_.erase(it);
}

// Only (re)arms the uv timer: acting from inside curl would re-enter it.
int HttpClient::onCurlTimer(CURLM*, long timeout_ms, void* userp) {
  auto* c = static_cast<HttpClient*>(userp);
  if (c->closing_) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&c->timers_->curl);
  } else {
    uv_timer_start(&c->timers_->curl, onTimer, static_cast<uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void HttpClient::onTimer(uv_timer_t* t) {
  static_cast<HttpClient*>(t->data)->socketAction(CURL_SOCKET_TIMEOUT, 0);
}

size_t HttpClient::onCurlWrite(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  const size_t bytes = size * n;
  if (bytes > t->cap - t->response.size()) {
    t->too_large = true;
    return 0;  // != bytes: curl aborts the transfer (and closes that connection)
  }
  t->response.append(data, bytes);
  return bytes;
}

void HttpClient::socketAction(curl_socket_t s, int flags) {
  int running = 0;
  curl_multi_socket_action(multi_, s, flags, &running);
  drainCompleted();
}

// After every action. False: a callback destroyed the client (stop at once).
bool HttpClient::drainCompleted() {
  bool destroyed = false;
  destroyed_ = &destroyed;
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    const CURLcode code = m->data.result;  // `m` is invalid once the handle is removed
    finish(t, code);
    if (destroyed) return false;
  }
  destroyed_ = nullptr;
  return true;
}

// Takes the transfer out of the client before its callback, so a callback
// that destroys the client finds nothing of it to cancel; `this` is not
// touched after the callback.
void HttpClient::finish(Transfer* t, CURLcode code) {
  HttpResult r;
  r.curl_code = code;
  r.error = classify(code, *t);
  if (r.error == HttpError::kNone) {
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r.status);
    r.body = t->response;
  }
  curl_multi_remove_handle(multi_, t->easy);
  transfers_.erase(t);
  t->done(t->ctx, r);
  delete t;
}

HttpError HttpClient::classify(CURLcode code, const Transfer& t) {
  if (t.too_large) return HttpError::kTooLarge;  // curl says CURLE_WRITE_ERROR
  switch (code) {
    case CURLE_OK: return HttpError::kNone;
    case CURLE_FILESIZE_EXCEEDED: return HttpError::kTooLarge;
    case CURLE_OPERATION_TIMEDOUT: return HttpError::kTimeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return HttpError::kConnect;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED: return HttpError::kTls;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT: return HttpError::kRefused;
    default: return HttpError::kOther;
  }
}

void HttpClient::onRefusedTimer(uv_timer_t* t) {
  static_cast<HttpClient*>(t->data)->deliverRefused();
}

// Only those queued before this turn: a callback that posts another refused
// request gets its answer on the next turn, not in a loop here.
bool HttpClient::deliverRefused() {
  bool destroyed = false;
  destroyed_ = &destroyed;
  for (size_t n = refused_.size(); n > 0 && !refused_.empty(); --n) {
    Transfer* t = refused_.front();
    refused_.pop_front();
    t->done(t->ctx, HttpResult{.error = t->refusal});
    delete t;
    if (destroyed) return false;
  }
  destroyed_ = nullptr;
  if (!refused_.empty()) uv_timer_start(&timers_->refused, onRefusedTimer, 0, 0);
  return true;
}

}  // namespace phigate::net
