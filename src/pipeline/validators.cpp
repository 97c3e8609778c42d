#include "pipeline/validators.h"

#include <array>
#include <cstddef>
#include <utility>

namespace phigate::pipeline {
namespace {

constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool isAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
constexpr bool isAlnum(char c) { return isDigit(c) || isAlpha(c); }

constexpr bool allDigits(std::string_view s) {
  for (char c : s) {
    if (!isDigit(c)) return false;
  }
  return true;
}

// ---------------------------------------------------------------- email

constexpr size_t kMaxEmailLength = 254;  // RFC 5321 §4.5.3.1.3 path limit minus "<>"
constexpr size_t kMaxLocalLength = 64;   // RFC 5321 §4.5.3.1.1
constexpr size_t kMaxLabelLength = 63;   // RFC 1035 §2.3.4

// The regex's local-part class [A-Za-z0-9._%+-].
constexpr bool isLocalChar(char c) {
  return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

// Stricter than the regex (which allows "a..b", ".a", "a."): RFC 5322 dot-atoms
// have no empty atoms, and such addresses are refused by real MTAs anyway.
bool isValidLocalPart(std::string_view local) {
  if (local.empty() || local.size() > kMaxLocalLength) return false;
  if (local.front() == '.' || local.back() == '.') return false;
  char prev = 0;
  for (char c : local) {
    if (!isLocalChar(c)) return false;
    if (c == '.' && prev == '.') return false;
    prev = c;
  }
  return true;
}

// The regex's domain is [A-Za-z0-9.-]+ "." [A-Za-z]{2,}: since the last part
// cannot contain a dot, backtracking can only split at the LAST dot, so the
// regex means "allowed characters, with a last dot that is not the first
// character and is followed by 2+ letters only". Stricter (all are
// hostname rules of RFC 1123 §2.1 / RFC 1035 §2.3.1, so no deliverable address
// is lost): no empty labels (leading, trailing or doubled dots), labels
// 1..63 characters that neither start nor end with '-'.
bool isValidDomain(std::string_view domain) {
  const size_t last_dot = domain.rfind('.');
  if (last_dot == std::string_view::npos || last_dot == 0) return false;
  const std::string_view tld = domain.substr(last_dot + 1);
  if (tld.size() < 2 || tld.size() > kMaxLabelLength) return false;
  for (char c : tld) {
    if (!isAlpha(c)) return false;
  }
  std::string_view rest = domain.substr(0, last_dot);
  while (true) {
    const size_t dot = rest.find('.');
    const std::string_view label = rest.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabelLength) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!isAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    rest.remove_prefix(dot + 1);
  }
}

// ---------------------------------------------------------------- UTF-8

struct Decoded {
  char32_t cp;
  uint32_t len;  // 0: ill-formed
};

constexpr bool inRange(unsigned char b, unsigned char lo, unsigned char hi) {
  return b >= lo && b <= hi;
}

// One code point per Unicode Table 3-7 (well-formed byte sequences). The
// second-byte ranges are what exclude overlongs (E0 80..9F, F0 80..8F),
// UTF-16 surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..).
Decoded decodeOne(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  const size_t left = s.size() - i;
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {b0, 1};
  auto cont = [&](size_t k) { return k < left && inRange(p[k], 0x80, 0xBF); };
  if (inRange(b0, 0xC2, 0xDF)) {
    if (!cont(1)) return {0, 0};
    return {char32_t((b0 & 0x1Fu) << 6 | (p[1] & 0x3Fu)), 2};
  }
  if (inRange(b0, 0xE0, 0xEF)) {
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
    if (left < 2 || !inRange(p[1], lo, hi) || !cont(2)) return {0, 0};
    return {char32_t((b0 & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu)), 3};
  }
  if (inRange(b0, 0xF0, 0xF4)) {
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (left < 2 || !inRange(p[1], lo, hi) || !cont(2) || !cont(3)) return {0, 0};
    return {char32_t((b0 & 0x07u) << 18 | (p[1] & 0x3Fu) << 12 | (p[2] & 0x3Fu) << 6 |
                     (p[3] & 0x3Fu)),
            4};
  }
  return {0, 0};  // stray continuation byte, C0/C1 overlong lead, F5..FF
}

// ---------------------------------------------------------------- GSM 03.38

constexpr char32_t kNoChar = 0xFFFF;  // 0x1B: escape to the extension table

// 3GPP TS 23.038 §6.2.1 default alphabet, indexed by septet value (rows of 16).
constexpr std::array<char32_t, 128> kGsm7Basic = {
    U'@', U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø', U'\r', U'Å', U'å',
    U'Δ', U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ', U'Σ', U'Θ', U'Ξ', kNoChar, U'Æ', U'æ', U'ß', U'É',
    U' ', U'!', U'"', U'#', U'¤', U'%', U'&', U'\'', U'(', U')', U'*', U'+', U',', U'-', U'.', U'/',
    U'0', U'1', U'2', U'3', U'4', U'5', U'6', U'7', U'8', U'9', U':', U';', U'<', U'=', U'>', U'?',
    U'¡', U'A', U'B', U'C', U'D', U'E', U'F', U'G', U'H', U'I', U'J', U'K', U'L', U'M', U'N', U'O',
    U'P', U'Q', U'R', U'S', U'T', U'U', U'V', U'W', U'X', U'Y', U'Z', U'Ä', U'Ö', U'Ñ', U'Ü', U'§',
    U'¿', U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h', U'i', U'j', U'k', U'l', U'm', U'n', U'o',
    U'p', U'q', U'r', U's', U't', U'u', U'v', U'w', U'x', U'y', U'z', U'ä', U'ö', U'ñ', U'ü', U'à',
};

// 3GPP TS 23.038 §6.2.1.1 extension table: {septet after ESC, character}.
// Each costs two septets (ESC + code). 0x0D and 0x1B there are control codes.
constexpr std::array<std::pair<uint8_t, char32_t>, 10> kGsm7Extension = {{
    {0x0A, U'\f'},
    {0x14, U'^'},
    {0x28, U'{'},
    {0x29, U'}'},
    {0x2F, U'\\'},
    {0x3C, U'['},
    {0x3D, U'~'},
    {0x3E, U']'},
    {0x40, U'|'},
    {0x65, U'€'},
}};

// Lookup tables are derived from the two tables above at compile time, so the
// tables stay the single source of truth. Every basic character is below
// U+0100 except ten Greek capitals in U+0393..U+03A9; € is the only extension
// character above U+00FF.
constexpr char32_t kGreekFirst = 0x0393;
constexpr char32_t kGreekLast = 0x03A9;
constexpr char32_t kEuro = 0x20AC;

struct CostTables {
  std::array<uint8_t, 256> latin1{};
  std::array<uint8_t, kGreekLast - kGreekFirst + 1> greek{};
};

constexpr CostTables buildCostTables() {
  CostTables t;
  for (char32_t c : kGsm7Basic) {
    if (c < 256) t.latin1[c] = 1;
    if (c >= kGreekFirst && c <= kGreekLast) t.greek[c - kGreekFirst] = 1;
  }
  for (const auto& entry : kGsm7Extension) {
    if (entry.second < 256) t.latin1[entry.second] = 2;
  }
  return t;
}

constexpr CostTables kCost = buildCostTables();

// Septets `cp` costs in GSM-7; 0 when it is not in the alphabet.
constexpr uint32_t gsm7Cost(char32_t cp) {
  if (cp < 256) return kCost.latin1[cp];
  if (cp >= kGreekFirst && cp <= kGreekLast) return kCost.greek[cp - kGreekFirst];
  return cp == kEuro ? 2 : 0;
}

constexpr bool lookupCoversTables() {
  uint32_t basic = 0;
  for (char32_t c : kGsm7Basic) {
    if (c == kNoChar) continue;
    if (gsm7Cost(c) != 1) return false;
    ++basic;
  }
  for (const auto& entry : kGsm7Extension) {
    if (gsm7Cost(entry.second) != 2) return false;
  }
  return basic == 127;
}
static_assert(lookupCoversTables(), "GSM-7 cost lookup out of sync with the tables");

// Greedy packing into concatenated parts: a character (escape pair or
// surrogate pair) that does not fit in the current part starts the next one.
struct PartPacker {
  uint32_t part_capacity;
  uint32_t parts = 1;
  uint32_t fill = 0;

  void add(uint32_t cost) {
    if (fill + cost > part_capacity) {
      ++parts;
      fill = 0;
    }
    fill += cost;
  }
};

}  // namespace

bool isValidPhone(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.size() < 6 || s.size() > 15) return false;
  return s.front() != '0' && allDigits(s);
}

namespace {
// Controls and invisible line breaks in UTF-8 text: every C0 control but
// `allowed` (-1: none), DEL, the C1 block (U+0080..U+009F, C2 80..9F) and
// U+2028/U+2029 (E2 80 A8/A9). In valid UTF-8, C2 and E2 only ever lead a
// sequence, so looking at bytes is exact.
bool hasControl(std::string_view utf8, int allowed) {
  const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
  const size_t n = utf8.size();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char b = p[i];
    if ((b < 0x20 && b != allowed) || b == 0x7F) return true;
    if (b == 0xC2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F) return true;
    if (b == 0xE2 && i + 2 < n && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) {
      return true;
    }
  }
  return false;
}
}  // namespace

bool hasHeaderUnsafeChar(std::string_view utf8) { return hasControl(utf8, -1); }

// LF is the line break. CR is refused although GSM-7 has it: a CR LF pair
// costs two characters and handsets render it differently. TAB has no GSM-7
// code: it would switch the whole text to UCS-2 (or be dropped by a gateway).
// C1 controls and U+2028/U+2029 are invisible on a handset and force UCS-2.
bool hasSmsUnsafeChar(std::string_view text) { return hasControl(text, '\n'); }

bool hasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

bool isValidEmail(std::string_view s) {
  // Stricter: 254 octets total (RFC 5321 path limit), local part ≤ 64.
  if (s.size() > kMaxEmailLength) return false;
  // Neither character class contains '@', so the regex has exactly one.
  const size_t at = s.find('@');
  if (at == std::string_view::npos) return false;
  return isValidLocalPart(s.substr(0, at)) && isValidDomain(s.substr(at + 1));
}

bool isValidTemplateId(std::string_view s) {
  return s.size() >= 12 && s.size() <= 19 && allDigits(s);
}

bool isValidSenderId(std::string_view s) {
  if (s.size() != 6) return false;
  for (char c : s) {
    if (!isAlpha(c)) return false;
  }
  return true;
}

std::optional<uint32_t> countCodePoints(std::string_view utf8) {
  uint32_t count = 0;
  size_t i = 0;
  while (i < utf8.size()) {
    if (static_cast<unsigned char>(utf8[i]) < 0x80) {  // ASCII: the common case
      ++i;
      ++count;
      continue;
    }
    const Decoded d = decodeOne(utf8, i);
    if (d.len == 0) return std::nullopt;
    i += d.len;
    ++count;
  }
  return count;
}

SmsText analyzeSmsText(std::string_view utf8) {
  SmsText result;
  uint32_t septets = 0;
  uint32_t utf16_units = 0;
  bool gsm7 = true;
  PartPacker gsm_parts{kGsm7PartSeptets};
  PartPacker ucs2_parts{kUcs2PartUnits};
  // One pass computes both encodings' packing: whether the text is GSM-7 is
  // only known at its end.
  for (size_t i = 0; i < utf8.size();) {
    const Decoded d = decodeOne(utf8, i);
    if (d.len == 0) return SmsText{};  // valid_utf8 = false
    i += d.len;
    ++result.code_points;
    const uint32_t units = d.cp >= 0x10000 ? 2 : 1;
    utf16_units += units;
    ucs2_parts.add(units);
    if (gsm7) {
      const uint32_t cost = gsm7Cost(d.cp);
      if (cost == 0) {
        gsm7 = false;
      } else {
        septets += cost;
        gsm_parts.add(cost);
      }
    }
  }
  result.valid_utf8 = true;
  if (result.code_points == 0) return result;  // GSM-7, 0 units, 0 segments
  if (gsm7) {
    result.encoding = SmsEncoding::kGsm7;
    result.units = septets;
    result.segments = septets <= kGsm7SingleSeptets ? 1 : gsm_parts.parts;
  } else {
    result.encoding = SmsEncoding::kUcs2;
    result.units = utf16_units;
    result.segments = utf16_units <= kUcs2SingleUnits ? 1 : ucs2_parts.parts;
  }
  return result;
}

}  // namespace phigate::pipeline
