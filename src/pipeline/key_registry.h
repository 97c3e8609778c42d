// The compiled API keys: built once at start-up from API_KEYS_FILE and the
// guide's SMS_API_KEY / ADMIN_API_KEY, immutable afterwards (shared by all
// workers through fork). Tokens are hashed at load; a presented token is
// hashed once and looked up by its hash, and the full digest is compared in
// constant time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/keys_file.h"
#include "crypto/hash.h"
#include "pipeline/cidr.h"
#include "pipeline/permissions.h"

namespace phigate::pipeline {

/** One API key, ready for the request path. */
struct ApiKey {
  std::string id;                    // safe to log
  crypto::Sha256 token_hash{};
  PermissionSet permissions = 0;
  CidrList allow;                    // empty: any client address
  bool test_mode = false;
  bool revoked = false;
  std::vector<uint8_t> signing_secret;  // empty: requests need not be signed
  std::vector<std::pair<std::string, uint32_t>> limits;
  std::string status_callback_url;      // empty: no status callbacks (never logged)
  std::vector<uint8_t> callback_secret;
};

class KeyRegistry {
 public:
  /**
   * Compiles the file's keys plus the env keys (ids "env-sms", roles sms;
   * "env-admin", role admin) when their tokens are non-empty.
   */
  static bool build(const std::vector<config::KeySpec>& specs, std::string_view sms_token,
                    std::string_view admin_token, KeyRegistry* out, std::string* error);

  /** The key whose token this is, or nullptr. */
  const ApiKey* find(std::string_view token) const;
  size_t size() const { return keys_.size(); }
  /** Every key id once, revoked ones included (their accepted messages are still delivered). */
  std::vector<std::string> ids() const;
  /** Every key (start-up use: the status callback targets). */
  const std::vector<ApiKey>& keys() const { return keys_; }

 private:
  static uint64_t prefix(const crypto::Sha256& h);
  bool add(ApiKey key, std::string* error);

  std::vector<ApiKey> keys_;
  std::vector<std::pair<uint64_t, uint32_t>> index_;  // sorted (hash prefix, key index)
};

}  // namespace phigate::pipeline
