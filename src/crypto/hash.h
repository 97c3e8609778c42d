// Hashing, HMAC and constant-time comparison (libsodium).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

namespace phigate::crypto {

inline constexpr size_t kSha256Bytes = 32;

/** A SHA-256 digest. */
using Sha256 = std::array<uint8_t, kSha256Bytes>;

Sha256 sha256(std::string_view data);

/** SHA-256 of the concatenation of `parts` (no copy is made). */
Sha256 sha256(std::initializer_list<std::string_view> parts);

/** HMAC-SHA256 of the concatenation of `parts` (no copy is made). */
Sha256 hmacSha256(std::span<const uint8_t> key, std::initializer_list<std::string_view> parts);

/** Lower-case hex of `bytes` into `out` (2 * bytes.size() chars, no NUL). */
void toHex(std::span<const uint8_t> bytes, char* out);

/** Parses exactly 2 * out.size() hex digits (either case); false otherwise. */
bool fromHex(std::string_view hex, std::span<uint8_t> out);

/** Compares in time independent of where the inputs differ. */
bool constantTimeEqual(const void* a, const void* b, size_t n);

}  // namespace phigate::crypto
