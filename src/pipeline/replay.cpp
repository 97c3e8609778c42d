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

ReplayFailure checkReplay(const net::HttpRequest& req, const ApiKey& key, int64_t now_s,
                          uint32_t window_s, ReplayToken* out) {
  const std::string_view ts_text = req.header("x-timestamp");
  if (!parseUnixSeconds(ts_text, &out->timestamp)) return ReplayFailure::kMissingTimestamp;
  const int64_t skew = out->timestamp - now_s;
  if (skew > window_s || skew < -static_cast<int64_t>(window_s)) return ReplayFailure::kStaleTimestamp;
  out->nonce = req.header("x-nonce");
  if (!isValidNonce(out->nonce)) return ReplayFailure::kMissingNonce;
  if (key.signing_secret.empty()) return ReplayFailure::kNone;

  crypto::Sha256 presented;
  if (!crypto::fromHex(req.header("x-signature"), presented)) return ReplayFailure::kMissingSignature;
  const crypto::Sha256 body_hash = crypto::sha256(req.body);
  char body_hex[2 * crypto::kSha256Bytes];
  crypto::toHex(body_hash, body_hex);
  const crypto::Sha256 expected = crypto::hmacSha256(
      key.signing_secret, {req.method_text, "\n", req.path, "\n", ts_text, "\n", out->nonce, "\n",
                           std::string_view(body_hex, sizeof body_hex)});
  if (!crypto::constantTimeEqual(expected.data(), presented.data(), presented.size())) {
    return ReplayFailure::kBadSignature;
  }
  return ReplayFailure::kNone;
}

namespace {
int64_t wallSeconds() { return static_cast<int64_t>(time(nullptr)); }
}  // namespace

ReplayStage::ReplayStage(const PolicyConfig& cfg, int64_t (*now_s)())
    : cfg_(cfg), now_s_(now_s != nullptr ? now_s : wallSeconds) {}

Verdict ReplayStage::run(RequestContext& ctx) {
  if (!ctx.policy->state_changing) return Verdict::kContinue;
  const ReplayFailure f = checkReplay(ctx.request(), *ctx.key, now_s_(), cfg_.replay_window_s, &ctx.replay);
  if (f == ReplayFailure::kNone) return Verdict::kContinue;
  Rejection r;
  r.status = 401;
  r.event = obs::SecurityEvent::kReplay;
  r.reason = replayFailureReason(f);
  // Every 401 must carry a challenge (RFC 9110 §15.5.2); the problem type
  // says which part of the request proof was wrong.
  r.www_authenticate = true;
  switch (f) {
    case ReplayFailure::kStaleTimestamp:
      r.type = "stale-timestamp";
      r.title = "Stale timestamp";
      r.detail = "X-Timestamp is outside the accepted window.";
      break;
    case ReplayFailure::kMissingSignature:
    case ReplayFailure::kBadSignature:
      r.type = "invalid-signature";
      r.title = "Invalid signature";
      r.detail = "X-Signature does not match the request.";
      break;
    default:
      r.type = "replay-headers-required";
      r.title = "Replay protection headers required";
      r.detail = "Send X-Timestamp (unix seconds) and X-Nonce (16-128 of [A-Za-z0-9_-]).";
      break;
  }
  return ctx.reject(r);
}

}  // namespace phigate::pipeline
