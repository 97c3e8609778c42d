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
//     called from inside curl (curl would answer CURLM_RECURSIVE_API_CALL;
//     stats().multi_errors counts any such answer).
//
// Names never resolve on the loop, and curl never resolves at all: the host
// curl connects to (the URL's, or the proxy's when there is one) is resolved
// with uv_getaddrinfo on libuv's threadpool, the answer cached per host:port
// for `dns_ttl_ms` (a bounded table; failures for `dns_failure_ttl_ms`), and
// handed to each transfer as CURLOPT_RESOLVE "host:port:addr,...", which
// fills curl's DNS cache before curl looks (for a proxy host too). Requests
// to a host whose lookup is under way wait for that one lookup (no
// stampede); a lookup that fails, or outlasts a waiting request's connect
// timeout, is kDns: the request was certainly not sent. IP literals skip all
// of it.
//
// Policy, the same for every request: GET, HEAD, POST, PUT, PATCH or
// DELETE (a body with POST, PUT, PATCH and DELETE only); TLS peer and host
// verification always on (an optional CA file); `http://` only when the
// options say development; http and https only; no redirects, no cookies, no
// content decoding; CURLOPT_NOSIGNAL. Proxies only from the options (an
// `http://host:port` proxy; https upstreams through it by CONNECT), never
// from the environment (http_proxy, no_proxy are ignored). An optional
// address policy (HttpClientOptions::address_policy, for status callbacks)
// vets each address right before curl opens a socket to it. HTTP/1.1 with
// keep-alive (connections cached per upstream by the multi handle), h2 over
// TLS when the server offers it (ALPN). curl retries a request once, on a
// new connection, when a reused connection turns out dead before any byte
// of the response: a POST can then reach an upstream twice, as with any
// keep-alive client.
//
// Mail (sendMail): SMTP through the same multi handle, sockets, timers and
// name resolution. smtp:// upgrades with STARTTLS and fails unless TLS is
// in place before anything but EHLO is sent (CURLUSESSL_ALL); smtps:// is
// TLS from the start; both verified as for https. AUTH when a username is
// given, with a mechanism the server offers (curl picks, PLAIN or LOGIN
// among them): a server offering no AUTH gets the mail unauthenticated
// (curl skips AUTH; such a server refuses it if it needs AUTH). curl
// dot-stuffs the message itself and ends it with CRLF "." CRLF (adding a
// CRLF first when the message does not end with one). Connections are
// cached and reused as for HTTP (same host, port and credentials); a
// transfer that ends in an error closes its connection. Through a proxy,
// SMTP goes by CONNECT. smtp and smtps are accepted by sendMail only, never
// by send().
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
#include <vector>

namespace phigate::net {

enum class HttpMethod : uint8_t { kGet, kPost, kPut, kPatch, kDelete, kHead };

/** One response header field (HttpRequestSpec::capture_headers); views valid during `done` only. */
struct HttpHeader {
  std::string_view name;   // as the upstream spelt it (HTTP/2: lower case)
  std::string_view value;  // trimmed of surrounding blanks
};

/** Why a request has no usable response. */
enum class HttpError : uint8_t {
  kNone,       // a response arrived: see `status` (any status, 4xx/5xx too)
  kRefused,    // refused before any connection: URL not allowed, bad header, GET/HEAD with a body
  kDns,        // the host (or the proxy's) did not resolve, or not within the connect timeout
  kConnect,    // no connection (refused, unreachable, connect failed, the proxy refused the tunnel)
  kTimeout,    // the connect or the total timeout ran out
  kTls,        // handshake or certificate verification failed
  kTooLarge,   // the response body (or its captured header block) exceeded the cap; aborted
  kCancelled,  // the client was destroyed with the request in flight
  kOther,      // anything else: reset, closed mid-response, malformed response
};

const char* httpErrorName(HttpError e);

struct HttpTimeouts {
  uint32_t connect_ms = 5'000;  // name lookup + TCP (+ proxy tunnel) + TLS
  uint32_t total_ms = 15'000;   // the whole exchange, lookup included
};

/** One request; every view needs to live only until send() returns (the client copies). */
struct HttpRequestSpec {
  HttpMethod method = HttpMethod::kPost;
  std::string_view url;
  std::span<const std::string_view> headers;  // each "Name: value", no CR/LF
  std::string_view body;                      // not with GET or HEAD (refused)
  HttpTimeouts timeouts;
  /** The response body cap for this request; 0: HttpClientOptions::max_response_bytes. */
  size_t max_response_bytes = 0;
  /**
   * Collect the final response's header fields into HttpResult::headers (at
   * most kMaxCapturedHeaderBytes and kMaxCapturedHeaders: beyond, kTooLarge).
   */
  bool capture_headers = false;
  /**
   * Send the URL's path exactly as given: curl otherwise squashes "/./"
   * and "/../" segments, so the path that was checked would not be the one
   * that is sent.
   */
  bool path_as_is = false;
};

/** Bounds of HttpRequestSpec::capture_headers (the final response's block). */
inline constexpr size_t kMaxCapturedHeaderBytes = 32 * 1024;
inline constexpr size_t kMaxCapturedHeaders = 64;

/**
 * One mail. Every view but `message` needs to live only until sendMail()
 * returns (the client copies them); `message` is read in place, as curl
 * uploads it, and must stay valid and unchanged until `done` runs (the
 * caller owns it: the client neither copies nor wipes it).
 */
struct MailSpec {
  std::string_view url;  // "smtp://host:port" (STARTTLS) or "smtps://host:port"; a path is the EHLO name
  std::string_view username;  // empty: no AUTH
  std::string_view password;  // copied, wiped when the transfer ends
  std::string_view mail_from;  // the envelope sender ("a@b" or "<a@b>"; empty: "<>")
  std::string_view rcpt_to;    // one envelope recipient
  std::string_view message;    // the full RFC 5322 message, CRLF lines, not dot-stuffed
  /**
   * smtp:// then requires STARTTLS (CURLUSESSL_ALL). false (plain SMTP,
   * credentials in the clear) only when HttpClientOptions::allow_plain_http
   * says development; otherwise refused.
   */
  bool require_tls = true;
  HttpTimeouts timeouts;
};

/**
 * For a mail, `status` is the last SMTP reply code (CURLINFO_RESPONSE_CODE)
 * and kNone means the server answered: 250 after the message is delivered
 * (accepted for delivery); a 4xx (try again later) or 5xx (permanent)
 * rejection at any step (greeting, AUTH, MAIL, RCPT, DATA, after the
 * message) is kNone with that code too. The error classes are those of
 * HTTP: no answer at all is kConnect / kTimeout / kTls / kDns / kOther.
 */
struct HttpResult {
  HttpError error = HttpError::kNone;
  long status = 0;        // the HTTP status (SMTP reply code) when a response arrived (with
                          // kTooLarge too: the head came, the body was cut off), else 0
  int curl_code = 0;      // CURLcode, for diagnostics (curl_easy_strerror: fixed text)
  std::string_view body;  // the response body; valid during the callback only
  std::span<const HttpHeader> headers;  // capture_headers only; valid during the callback only
};

/**
 * An address check (HttpClientOptions::address_policy): `allow(ctx, addr)`
 * runs for every address curl is about to open a connection to, after the
 * name was resolved and pinned (so the address checked is the address
 * connected to: no second lookup can answer differently), for IP literals
 * too. `addr` is 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d).
 * False: no socket is made for it (curl tries the next pinned address; when
 * none is allowed the request ends kRefused, never connected). With a
 * proxy it sees the proxy's address, so a client with a policy should have
 * none.
 */
struct AddressPolicy {
  bool (*allow)(const void* ctx, const uint8_t (&addr)[16]) = nullptr;
  const void* ctx = nullptr;
};

struct HttpClientOptions {
  /** Development only: allow `http://` upstreams. */
  bool allow_plain_http = false;
  /** PEM CA bundle for verifying upstreams; empty: the system store. */
  std::string ca_file;
  /**
   * Outbound proxy, "http://host:port" (an IP literal or a name, resolved
   * like an upstream; optional "user:password@"); empty: direct. An invalid
   * one refuses every request (check it first with validProxyUrl()).
   */
  std::string proxy;
  /** Response bodies above this are refused (kTooLarge). */
  size_t max_response_bytes = 64 * 1024;
  /** Open connections per upstream; 0: unlimited. Extra requests queue in curl. */
  long max_host_connections = 0;
  /** Open connections in all; 0: unlimited. Extra requests queue in curl. */
  long max_total_connections = 0;
  /** How long a resolved address is used before it is looked up again. */
  uint32_t dns_ttl_ms = 60'000;
  /** How long a failed lookup answers kDns at once before it is tried again. */
  uint32_t dns_failure_ttl_ms = 1'000;
  /** host:port entries kept (expired ones are dropped first when full). */
  size_t dns_cache_entries = 256;
  /** Optional: which addresses may be connected to (unset: any). */
  AddressPolicy address_policy;
};

/** Counters since construction (for metrics and tests). */
struct HttpClientStats {
  uint64_t dns_lookups = 0;     // uv_getaddrinfo calls started
  uint64_t dns_failures = 0;    // of those, answered with an error
  uint64_t dns_cache_hits = 0;  // requests that found a fresh answer (or joined a lookup)
  uint64_t multi_errors = 0;    // curl_multi_* calls that did not answer CURLM_OK
  uint64_t address_refusals = 0;  // connection attempts the address policy refused
};

class HttpClient {
 public:
  /** `ctx` is send()'s; `result` and its body are valid during the call only. */
  using DoneFn = void (*)(void* ctx, const HttpResult& result);

  HttpClient(uv_loop_t* loop, HttpClientOptions options);
  /**
   * Cancels what is in flight: each pending `done` runs exactly once, from
   * here, with kCancelled (so a heap `ctx` can be freed); it must not call
   * the client. Nothing runs after. The loop must run afterwards for the
   * client's handles (and a name lookup under way) to finish; they free
   * themselves.
   */
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /**
   * Sends one request. `done(ctx, result)` runs exactly once, always on a
   * later loop turn (never inside this call), even when the request is
   * refused at once. The client may be destroyed from inside `done`. Returns
   * false only while the client is being destroyed (from a cancellation
   * callback); `done` then never runs.
   */
  bool send(const HttpRequestSpec& request, DoneFn done, void* ctx);

  /** send() with kPost. */
  bool post(std::string_view url, std::span<const std::string_view> headers,
            std::string_view body, HttpTimeouts timeouts, DoneFn done, void* ctx) {
    return send(HttpRequestSpec{.method = HttpMethod::kPost, .url = url, .headers = headers,
                                .body = body, .timeouts = timeouts},
                done, ctx);
  }

  /**
   * Sends one mail (see MailSpec and HttpResult), with send()'s contract
   * for `done` and the return value. Refused (kRefused): a URL that is not
   * smtp:// or smtps://, an empty recipient, a CR, LF or NUL in the sender
   * or recipient, plain SMTP outside development.
   */
  bool sendMail(const MailSpec& mail, DoneFn done, void* ctx);

  /** Whether `proxy` is acceptable as HttpClientOptions::proxy ("http://host:port"). */
  static bool validProxyUrl(std::string_view proxy);

  /** Requests not yet completed (including refused ones awaiting their callback). */
  size_t inFlight() const { return transfers_.size() + waiting_.size() + refused_.size(); }

  const HttpClientStats& stats() const { return stats_; }

 private:
  struct Transfer;
  class SocketWatch;
  struct Timers;
  struct Lookup;
  struct DnsEntry {
    enum class State : uint8_t { kResolving, kReady, kFailed };
    State state = State::kResolving;
    std::string pin;       // "host:port:addr,addr" (kReady)
    uint64_t expires_ms = 0;
    uint64_t seq = 0;                // creation order: the older of two that expire together goes
    std::vector<Transfer*> waiters;  // kResolving
  };

  static int onCurlSocket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static int onCurlTimer(CURLM* multi, long timeout_ms, void* userp);
  static int onCurlCloseSocket(void* clientp, curl_socket_t s);
  static curl_socket_t onCurlOpenSocket(void* clientp, curlsocktype purpose, curl_sockaddr* addr);
  static size_t onCurlWrite(char* data, size_t size, size_t n, void* userp);
  static size_t onCurlHeader(char* data, size_t size, size_t n, void* userp);
  static size_t onCurlRead(char* data, size_t size, size_t n, void* userp);
  static int onCurlSeek(void* userp, curl_off_t offset, int origin);
  static void onTimer(uv_timer_t* t);
  static void onRefusedTimer(uv_timer_t* t);
  static void onDnsTimer(uv_timer_t* t);
  static void onResolved(uv_getaddrinfo_t* req, int status, addrinfo* res);

  HttpError admitUrl(std::string_view url, Transfer* t, std::string* host_key) const;
  Transfer* newTransfer(DoneFn done, void* ctx, HttpTimeouts timeouts);
  void submit(Transfer* t, HttpError prepared, const std::string& dns_key);
  HttpError prepare(Transfer* t, const HttpRequestSpec& request, std::string* dns_key);
  HttpError prepareMail(Transfer* t, const MailSpec& mail, std::string* dns_key);
  bool configureMail(Transfer* t);
  HttpError resolveThenStart(Transfer* t, const std::string& dns_key);
  bool startLookup(const std::string& dns_key);
  void resolved(const std::string& dns_key, int status, addrinfo* res);
  HttpError startCurl(Transfer* t);
  bool configure(Transfer* t);
  bool configureMethod(Transfer* t);
  static void parseHeaders(Transfer* t);
  void refuse(Transfer* t, HttpError e, CURLcode code = CURLE_OK);
  void socketAction(curl_socket_t s, int flags);
  bool drainCompleted();
  void finish(Transfer* t, CURLcode code);
  bool deliverRefused();
  bool expireWaiters();
  void armDnsTimer();
  DnsEntry* dnsSlot(const std::string& dns_key, uint64_t now);
  void forget(curl_socket_t s);
  HttpError classify(CURLcode code, const Transfer& t) const;

  uv_loop_t* loop_;
  HttpClientOptions options_;
  bool proxy_ok_ = true;     // options_.proxy is empty or valid (else every request is refused)
  std::string proxy_url_;    // options_.proxy as curl's parser wrote it back, host lowercased
  std::string proxy_key_;    // the proxy's "host:port" when it is a name, else empty
  CURLM* multi_ = nullptr;
  Timers* timers_ = nullptr;  // heap: uv_close completes after the client is gone
  std::unordered_set<Transfer*> transfers_;   // in curl
  std::unordered_set<Transfer*> waiting_;     // waiting for a lookup
  std::unordered_map<curl_socket_t, SocketWatch*> sockets_;
  std::unordered_map<std::string, DnsEntry> dns_;  // "host:port" -> answer
  std::unordered_set<Lookup*> lookups_;            // under way (outlive the client)
  uint64_t dns_seq_ = 0;
  std::deque<Transfer*> refused_;  // delivered on the next loop turn
  HttpClientStats stats_;
  bool* destroyed_ = nullptr;       // set by the destructor while a callback runs
  bool closing_ = false;
};

}  // namespace phigate::net
