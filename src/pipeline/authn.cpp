#include "pipeline/authn.h"

namespace phigate::pipeline {

namespace {

constexpr size_t kMaxTokenLength = 512;

// RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool isB64Token(std::string_view t) {
  if (t.empty() || t.size() > kMaxTokenLength) return false;
  size_t i = 0;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) break;
  }
  if (i == 0) return false;
  for (; i < t.size(); ++i) {
    if (t[i] != '=') return false;
  }
  return true;
}

bool startsWithBearer(std::string_view v) {
  return v.size() > 7 && equalsLower(v.substr(0, 7), "bearer ");
}

}  // namespace

std::string_view authFailureReason(AuthFailure f) {
  switch (f) {
    case AuthFailure::kNone: return "";
    case AuthFailure::kMissing: return "missing_token";
    case AuthFailure::kMalformed: return "malformed_token";
    case AuthFailure::kUnknown: return "unknown_token";
    case AuthFailure::kRevoked: return "revoked_token";
    case AuthFailure::kTokenInQuery: return "token_in_query";
  }
  return "unknown";
}

namespace {
// Decodes %XX in a query parameter name (so "access%5Ftoken" is caught too);
// names longer than the buffer cannot be one of ours anyway.
std::string_view decodeName(std::string_view name, char (&buf)[32]) {
  size_t n = 0;
  for (size_t i = 0; i < name.size() && n < sizeof buf; ++i) {
    char c = name[i];
    if (c == '%' && i + 2 < name.size()) {
      const int hi = hexValue(name[i + 1]), lo = hexValue(name[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<char>(hi << 4 | lo);
        i += 2;
      }
    }
    buf[n++] = c;
  }
  return {buf, n};
}
}  // namespace

bool queryHasCredential(std::string_view query) {
  static constexpr std::string_view kNames[] = {"access_token", "token", "api_key", "apikey",
                                                "key", "auth", "authorization", "bearer"};
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    char buf[32];
    std::string_view name = decodeName(pair.substr(0, pair.find('=')), buf);
    for (std::string_view n : kNames) {
      if (equalsLower(name, n)) return true;
    }
  }
  return false;
}

AuthFailure authenticate(const net::HttpRequest& req, const KeyRegistry& keys, const ApiKey** key) {
  *key = nullptr;
  if (queryHasCredential(req.query)) return AuthFailure::kTokenInQuery;
  std::string_view value;
  int count = 0;
  for (const net::Header& h : req.headers) {
    if (equalsLower(h.name, "authorization")) {
      value = h.value;
      ++count;
    }
  }
  if (count == 0) return AuthFailure::kMissing;
  if (count > 1 || !startsWithBearer(value)) return AuthFailure::kMalformed;
  std::string_view token = value.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (!isB64Token(token)) return AuthFailure::kMalformed;
  const ApiKey* k = keys.find(token);
  if (k == nullptr) return AuthFailure::kUnknown;
  if (k->revoked) return AuthFailure::kRevoked;
  *key = k;
  return AuthFailure::kNone;
}

Verdict AuthnStage::run(RequestContext& ctx) {
  if (!ctx.policy->authenticated) return Verdict::kContinue;
  const AuthFailure f = authenticate(ctx.request(), keys_, &ctx.key);
  if (f == AuthFailure::kNone) return Verdict::kContinue;
  Rejection r;
  r.event = obs::SecurityEvent::kAuthFailure;
  r.reason = authFailureReason(f);
  if (f == AuthFailure::kTokenInQuery) {
    // Not a wrong credential but a wrong place for one: say so (URLs end up
    // in proxy logs and browser histories), whatever the header holds.
    r.status = 400;
    r.type = "credential-in-query";
    r.title = "Credential in the query string";
    r.detail =
        "Credentials are refused in the URL (they end up in logs): remove it from the query "
        "string, send Authorization: Bearer <token>, and replace that token, since it has been "
        "exposed.";
    return ctx.reject(r);
  }
  r.status = 401;
  r.type = "unauthorized";
  r.title = "Unauthorized";
  // The same for every failure: which one it was is the attacker's question.
  r.detail = "A valid bearer token is required: send Authorization: Bearer <token>.";
  r.www_authenticate = true;
  return ctx.reject(r);
}

}  // namespace phigate::pipeline
