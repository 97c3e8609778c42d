#include "pipeline/validators.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace phigate::pipeline {
namespace {

std::string repeat(std::string_view unit, size_t n) {
  std::string out;
  out.reserve(unit.size() * n);
  for (size_t i = 0; i < n; ++i) out += unit;
  return out;
}

// ------------------------------------------------------------------ phone

TEST(IsValidPhone, AcceptsSixToFifteenDigitsWithOptionalPlus) {
  EXPECT_TRUE(isValidPhone("100000"));                  // 6 digits
  EXPECT_TRUE(isValidPhone("+100000"));
  EXPECT_TRUE(isValidPhone("910000000001"));
  EXPECT_TRUE(isValidPhone("+910000000001"));
  EXPECT_TRUE(isValidPhone("100000000000000"));         // 15 digits
  EXPECT_TRUE(isValidPhone("+100000000000000"));
  EXPECT_TRUE(isValidPhone("999999999999999"));
}

TEST(IsValidPhone, RejectsOutsideTheRegex) {
  EXPECT_FALSE(isValidPhone("10000"));                  // 5 digits
  EXPECT_FALSE(isValidPhone("+10000"));
  EXPECT_FALSE(isValidPhone("1000000000000000"));       // 16 digits
  EXPECT_FALSE(isValidPhone("+1000000000000000"));
  EXPECT_FALSE(isValidPhone(""));
  EXPECT_FALSE(isValidPhone("+"));
  EXPECT_FALSE(isValidPhone("0910000000001"));          // [1-9] first
  EXPECT_FALSE(isValidPhone("+0910000000001"));
  EXPECT_FALSE(isValidPhone("++910000000001"));
  EXPECT_FALSE(isValidPhone("910000000001+"));
  EXPECT_FALSE(isValidPhone("-910000000001"));
  EXPECT_FALSE(isValidPhone("+91 0000000001"));
  EXPECT_FALSE(isValidPhone("+91-0000000001"));
  EXPECT_FALSE(isValidPhone(" 910000000001"));
  EXPECT_FALSE(isValidPhone("910000000001 "));
  // Python's `$` also matches before a final "\n"; this matcher does not.
  EXPECT_FALSE(isValidPhone("910000000001\n"));
  EXPECT_FALSE(isValidPhone(std::string_view("91000000\0" "001", 12)));
  EXPECT_FALSE(isValidPhone("91000000000a"));
}

TEST(IsValidPhone, DigitsAreAsciiOnly) {
  EXPECT_FALSE(isValidPhone("\u0661\u0662\u0663\u0664\u0665\u0666"));        // Arabic-Indic
  EXPECT_FALSE(isValidPhone("\u0967\u0968\u0969\u096A\u096B\u096C"));        // Devanagari
  EXPECT_FALSE(isValidPhone("\uFF11\uFF12\uFF13\uFF14\uFF15\uFF16"));        // fullwidth
  EXPECT_FALSE(isValidPhone("91000000000\xD9\xA1"));
}

// ------------------------------------------------------------------ email

TEST(IsValidEmail, AcceptsTheRegexLanguage) {
  EXPECT_TRUE(isValidEmail("a@example.invalid"));
  EXPECT_TRUE(isValidEmail("x@a.bc"));
  EXPECT_TRUE(isValidEmail("x@1.bc"));
  EXPECT_TRUE(isValidEmail("first.last@example.invalid"));
  EXPECT_TRUE(isValidEmail("a_b%c+d-e@sub-domain.example.invalid"));
  EXPECT_TRUE(isValidEmail("A.B@EXAMPLE.INVALID"));
  EXPECT_TRUE(isValidEmail("a@b.c.de"));         // the regex splits at the last dot
  EXPECT_TRUE(isValidEmail("a@123.example.invalid"));
  EXPECT_TRUE(isValidEmail("1@x-y.example.invalid"));
}

TEST(IsValidEmail, RejectsWhatTheRegexRejects) {
  EXPECT_FALSE(isValidEmail(""));
  EXPECT_FALSE(isValidEmail("a"));
  EXPECT_FALSE(isValidEmail("@example.invalid"));
  EXPECT_FALSE(isValidEmail("a@"));
  EXPECT_FALSE(isValidEmail("a@@example.invalid"));
  EXPECT_FALSE(isValidEmail("a@b@example.invalid"));
  EXPECT_FALSE(isValidEmail("a@com"));           // needs a dot
  EXPECT_FALSE(isValidEmail("a@.com"));          // needs a character before the dot
  EXPECT_FALSE(isValidEmail("a@x.c"));           // TLD of 1 letter
  EXPECT_FALSE(isValidEmail("a@b.cd.e"));        // last label decides: "e"
  EXPECT_FALSE(isValidEmail("a@x.c0m"));         // TLD letters only
  EXPECT_FALSE(isValidEmail("a@1.23"));
  EXPECT_FALSE(isValidEmail("a b@example.invalid"));
  EXPECT_FALSE(isValidEmail("a\"b@example.invalid"));
  EXPECT_FALSE(isValidEmail("a@x_y.example.invalid"));
  EXPECT_FALSE(isValidEmail("\xC3\xA9@example.invalid"));
  EXPECT_FALSE(isValidEmail("a@ex\xC3\xA4mple.invalid"));
  EXPECT_FALSE(isValidEmail("a@example.invalid\n"));
  EXPECT_FALSE(isValidEmail("a@example.invalid "));
  EXPECT_FALSE(isValidEmail("a@example.invalid\r\nBcc: x@example.invalid"));
}

TEST(IsValidEmail, StricterDotAndHyphenRules) {
  // All of these match the guide's regex; no mail system delivers to them.
  EXPECT_FALSE(isValidEmail(".a@example.invalid"));
  EXPECT_FALSE(isValidEmail("a.@example.invalid"));
  EXPECT_FALSE(isValidEmail("a..b@example.invalid"));
  EXPECT_FALSE(isValidEmail("a@.example.invalid"));
  EXPECT_FALSE(isValidEmail("a@example..invalid"));
  EXPECT_FALSE(isValidEmail("a@-example.invalid"));
  EXPECT_FALSE(isValidEmail("a@example-.invalid"));
  EXPECT_FALSE(isValidEmail("a@sub.-x.invalid"));
  EXPECT_TRUE(isValidEmail("a@ex-ample.invalid"));
  EXPECT_TRUE(isValidEmail("a@x--y.invalid"));
}

TEST(IsValidEmail, LengthLimits) {
  const std::string domain = "@example.invalid";  // 16 chars
  EXPECT_TRUE(isValidEmail(std::string(64, 'a') + domain));
  EXPECT_FALSE(isValidEmail(std::string(65, 'a') + domain));

  EXPECT_TRUE(isValidEmail("a@" + std::string(63, 'b') + ".invalid"));   // label of 63
  EXPECT_FALSE(isValidEmail("a@" + std::string(64, 'b') + ".invalid"));  // label of 64
  EXPECT_TRUE(isValidEmail("a@b." + std::string(63, 'c')));
  EXPECT_FALSE(isValidEmail("a@b." + std::string(64, 'c')));

  // Total 254 accepted, 255 refused: "a@" + labels of 63 chars.
  const std::string label(63, 'x');
  const std::string base = "a@" + label + "." + label + "." + label + ".";  // 194 chars
  const std::string ok = base + std::string(254 - base.size() - 3, 'y') + ".zz";
  ASSERT_EQ(ok.size(), 254u);
  EXPECT_TRUE(isValidEmail(ok));
  const std::string too_long = base + std::string(255 - base.size() - 3, 'y') + ".zz";
  ASSERT_EQ(too_long.size(), 255u);
  EXPECT_FALSE(isValidEmail(too_long));
}

// ------------------------------------------------------------------ ids

TEST(IsValidTemplateId, TwelveToNineteenDigits) {
  EXPECT_FALSE(isValidTemplateId(std::string(11, '1')));
  EXPECT_TRUE(isValidTemplateId(std::string(12, '1')));
  EXPECT_TRUE(isValidTemplateId("1007000000000000001"));  // 19
  EXPECT_TRUE(isValidTemplateId(std::string(19, '9')));
  EXPECT_FALSE(isValidTemplateId(std::string(20, '1')));
  EXPECT_TRUE(isValidTemplateId("000000000000"));
  EXPECT_FALSE(isValidTemplateId(""));
  EXPECT_FALSE(isValidTemplateId("10070000000a0"));
  EXPECT_FALSE(isValidTemplateId("+100700000000"));
  EXPECT_FALSE(isValidTemplateId(" 100700000000"));
  EXPECT_FALSE(isValidTemplateId("\u0661\u0662\u0663\u0664\u0665\u0666"));
}

TEST(IsValidSenderId, SixAsciiLetters) {
  EXPECT_TRUE(isValidSenderId("HOSPTL"));
  EXPECT_TRUE(isValidSenderId("HosPtl"));
  EXPECT_FALSE(isValidSenderId("HOSPT"));
  EXPECT_FALSE(isValidSenderId("HOSPTLX"));
  EXPECT_FALSE(isValidSenderId("HOSPT1"));
  EXPECT_FALSE(isValidSenderId("HOSP_T"));
  EXPECT_FALSE(isValidSenderId(""));
  EXPECT_FALSE(isValidSenderId("HOSP\xC3\x89"));
}

// ------------------------------------------------------------------ control characters

// Every code point of C0, DEL and C1, and the two Unicode separators, as UTF-8.
std::string utf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

TEST(HasHeaderUnsafeChar, RefusesEveryC0C1DelAndTheUnicodeSeparators) {
  for (char32_t cp = 0; cp <= 0x9F; ++cp) {
    if (cp >= 0x20 && cp < 0x7F) continue;
    EXPECT_TRUE(hasHeaderUnsafeChar("Lab " + utf8(cp) + " results")) << std::hex << static_cast<uint32_t>(cp);
    EXPECT_TRUE(hasHeaderUnsafeChar(utf8(cp))) << std::hex << static_cast<uint32_t>(cp);
  }
  EXPECT_TRUE(hasHeaderUnsafeChar("a\u2028b"));
  EXPECT_TRUE(hasHeaderUnsafeChar("a\u2029"));
}

TEST(HasHeaderUnsafeChar, AcceptsOrdinaryText) {
  EXPECT_FALSE(hasHeaderUnsafeChar(""));
  EXPECT_FALSE(hasHeaderUnsafeChar("Lab results: ready (2/3) ~ é я € 😀"));
  for (char32_t cp : {U'\u00A0', U'\u00A9', U'\u00FF', U'\u2027', U'\u202A', U'\u202F', U'\u2060',
                      U'\u0100', U'\u0885'}) {
    EXPECT_FALSE(hasHeaderUnsafeChar(utf8(cp))) << std::hex << static_cast<uint32_t>(cp);
  }
  // E2 80 A8/A9 only as a whole sequence.
  EXPECT_FALSE(hasHeaderUnsafeChar("\xE2\x80\xA7"));
  EXPECT_FALSE(hasHeaderUnsafeChar("\xE2\x81\xA8"));
}

TEST(HasSmsUnsafeChar, RefusesC0ButLfDelC1AndTheUnicodeSeparators) {
  for (char32_t cp = 0; cp < 0x20; ++cp) {
    EXPECT_EQ(hasSmsUnsafeChar("a" + utf8(cp) + "b"), cp != U'\n') << static_cast<uint32_t>(cp);
  }
  EXPECT_TRUE(hasSmsUnsafeChar("a\x7F"));
  EXPECT_TRUE(hasSmsUnsafeChar("a\r\nb"));
  EXPECT_TRUE(hasSmsUnsafeChar(std::string_view("a\0b", 3)));
  // Invisible on a handset: the C1 block and the Unicode line separators.
  for (const char* bad : {"a\u2028b", "a\u2029b", "a\u0085b", "a\u009Bb", "a\u0080b"}) {
    EXPECT_TRUE(hasSmsUnsafeChar(bad)) << bad;
  }
  EXPECT_FALSE(hasSmsUnsafeChar("Your OTP is 123456.\nDo not share it. é € 😀 \u00A0 \u2027"));
}

TEST(HasNul, FindsNulAnywhere) {
  EXPECT_TRUE(hasNul(std::string_view("\0", 1)));
  EXPECT_TRUE(hasNul(std::string_view("ab\0", 3)));
  EXPECT_FALSE(hasNul("a\r\n\tb\x01\x7F"));
  EXPECT_FALSE(hasNul(""));
}

// ------------------------------------------------------------------ UTF-8

TEST(CountCodePoints, CountsValidUtf8) {
  EXPECT_EQ(countCodePoints(""), 0u);
  EXPECT_EQ(countCodePoints("abc"), 3u);
  EXPECT_EQ(countCodePoints("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), 3u);  // é € 😀
  EXPECT_EQ(countCodePoints(std::string_view("\0", 1)), 1u);
}

TEST(CountCodePoints, AcceptsEveryBoundaryOfTheWellFormedTable) {
  for (const char* s : {"\x7F", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xE0\xBF\xBF", "\xE1\x80\x80",
                        "\xEC\xBF\xBF", "\xED\x80\x80", "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBF\xBF",
                        "\xF0\x90\x80\x80", "\xF0\xBF\xBF\xBF", "\xF1\x80\x80\x80", "\xF3\xBF\xBF\xBF",
                        "\xF4\x80\x80\x80", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_EQ(countCodePoints(s), 1u) << testing::PrintToString(std::string(s));
    EXPECT_TRUE(analyzeSmsText(s).valid_utf8);
  }
}

TEST(CountCodePoints, RejectsIllFormedUtf8) {
  for (const char* s : {
           "\x80",                  // stray continuation
           "\xBF",
           "a\x80z",
           "\xC0\xAF",              // overlong '/'
           "\xC1\xBF",
           "\xE0\x80\xAF",          // overlong
           "\xE0\x9F\xBF",
           "\xF0\x80\x80\xAF",      // overlong
           "\xF0\x8F\xBF\xBF",
           "\xED\xA0\x80",          // U+D800 (surrogate)
           "\xED\xBF\xBF",          // U+DFFF
           "\xED\xA0\xBD\xED\xB8\x80",  // CESU-8 pair
           "\xF4\x90\x80\x80",      // U+110000
           "\xF5\x80\x80\x80",
           "\xF8\x88\x80\x80\x80",
           "\xFE", "\xFF",
           "\xC3",                  // truncated
           "\xE2\x82",
           "\xF0\x9F\x98",
           "ab\xF0\x9F",
           "\xC3\x28",              // bad continuation
           "\xE2\x28\xA1",
           "\xE2\x82\x28",
           "\xF0\x9F\x28\x80",
       }) {
    EXPECT_FALSE(countCodePoints(s).has_value()) << testing::PrintToString(std::string(s));
    const SmsText t = analyzeSmsText(s);
    EXPECT_FALSE(t.valid_utf8) << testing::PrintToString(std::string(s));
    EXPECT_EQ(t.segments, 0u);
  }
}

// ------------------------------------------------------------------ SMS text

// The GSM 03.38 default alphabet in septet order, written independently of
// the implementation's table (0x1B, the escape, has no character).
constexpr std::string_view kGsmBasicRows[] = {
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ",  // 0x1B omitted
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
};

TEST(AnalyzeSmsText, EmptyTextHasNoSegments) {
  const SmsText t = analyzeSmsText("");
  EXPECT_TRUE(t.valid_utf8);
  EXPECT_EQ(t.code_points, 0u);
  EXPECT_EQ(t.encoding, SmsEncoding::kGsm7);
  EXPECT_EQ(t.units, 0u);
  EXPECT_EQ(t.segments, 0u);
}

TEST(AnalyzeSmsText, WholeBasicAlphabetIsOneSeptetEach) {
  std::string all;
  for (std::string_view row : kGsmBasicRows) {
    all += row;
    const SmsText t = analyzeSmsText(row);
    EXPECT_EQ(t.encoding, SmsEncoding::kGsm7) << row;
    EXPECT_EQ(t.units, t.code_points) << row;
  }
  const SmsText t = analyzeSmsText(all);
  EXPECT_TRUE(t.valid_utf8);
  EXPECT_EQ(t.code_points, 127u);
  EXPECT_EQ(t.encoding, SmsEncoding::kGsm7);
  EXPECT_EQ(t.units, 127u);
  EXPECT_EQ(t.segments, 1u);
}

TEST(AnalyzeSmsText, EachBasicCharacterAloneIsGsm7) {
  for (std::string_view row : kGsmBasicRows) {
    for (size_t i = 0; i < row.size();) {
      size_t len = 1;
      const auto b = static_cast<unsigned char>(row[i]);
      if (b >= 0xC0) len = b >= 0xE0 ? 3 : 2;
      const std::string_view ch = row.substr(i, len);
      const SmsText t = analyzeSmsText(ch);
      EXPECT_EQ(t.encoding, SmsEncoding::kGsm7) << testing::PrintToString(std::string(ch));
      EXPECT_EQ(t.units, 1u) << testing::PrintToString(std::string(ch));
      i += len;
    }
  }
}

TEST(AnalyzeSmsText, ExtensionCharactersCostTwoSeptets) {
  for (std::string_view ch : {"^", "{", "}", "\\", "[", "~", "]", "|", "€", "\f"}) {
    const SmsText t = analyzeSmsText(ch);
    EXPECT_EQ(t.encoding, SmsEncoding::kGsm7) << ch;
    EXPECT_EQ(t.code_points, 1u);
    EXPECT_EQ(t.units, 2u) << ch;
    EXPECT_EQ(t.segments, 1u);
  }
  const SmsText t = analyzeSmsText("Fee: 5€ [due]");
  EXPECT_EQ(t.code_points, 13u);
  EXPECT_EQ(t.units, 16u);
}

TEST(AnalyzeSmsText, CharactersOutsideGsm7ForceUcs2) {
  for (std::string_view ch : std::initializer_list<std::string_view>{
           "`", "\t", "\x0B", std::string_view("\0", 1), "\x7F",
           "ç",       // only capital Ç is in the table
           "á", "ê", "Ã", "ő", "Ÿ", "\xC2\xA0",  // NBSP
           "Α",       // Greek capital alpha U+0391: lookalike, not in the table
           "Β",       // U+0392, just below Γ
           "Ϊ",       // U+03AA, just above Ω
           "α", "δ", "я", "अ", "₹", "“", "’", "…", "😀",
       }) {
    const SmsText t = analyzeSmsText(ch);
    EXPECT_EQ(t.encoding, SmsEncoding::kUcs2) << testing::PrintToString(std::string(ch));
    EXPECT_EQ(t.segments, 1u);
  }
  const SmsText mixed = analyzeSmsText(std::string(100, 'a') + "я");
  EXPECT_EQ(mixed.encoding, SmsEncoding::kUcs2);
  EXPECT_EQ(mixed.units, 101u);
  EXPECT_EQ(mixed.segments, 2u);
}

TEST(AnalyzeSmsText, Gsm7SegmentsAt160And161) {
  SmsText t = analyzeSmsText(std::string(160, 'a'));
  EXPECT_EQ(t.encoding, SmsEncoding::kGsm7);
  EXPECT_EQ(t.units, 160u);
  EXPECT_EQ(t.segments, 1u);
  t = analyzeSmsText(std::string(161, 'a'));
  EXPECT_EQ(t.units, 161u);
  EXPECT_EQ(t.segments, 2u);
  EXPECT_EQ(analyzeSmsText(std::string(306, 'a')).segments, 2u);
  EXPECT_EQ(analyzeSmsText(std::string(307, 'a')).segments, 3u);
  // An escape pair counts two septets towards the 160.
  t = analyzeSmsText(std::string(158, 'a') + "€");
  EXPECT_EQ(t.units, 160u);
  EXPECT_EQ(t.segments, 1u);
  t = analyzeSmsText(std::string(159, 'a') + "€");
  EXPECT_EQ(t.units, 161u);
  EXPECT_EQ(t.segments, 2u);
}

TEST(AnalyzeSmsText, EscapePairIsNeverSplitAtThe153Boundary) {
  // 152 + (ESC €) straddles the end of part 1: it moves whole to part 2,
  // which then overflows by one septet.
  SmsText t = analyzeSmsText(std::string(152, 'a') + "€" + std::string(152, 'a'));
  EXPECT_EQ(t.units, 306u);
  EXPECT_EQ(t.segments, 3u);
  // Same length, pair ending exactly at septet 153: two full parts.
  t = analyzeSmsText(std::string(151, 'a') + "€" + std::string(153, 'a'));
  EXPECT_EQ(t.units, 306u);
  EXPECT_EQ(t.segments, 2u);
  t = analyzeSmsText(std::string(152, 'a') + "{" + std::string(151, 'a'));
  EXPECT_EQ(t.units, 305u);
  EXPECT_EQ(t.segments, 2u);
}

TEST(AnalyzeSmsText, Ucs2SegmentsAt70And71) {
  SmsText t = analyzeSmsText(repeat("я", 70));
  EXPECT_EQ(t.encoding, SmsEncoding::kUcs2);
  EXPECT_EQ(t.code_points, 70u);
  EXPECT_EQ(t.units, 70u);
  EXPECT_EQ(t.segments, 1u);
  t = analyzeSmsText(repeat("я", 71));
  EXPECT_EQ(t.units, 71u);
  EXPECT_EQ(t.segments, 2u);
  EXPECT_EQ(analyzeSmsText(repeat("я", 134)).segments, 2u);
  EXPECT_EQ(analyzeSmsText(repeat("я", 135)).segments, 3u);
  // A surrogate pair counts two units towards the 70.
  t = analyzeSmsText(repeat("я", 68) + "😀");
  EXPECT_EQ(t.code_points, 69u);
  EXPECT_EQ(t.units, 70u);
  EXPECT_EQ(t.segments, 1u);
  t = analyzeSmsText(repeat("я", 69) + "😀");
  EXPECT_EQ(t.units, 71u);
  EXPECT_EQ(t.segments, 2u);
}

TEST(AnalyzeSmsText, SurrogatePairIsNeverSplitAtThe67Boundary) {
  SmsText t = analyzeSmsText(repeat("a", 66) + "😀" + repeat("a", 66));
  EXPECT_EQ(t.encoding, SmsEncoding::kUcs2);
  EXPECT_EQ(t.units, 134u);
  EXPECT_EQ(t.segments, 3u);
  t = analyzeSmsText(repeat("a", 65) + "😀" + repeat("a", 67));
  EXPECT_EQ(t.units, 134u);
  EXPECT_EQ(t.segments, 2u);
  t = analyzeSmsText(repeat("😀", 35));  // 70 units
  EXPECT_EQ(t.code_points, 35u);
  EXPECT_EQ(t.segments, 1u);
  t = analyzeSmsText(repeat("😀", 36));  // 72 units: 33 pairs (66) per part
  EXPECT_EQ(t.units, 72u);
  EXPECT_EQ(t.segments, 2u);
}

TEST(AnalyzeSmsText, CountsCodePointsNotBytes) {
  const SmsText t = analyzeSmsText("é€😀");
  EXPECT_EQ(t.code_points, 3u);
  EXPECT_EQ(t.encoding, SmsEncoding::kUcs2);
  EXPECT_EQ(t.units, 4u);
  const SmsText g = analyzeSmsText("Ünïcödé");  // ï is not GSM
  EXPECT_EQ(g.code_points, 7u);
  EXPECT_EQ(g.encoding, SmsEncoding::kUcs2);
  const SmsText h = analyzeSmsText("Ünöcüdé");
  EXPECT_EQ(h.encoding, SmsEncoding::kGsm7);
  EXPECT_EQ(h.units, 7u);
}

}  // namespace
}  // namespace phigate::pipeline
