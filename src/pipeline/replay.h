// The replay window: every state-changing request carries X-Timestamp (unix
// seconds, within ±window of our clock) and X-Nonce (16-128 of
// [A-Za-z0-9_-]); a key with a signing secret must also send X-Signature, the
// hex HMAC-SHA256 of "METHOD\nPATH\nTIMESTAMP\nNONCE\nhex(SHA256(body))".
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

/** Checks headers (and the signature, when the key has a secret). */
ReplayFailure checkReplay(const net::HttpRequest& req, const ApiKey& key, int64_t now_s,
                          uint32_t window_s, ReplayToken* out);

/** 401 for missing/stale replay headers or a bad signature (state-changing routes). */
class ReplayStage : public Stage {
 public:
  explicit ReplayStage(const PolicyConfig& cfg, int64_t (*now_s)() = nullptr);
  Verdict run(RequestContext& ctx) override;

 private:
  const PolicyConfig& cfg_;
  int64_t (*now_s_)();
};

}  // namespace phigate::pipeline
