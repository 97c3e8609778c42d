// The mock provider's protocol functions: form decoding and the CDAC checks.
#include <gtest/gtest.h>

#include "mock/cdac.h"
#include "mock/form.h"

namespace phigate::mock {
namespace {

TEST(UrlDecode, PlusPercentAndPlainBytes) {
  std::string out;
  ASSERT_TRUE(urlDecode("a+b%26c%2bd%C3%A9", &out));
  EXPECT_EQ(out, "a b&c+d\xC3\xA9");
}

TEST(UrlDecode, RefusesTruncatedOrNonHexEscapes) {
  std::string out;
  EXPECT_FALSE(urlDecode("%", &out));
  EXPECT_FALSE(urlDecode("ab%4", &out));
  EXPECT_FALSE(urlDecode("%G0", &out));
}

TEST(ParseForm, SplitsDecodesAndBoundsTheFieldCount) {
  Form f;
  ASSERT_TRUE(parseForm("a=1&&b=x+y&c", &f));
  ASSERT_EQ(f.fields.size(), 3u);
  EXPECT_EQ(*f.find("b"), "x y");
  EXPECT_EQ(*f.find("c"), "");
  EXPECT_EQ(f.find("d"), nullptr);
  std::string many;
  for (size_t i = 0; i <= kMaxFormFields; ++i) many += "f=1&";
  EXPECT_FALSE(parseForm(many, &f));
}

TEST(CdacKey, HashesTheTrimmedConcatenation) {
  // sha512("uSIDhelloK") computed independently (sha512sum).
  EXPECT_EQ(cdacKey(" u ", "SID\n", " hello", "K "), sha512Hex("uSIDhelloK"));
  EXPECT_EQ(sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(CdacCheck, AcceptsAValidBulkFormAndRefusesABadNumber) {
  const CdacAccount acct{.username = "u", .password = "p", .secure_key = "k", .sender_id = "SID"};
  auto form = [&](const std::string& numbers) {
    Form f;
    f.fields = {{"username", "u"}, {"password", sha1Hex("p")}, {"senderid", "SID"},
                {"content", "hi"}, {"smsservicetype", "bulkmsg"}, {"bulkmobno", numbers},
                {"templateid", "1"}, {"key", cdacKey("u", "SID", "hi", "k")}};
    return f;
  };
  const Form good = form("9800000001,919800000002");
  const CdacCheck ok = checkCdacRequest(good, acct);
  EXPECT_EQ(ok.code, 402);
  EXPECT_EQ(ok.recipients.size(), 2u);
  EXPECT_EQ(checkCdacRequest(form("9800000001,,9800000003"), acct).code, 406);
  EXPECT_EQ(checkCdacRequest(form("5800000001"), acct).code, 406);
  EXPECT_EQ(cdacError(403).rfind("ERROR : 403 ", 0), 0u);
}

}  // namespace
}  // namespace phigate::mock
