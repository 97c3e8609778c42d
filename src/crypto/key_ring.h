// Encryption at rest: XChaCha20-Poly1305 (libsodium) under ENCRYPTION_KEY.
// A sealed blob is  version(1) | key id(4) | nonce(24) | ciphertext+tag(n+16).
// The key id (first 4 bytes of SHA-256 of the key) lets old keys, listed in
// ENCRYPTION_KEYS_OLD, still open what they sealed after a rotation. The
// caller's associated data (e.g. message id + API key id) binds a ciphertext
// to its place: a blob moved to another record does not open.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace phigate::crypto {

class KeyRing {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kOverhead = 1 + 4 + 24 + 16;

  /**
   * Builds the ring from the current key and a comma-separated list of old
   * ones, each 64 hex chars. In development a non-hex current key (the guide's
   * "dev-encryption-key") is stretched with SHA-256 when `allow_derived`.
   * Errors name the variable, never the value.
   */
  static bool create(std::string_view current, std::string_view old_list, bool allow_derived,
                     KeyRing* out, std::string* error);

  KeyRing() = default;
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;
  KeyRing(KeyRing&&) noexcept = default;
  KeyRing& operator=(KeyRing&&) noexcept = default;
  ~KeyRing();

  static size_t sealedSize(size_t plain_len) { return plain_len + kOverhead; }

  /** Seals `plain` into `out` (exactly sealedSize(plain.size()) bytes). */
  void seal(std::string_view plain, std::string_view ad, uint8_t* out) const;

  /** Opens a sealed blob into `out`; false if tampered, truncated or keyless. */
  bool open(std::string_view sealed, std::string_view ad, std::string* out) const;

 private:
  struct Key {
    std::array<uint8_t, kKeyBytes> bytes;
    std::array<uint8_t, 4> id;
  };
  static Key makeKey(const uint8_t* bytes);
  void wipe();
  const Key* find(const uint8_t* id) const;

  std::vector<Key> keys_;  // keys_[0] seals; all open
};

}  // namespace phigate::crypto
