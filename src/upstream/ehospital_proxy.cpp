#include "upstream/ehospital_proxy.h"

#include <sodium.h>

#include <algorithm>
#include <vector>

#include "common/ascii.h"

namespace phigate::upstream {

namespace {

// Header names compare case-insensitively (ASCII).
bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLowerAscii(a[i]) != toLowerAscii(b[i])) return false;
  }
  return true;
}

// Printable ASCII and HTAB only: a header value goes into a header line of
// ours, upstream or back to the client.
bool valueOk(std::string_view v) {
  if (v.size() > kMaxForwardedValue) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return (c >= 0x20 && c < 0x7f) || c == '\t'; });
}

const std::string_view* namedIn(std::span<const std::string_view> names, std::string_view name) {
  for (const std::string_view& n : names) {
    if (equalsIgnoreCase(n, name)) return &n;
  }
  return nullptr;
}

net::HttpMethod httpMethod(net::Method m) {
  switch (m) {
    case net::Method::kHead: return net::HttpMethod::kHead;
    case net::Method::kPost: return net::HttpMethod::kPost;
    case net::Method::kPut: return net::HttpMethod::kPut;
    case net::Method::kPatch: return net::HttpMethod::kPatch;
    case net::Method::kDelete: return net::HttpMethod::kDelete;
    default: return net::HttpMethod::kGet;
  }
}

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

ProxyFailure failureOf(net::HttpError e) {
  switch (e) {
    case net::HttpError::kNone: return ProxyFailure::kNone;
    case net::HttpError::kDns:
    case net::HttpError::kConnect: return ProxyFailure::kConnect;
    // The URL and headers were checked before: what curl refuses now is the
    // answer (an HTTP/0.9-looking reply is CURLE_UNSUPPORTED_PROTOCOL).
    case net::HttpError::kRefused: return ProxyFailure::kMalformed;
    case net::HttpError::kTimeout: return ProxyFailure::kTimeout;
    case net::HttpError::kTls: return ProxyFailure::kTls;
    case net::HttpError::kTooLarge: return ProxyFailure::kTooLarge;
    case net::HttpError::kCancelled: return ProxyFailure::kCancelled;
    case net::HttpError::kOther: return ProxyFailure::kMalformed;
  }
  return ProxyFailure::kMalformed;
}

}  // namespace

const char* proxyFailureName(ProxyFailure f) {
  switch (f) {
    case ProxyFailure::kNone: return "none";
    case ProxyFailure::kBusy: return "busy";
    case ProxyFailure::kKeyBusy: return "key_busy";
    case ProxyFailure::kCircuitOpen: return "circuit_open";
    case ProxyFailure::kNoCredential: return "no_credential";
    case ProxyFailure::kUpstreamAuth: return "upstream_auth";
    case ProxyFailure::kConnect: return "connect";
    case ProxyFailure::kTimeout: return "timeout";
    case ProxyFailure::kTls: return "tls";
    case ProxyFailure::kTooLarge: return "too_large";
    case ProxyFailure::kMalformed: return "malformed";
    case ProxyFailure::kUpstreamError: return "upstream_error";
    case ProxyFailure::kCancelled: return "cancelled";
  }
  return "malformed";
}

bool makeEhospitalSetup(const config::Config& cfg, EhospitalSetup* out, std::string* error) {
  const config::EhospitalPolicy& e = cfg.ehospital;
  out->configured = e.configured();
  if (!out->configured) return true;
  out->base_url = e.base_url;
  while (!out->base_url.empty() && out->base_url.back() == '/') out->base_url.pop_back();
  if (!out->allow.parse(e.allowed_paths, error)) return false;
  out->token.static_token = e.token;
  out->token.token_url = e.token_url;
  out->token.client_id = e.client_id;
  out->token.client_secret = e.client_secret;
  out->token.style = e.token_request == "json" ? TokenRequestStyle::kJson : TokenRequestStyle::kForm;
  out->timeouts = net::HttpTimeouts{e.connect_timeout_ms, e.timeout_ms};
  out->token.timeouts = out->timeouts;
  out->http.allow_plain_http = !cfg.production();
  out->http.ca_file = cfg.delivery.outbound_ca_file;
  out->http.proxy = cfg.delivery.outbound_proxy;
  out->http.max_response_bytes = e.max_response_bytes;
  out->http.max_host_connections = static_cast<long>(e.concurrency);
  out->max_request_bytes = e.max_request_bytes;
  out->max_response_bytes = e.max_response_bytes;
  out->gate.concurrency = e.concurrency;
  out->gate.rate_per_s = 0;
  out->gate.failures = e.circuit_failures;
  out->gate.open_ms = e.circuit_open_s * 1000;
  return true;
}

// One forwarded request: what is copied of it (URL, header lines), the
// views it still reads (body), and where it is.
struct EhospitalProxy::Op {
  EhospitalProxy* proxy = nullptr;
  Done done = nullptr;
  void* ctx = nullptr;
  net::HttpMethod method = net::HttpMethod::kGet;
  std::string url;
  std::vector<std::string> lines;  // forwarded headers, X-Request-Id
  std::string_view body;
  const bool* gone = nullptr;
  std::string key_id;  // counted in per_key_ (empty: not)
  std::string token;  // the one this attempt used (for invalidate): wiped
  bool retried = false;
  bool probe = false;
  ~Op() { wipe(token); }
};

EhospitalProxy::EhospitalProxy(uv_loop_t* loop, const EhospitalSetup& setup)
    : loop_(loop),
      setup_(setup),
      http_(std::make_unique<net::HttpClient>(loop, setup.http)),
      tokens_(std::make_unique<TokenSource>(loop, http_.get(), setup.token)),
      gate_(setup.gate),
      per_key_cap_(std::max<uint32_t>(1, setup.gate.concurrency / 2)) {}

// Waiting ops hear "no token" from the source, sending ones kCancelled from
// the client; closing_ makes both kCancelled.
EhospitalProxy::~EhospitalProxy() {
  closing_ = true;
  tokens_.reset();
  http_.reset();
}

void EhospitalProxy::forward(const ProxyRequest& req, Done done, void* ctx) {
  const int64_t now = static_cast<int64_t>(uv_now(loop_));
  // The route checked the query at head time (400); this is a second look.
  if (closing_ || !requestQueryOk(req.query)) {
    done(ctx, ProxyOutcome{.failure = closing_ ? ProxyFailure::kCancelled : ProxyFailure::kMalformed});
    return;
  }
  const auto key_it = per_key_.find(req.key_id);
  if (!req.key_id.empty() && key_it != per_key_.end() && key_it->second >= per_key_cap_) {
    done(ctx, ProxyOutcome{.failure = ProxyFailure::kKeyBusy});
    return;
  }
  if (!gate_.tryAcquire(state::Lane::kPriority, now)) {
    ProxyOutcome o;
    if (gate_.circuit() == delivery::ProviderGate::Circuit::kClosed) {
      o.failure = ProxyFailure::kBusy;
    } else {
      o.failure = ProxyFailure::kCircuitOpen;
      const int64_t at = gate_.retryAtMs(now);
      o.retry_after_s = static_cast<uint32_t>(std::max<int64_t>(1, (at - now + 999) / 1000));
    }
    done(ctx, o);
    return;
  }
  auto* op = new Op;
  op->proxy = this;
  op->done = done;
  op->ctx = ctx;
  op->probe = gate_.lastWasProbe();
  if (!req.key_id.empty()) {
    op->key_id.assign(req.key_id);
    if (key_it != per_key_.end()) {
      ++key_it->second;
    } else {
      per_key_.emplace(op->key_id, 1);
    }
  }
  op->method = httpMethod(req.method);
  op->url.reserve(setup_.base_url.size() + req.path.size() + req.query.size() + 1);
  op->url.append(setup_.base_url).append(req.path);
  if (!req.query.empty()) op->url.append(1, '?').append(req.query);
  bool content_type = false;
  for (const net::Header& h : req.headers) {
    const std::string_view* name = namedIn(kForwardedRequestHeaders, h.name);
    if (name == nullptr || !valueOk(h.value) || op->lines.size() >= kMaxForwardedHeaders) continue;
    content_type = content_type || *name == "Content-Type";
    op->lines.push_back(std::string(*name) + ": " + std::string(h.value));
  }
  // curl would add a form Content-Type to a body of its own accord.
  if (!content_type && req.method != net::Method::kGet && req.method != net::Method::kHead) {
    op->lines.emplace_back("Content-Type:");
  }
  op->lines.push_back("X-Request-Id: " + std::string(req.request_id));
  op->body = req.body;
  op->gone = req.gone;
  tokens_->get(onToken, op);
}

void EhospitalProxy::onToken(void* p, bool ok, std::string_view token) {
  auto* op = static_cast<Op*>(p);
  EhospitalProxy* self = op->proxy;
  if (self->closing_ || (op->gone != nullptr && *op->gone)) {
    return self->finish(op, ProxyOutcome{.failure = ProxyFailure::kCancelled}, true);
  }
  if (!ok) return self->finish(op, ProxyOutcome{.failure = ProxyFailure::kNoCredential}, false);
  self->send(op, token);
}

void EhospitalProxy::send(Op* op, std::string_view token) {
  wipe(op->token);
  op->token.assign(token);
  std::string auth = "Authorization: Bearer " + op->token;
  std::vector<std::string_view> headers;
  headers.reserve(op->lines.size() + 1);
  for (const std::string& l : op->lines) headers.emplace_back(l);
  headers.emplace_back(auth);
  http_->send(net::HttpRequestSpec{.method = op->method,
                                   .url = op->url,
                                   .headers = headers,
                                   .body = op->body,
                                   .timeouts = setup_.timeouts,
                                   .max_response_bytes = setup_.max_response_bytes,
                                   .capture_headers = true,
                                   .path_as_is = true},
              onResult, op);
  wipe(auth);  // the client copied it
}

void EhospitalProxy::onResult(void* p, const net::HttpResult& r) {
  auto* op = static_cast<Op*>(p);
  op->proxy->result(op, r);
}

void EhospitalProxy::result(Op* op, const net::HttpResult& r) {
  if (r.error == net::HttpError::kCancelled || closing_) {
    return finish(op, ProxyOutcome{.failure = ProxyFailure::kCancelled}, true);
  }
  if (r.error != net::HttpError::kNone) return finish(op, ProxyOutcome{.failure = failureOf(r.error)}, false);
  if (r.status == 401) {
    // A session token the upstream no longer takes: one refresh, one retry;
    // unless the token source says the refused token is itself a fresh
    // replacement (the upstream refuses the credential: no refetch).
    if (op->gone != nullptr && *op->gone) {
      return finish(op, ProxyOutcome{.failure = ProxyFailure::kCancelled}, true);
    }
    if (tokens_->oauth() && !op->retried && tokens_->invalidate(op->token)) {
      op->retried = true;
      tokens_->get(onToken, op);
      return;
    }
    // The upstream refuses phigate's credential: a failure of the upstream
    // side for the circuit (every caller would get the same answer).
    return finish(op, ProxyOutcome{.failure = ProxyFailure::kUpstreamAuth}, false);
  }
  if (r.status < 200 || r.status > 599) return finish(op, ProxyOutcome{.failure = ProxyFailure::kMalformed}, false);
  if (r.status >= 500) {
    return finish(op, ProxyOutcome{.failure = ProxyFailure::kUpstreamError, .status = static_cast<int>(r.status)},
                  false);
  }
  ProxyOutcome o{.status = static_cast<int>(r.status), .body = r.body};
  net::HeaderField fields[kMaxReturnedHeaders];
  size_t n = 0;
  for (const net::HttpHeader& h : r.headers) {
    if (equalsIgnoreCase(h.name, "Content-Type")) {
      if (valueOk(h.value) && !h.value.empty()) o.content_type = h.value;
      continue;
    }
    const std::string_view* name = namedIn(kReturnedResponseHeaders, h.name);
    if (name == nullptr || !valueOk(h.value) || n >= kMaxReturnedHeaders) continue;
    fields[n++] = net::HeaderField{*name, h.value};
  }
  o.headers = std::span<const net::HeaderField>(fields, n);
  finish(op, o, true);
}

// The gate hears how it went. Neither success nor failure: a cancellation,
// and an answer above the cap (the upstream is up; a client that asks for
// too much must not open the circuit for every other).
void EhospitalProxy::finish(Op* op, const ProxyOutcome& outcome, bool healthy) {
  if (!op->key_id.empty()) {
    const auto it = per_key_.find(op->key_id);
    if (it != per_key_.end() && --it->second == 0) per_key_.erase(it);
  }
  if (outcome.failure == ProxyFailure::kCancelled || outcome.failure == ProxyFailure::kTooLarge) {
    gate_.giveBack(state::Lane::kPriority, op->probe);
  } else {
    gate_.release(state::Lane::kPriority, healthy, static_cast<int64_t>(uv_now(loop_)));
  }
  const Done done = op->done;
  void* ctx = op->ctx;
  delete op;
  done(ctx, outcome);
}

}  // namespace phigate::upstream
