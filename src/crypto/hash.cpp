#include "crypto/hash.h"

#include <sodium.h>
#include "common/ascii.h"

namespace phigate::crypto {

Sha256 sha256(std::string_view data) {
  Sha256 out;
  crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return out;
}

Sha256 sha256(std::initializer_list<std::string_view> parts) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  for (std::string_view p : parts) {
    crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(p.data()), p.size());
  }
  Sha256 out;
  crypto_hash_sha256_final(&st, out.data());
  return out;
}

Sha256 hmacSha256(std::span<const uint8_t> key, std::initializer_list<std::string_view> parts) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  for (std::string_view p : parts) {
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(p.data()), p.size());
  }
  Sha256 out;
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof st);
  return out;
}

void toHex(std::span<const uint8_t> bytes, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
}

bool fromHex(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hexValue(hex[2 * i]);
    const int lo = hexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool constantTimeEqual(const void* a, const void* b, size_t n) {
  return sodium_memcmp(a, b, n) == 0;
}

}  // namespace phigate::crypto
