// ASCII helpers shared by every layer: case-insensitive comparison of
// protocol tokens (header names, URI parts, command names) and hex digits.
// Locale-free on purpose: <cctype> depends on the C locale.
#pragma once

#include <string_view>

namespace phigate {

/** ASCII lower case of `c`; every other byte unchanged. */
constexpr char toLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

/** ASCII case-insensitive equality; `lower` must already be lower case. */
constexpr bool equalsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (toLowerAscii(s[i]) != lower[i]) return false;
  }
  return true;
}

/** The value of a hex digit (either case), or -1. */
constexpr int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr bool isHexDigit(char c) { return hexValue(c) >= 0; }

}  // namespace phigate
