// Small text helpers shared by the variable table (variables.cpp) and the
// loader (config.cpp). ASCII only on purpose: configuration names and
// keywords are ASCII, and locale-dependent case folding would make the same
// file mean different things on different hosts.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>

#include "common/ascii.h"

namespace phigate::config {

using phigate::toLowerAscii;

constexpr bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLowerAscii(a[i]) != toLowerAscii(b[i])) return false;
  }
  return true;
}

// Decimal digits only (no sign, no blanks, no 0x); false on overflow.
// constexpr so that the table can check its own defaults at compile time.
constexpr bool parseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (n > (kMax - digit) / 10) return false;
    n = n * 10 + digit;
  }
  *out = n;
  return true;
}

// "a, b or c" with sep = ", ", last_sep = " or "; each item inside `quote`.
inline std::string join(std::span<const std::string_view> items, std::string_view sep,
                        std::string_view last_sep, std::string_view quote = {}) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? last_sep : sep;
    out.append(quote).append(items[i]).append(quote);
  }
  return out;
}

}  // namespace phigate::config
