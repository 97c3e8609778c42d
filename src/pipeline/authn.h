// Authentication: `Authorization: Bearer <token>` only. Missing, malformed,
// unknown and revoked tokens all get the same 401 (with WWW-Authenticate);
// only the audit line tells them apart. A token in the query string is
// refused even next to a valid header: it has already leaked into URLs.
#pragma once

#include <string_view>

#include "net/http_request.h"
#include "pipeline/key_registry.h"
#include "pipeline/stage.h"

namespace phigate::pipeline {

/** Why authentication failed (audit reason codes). */
enum class AuthFailure : uint8_t { kNone, kMissing, kMalformed, kUnknown, kRevoked, kTokenInQuery };

std::string_view authFailureReason(AuthFailure f);

/** True when the query string carries something that looks like a credential. */
bool queryHasCredential(std::string_view query);

/** Finds the request's key; on failure returns why and leaves *key null. */
AuthFailure authenticate(const net::HttpRequest& req, const KeyRegistry& keys, const ApiKey** key);

/** 401 unless the request carries a known, live key's bearer token. */
class AuthnStage : public Stage {
 public:
  explicit AuthnStage(const KeyRegistry& keys) : keys_(keys) {}
  Verdict run(RequestContext& ctx) override;

 private:
  const KeyRegistry& keys_;
};

}  // namespace phigate::pipeline
