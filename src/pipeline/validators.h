// Hand-written matchers for the values phigate accepts (DESIGN §3). They replace
// the guide's regular expressions: no regex engine, no allocation, linear time,
// ASCII-only character classes (a regex engine's \d may match other scripts'
// digits; these never do).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace phigate::pipeline {

/** Exactly `^\+?[1-9]\d{5,14}$` over ASCII: 6–15 digits, optional leading '+'. */
bool isValidPhone(std::string_view s);

/**
 * The language of `^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$`, narrowed
 * by rules that only refuse addresses no mail system delivers to (see the .cpp).
 */
bool isValidEmail(std::string_view s);

/** CDAC DLT template id: 12–19 ASCII digits. */
bool isValidTemplateId(std::string_view s);

/** DLT sender id (header): exactly 6 ASCII letters. */
bool isValidSenderId(std::string_view s);

/**
 * True when `utf8` holds a character a mail library may turn into a line
 * break or that has no place in a header: any C0 control (U+0000–U+001F,
 * TAB included), DEL, any C1 control (U+0080–U+009F, NEL U+0085 among them),
 * U+2028 LINE SEPARATOR or U+2029 PARAGRAPH SEPARATOR. For subjects,
 * addresses and display names: the text as decoded from JSON, so "\u2028"
 * counts. Meaningful for valid UTF-8 (validate it first).
 */
bool hasHeaderUnsafeChar(std::string_view utf8);

/**
 * True when SMS text holds a control character an SMS cannot carry: any C0
 * control but LF (CR, TAB and NUL included), or DEL.
 */
bool hasSmsUnsafeChar(std::string_view text);

/** True when `s` holds a NUL: the one character refused in email bodies. */
bool hasNul(std::string_view s);

/**
 * Strict UTF-8 validation (no overlongs, no encoded surrogates, nothing above
 * U+10FFFF, no truncated sequence) that also counts code points.
 * std::nullopt when `utf8` is not valid UTF-8.
 */
std::optional<uint32_t> countCodePoints(std::string_view utf8);

/** How an SMS is encoded on the air interface. */
enum class SmsEncoding : uint8_t { kGsm7, kUcs2 };

/** What an SMS text costs: its encoding, length in encoding units and segments. */
struct SmsText {
  bool valid_utf8 = false;
  uint32_t code_points = 0;
  SmsEncoding encoding = SmsEncoding::kGsm7;
  uint32_t units = 0;     // septets for GSM-7, UTF-16 code units for UCS-2
  uint32_t segments = 0;  // 0 for empty text
};

inline constexpr uint32_t kGsm7SingleSeptets = 160;  // one unconcatenated SMS
inline constexpr uint32_t kGsm7PartSeptets = 153;    // 160 minus the 6-octet UDH
inline constexpr uint32_t kUcs2SingleUnits = 70;
inline constexpr uint32_t kUcs2PartUnits = 67;

/**
 * Encoding and segment count of `utf8` as an SMS: GSM 03.38 default alphabet
 * (extension-table characters cost two septets) when every character is in
 * it, UCS-2/UTF-16 otherwise. Concatenated parts never split an escape pair
 * or a surrogate pair, as handsets and SMSCs require. For invalid UTF-8 only
 * `valid_utf8 = false` is meaningful (the other fields are zero).
 */
SmsText analyzeSmsText(std::string_view utf8);

}  // namespace phigate::pipeline
