#include "delivery/cdac_text.h"

#include <cstdint>

namespace phigate::delivery {

namespace {

// Decodes one code point at `s[*i]`, advancing *i; -1 when ill-formed.
int32_t nextCodePoint(std::string_view s, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(*i);
  if (b0 < 0x80) {
    *i += 1;
    return b0;
  }
  size_t len;
  int32_t cp;
  int32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return -1;  // a continuation byte, or 0xF8..0xFF
  }
  if (s.size() - *i < len) return -1;
  for (size_t k = 1; k < len; ++k) {
    const uint8_t b = byte(*i + k);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  *i += len;
  return cp;
}

void appendEntity(std::string* out, uint32_t unit) {
  char digits[8];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + unit % 10);
    unit /= 10;
  } while (unit != 0);
  out->append("&#");
  while (n > 0) out->push_back(digits[--n]);
  out->push_back(';');
}

constexpr bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '*' || c == '_' || c == '-';
}

}  // namespace

bool appendCdacUnicode(std::string_view utf8, std::string* out) {
  out->reserve(out->size() + utf8.size() * 7);
  for (size_t i = 0; i < utf8.size();) {
    const int32_t cp = nextCodePoint(utf8, &i);
    if (cp < 0) return false;
    if (cp < 0x10000) {
      appendEntity(out, static_cast<uint32_t>(cp));
    } else {
      const uint32_t v = static_cast<uint32_t>(cp) - 0x10000;
      appendEntity(out, 0xD800 + (v >> 10));
      appendEntity(out, 0xDC00 + (v & 0x3FF));
    }
  }
  return true;
}

void appendFormValue(std::string* out, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : value) {
    if (unreserved(c)) {
      out->push_back(c);
    } else if (c == ' ') {
      out->push_back('+');
    } else {
      const auto b = static_cast<uint8_t>(c);
      out->push_back('%');
      out->push_back(kHex[b >> 4]);
      out->push_back(kHex[b & 0xF]);
    }
  }
}

std::string_view cdacMobile(std::string_view e164) {
  constexpr std::string_view kIndia = "+91";
  if (e164.size() != kIndia.size() + 10 || e164.substr(0, kIndia.size()) != kIndia) return {};
  const std::string_view national = e164.substr(kIndia.size());
  for (char c : national) {
    if (c < '0' || c > '9') return {};
  }
  if (national.front() < '6') return {};
  return national;
}

}  // namespace phigate::delivery
