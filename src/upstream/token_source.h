// The credential phigate adds to every eHospital / ABDM request. Either a
// static bearer (EHOSPITAL_TOKEN), or a session token from the OAuth2
// client-credentials flow (EHOSPITAL_CLIENT_ID, EHOSPITAL_CLIENT_SECRET,
// EHOSPITAL_TOKEN_URL), fetched on the worker's loop through the same
// HttpClient:
//
//  - fetched on first use, cached until shortly before its `expires_in`
//    (refreshAtMs), then fetched again on the next use;
//  - one fetch at a time: callers that need a token while one is being
//    fetched wait for that one (no stampede); the waiter list is bounded by
//    the proxy's concurrency cap, since every waiter holds a slot of it;
//  - a fetch that fails fails every waiter at once, and for a short hold-off
//    (kFailureHoldOffMs) new callers fail without a fetch, so a broken token
//    endpoint is not hammered by every request;
//  - invalidate(): the upstream refused a token (401): it is dropped, unless
//    a newer one has replaced it already, so concurrent 401s cause one fetch;
//    and at most one token is dropped per kRefusedRefreshIntervalMs: when the
//    upstream refuses every token (a wrong or disabled client), a refusal
//    within that time of the last drop is answered without a fetch (the
//    token just fetched was refused too), so requests do not each refetch.
//
// Request styles: `form` is RFC 6749 section 4.4 (application/x-www-form-
// urlencoded grant_type=client_credentials, client_id, client_secret in the
// body); `json` is the ABDM gateway's sessions API ({"clientId", "clientSecret"}).
// The answer's `access_token` or `accessToken`, and `expires_in` or
// `expiresIn` (seconds) are read from a JSON object.
//
// Nothing here is logged except the outcome of a fetch (an event name, a
// status number): never the secret, the token or the token endpoint's body.
// Held secrets and tokens are wiped when replaced and on destruction.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_client.h"

namespace phigate::upstream {

enum class TokenRequestStyle : uint8_t { kForm, kJson };

struct TokenOptions {
  std::string static_token;   // non-empty: this bearer, no OAuth
  std::string token_url;      // OAuth: the token endpoint
  std::string client_id;
  std::string client_secret;
  TokenRequestStyle style = TokenRequestStyle::kForm;
  net::HttpTimeouts timeouts{5'000, 10'000};
};

/** A token's lifetime when the answer has no expires_in, and the longest one believed. */
inline constexpr uint32_t kDefaultTokenLifetimeS = 300;
inline constexpr uint32_t kMaxTokenLifetimeS = 86'400;
/** After a failed fetch, callers fail at once for this long. */
inline constexpr uint64_t kFailureHoldOffMs = 1'000;
/** After a refused token was dropped, refusals of its successor within this are final. */
inline constexpr uint64_t kRefusedRefreshIntervalMs = 30'000;
/** The token endpoint's answer is refused above this. */
inline constexpr size_t kMaxTokenResponseBytes = 16 * 1024;

/**
 * When a token obtained at `now_ms` that lives `lifetime_s` is refreshed:
 * a tenth of its life (at most 60 s) before it ends.
 */
uint64_t refreshAtMs(uint64_t now_ms, uint32_t lifetime_s);

/** The token and lifetime of a token endpoint's JSON answer; false if it has no token. */
bool parseTokenResponse(std::string_view body, std::string* token, uint32_t* lifetime_s);

class TokenSource {
 public:
  /** `ok` false: no token (the endpoint failed); `token` valid during the call only. */
  using Ready = void (*)(void* ctx, bool ok, std::string_view token);

  TokenSource(uv_loop_t* loop, net::HttpClient* http, TokenOptions options);
  ~TokenSource();
  TokenSource(const TokenSource&) = delete;
  TokenSource& operator=(const TokenSource&) = delete;

  /** Whether tokens come from the OAuth flow (and can be refreshed). */
  bool oauth() const { return options_.static_token.empty(); }

  /**
   * A token for one request: `ready` runs now when one is fresh (or for a
   * static token), else once the fetch under way (or started now) ends.
   */
  void get(Ready ready, void* ctx);

  /**
   * The upstream refused `token` (401). True: a retry with get() may succeed
   * (the token was dropped now, or a newer one replaced it already). False:
   * do not retry (a static token; or a token was dropped less than
   * kRefusedRefreshIntervalMs ago, so the upstream refuses the credential,
   * not an old token).
   */
  bool invalidate(std::string_view token);

  /** Token requests sent so far (for tests and metrics). */
  uint64_t fetches() const { return fetches_; }

 private:
  struct Waiter {
    Ready ready;
    void* ctx;
  };
  static void onFetched(void* self, const net::HttpResult& r);
  void fetched(const net::HttpResult& r);
  void startFetch();
  void finishWaiters(bool ok);

  uv_loop_t* loop_;
  net::HttpClient* http_;
  TokenOptions options_;
  std::string request_body_;   // built once: holds the secret, wiped on destruction
  std::string token_;          // the cached one (empty: none)
  uint64_t refresh_at_ms_ = 0;
  uint64_t failed_until_ms_ = 0;
  uint64_t dropped_at_ms_ = 0;  // when invalidate() last dropped a token
  bool dropped_ = false;        // ... if ever
  bool fetching_ = false;
  bool* destroyed_ = nullptr;  // set by the destructor while waiters run
  std::vector<Waiter> waiters_;
  uint64_t fetches_ = 0;
};

}  // namespace phigate::upstream
