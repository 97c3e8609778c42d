#include "pipeline/replay.h"

#include <ctime>

#include "crypto/hash.h"

namespace phigate::pipeline {

namespace {

bool parseUnixSeconds(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 12) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::string_view replayFailureReason(ReplayFailure f) {
  switch (f) {
    case ReplayFailure::kNone: return "";
    case ReplayFailure::kMissingTimestamp: return "missing_timestamp";
    case ReplayFailure::kStaleTimestamp: return "stale_timestamp";
    case ReplayFailure::kMissingNonce: return "missing_nonce";
    case ReplayFailure::kMissingSignature: return "missing_signature";
    case ReplayFailure::kBadSignature: return "bad_signature";
  }
  return "unknown";
}

bool isValidNonce(std::string_view n) {
  if (n.size() < 16 || n.size() > 128) return false;
  for (char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

ReplayFailure checkReplayHeaders(const net::HttpRequest& req, const ApiKey& key, int64_t now_s,
                                 uint32_t window_s, ReplayToken* out) {
  out->timestamp_text = req.header("x-timestamp");
  if (!parseUnixSeconds(out->timestamp_text, &out->timestamp)) return ReplayFailure::kMissingTimestamp;
  const int64_t skew = out->timestamp - now_s;
  if (skew > window_s || skew < -static_cast<int64_t>(window_s)) return ReplayFailure::kStaleTimestamp;
  out->nonce = req.header("x-nonce");
  if (!isValidNonce(out->nonce)) return ReplayFailure::kMissingNonce;
  if (key.signing_secret.empty()) return ReplayFailure::kNone;
  if (!crypto::fromHex(req.header("x-signature"), out->signature)) return ReplayFailure::kMissingSignature;
  return ReplayFailure::kNone;
}

void rebindReplayToken(const net::HttpRequest& req, ReplayToken* token) {
  if (token->nonce.empty() && token->timestamp_text.empty()) return;  // not checked: nothing kept
  token->timestamp_text = req.header("x-timestamp");
  token->nonce = req.header("x-nonce");
}

ReplayFailure checkSignature(const net::HttpRequest& req, const ApiKey& key, const ReplayToken& token) {
  if (key.signing_secret.empty()) return ReplayFailure::kNone;
  const crypto::Sha256 body_hash = crypto::sha256(req.body);
  char body_hex[2 * crypto::kSha256Bytes];
  crypto::toHex(body_hash, body_hex);
  // The request target: the path, and `?` + the query when there is one
  // (what a pass-through forwards must be what was signed).
  const std::string_view qmark = req.query.empty() ? std::string_view() : std::string_view("?");
  const crypto::Sha256 expected = crypto::hmacSha256(
      key.signing_secret, {req.method_text, "\n", req.path, qmark, req.query, "\n", token.timestamp_text,
                           "\n", token.nonce, "\n", std::string_view(body_hex, sizeof body_hex)});
  if (!crypto::constantTimeEqual(expected.data(), token.signature.data(), token.signature.size())) {
    return ReplayFailure::kBadSignature;
  }
  return ReplayFailure::kNone;
}

ReplayFailure checkReplay(const net::HttpRequest& req, const ApiKey& key, int64_t now_s,
                          uint32_t window_s, ReplayToken* out) {
  const ReplayFailure f = checkReplayHeaders(req, key, now_s, window_s, out);
  return f != ReplayFailure::kNone ? f : checkSignature(req, key, *out);
}

namespace {
Rejection replayRejection(ReplayFailure f) {
  Rejection r;
  r.status = 401;
  r.event = obs::SecurityEvent::kReplay;
  r.reason = replayFailureReason(f);
  r.code = r.reason;  // which header to fix; says nothing about the key
  // Every 401 must carry a challenge (RFC 9110 §15.5.2); the problem type
  // says which part of the request proof was wrong.
  r.www_authenticate = true;
  switch (f) {
    case ReplayFailure::kStaleTimestamp:
      r.type = "stale-timestamp";
      r.title = "Stale timestamp";
      break;
    case ReplayFailure::kMissingSignature:
      r.type = "invalid-signature";
      r.title = "Invalid signature";
      r.detail =
          "This key signs its requests: send X-Signature, the hex HMAC-SHA256 of "
          "METHOD\\nPATH[?QUERY]\\nX-Timestamp\\nX-Nonce\\nhex(SHA256(body)) under its "
          "signing_secret (the query with its `?` when the request has one).";
      break;
    case ReplayFailure::kBadSignature:
      r.type = "invalid-signature";
      r.title = "Invalid signature";
      r.detail =
          "X-Signature does not match: sign METHOD\\nPATH[?QUERY]\\nX-Timestamp\\nX-Nonce\\n"
          "hex(SHA256(body)) exactly as sent (the query with its `?` when the request has one), "
          "with the key's signing_secret.";
      break;
    default:
      r.type = "replay-headers-required";
      r.title = "Replay protection headers required";
      r.detail = "Send X-Timestamp (unix seconds) and X-Nonce (16-128 of [A-Za-z0-9_-]).";
      break;
  }
  return r;
}
}  // namespace

namespace {
int64_t wallSeconds() { return static_cast<int64_t>(time(nullptr)); }
}  // namespace

ReplayStage::ReplayStage(const PolicyConfig& cfg, int64_t (*now_s)())
    : cfg_(cfg), now_s_(now_s != nullptr ? now_s : wallSeconds) {}

Verdict ReplayStage::run(RequestContext& ctx) {
  if (!ctx.policy->state_changing) return Verdict::kContinue;
  const int64_t now = now_s_();
  const ReplayFailure f = checkReplayHeaders(ctx.request(), *ctx.key, now, cfg_.replay_window_s, &ctx.replay);
  if (f == ReplayFailure::kNone) return Verdict::kContinue;
  Rejection r = replayRejection(f);
  if (f == ReplayFailure::kStaleTimestamp) {
    // What to change: the window and our clock (public facts, not secrets).
    net::DetailText d(ctx.detail_text, sizeof ctx.detail_text);
    d << "X-Timestamp must be within " << int64_t{cfg_.replay_window_s}
      << " s of the server's clock, which reads " << now << " (unix seconds).";
    r.detail = d.view();
    ctx.members[0] = net::ProblemMember::num("window_s", cfg_.replay_window_s);
    ctx.members[1] = net::ProblemMember::num("server_time", now);
    r.members = std::span<const net::ProblemMember>(ctx.members.data(), 2);
  }
  return ctx.reject(r);
}

Verdict SignatureStage::run(RequestContext& ctx) {
  if (!ctx.policy->state_changing || ctx.key == nullptr) return Verdict::kContinue;
  const ReplayFailure f = checkSignature(ctx.request(), *ctx.key, ctx.replay);
  if (f == ReplayFailure::kNone) return Verdict::kContinue;
  return ctx.reject(replayRejection(f));
}

}  // namespace phigate::pipeline
