#include "net/http_client.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
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

// An SMTP envelope address goes into a command line of its own.
bool commandArgOk(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// A reply that ended the mail: curl fails the transfer with one of these
// when the server answers 4xx / 5xx (the code is then the reply's).
bool mailRejection(CURLcode code) {
  switch (code) {
    case CURLE_SEND_ERROR:           // MAIL FROM, RCPT TO, DATA refused
    case CURLE_RECV_ERROR:
    case CURLE_LOGIN_DENIED:         // AUTH refused (535, 534, 454 ...)
    case CURLE_AUTH_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:   // greeting not 220, the message refused after "."
    case CURLE_REMOTE_ACCESS_DENIED:
      return true;
    default:
      return false;
  }
}

bool isIpLiteral(const char* host) {
  unsigned char addr[16];
  std::string_view h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    const std::string inner(h.substr(1, h.size() - 2));
    return inet_pton(AF_INET6, inner.c_str(), addr) == 1;
  }
  return inet_pton(AF_INET, host, addr) == 1;
}

// A DNS name in ASCII: letters, digits, '-', '_' in non-empty labels, no
// trailing dot. Anything else (IDN, percent-encoding, zone ids) is refused:
// curl would rewrite it (punycode) into a name the pin does not match.
bool hostNameOk(std::string_view h) {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.') return false;
  char prev = '.';
  for (const char c : h) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' ||
                    (c == '.' && prev != '.');
    if (!ok || static_cast<unsigned char>(c) >= 0x80) return false;
    prev = c;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct CurlStr {
  char* p = nullptr;
  ~CurlStr() { curl_free(p); }
  std::string_view view() const { return p == nullptr ? std::string_view() : std::string_view(p); }
};

// The host of `u`: IP literals as they are (`key` empty), names lowercased
// in `u` itself (what curl connects to and what the pin says must match) with
// `key` = "name:port". False: neither.
bool hostKey(CURLU* u, std::string* key) {
  CurlStr host;
  CurlStr port;
  if (curl_url_get(u, CURLUPART_HOST, &host.p, 0) != CURLUE_OK) return false;
  key->clear();
  if (isIpLiteral(host.p)) return true;
  if (!hostNameOk(host.view())) return false;
  const std::string name = lower(host.view());
  if (name != host.view() && curl_url_set(u, CURLUPART_HOST, name.c_str(), 0) != CURLUE_OK) {
    return false;
  }
  if (curl_url_get(u, CURLUPART_PORT, &port.p, CURLU_DEFAULT_PORT) != CURLUE_OK) return false;
  *key = name + ":" + std::string(port.view());
  return true;
}

// "http://host:port" with an explicit port, nothing after it but "/";
// `url` gets it back from curl's parser (host lowercased), `key` as above.
bool parseProxy(std::string_view in, std::string* url, std::string* key) {
  CURLU* u = curl_url();
  if (u == nullptr) return false;
  CurlStr scheme;
  CurlStr port;
  CurlStr path;
  CurlStr query;
  CurlStr fragment;
  CurlStr out;
  const bool ok =
      curl_url_set(u, CURLUPART_URL, std::string(in).c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme.p, 0) == CURLUE_OK && scheme.view() == "http" &&
      curl_url_get(u, CURLUPART_PORT, &port.p, 0) == CURLUE_OK &&  // explicit only
      (curl_url_get(u, CURLUPART_PATH, &path.p, 0) != CURLUE_OK || path.view().empty() ||
       path.view() == "/") &&
      curl_url_get(u, CURLUPART_QUERY, &query.p, 0) != CURLUE_OK &&
      curl_url_get(u, CURLUPART_FRAGMENT, &fragment.p, 0) != CURLUE_OK && hostKey(u, key) &&
      curl_url_get(u, CURLUPART_URL, &out.p, 0) == CURLUE_OK;
  if (ok) url->assign(out.view());
  curl_url_cleanup(u);
  return ok;
}

// The addresses of an answer for CURLOPT_RESOLVE: "a,[b],..." (IPv6 in
// brackets), each once, at most 8, in the resolver's order.
std::string formatAddresses(const addrinfo* res) {
  std::vector<std::string> seen;
  std::string out;
  for (const addrinfo* a = res; a != nullptr && seen.size() < 8; a = a->ai_next) {
    char buf[INET6_ADDRSTRLEN];
    std::string addr;
    if (a->ai_family == AF_INET) {
      if (inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, buf,
                    sizeof buf) == nullptr) continue;
      addr = buf;
    } else if (a->ai_family == AF_INET6) {
      if (inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr, buf,
                    sizeof buf) == nullptr) continue;
      addr = std::string("[") + buf + "]";
    } else {
      continue;
    }
    if (std::find(seen.begin(), seen.end(), addr) != seen.end()) continue;
    if (!out.empty()) out += ',';
    out += addr;
    seen.push_back(std::move(addr));
  }
  return out;
}

}  // namespace

const char* httpErrorName(HttpError e) {
  switch (e) {
    case HttpError::kNone: return "none";
    case HttpError::kRefused: return "refused";
    case HttpError::kDns: return "dns";
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
  HttpMethod method = HttpMethod::kPost;
  HttpTimeouts timeouts;
  uint64_t start_ms = 0;         // loop time at send()
  bool https = false;
  CURL* easy = nullptr;
  CURLU* url = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* resolve = nullptr;  // the CURLOPT_RESOLVE pin, when the host is a name
  std::string dns_key;            // "host:port" being waited for (in waiting_)
  uint64_t dns_deadline_ms = 0;
  std::string body;
  std::string response;
  // capture_headers: the final response's header lines as received, and
  // their fields (views into it) once the transfer ends.
  bool capture_headers = false;
  bool path_as_is = false;
  std::string header_block;
  std::vector<HttpHeader> header_fields;
  size_t header_count = 0;
  bool header_ended = false;  // the block's blank line was seen: what follows is a trailer
  // Mail only (sendMail).
  bool mail = false;
  bool require_tls = true;
  std::string_view message;  // the caller's; uploaded in place
  size_t sent = 0;
  std::string mail_from;
  std::string username;
  std::string password;
  curl_slist* rcpt = nullptr;
  bool too_large = false;
  HttpClient* client = nullptr;   // for the address policy's count
  bool address_refused = false;   // the policy refused an address this transfer was to connect to
  bool address_allowed = false;   // ... and allowed one (whose connect may then have failed)
  HttpError refusal = HttpError::kNone;
  CURLcode refusal_code = CURLE_OK;

  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);  // removed from the multi handle first
    if (url != nullptr) curl_url_cleanup(url);
    freeHeaders(headers);
    curl_slist_free_all(resolve);
    curl_slist_free_all(rcpt);
    wipe(username);
    wipe(password);
    wipe(body);
    wipe(response);
    wipe(header_block);
  }
};

// The client's two timers, on the heap: uv_close completes on a later loop
// turn, possibly after the client is gone; the block frees itself then.
struct HttpClient::Timers {
  uv_timer_t curl;     // curl's one deadline (CURLMOPT_TIMERFUNCTION)
  uv_timer_t refused;  // delivers refusals on the next loop turn
  uv_timer_t dns;      // the earliest deadline of a request waiting for a lookup
  int open = 3;

  static void onClosed(uv_handle_t* h) {
    auto* t = static_cast<Timers*>(h->data);
    if (--t->open == 0) delete t;
  }
  // Their data pointed at the client, which is gone by the close callback.
  void close() {
    curl.data = this;
    refused.data = this;
    dns.data = this;
    uv_close(reinterpret_cast<uv_handle_t*>(&curl), onClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&refused), onClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&dns), onClosed);
  }
};

// One uv_getaddrinfo under way, its own heap block: it cannot be called off
// once a threadpool thread runs it, so it may complete after the client is
// gone (`client` is then null).
struct HttpClient::Lookup {
  uv_getaddrinfo_t req;
  HttpClient* client = nullptr;
  std::string key;
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
  uv_timer_init(loop_, &timers_->dns);
  timers_->curl.data = this;
  timers_->refused.data = this;
  timers_->dns.data = this;
  if (!options_.proxy.empty()) proxy_ok_ = parseProxy(options_.proxy, &proxy_url_, &proxy_key_);
  if (options_.dns_cache_entries == 0) options_.dns_cache_entries = 1;
  multi_ = curl_multi_init();
  if (multi_ == nullptr) return;  // every send() is then refused (kOther)
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, onCurlSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, onCurlTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections);
  curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, options_.max_total_connections);
}

bool HttpClient::validProxyUrl(std::string_view proxy) {
  std::string url;
  std::string key;
  return parseProxy(proxy, &url, &key);
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
  const std::vector<Transfer*> waiting(waiting_.begin(), waiting_.end());
  waiting_.clear();
  for (Transfer* t : waiting) {
    t->done(t->ctx, HttpResult{.error = HttpError::kCancelled});
    delete t;
  }
  dns_.clear();
  while (!refused_.empty()) {
    Transfer* t = refused_.front();
    refused_.pop_front();
    t->done(t->ctx, HttpResult{.error = HttpError::kCancelled});
    delete t;
  }
  // A lookup not yet picked up by a thread is called off (its callback then
  // says UV_EAI_CANCELED); one that runs completes on its own.
  for (Lookup* l : lookups_) {
    l->client = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&l->req));
  }
  lookups_.clear();
  // Closes the cached connections, through onCurlCloseSocket.
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
  for (auto& [fd, watch] : sockets_) watch->close();
  sockets_.clear();
  uv_timer_stop(&timers_->curl);
  uv_timer_stop(&timers_->refused);
  uv_timer_stop(&timers_->dns);
  timers_->close();
}

HttpClient::Transfer* HttpClient::newTransfer(DoneFn done, void* ctx, HttpTimeouts timeouts) {
  auto* t = new Transfer;
  t->done = done;
  t->ctx = ctx;
  t->cap = options_.max_response_bytes;
  t->timeouts = timeouts;
  t->start_ms = uv_now(loop_);
  t->client = this;
  return t;
}

// From here the request is the client's: started, waiting for its lookup,
// or refused (its callback on the next loop turn).
void HttpClient::submit(Transfer* t, HttpError e, const std::string& dns_key) {
  if (e == HttpError::kNone) e = dns_key.empty() ? startCurl(t) : resolveThenStart(t, dns_key);
  if (e != HttpError::kNone) refuse(t, e, e == HttpError::kDns ? CURLE_COULDNT_RESOLVE_HOST : CURLE_OK);
}

bool HttpClient::send(const HttpRequestSpec& request, DoneFn done, void* ctx) {
  if (closing_) return false;
  Transfer* t = newTransfer(done, ctx, request.timeouts);
  t->method = request.method;
  if (request.max_response_bytes != 0) t->cap = request.max_response_bytes;
  t->capture_headers = request.capture_headers;
  t->path_as_is = request.path_as_is;
  std::string dns_key;
  const HttpError e = prepare(t, request, &dns_key);
  submit(t, e, dns_key);
  return true;
}

bool HttpClient::sendMail(const MailSpec& mail, DoneFn done, void* ctx) {
  if (closing_) return false;
  Transfer* t = newTransfer(done, ctx, mail.timeouts);
  std::string dns_key;
  const HttpError e = prepareMail(t, mail, &dns_key);
  submit(t, e, dns_key);
  return true;
}

// As prepare(), for a mail: the URL, the envelope, the credentials.
HttpError HttpClient::prepareMail(Transfer* t, const MailSpec& mail, std::string* dns_key) {
  t->mail = true;
  t->require_tls = mail.require_tls;
  if (multi_ == nullptr) return HttpError::kOther;
  if (!proxy_ok_) return HttpError::kRefused;
  if (mail.rcpt_to.empty() || !commandArgOk(mail.rcpt_to) || !commandArgOk(mail.mail_from) ||
      mail.username.find('\0') != std::string_view::npos ||
      mail.password.find('\0') != std::string_view::npos) {
    return HttpError::kRefused;
  }
  std::string host_key;
  if (const HttpError e = admitUrl(mail.url, t, &host_key); e != HttpError::kNone) return e;
  t->rcpt = curl_slist_append(nullptr, std::string(mail.rcpt_to).c_str());
  if (t->rcpt == nullptr) return HttpError::kOther;
  t->mail_from.assign(mail.mail_from);
  t->username.assign(mail.username);
  t->password.assign(mail.password);
  t->message = mail.message;
  *dns_key = options_.proxy.empty() ? std::move(host_key) : proxy_key_;
  return HttpError::kNone;
}

// Everything that does not need the network: the URL, the headers, the body.
// `dns_key` gets the "host:port" to resolve first (the proxy's when there is
// one: curl then never needs the upstream's address), empty for IP literals.
HttpError HttpClient::prepare(Transfer* t, const HttpRequestSpec& request, std::string* dns_key) {
  if (multi_ == nullptr) return HttpError::kOther;
  if (!proxy_ok_) return HttpError::kRefused;
  switch (request.method) {
    case HttpMethod::kGet:
    case HttpMethod::kHead:
      if (!request.body.empty()) return HttpError::kRefused;
      break;
    case HttpMethod::kPost:
    case HttpMethod::kPut:
    case HttpMethod::kPatch:
    case HttpMethod::kDelete:
      break;
    default:
      return HttpError::kRefused;
  }
  std::string host_key;
  if (const HttpError e = admitUrl(request.url, t, &host_key); e != HttpError::kNone) return e;
  for (const std::string_view h : request.headers) {
    if (!headerLineOk(h)) return HttpError::kRefused;
    curl_slist* next = curl_slist_append(t->headers, std::string(h).c_str());
    if (next == nullptr) return HttpError::kOther;
    t->headers = next;
  }
  // Without it curl waits up to a second for "100 Continue" on bodies > 1 KiB.
  curl_slist* next = curl_slist_append(t->headers, "Expect:");
  if (next == nullptr) return HttpError::kOther;
  t->headers = next;
  t->body.assign(request.body);
  *dns_key = options_.proxy.empty() ? std::move(host_key) : proxy_key_;
  return HttpError::kNone;
}

// Parsed once, by curl's own parser, and handed to curl as that parse
// (CURLOPT_CURLU): what is checked here is what curl connects to.
HttpError HttpClient::admitUrl(std::string_view url, Transfer* t, std::string* host_key) const {
  CURLU* u = curl_url();
  t->url = u;
  if (u == nullptr) return HttpError::kOther;
  if (curl_url_set(u, CURLUPART_URL, std::string(url).c_str(), 0) != CURLUE_OK) {
    return HttpError::kRefused;
  }
  CurlStr scheme;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme.p, 0) != CURLUE_OK) return HttpError::kRefused;
  if (t->mail) {
    // smtp:// is TLS too (STARTTLS) unless the mail says otherwise.
    t->https = scheme.view() == "smtps";
    const bool smtp = scheme.view() == "smtp";
    if (!(t->https || (smtp && (t->require_tls || options_.allow_plain_http)))) {
      return HttpError::kRefused;
    }
  } else {
    t->https = scheme.view() == "https";
    if (!(t->https || (options_.allow_plain_http && scheme.view() == "http"))) {
      return HttpError::kRefused;
    }
  }
  return hostKey(u, host_key) ? HttpError::kNone : HttpError::kRefused;
}

// A fresh answer pins at once; a lookup under way is joined; otherwise one
// starts. The request waits (in waiting_) until its connect timeout.
HttpError HttpClient::resolveThenStart(Transfer* t, const std::string& dns_key) {
  const uint64_t now = uv_now(loop_);
  DnsEntry* d = nullptr;
  if (auto it = dns_.find(dns_key); it != dns_.end()) {
    d = &it->second;
    const bool fresh = now < d->expires_ms;
    if (d->state == DnsEntry::State::kReady && fresh) {
      ++stats_.dns_cache_hits;
      t->resolve = curl_slist_append(nullptr, d->pin.c_str());
      return t->resolve == nullptr ? HttpError::kOther : startCurl(t);
    }
    if (d->state == DnsEntry::State::kFailed && fresh) {
      ++stats_.dns_cache_hits;
      return HttpError::kDns;
    }
    if (d->state == DnsEntry::State::kResolving) {
      ++stats_.dns_cache_hits;
    } else {
      d = nullptr;  // stale: looked up again
    }
  }
  if (d == nullptr) {
    d = dnsSlot(dns_key, now);
    if (d == nullptr) return HttpError::kDns;  // the table is full of lookups under way
    if (!startLookup(dns_key)) {
      dns_.erase(dns_key);
      return HttpError::kDns;
    }
  }
  t->dns_key = dns_key;
  t->dns_deadline_ms = now + std::max(std::min(t->timeouts.connect_ms, t->timeouts.total_ms), 1u);
  d->waiters.push_back(t);
  waiting_.insert(t);
  armDnsTimer();
  return HttpError::kNone;
}

// The entry for `dns_key`, reset to kResolving; room is made by dropping
// expired answers first, then the one that expires first (never a lookup
// under way).
// nullptr: every entry is a lookup under way.
HttpClient::DnsEntry* HttpClient::dnsSlot(const std::string& dns_key, uint64_t now) {
  if (dns_.size() >= options_.dns_cache_entries && dns_.find(dns_key) == dns_.end()) {
    for (auto it = dns_.begin(); it != dns_.end();) {
      const bool drop = it->second.state != DnsEntry::State::kResolving && it->second.expires_ms <= now;
      it = drop ? dns_.erase(it) : std::next(it);
    }
    while (dns_.size() >= options_.dns_cache_entries) {
      auto oldest = dns_.end();  // the answer that would expire first
      for (auto it = dns_.begin(); it != dns_.end(); ++it) {
        if (it->second.state == DnsEntry::State::kResolving) continue;
        const auto& e = it->second;
        if (oldest == dns_.end() || e.expires_ms < oldest->second.expires_ms ||
            (e.expires_ms == oldest->second.expires_ms && e.seq < oldest->second.seq)) {
          oldest = it;
        }
      }
      if (oldest == dns_.end()) return nullptr;
      dns_.erase(oldest);
    }
  }
  DnsEntry& d = dns_[dns_key];
  d = DnsEntry{};
  d.seq = ++dns_seq_;
  return &d;
}

bool HttpClient::startLookup(const std::string& dns_key) {
  const size_t colon = dns_key.rfind(':');
  const std::string host = dns_key.substr(0, colon);
  const std::string port = dns_key.substr(colon + 1);
  auto* l = new Lookup;
  l->client = this;
  l->key = dns_key;
  l->req.data = l;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  if (uv_getaddrinfo(loop_, &l->req, onResolved, host.c_str(), port.c_str(), &hints) != 0) {
    delete l;
    return false;
  }
  ++stats_.dns_lookups;
  lookups_.insert(l);
  return true;
}

void HttpClient::onResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* l = static_cast<Lookup*>(req->data);
  if (HttpClient* c = l->client; c != nullptr) {
    c->lookups_.erase(l);
    c->resolved(l->key, status, res);
  }
  uv_freeaddrinfo(res);
  delete l;
}

// No callback runs from here: a failure is delivered like a refusal, on the
// next loop turn, so nothing here can be destroyed under our feet.
void HttpClient::resolved(const std::string& dns_key, int status, addrinfo* res) {
  auto it = dns_.find(dns_key);
  if (it == dns_.end() || it->second.state != DnsEntry::State::kResolving) return;
  DnsEntry& d = it->second;
  const uint64_t now = uv_now(loop_);
  const std::string addresses = status == 0 ? formatAddresses(res) : std::string();
  if (addresses.empty()) {
    ++stats_.dns_failures;
    d.state = DnsEntry::State::kFailed;
    d.expires_ms = now + options_.dns_failure_ttl_ms;
  } else {
    d.state = DnsEntry::State::kReady;
    d.pin = dns_key + ":" + addresses;
    d.expires_ms = now + options_.dns_ttl_ms;
  }
  const std::vector<Transfer*> waiters = std::move(d.waiters);
  d.waiters.clear();
  for (Transfer* t : waiters) {
    waiting_.erase(t);
    t->dns_key.clear();
    HttpError e = HttpError::kDns;
    if (d.state == DnsEntry::State::kReady) {
      t->resolve = curl_slist_append(nullptr, d.pin.c_str());
      e = t->resolve == nullptr ? HttpError::kOther : startCurl(t);
    }
    if (e != HttpError::kNone) {
      refuse(t, e, e == HttpError::kDns ? CURLE_COULDNT_RESOLVE_HOST : CURLE_OK);
    }
  }
  armDnsTimer();
}

void HttpClient::onDnsTimer(uv_timer_t* t) { static_cast<HttpClient*>(t->data)->expireWaiters(); }

// Requests whose connect timeout ran out while their lookup is still under
// way: kDns (the lookup goes on, and its answer is cached for the next ones).
bool HttpClient::expireWaiters() {
  const uint64_t now = uv_now(loop_);
  std::vector<Transfer*> expired;
  for (Transfer* t : waiting_) {
    if (t->dns_deadline_ms <= now) expired.push_back(t);
  }
  for (Transfer* t : expired) {
    waiting_.erase(t);
    if (auto it = dns_.find(t->dns_key); it != dns_.end()) {
      auto& w = it->second.waiters;
      w.erase(std::remove(w.begin(), w.end(), t), w.end());
    }
    t->dns_key.clear();
    refuse(t, HttpError::kDns, CURLE_OPERATION_TIMEDOUT);
  }
  armDnsTimer();
  return true;
}

void HttpClient::armDnsTimer() {
  if (waiting_.empty()) {
    uv_timer_stop(&timers_->dns);
    return;
  }
  uint64_t earliest = UINT64_MAX;
  for (const Transfer* t : waiting_) earliest = std::min(earliest, t->dns_deadline_ms);
  const uint64_t now = uv_now(loop_);
  uv_timer_start(&timers_->dns, onDnsTimer, earliest > now ? earliest - now : 0, 0);
}

HttpError HttpClient::startCurl(Transfer* t) {
  t->easy = curl_easy_init();
  if (t->easy == nullptr || !configure(t)) return HttpError::kOther;
  if (curl_multi_add_handle(multi_, t->easy) != CURLM_OK) {
    ++stats_.multi_errors;
    return HttpError::kOther;
  }
  transfers_.insert(t);  // curl's timer callback (armed by add_handle) drives it
  return HttpError::kNone;
}

// Queued for the next loop turn (done never runs inside send()).
void HttpClient::refuse(Transfer* t, HttpError e, CURLcode code) {
  if (t->easy != nullptr) {
    curl_easy_cleanup(t->easy);  // never added to the multi handle
    t->easy = nullptr;
  }
  t->refusal = e;
  t->refusal_code = code;
  refused_.push_back(t);
  uv_timer_start(&timers_->refused, onRefusedTimer, 0, 0);
}

bool HttpClient::configure(Transfer* t) {
  CURL* e = t->easy;
  // The time a lookup took comes off both timeouts.
  const uint64_t spent = uv_now(loop_) - t->start_ms;
  const auto left = [spent](uint32_t ms) {
    return static_cast<long>(std::max<uint64_t>(ms > spent ? ms - spent : 0, 1));
  };
  const char* protocols = t->mail                      ? "smtp,smtps"
                          : options_.allow_plain_http ? "http,https"
                                                      : "https";
  bool ok = curl_easy_setopt(e, CURLOPT_CURLU, t->url) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&  // 2: the checking value
            curl_easy_setopt(e, CURLOPT_NOPROXY, "") == CURLE_OK;  // ignores no_proxy from the environment
  if (ok && !options_.ca_file.empty()) {
    ok = curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str()) == CURLE_OK;
  }
  if (ok && t->resolve != nullptr) ok = curl_easy_setopt(e, CURLOPT_RESOLVE, t->resolve) == CURLE_OK;
  if (ok && !proxy_url_.empty()) {
    ok = curl_easy_setopt(e, CURLOPT_PROXY, proxy_url_.c_str()) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_PROXYTYPE, static_cast<long>(CURLPROXY_HTTP)) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, t->https || t->mail ? 1L : 0L) == CURLE_OK;
  } else if (ok) {
    ok = curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;  // ignores http(s)_proxy from the environment
  }
  if (ok && t->mail) {
    ok = configureMail(t);
  } else if (ok) {
    ok = configureMethod(t);
  }
  if (!ok) return false;
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: the worker owns signals
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left(t->timeouts.connect_ms));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left(t->timeouts.total_ms));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, onCurlWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, onCurlCloseSocket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
  if (options_.address_policy.allow != nullptr) {
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, onCurlOpenSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
  }
  if (t->mail) return true;
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  // A declared Content-Length above the cap fails before any body is read.
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(t->cap));
  if (t->path_as_is) curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  if (t->capture_headers) {
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, onCurlHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  }
  return true;
}

// GET and HEAD without a body; POST, PUT, PATCH and DELETE send theirs from
// the transfer's copy (POSTFIELDS, with the method's name for the last
// three). A DELETE without one is a bodyless request of that name.
bool HttpClient::configureMethod(Transfer* t) {
  CURL* e = t->easy;
  const auto fields = [&] {
    return curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data()) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                            static_cast<curl_off_t>(t->body.size())) == CURLE_OK;
  };
  switch (t->method) {
    case HttpMethod::kGet: return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    case HttpMethod::kHead: return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK;
    case HttpMethod::kPost: return curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK && fields();
    case HttpMethod::kPut:
      return fields() && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT") == CURLE_OK;
    case HttpMethod::kPatch:
      return fields() && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH") == CURLE_OK;
    case HttpMethod::kDelete:
      if (t->body.empty()) {
        return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE") == CURLE_OK;
      }
      return fields() && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE") == CURLE_OK;
  }
  return false;
}

// One header line of a response, CRLF included. A status line starts a new
// block (an interim 1xx, a proxy's CONNECT answer and the final response
// each have one): only the last block is kept. Bounded in bytes and fields.
// curl passes a chunked body's trailer fields here too, after the block's
// blank line: they are not headers (a sender could otherwise add fields
// after the body), so nothing after that line is kept until a new block.
size_t HttpClient::onCurlHeader(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  const size_t bytes = size * n;
  const std::string_view line(data, bytes);
  if (line.starts_with("HTTP/")) {
    t->header_block.clear();
    t->header_count = 0;
    t->header_ended = false;
    return bytes;
  }
  if (line == "\r\n" || line == "\n") {
    t->header_ended = true;
    return bytes;
  }
  if (t->header_ended) return bytes;  // a trailer
  if (bytes > kMaxCapturedHeaderBytes - t->header_block.size() ||
      t->header_count >= kMaxCapturedHeaders) {
    t->too_large = true;
    return 0;  // curl aborts the transfer
  }
  t->header_block.append(line);
  ++t->header_count;
  return bytes;
}

// The captured block as fields. A line without a colon or starting with a
// blank (obs-fold) is dropped: what it would continue is not passed on.
void HttpClient::parseHeaders(Transfer* t) {
  t->header_fields.clear();
  std::string_view rest = t->header_block;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t colon = line.find(':');
    if (line.empty() || line.front() == ' ' || line.front() == '\t' || colon == 0 ||
        colon == std::string_view::npos) {
      continue;
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    t->header_fields.push_back(HttpHeader{line.substr(0, colon), value});
  }
}

// The message is uploaded from the caller's bytes (curl dot-stuffs them and
// adds the final "."); curl copies the strings it is given.
bool HttpClient::configureMail(Transfer* t) {
  CURL* e = t->easy;
  const long use_ssl = t->require_tls ? static_cast<long>(CURLUSESSL_ALL)
                                      : static_cast<long>(CURLUSESSL_NONE);
  bool ok = curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_READFUNCTION, onCurlRead) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_READDATA, t) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, onCurlSeek) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_SEEKDATA, t) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                             static_cast<curl_off_t>(t->message.size())) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->rcpt) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl) == CURLE_OK;
  // None: curl sends "MAIL FROM:<>".
  if (ok && !t->mail_from.empty()) {
    ok = curl_easy_setopt(e, CURLOPT_MAIL_FROM, t->mail_from.c_str()) == CURLE_OK;
  }
  if (ok && !t->username.empty()) {
    ok = curl_easy_setopt(e, CURLOPT_USERNAME, t->username.c_str()) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_PASSWORD, t->password.c_str()) == CURLE_OK;
  }
  return ok;
}

size_t HttpClient::onCurlRead(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  const size_t k = std::min(size * n, t->message.size() - t->sent);
  if (k > 0) memcpy(data, t->message.data() + t->sent, k);
  t->sent += k;
  return k;  // 0 at the end
}

// curl rewinds when it sends the message again (on a new connection).
int HttpClient::onCurlSeek(void* userp, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(userp);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->message.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
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

// The address policy, at the last moment before connect(): what is checked
// is the sockaddr curl connects to (one of the pinned addresses, or the
// literal). A refused one gets no socket at all.
curl_socket_t HttpClient::onCurlOpenSocket(void* clientp, curlsocktype purpose, curl_sockaddr* addr) {
  auto* t = static_cast<Transfer*>(clientp);
  const AddressPolicy& p = t->client->options_.address_policy;
  uint8_t bytes[16] = {};
  bool known = false;
  if (addr->family == AF_INET && addr->addrlen >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr->addr);
    bytes[10] = bytes[11] = 0xff;
    memcpy(bytes + 12, &in->sin_addr, 4);
    known = true;
  } else if (addr->family == AF_INET6 && addr->addrlen >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr->addr);
    memcpy(bytes, &in6->sin6_addr, 16);
    known = true;
  }
  if (purpose != CURLSOCKTYPE_IPCXN || !known || !p.allow(p.ctx, bytes)) {
    t->address_refused = true;
    ++t->client->stats_.address_refusals;
    return CURL_SOCKET_BAD;
  }
  t->address_allowed = true;
  return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
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
  if (curl_multi_socket_action(multi_, s, flags, &running) != CURLM_OK) ++stats_.multi_errors;
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
  if (t->mail && r.error != HttpError::kNone && mailRejection(code)) {
    long reply = 0;  // a reply of 4xx / 5xx ended it: an answer, not a transport error
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &reply);
    if (reply >= 400 && reply < 600) r.error = HttpError::kNone;
  }
  if (r.error == HttpError::kNone) {
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r.status);
    r.body = t->response;
    if (t->capture_headers) {
      parseHeaders(t);
      r.headers = t->header_fields;
    }
  } else if (r.error == HttpError::kTooLarge) {
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r.status);  // the head arrived
  }
  curl_multi_remove_handle(multi_, t->easy);
  transfers_.erase(t);
  t->done(t->ctx, r);
  delete t;
}

HttpError HttpClient::classify(CURLcode code, const Transfer& t) const {
  if (t.too_large) return HttpError::kTooLarge;  // curl says CURLE_WRITE_ERROR
  // No address was allowed (one that was allowed and refused the
  // connection is kConnect, as without a policy).
  if (t.address_refused && !t.address_allowed && code == CURLE_COULDNT_CONNECT) return HttpError::kRefused;
  if (code != CURLE_OK && !proxy_url_.empty()) {
    long connect_code = 0;  // the proxy's answer to CONNECT; not 2xx: no tunnel
    curl_easy_getinfo(t.easy, CURLINFO_HTTP_CONNECTCODE, &connect_code);
    if (connect_code >= 300) return HttpError::kConnect;
  }
  switch (code) {
    case CURLE_OK: return HttpError::kNone;
    case CURLE_FILESIZE_EXCEEDED: return HttpError::kTooLarge;
    case CURLE_OPERATION_TIMEDOUT: return HttpError::kTimeout;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return HttpError::kDns;  // curl never resolves: not expected
    case CURLE_COULDNT_CONNECT:
    case CURLE_PROXY: return HttpError::kConnect;
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
    t->done(t->ctx, HttpResult{.error = t->refusal, .curl_code = t->refusal_code});
    delete t;
    if (destroyed) return false;
  }
  destroyed_ = nullptr;
  if (!refused_.empty()) uv_timer_start(&timers_->refused, onRefusedTimer, 0, 0);
  return true;
}

}  // namespace phigate::net
