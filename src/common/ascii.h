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

/** [A-Za-z0-9._-]: safe as it is in a log line, a JSON string or a key name. */
constexpr bool isIdentifierChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

/** 1..max_len identifier characters (request ids, key ids, message ids). */
constexpr bool isIdentifier(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    if (!isIdentifierChar(c)) return false;
  }
  return true;
}

/** Bytes <= ' ' removed at both ends, as Java's String.trim() does (CDAC's sample client). */
constexpr std::string_view trimControl(std::string_view s) {
  while (!s.empty() && static_cast<unsigned char>(s.front()) <= ' ') s.remove_prefix(1);
  while (!s.empty() && static_cast<unsigned char>(s.back()) <= ' ') s.remove_suffix(1);
  return s;
}

}  // namespace phigate
