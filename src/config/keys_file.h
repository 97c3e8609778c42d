// API_KEYS_FILE: the JSON key list of DESIGN §8, parsed and validated at
// start-up. Tokens are never in the file, only their SHA-256.
//
//   {"keys": [{"id": "clinic-app", "token_sha256": "<64 hex>", "roles": ["sms"],
//              "allow_cidrs": ["10.20.0.0/16"], "mode": "live",
//              "signing_secret": null, "limits": {"sms": 1000}, "revoked": false,
//              "status_callback_url": "https://app.example/phigate/status",
//              "callback_secret": "<at least 32 characters>"}]}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace phigate::config {

/** Route classes a per-key limit may override (used by the rate limiter). */
inline constexpr std::string_view kLimitClasses[] = {"sms", "bulk", "email", "messages",
                                                      "ehospital", "admin", "daily"};

/** Role names of DESIGN §8. */
inline constexpr std::string_view kRoles[] = {"sms", "bulk", "email", "ehospital",
                                               "ehospital-write", "metrics", "admin"};

/**
 * The longest key id. An id is logged (key_id on every access line), names
 * the key's Redis hash tag (phigate:{<id>}:...) and sizes what holds them, so
 * this is the one place that says how long it may be.
 */
inline constexpr size_t kMaxKeyIdLength = 64;

/** One key as written in the file (plain data; compiled by the pipeline). */
struct KeySpec {
  std::string id;                   // 1-kMaxKeyIdLength of [A-Za-z0-9._-]: safe to log
  std::string token_sha256;         // 64 lower-case hex
  std::vector<std::string> roles;
  std::vector<std::string> allow_cidrs;
  bool test_mode = false;           // "mode": "test" never reaches a provider
  std::optional<std::string> signing_secret;
  std::vector<std::pair<std::string, uint32_t>> limits;
  bool revoked = false;
  // Signed status callbacks (docs/CALLBACKS.md): both or neither. The URL
  // may carry a token in its path or query: never logged or echoed.
  std::optional<std::string> status_callback_url;
  std::optional<std::string> callback_secret;
};

/** The shortest callback_secret (and signing_secret) accepted. */
inline constexpr size_t kMinCallbackSecret = 32;
/** The longest status_callback_url accepted. */
inline constexpr size_t kMaxCallbackUrl = 2048;

/**
 * Whether `url` is acceptable as a status_callback_url: an absolute https://
 * URL (http:// only when `allow_http`, i.e. APP_ENV=development) as curl
 * parses it, with a host (not ending in a dot), no user info, no fragment,
 * no whitespace or control bytes, at most kMaxCallbackUrl bytes.
 */
bool validCallbackUrl(std::string_view url, bool allow_http);

/** True for 1-kMaxKeyIdLength characters of [A-Za-z0-9._-]. */
bool isValidKeyId(std::string_view id);

/**
 * Parses and validates a keys file. Errors say "API_KEYS_FILE: key N: ..."
 * (N is 1-based) and never include a hash, secret, URL or other value.
 * `allow_http_callbacks` (development only) lets status_callback_url be
 * http://.
 */
bool parseKeysFile(std::string_view json, std::vector<KeySpec>* out, std::string* error,
                   bool allow_http_callbacks = false);

}  // namespace phigate::config
