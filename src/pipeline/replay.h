// The replay window: every state-changing request carries X-Timestamp (unix
// seconds, within ±window of our clock) and X-Nonce (16-128 of
// [A-Za-z0-9_-]); a key with a signing secret must also send X-Signature, the
// hex HMAC-SHA256 of "METHOD\nTARGET\nTIMESTAMP\nNONCE\nhex(SHA256(body))",
// TARGET the path, and `?` + the query when the query is not empty (so a
// request without a query signs its path alone).
// Remembering nonces is the state store's job (a reused one is a 409 there).
#pragma once

#include <cstdint>
#include <string_view>

#include "net/http_request.h"
#include "pipeline/key_registry.h"
#include "pipeline/stage.h"

namespace phigate::pipeline {

enum class ReplayFailure : uint8_t {
  kNone,
  kMissingTimestamp,   // absent or not an integer
  kStaleTimestamp,     // outside the window, past or future
  kMissingNonce,       // absent or not 16-128 of [A-Za-z0-9_-]
  kMissingSignature,   // the key signs and the header is absent or not 64 hex
  kBadSignature,
};

std::string_view replayFailureReason(ReplayFailure f);


bool isValidNonce(std::string_view nonce);

/**
 * The head's part: X-Timestamp in the window, X-Nonce well formed and, when
 * the key signs, an X-Signature of 64 hex characters (checked at head time,
 * before any body byte is read).
 */
ReplayFailure checkReplayHeaders(const net::HttpRequest& req, const ApiKey& key, int64_t now_s,
                                 uint32_t window_s, ReplayToken* out);

/**
 * Points the token's views (timestamp text, nonce) at `req` again: after the
 * head they may point into a read buffer that has since grown and moved.
 */
void rebindReplayToken(const net::HttpRequest& req, ReplayToken* token);

/** The body's part: X-Signature matches (keys without a signing secret always pass). */
ReplayFailure checkSignature(const net::HttpRequest& req, const ApiKey& key, const ReplayToken& token);

/** Both parts, in order (headers, then the signature over the body). */
ReplayFailure checkReplay(const net::HttpRequest& req, const ApiKey& key, int64_t now_s,
                          uint32_t window_s, ReplayToken* out);

/**
 * 401 for missing or stale replay headers, or a missing signature
 * (state-changing routes; head time). A stale timestamp's answer says the
 * window and the server's time.
 */
class ReplayStage : public Stage {
 public:
  explicit ReplayStage(const PolicyConfig& cfg, int64_t (*now_s)() = nullptr);
  Verdict run(RequestContext& ctx) override;

 private:
  const PolicyConfig& cfg_;
  int64_t (*now_s_)();
};

/** 401 when X-Signature does not match the body (body time; signing keys only). */
class SignatureStage : public Stage {
 public:
  Verdict run(RequestContext& ctx) override;
};

}  // namespace phigate::pipeline
