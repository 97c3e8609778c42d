// The eHospital (NIC) / ABDM pass-through's upstream side, one per worker on
// its loop: the allow-list, the credential (token_source.h), a concurrency
// cap and a circuit breaker (delivery/provider_gate.h, the one the SMS
// providers use, in its priority lane only), and its own HttpClient.
//
// What goes up: the method, base URL + the checked path + the query as
// sent; the request body; the request headers named in
// kForwardedRequestHeaders (each value printable ASCII, at most
// kMaxForwardedValue bytes; others are dropped, not refused); phigate's
// X-Request-Id; and phigate's own Authorization. Nothing else of the client's
// request: not its Authorization, cookies, hop-by-hop or Proxy-* headers,
// X-Forwarded-*, nor any other header.
//
// What comes back: the status (2xx-4xx; a 401 becomes a failure, since it
// refuses phigate's credential, not the client's), the body, a Content-Type
// and the headers named in kReturnedResponseHeaders, each validated. Every
// failure is a ProxyFailure that never carries upstream bytes.
//
// Bodies are buffered, not streamed, and bounded: the request body is the
// one the connection already holds (capped by EHOSPITAL_MAX_REQUEST_BYTES),
// the response is collected up to EHOSPITAL_MAX_RESPONSE_BYTES (above it the
// transfer is aborted), and at most EHOSPITAL_CONCURRENCY calls are in
// flight per worker (docs/EHOSPITAL.md works out the memory bound), of
// which one key may hold at most perKeyCap() (half, at least one), so one
// client cannot take every slot.
//
// The circuit hears: a connection, TLS, timeout, malformed or 5xx failure,
// and a final 401 (the upstream refuses phigate's credential), as failures;
// an answer (2xx-4xx) as a success; a too-large answer and a cancelled call
// as neither (the upstream is up; a client asking for too much must not open
// the circuit for everyone).
//
// A call whose client went away keeps its slot until the upstream answers
// or EHOSPITAL_TIMEOUT_MS ends it (the HttpClient cannot cancel one
// transfer); one that has not been sent yet (waiting for a token) is
// dropped.
//
// Nothing is logged here: paths, queries, headers and bodies are PHI or
// credentials. The token source logs its fetches' outcomes (no values).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"
#include "delivery/provider_gate.h"
#include "net/http_client.h"
#include "net/http_request.h"
#include "net/response.h"
#include "upstream/path_allowlist.h"
#include "upstream/token_source.h"

namespace phigate::upstream {

/** Request headers forwarded upstream (matched case-insensitively). */
inline constexpr std::string_view kForwardedRequestHeaders[] = {
    "Accept",           "Accept-Language",   "Content-Type", "If-Match",
    "If-None-Match",    "If-Modified-Since", "If-Unmodified-Since",
    "X-CM-ID",          "X-HIP-ID",          "X-HIU-ID",     "REQUEST-ID",
    "TIMESTAMP"};
/** Response headers passed back (Content-Type separately). */
inline constexpr std::string_view kReturnedResponseHeaders[] = {
    "ETag", "Last-Modified", "Content-Language", "Content-Disposition", "Retry-After"};
inline constexpr size_t kMaxForwardedValue = 1024;
inline constexpr size_t kMaxForwardedHeaders = 16;
inline constexpr size_t kMaxReturnedHeaders = 8;

/** Everything a worker needs, built from the configuration before the fork. */
struct EhospitalSetup {
  bool configured = false;
  std::string base_url;  // no trailing '/'
  PathAllowList allow;
  TokenOptions token;
  net::HttpClientOptions http;
  net::HttpTimeouts timeouts;
  size_t max_request_bytes = 0;
  size_t max_response_bytes = 0;
  delivery::GateOptions gate;
};

/** From a validated configuration (config.cpp checked it); false with `error` (names only). */
bool makeEhospitalSetup(const config::Config& cfg, EhospitalSetup* out, std::string* error);

/** How a forwarded request ended, when it did not end with an upstream answer. */
enum class ProxyFailure : uint8_t {
  kNone,           // the upstream answered: status, headers, body
  kBusy,           // EHOSPITAL_CONCURRENCY calls in flight already: not sent
  kKeyBusy,        // this key has perKeyCap() calls in flight already: not sent
  kCircuitOpen,    // the circuit is open: not sent (retry_after_s)
  kNoCredential,   // the token endpoint failed: not sent
  kUpstreamAuth,   // the upstream refused phigate's credential (401, after one refresh)
  kConnect,        // no connection (refused, unreachable, no such name)
  kTimeout,        // connect or total timeout
  kTls,            // handshake or verification failed
  kTooLarge,       // the response exceeded EHOSPITAL_MAX_RESPONSE_BYTES
  kMalformed,      // not HTTP, cut off, or a status outside 200-599
  kUpstreamError,  // the upstream answered 5xx (status says which)
  kCancelled,      // the client went away, or the worker is stopping
};

const char* proxyFailureName(ProxyFailure f);

struct ProxyOutcome {
  ProxyFailure failure = ProxyFailure::kNone;
  int status = 0;                             // kNone, kUpstreamError: the upstream's
  std::string_view content_type;              // validated; empty: none given
  std::span<const net::HeaderField> headers;  // kReturnedResponseHeaders that passed
  std::string_view body;
  uint32_t retry_after_s = 0;                 // kCircuitOpen
};

/** One request to forward; views must live until `done`, or until `*gone` is set. */
struct ProxyRequest {
  net::Method method = net::Method::kGet;
  std::string_view path;   // "/...", requestPathOk() and allowed
  std::string_view query;  // without '?'; empty: none
  std::span<const net::Header> headers;
  std::string_view body;
  std::string_view request_id;
  std::string_view key_id;     // the caller's key (the per-key cap); empty: not counted
  const bool* gone = nullptr;  // becomes true when the views die (the client left)
};

class EhospitalProxy {
 public:
  /** `done` runs exactly once; the outcome's views are valid during the call only. */
  using Done = void (*)(void* ctx, const ProxyOutcome& outcome);

  EhospitalProxy(uv_loop_t* loop, const EhospitalSetup& setup);
  /** Calls in flight end with kCancelled (from here). The loop must run afterwards. */
  ~EhospitalProxy();
  EhospitalProxy(const EhospitalProxy&) = delete;
  EhospitalProxy& operator=(const EhospitalProxy&) = delete;

  bool allows(net::Method method, std::string_view path) const {
    return setup_.allow.allows(method, path);
  }

  size_t maxRequestBytes() const { return setup_.max_request_bytes; }
  /** Calls one key may have in flight: half of EHOSPITAL_CONCURRENCY, at least 1. */
  uint32_t perKeyCap() const { return per_key_cap_; }

  /** Forwards `req`; `done` may run before this returns (kBusy, kCircuitOpen). */
  void forward(const ProxyRequest& req, Done done, void* ctx);

  const TokenSource& tokens() const { return *tokens_; }
  uint32_t inFlight() const { return gate_.inFlight(); }
  uint32_t inFlight(std::string_view key_id) const {
    const auto it = per_key_.find(key_id);
    return it == per_key_.end() ? 0 : it->second;
  }

 private:
  struct Op;
  static void onToken(void* op, bool ok, std::string_view token);
  static void onResult(void* op, const net::HttpResult& r);
  void send(Op* op, std::string_view token);
  void result(Op* op, const net::HttpResult& r);
  void finish(Op* op, const ProxyOutcome& outcome, bool healthy);

  uv_loop_t* loop_;
  const EhospitalSetup& setup_;
  std::unique_ptr<net::HttpClient> http_;
  std::unique_ptr<TokenSource> tokens_;
  delivery::ProviderGate gate_;
  uint32_t per_key_cap_ = 1;
  std::map<std::string, uint32_t, std::less<>> per_key_;  // key id -> calls in flight (> 0)
  bool closing_ = false;
};

}  // namespace phigate::upstream
