// Keyed pseudonyms for client values that the state store must find again
// but nobody reading Redis may learn: the nonce, the Idempotency-Key and the
// client address never appear in a Redis key name (visible to SCAN, MONITOR,
// RDB/AOF files and replicas for as long as the key lives); their pseudonym
// does. A pseudonym is BLAKE2b-128 of the value, keyed with a subkey derived
// from SECRET_KEY and personalised per kind of value. It is keyed because the
// values are guessable (2^32 IPv4 addresses, counters as nonces): an unkeyed
// hash of them would hide nothing. 128 bits keep collisions (two values, one
// name) out of reach: about 2^64 live values before one is likely.
//
// Every process sharing one Redis must have the same SECRET_KEY, or they do
// not see each other's nonces, idempotency records and address counters.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace phigate::crypto {

class Pseudonymizer {
 public:
  static constexpr size_t kHashBytes = 16;
  /** Lower-case hex characters of one pseudonym. */
  static constexpr size_t kTextChars = 2 * kHashBytes;

  /** What a value is: equal values of different kinds get unrelated pseudonyms. */
  enum class Kind : uint8_t { kNonce = 'n', kIdempotencyKey = 'i', kClientAddress = 'a' };

  /**
   * Derives the subkey from SECRET_KEY (64 hex chars). In development a
   * non-hex key is stretched with SHA-256 when `allow_derived`, as the key
   * ring does for ENCRYPTION_KEY. Errors name the variable, never the value.
   */
  static bool create(std::string_view secret_key, bool allow_derived, Pseudonymizer* out,
                     std::string* error);

  Pseudonymizer() = default;
  Pseudonymizer(const Pseudonymizer&) = delete;
  Pseudonymizer& operator=(const Pseudonymizer&) = delete;
  Pseudonymizer(Pseudonymizer&& o) noexcept;
  Pseudonymizer& operator=(Pseudonymizer&& o) noexcept;
  ~Pseudonymizer();

  /** False until create() succeeded. */
  bool ready() const { return ready_; }

  /** The pseudonym of `value` as kTextChars hex characters into `out` (no NUL). */
  void text(Kind kind, std::string_view value, char* out) const;

 private:
  void wipe();

  std::array<uint8_t, 32> key_{};
  bool ready_ = false;
};

}  // namespace phigate::crypto
