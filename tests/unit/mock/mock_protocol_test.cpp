// The mock provider's protocol functions: form decoding and the CDAC checks.
#include <gtest/gtest.h>

#include "mock/behaviour.h"
#include "mock/cdac.h"
#include "mock/delivery_book.h"
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

TEST(CdacCheck, UnicodeMsgTakesBulkmobnoAsCdacsSampleSendsIt) {
  const CdacAccount acct{.username = "u", .password = "p", .secure_key = "k", .sender_id = "SID"};
  auto form = [&](const std::string& number_field) {
    Form f;
    f.fields = {{"username", "u"}, {"password", sha1Hex("p")}, {"senderid", "SID"},
                {"content", "&#65;"}, {"smsservicetype", "unicodemsg"}, {number_field, "9000000001"},
                {"templateid", "1"}, {"key", cdacKey("u", "SID", "&#65;", "k")}};
    return f;
  };
  EXPECT_EQ(checkCdacRequest(form("bulkmobno"), acct).code, 402);
  EXPECT_EQ(checkCdacRequest(form("mobileno"), acct).code, 404);
}

TEST(Control, AppliesKnownMembersAllOrNothing) {
  MockBehaviour b;
  ASSERT_TRUE(applyControl(R"({"latency_ms":5,"error_rate":0.25,"drop_rate":1,"fail_next":2,)"
                           R"("fail_code":405,"permanent_next":1,"permanent_code":411,)"
                           R"("undelivered_rate":0,"report_delay_ms":100})",
                           &b));
  EXPECT_EQ(b.latency_ms, 5u);
  EXPECT_EQ(b.error_rate, 0.25);
  EXPECT_EQ(b.drop_rate, 1.0);
  EXPECT_EQ(b.fail_next, 2u);
  EXPECT_EQ(b.fail_code, 405);
  EXPECT_EQ(b.permanent_code, 411);
  EXPECT_EQ(b.report_delay_ms, 100u);
  const MockBehaviour before = b;
  for (const char* bad : {R"({"latency_ms":1,"nope":1})", R"({"error_rate":1.5})", R"({"fail_code":406})",
                          R"({"permanent_code":409})", R"({"latency_ms":-1})", R"([1])", "{", ""}) {
    EXPECT_FALSE(applyControl(bad, &b)) << bad;
    EXPECT_EQ(behaviourJson(b), behaviourJson(before)) << bad;
  }
  MockBehaviour round;
  ASSERT_TRUE(applyControl(behaviourJson(b), &round));
  EXPECT_EQ(behaviourJson(round), behaviourJson(b));
}

TEST(DeliveryBook, ReportsSubmittedUntilReadyThenTheDecidedState) {
  DeliveryBook book;
  book.accept("m1", {{"9000000001", true}, {"9000000009", false}}, 50);
  const std::string early = book.reportXml("u", "m1", 49);
  EXPECT_NE(early.find("<subSMSCount>2</subSMSCount>"), std::string::npos);
  const std::string late = book.reportXml("u", "m1", 50);
  EXPECT_NE(late.find("<delvSMSCount>1</delvSMSCount><fldSMSCount>1</fldSMSCount>"), std::string::npos);
  EXPECT_NE(late.find("<fld><no mobNo=\"919000000009\">UNDELIV</no></fld>"), std::string::npos);
  const std::string unknown = book.reportXml("u", "m2", 50);
  EXPECT_NE(unknown.find("<delvSMSCount>0</delvSMSCount><fldSMSCount>0</fldSMSCount>"
                         "<subSMSCount>0</subSMSCount>"),
            std::string::npos);
}

}  // namespace
}  // namespace phigate::mock
