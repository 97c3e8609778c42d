#include "upstream/token_source.h"

#include <simdjson.h>
#include <sodium.h>

#include <algorithm>

#include "common/buffer.h"
#include "common/event_line.h"
#include "common/json_text.h"

namespace phigate::upstream {

namespace {

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

// application/x-www-form-urlencoded: unreserved characters as they are.
void appendFormValue(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= '0' && u <= '9') || (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
}

// A bearer token goes into a header line: printable ASCII without blanks.
bool tokenTextOk(std::string_view t) {
  if (t.empty() || t.size() > 8192) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

}  // namespace

uint64_t refreshAtMs(uint64_t now_ms, uint32_t lifetime_s) {
  const uint64_t life_ms = uint64_t{std::clamp<uint32_t>(lifetime_s, 1, kMaxTokenLifetimeS)} * 1000;
  return now_ms + life_ms - std::min<uint64_t>(60'000, life_ms / 10);
}

bool parseTokenResponse(std::string_view body, std::string* token, uint32_t* lifetime_s) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string padded(body);
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS || !doc.is_object()) return false;
  std::string_view value;
  if (doc["access_token"].get(value) != simdjson::SUCCESS &&
      doc["accessToken"].get(value) != simdjson::SUCCESS) {
    return false;
  }
  if (!tokenTextOk(value)) return false;
  token->assign(value);
  *lifetime_s = kDefaultTokenLifetimeS;
  for (const char* name : {"expires_in", "expiresIn"}) {
    simdjson::dom::element e;
    if (doc[name].get(e) != simdjson::SUCCESS) continue;
    uint64_t n = 0;
    double d = 0;
    if (e.get(n) == simdjson::SUCCESS) {
      *lifetime_s = static_cast<uint32_t>(std::clamp<uint64_t>(n, 1, kMaxTokenLifetimeS));
    } else if (e.get(d) == simdjson::SUCCESS && d >= 1) {
      *lifetime_s = static_cast<uint32_t>(std::min<double>(d, kMaxTokenLifetimeS));
    }
    break;
  }
  return true;
}

TokenSource::TokenSource(uv_loop_t* loop, net::HttpClient* http, TokenOptions options)
    : loop_(loop), http_(http), options_(std::move(options)) {
  if (!oauth()) return;
  if (options_.style == TokenRequestStyle::kForm) {
    request_body_ = "grant_type=client_credentials&client_id=";
    appendFormValue(request_body_, options_.client_id);
    request_body_ += "&client_secret=";
    appendFormValue(request_body_, options_.client_secret);
  } else {
    Buffer b;
    b.append("{\"clientId\":");
    appendJsonString(b, options_.client_id);
    b.append(",\"clientSecret\":");
    appendJsonString(b, options_.client_secret);
    b.append('}');
    request_body_.assign(b.view());
    sodium_memzero(b.data(), b.size());
  }
  wipe(options_.client_secret);
}

// Waiters are told (not ok) so their requests finish; the fetch in flight
// belongs to the HttpClient, which the owner destroys after this (its
// callback then runs with kCancelled and finds `this` gone: see onFetched).
TokenSource::~TokenSource() {
  if (destroyed_ != nullptr) *destroyed_ = true;
  std::vector<Waiter> waiters = std::move(waiters_);
  for (const Waiter& w : waiters) w.ready(w.ctx, false, {});
  wipe(request_body_);
  wipe(token_);
  wipe(options_.static_token);
}

void TokenSource::get(Ready ready, void* ctx) {
  if (!oauth()) return ready(ctx, true, options_.static_token);
  const uint64_t now = uv_now(loop_);
  if (!token_.empty() && now < refresh_at_ms_) return ready(ctx, true, token_);
  if (!fetching_ && now < failed_until_ms_) return ready(ctx, false, {});
  waiters_.push_back(Waiter{ready, ctx});
  if (!fetching_) startFetch();
}

bool TokenSource::invalidate(std::string_view token) {
  if (!oauth() || token.empty()) return false;
  if (token != token_) return true;  // replaced already (or being replaced): use the newer one
  const uint64_t now = uv_now(loop_);
  if (dropped_ && now - dropped_at_ms_ < kRefusedRefreshIntervalMs) return false;
  dropped_ = true;
  dropped_at_ms_ = now;
  wipe(token_);
  refresh_at_ms_ = 0;
  return true;
}

void TokenSource::startFetch() {
  fetching_ = true;
  ++fetches_;
  const std::string_view form[] = {"Content-Type: application/x-www-form-urlencoded",
                                   "Accept: application/json"};
  const std::string_view json[] = {"Content-Type: application/json", "Accept: application/json"};
  const std::span<const std::string_view> headers =
      options_.style == TokenRequestStyle::kForm ? std::span<const std::string_view>(form)
                                                 : std::span<const std::string_view>(json);
  http_->send(net::HttpRequestSpec{.method = net::HttpMethod::kPost,
                                   .url = options_.token_url,
                                   .headers = headers,
                                   .body = request_body_,
                                   .timeouts = options_.timeouts,
                                   .max_response_bytes = kMaxTokenResponseBytes},
              onFetched, this);
}

// The client outlives the source only while it cancels (its destructor):
// the source is gone by then, so a cancellation touches nothing.
void TokenSource::onFetched(void* self, const net::HttpResult& r) {
  if (r.error == net::HttpError::kCancelled) return;
  static_cast<TokenSource*>(self)->fetched(r);
}

void TokenSource::fetched(const net::HttpResult& r) {
  fetching_ = false;
  std::string token;
  uint32_t lifetime_s = 0;
  const bool ok = r.error == net::HttpError::kNone && r.status >= 200 && r.status < 300 &&
                  parseTokenResponse(r.body, &token, &lifetime_s);
  const uint64_t now = uv_now(loop_);
  if (ok) {
    wipe(token_);
    token_ = std::move(token);
    refresh_at_ms_ = refreshAtMs(now, lifetime_s);
    EventLine("ehospital_token").str("result", "fetched").num("lifetime_s", lifetime_s).emit();
  } else {
    wipe(token);
    failed_until_ms_ = now + kFailureHoldOffMs;
    EventLine("ehospital_token")
        .str("result", "failed")
        .str("error", net::httpErrorName(r.error))
        .num("status", r.status)
        .emit();
  }
  finishWaiters(ok);
}

// Each waiter may start a request (or be told to stop); one that needs a
// token again after this (a 401 retry) queues for the next fetch.
void TokenSource::finishWaiters(bool ok) {
  std::vector<Waiter> waiters = std::move(waiters_);
  waiters_.clear();
  bool destroyed = false;
  destroyed_ = &destroyed;
  std::string token = ok ? token_ : std::string();  // a waiter's 401 may drop token_
  for (const Waiter& w : waiters) {
    w.ready(w.ctx, ok, token);
    if (destroyed) break;
  }
  wipe(token);
  if (!destroyed) destroyed_ = nullptr;
}

}  // namespace phigate::upstream
