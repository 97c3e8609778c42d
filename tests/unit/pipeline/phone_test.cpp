#include "pipeline/phone.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace phigate::pipeline {
namespace {

// Test numbers are fake: 98000000NN (Indian mobiles), 1632 960xxx (Ofcom's
// drama range, UK).
class NormalizePhoneTest : public ::testing::Test {
 protected:
  NormalizedPhone run(std::string_view input) {
    buf_.fill('#');
    return normalizePhone(input, defaultPhoneRegion(), buf_);
  }

  // The E.164 form, or "<invalid>" / "<not mobile: code>".
  std::string normalized(std::string_view input) {
    const NormalizedPhone p = run(input);
    switch (p.status) {
      case PhoneStatus::kOk: return std::string(p.e164);
      case PhoneStatus::kInvalid: return "<invalid>";
      case PhoneStatus::kNotMobile: return "<not mobile: " + std::string(p.region->not_mobile_code) + ">";
      case PhoneStatus::kNeedsPlus: return "<needs +>";
    }
    return "?";
  }

  E164Buffer buf_{};
};

constexpr std::string_view kNotIndian = "<not mobile: not_indian_mobile>";
constexpr std::string_view kNeedsPlus = "<needs +>";

TEST_F(NormalizePhoneTest, NationalNumbersBecomeE164) {
  EXPECT_EQ(normalized("9800000002"), "+919800000002");
  EXPECT_EQ(normalized("09800000002"), "+919800000002");  // trunk prefix
  for (char lead : {'6', '7', '8', '9'}) {
    const std::string national = std::string(1, lead) + "800000002";
    EXPECT_EQ(normalized(national), "+91" + national);
  }
}

TEST_F(NormalizePhoneTest, TwelveDigitsStarting91AreIndianWhenTheRestIsAMobile) {
  EXPECT_EQ(normalized("919800000002"), "+919800000002");
  // Otherwise still under +91 once the '+' is added: refused, not sent as is.
  EXPECT_EQ(normalized("910000000002"), kNotIndian);
  EXPECT_EQ(normalized("915800000002"), kNotIndian);
  // Other lengths are not the home country code plus a number: no guess.
  EXPECT_EQ(normalized("91980000000"), kNeedsPlus);     // 11 digits
  EXPECT_EQ(normalized("9198000000021"), kNeedsPlus);   // 13 digits
}

// A national number with a digit too many or too few must not become another
// country's: 98000000021 is not Iran's +98 0000 0021, it is a typo.
TEST_F(NormalizePhoneTest, WithoutAPlusOnlyHomeNumbersAreGuessed) {
  for (std::string_view typo : {"98000000021", "980000000", "70000000012", "600000001", "98000000",
                                "441632960000", "123456", "123456789012345"}) {
    EXPECT_EQ(normalized(typo), kNeedsPlus) << typo;
  }
  // Outside the floor rule it is no number at all.
  for (std::string_view bad : {"12345", "1234567890123456"}) EXPECT_EQ(normalized(bad), "<invalid>") << bad;
}

TEST_F(NormalizePhoneTest, Plus91MustBeAnIndianMobile) {
  EXPECT_EQ(normalized("+919800000001"), "+919800000001");
  EXPECT_EQ(normalized("+916000000001"), "+916000000001");
  for (std::string_view bad : {"+910000000001", "+915999999999", "+91980000000", "+9198000000011", "+91",
                               "+919", "+9109800000001", "+91980000000012345"}) {
    EXPECT_EQ(normalized(bad), kNotIndian) << bad;
  }
}

TEST_F(NormalizePhoneTest, NationalNonMobilesAreRefusedAsSuch) {
  // Ten digits, or a trunk prefix, is a national number: a landline or
  // nothing at all, never another country's number.
  for (std::string_view bad : {"5800000001", "1800000001", "2212345678", "0123456789", "0", "00",
                               "0980000000", "098000000021", "00441632960000"}) {
    EXPECT_EQ(normalized(bad), kNotIndian) << bad;
  }
}

TEST_F(NormalizePhoneTest, OtherCountriesKeepTheFloorRuleWithAPlus) {
  EXPECT_EQ(normalized("+441632960000"), "+441632960000");
  EXPECT_EQ(normalized("+123456"), "+123456");            // 6 digits
  EXPECT_EQ(normalized("+123456789012345"), "+123456789012345");  // 15 digits
  for (std::string_view bad : {"+12345", "+1234567890123456", "+0123456789", "+00441632960000"}) {
    EXPECT_EQ(normalized(bad), "<invalid>") << bad;
  }
}

TEST_F(NormalizePhoneTest, OnlyAsciiDigitsWithAnOptionalLeadingPlus) {
  for (std::string_view bad : {"", "+", "++919800000001", "+91 9800000001", "+91-9800000001", " 9800000001",
                               "9800000001 ", "9800000001\n", "(+91)9800000001", "98000000O1", "-9800000001",
                               "9800000001+", "\u0669\u0668\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0661",
                               "\uFF19\uFF18\uFF10\uFF10\uFF10\uFF10\uFF10\uFF10\uFF10\uFF11"}) {
    EXPECT_EQ(normalized(bad), "<invalid>") << testing::PrintToString(std::string(bad));
  }
  EXPECT_EQ(normalized(std::string_view("98000\0" "0001", 10)), "<invalid>");
}

TEST_F(NormalizePhoneTest, WritesOnlyTheNumberIntoTheBuffer) {
  const NormalizedPhone p = run("9800000002");
  ASSERT_EQ(p.status, PhoneStatus::kOk);
  EXPECT_EQ(p.e164.data(), buf_.data());
  EXPECT_EQ(p.e164.size(), 13u);
  EXPECT_EQ(buf_[13], '#');
  // Huge inputs are refused without writing anything.
  for (const std::string& huge : {std::string(1 << 20, '9'), "91" + std::string(1 << 20, '9'),
                                  "+" + std::string(1 << 20, '1')}) {
    EXPECT_NE(run(huge).status, PhoneStatus::kOk);
    EXPECT_EQ(buf_[0], '#');
  }
}

TEST(PhoneRegions, TheTableAndItsNames) {
  ASSERT_EQ(phoneRegions().size(), 1u);
  EXPECT_EQ(defaultPhoneRegion().name, "IN");
  EXPECT_EQ(defaultPhoneRegion().country_code, "91");
  EXPECT_EQ(findPhoneRegion("IN"), &defaultPhoneRegion());
  EXPECT_EQ(findPhoneRegion("in"), &defaultPhoneRegion());
  EXPECT_EQ(findPhoneRegion("In"), &defaultPhoneRegion());
  for (std::string_view unknown : {"", "US", "IND", "91", " IN", "IN ", "I"}) {
    EXPECT_EQ(findPhoneRegion(unknown), nullptr) << unknown;
  }
}

}  // namespace
}  // namespace phigate::pipeline
