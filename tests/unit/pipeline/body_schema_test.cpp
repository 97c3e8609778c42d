#include "pipeline/body_schema.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace phigate::pipeline {
namespace {

using Errors = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kPhone = "+919800000001";
constexpr std::string_view kPhone2 = "+919800000002";

std::string repeat(std::string_view unit, size_t n) {
  std::string out;
  out.reserve(unit.size() * n);
  for (size_t i = 0; i < n; ++i) out += unit;
  return out;
}

std::string phone(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "+9198%08d", i + 1);
  return buf;
}

std::string smsBody(std::string_view to, std::string_view message, std::string_view extra = "") {
  return "{\"to\":\"" + std::string(to) + "\",\"message\":\"" + std::string(message) + "\"" +
         std::string(extra) + "}";
}

std::string emailBody(std::string_view fields) {
  return "{\"to\":\"a@example.invalid\",\"subject\":\"Lab results\"" + std::string(fields) + "}";
}

// `n` nested containers: {"a":{"a":...{}...}} or [[...]].
std::string nestedObjects(int n) {
  return repeat("{\"a\":", static_cast<size_t>(n - 1)) + "{}" + repeat("}", static_cast<size_t>(n - 1));
}
std::string nestedArrays(int n) {
  return repeat("[", static_cast<size_t>(n)) + repeat("]", static_cast<size_t>(n));
}

class BodySchemaTest : public ::testing::Test {
 protected:
  // The server hands the validator a body followed by SIMDJSON_PADDING bytes
  // of whatever comes next in its read buffer (e.g. a pipelined request):
  // fill them with JSON-significant junk to prove they are never parsed.
  std::string_view pad(std::string_view json) {
    buffer_.assign(json);
    static constexpr std::string_view kJunk = "\"}]1\\e\x80,";
    for (size_t i = 0; i < simdjson::SIMDJSON_PADDING; ++i) buffer_.push_back(kJunk[i % kJunk.size()]);
    return {buffer_.data(), json.size()};
  }

  BodyStatus sms(std::string_view json) { return v_.validateSms(pad(json), &sms_); }
  BodyStatus bulk(std::string_view json) { return v_.validateBulk(pad(json), &bulk_); }
  BodyStatus email(std::string_view json) { return v_.validateEmail(pad(json), &email_); }

  Errors errs() const {
    Errors out;
    for (const FieldError& e : v_.errors()) out.emplace_back(std::string(e.field), std::string(e.code));
    return out;
  }

  // The "allowed" names of the error at `field` with code unknown_field.
  std::vector<std::string> allowedAt(std::string_view field) const {
    for (const FieldError& e : v_.errors()) {
      if (e.field == field && e.code == "unknown_field") return {e.allowed.begin(), e.allowed.end()};
    }
    ADD_FAILURE() << "no unknown_field error at \"" << field << "\"";
    return {};
  }

  void expectMalformed(BodyStatus status, std::string_view code) {
    EXPECT_EQ(status, BodyStatus::kMalformed);
    EXPECT_EQ(errs(), (Errors{{"", std::string(code)}}));
  }

  BodyValidator v_;
  std::string buffer_;
  SmsMessage sms_;
  std::span<const SmsMessage> bulk_;
  EmailMessage email_;
};

// ================================================================== /v1/sms

TEST_F(BodySchemaTest, SmsMinimal) {
  ASSERT_EQ(sms(smsBody(kPhone, "Your appointment is at 10:00")), BodyStatus::kOk);
  EXPECT_TRUE(v_.errors().empty());
  EXPECT_EQ(sms_.to, kPhone);
  EXPECT_EQ(sms_.message, "Your appointment is at 10:00");
  EXPECT_EQ(sms_.template_id, "");
  EXPECT_EQ(sms_.sender_id, "");
  EXPECT_EQ(sms_.type, SmsType::kTransactional);
  EXPECT_TRUE(sms_.text.valid_utf8);
  EXPECT_EQ(sms_.text.encoding, SmsEncoding::kGsm7);
  EXPECT_EQ(sms_.text.segments, 1u);
}

TEST_F(BodySchemaTest, SmsAllFieldsAnyOrderAndWhitespace) {
  ASSERT_EQ(sms(" \r\n\t{ \"type\" : \"otp\" , \"sender_id\":\"HOSPTL\", \"template_id\":\"1007000000000000001\","
                " \"message\" : \"Your OTP is 123456\", \"to\":\"919800000001\" } \n"),
            BodyStatus::kOk)
      << testing::PrintToString(errs());
  EXPECT_EQ(sms_.to, "+919800000001");  // normalised to E.164
  EXPECT_EQ(sms_.type, SmsType::kOtp);
  EXPECT_EQ(sms_.sender_id, "HOSPTL");
  EXPECT_EQ(sms_.template_id, "1007000000000000001");
  ASSERT_EQ(sms(smsBody(kPhone, "x", ",\"type\":\"transactional\"")), BodyStatus::kOk);
  EXPECT_EQ(sms_.type, SmsType::kTransactional);
}

TEST_F(BodySchemaTest, SmsStringsAreUnescaped) {
  ASSERT_EQ(sms(smsBody(kPhone, R"(Line1\nL\u00e9 \ud83d\ude00 \"q\" \\ \/)")), BodyStatus::kOk);
  EXPECT_EQ(sms_.message, "Line1\nLé 😀 \"q\" \\ /");
  EXPECT_EQ(sms_.text.code_points, 18u);
  EXPECT_EQ(sms_.text.encoding, SmsEncoding::kUcs2);
  // Escaped keys are the same keys.
  ASSERT_EQ(sms(R"({"t\u006f":"+919800000001","\u006dessage":"x"})"), BodyStatus::kOk);
  EXPECT_EQ(sms_.to, kPhone);
}

TEST_F(BodySchemaTest, SmsPhoneBoundaries) {
  EXPECT_EQ(sms(smsBody("+100000", "x")), BodyStatus::kOk);                 // 6 digits
  EXPECT_EQ(sms_.to, "+100000");
  // Without '+', only a home-region number is read as one (no guessing).
  EXPECT_EQ(sms(smsBody("100000", "x")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "country_code_required"}}));
  EXPECT_EQ(sms(smsBody("+100000000000000", "x")), BodyStatus::kOk);        // 15 digits
  EXPECT_EQ(sms(smsBody("10000", "x")), BodyStatus::kInvalid);              // 5
  EXPECT_EQ(errs(), (Errors{{"to", "invalid_phone"}}));
  EXPECT_EQ(sms(smsBody("+1000000000000000", "x")), BodyStatus::kInvalid);  // 16
  EXPECT_EQ(errs(), (Errors{{"to", "invalid_phone"}}));
  EXPECT_EQ(sms(smsBody("", "x")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "invalid_phone"}}));
  EXPECT_EQ(sms(smsBody(R"(+919800000001\n)", "x")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "invalid_phone"}}));
}

// What is stored, sealed and sent is the E.164 form, kept by the validator:
// not a view into the body.
TEST_F(BodySchemaTest, SmsRecipientIsNormalisedToE164) {
  for (std::string_view to : {"9800000002", "09800000002", "919800000002", "+919800000002"}) {
    SCOPED_TRACE(std::string(to));
    ASSERT_EQ(sms(smsBody(to, "x")), BodyStatus::kOk) << testing::PrintToString(errs());
    EXPECT_EQ(sms_.to, "+919800000002");
    EXPECT_FALSE(sms_.to.data() >= buffer_.data() && sms_.to.data() < buffer_.data() + buffer_.size())
        << "'to' must not point into the request";
  }
  ASSERT_EQ(sms(smsBody("+441632960000", "x")), BodyStatus::kOk);  // other countries: floor rule
  EXPECT_EQ(sms_.to, "+441632960000");
  EXPECT_EQ(sms(smsBody("441632960000", "x")), BodyStatus::kInvalid);  // ... with their '+'
  EXPECT_EQ(errs(), (Errors{{"to", "country_code_required"}}));
}

TEST_F(BodySchemaTest, SmsUnderPlus91MustBeAnIndianMobile) {
  for (std::string_view to : {"+910000000001", "+915800000001", "+91980000000", "+9198000000011", "+91",
                              "+9109800000001", "910000000001", "5800000001", "0123456789", "0"}) {
    SCOPED_TRACE(std::string(to));
    EXPECT_EQ(sms(smsBody(to, "x")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"to", "not_indian_mobile"}}));
    EXPECT_EQ(sms_.to, "");
  }
}

TEST_F(BodySchemaTest, SmsMessageControlCharacters) {
  // LF is the one control an SMS carries.
  ASSERT_EQ(sms(smsBody(kPhone, R"(line 1\nline 2)")), BodyStatus::kOk);
  EXPECT_EQ(sms_.message, "line 1\nline 2");
  for (std::string_view bad : {R"(\r)", R"(\r\n)", R"(\t)", R"(\u0000)", R"(\u0001)", R"(\u000c)",
                               R"(\u001b)", R"(\u001f)", R"(\u007f)"}) {
    SCOPED_TRACE(std::string(bad));
    EXPECT_EQ(sms(smsBody(kPhone, "a" + std::string(bad) + "b")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"message", "control_character"}}));
  }
  // Invisible on a handset: C1 controls and the Unicode line separators too.
  for (std::string_view bad : {R"(\u2028)", R"(\u2029)", R"(\u0085)", R"(\u009b)"}) {
    SCOPED_TRACE(std::string(bad));
    EXPECT_EQ(sms(smsBody(kPhone, "a" + std::string(bad) + "b")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"message", "control_character"}}));
  }
  EXPECT_EQ(sms(smsBody(kPhone, R"(a\u00a0b\u2027c)")), BodyStatus::kOk);
  // Both bulk forms apply the rule.
  EXPECT_EQ(bulk(R"({"to":["+919800000001"],"message":"a\rb"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"message", "control_character"}}));
  EXPECT_EQ(bulk(R"({"messages":[{"to":"+919800000001","message":"a\tb"}]})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages[0].message", "control_character"}}));
}

TEST_F(BodySchemaTest, SmsMessageLengthInCodePoints) {
  EXPECT_EQ(sms(smsBody(kPhone, std::string(500, 'a'))), BodyStatus::kOk);
  EXPECT_EQ(sms_.text.code_points, 500u);
  EXPECT_EQ(sms_.text.segments, 4u);
  EXPECT_EQ(sms(smsBody(kPhone, std::string(501, 'a'))), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"message", "too_long"}}));

  for (std::string_view ch : {"я", "€", "😀", R"(\u00e9)", R"(\ud83d\ude00)"}) {
    SCOPED_TRACE(std::string(ch));
    EXPECT_EQ(sms(smsBody(kPhone, repeat(ch, 500))), BodyStatus::kOk);
    EXPECT_EQ(sms_.text.code_points, 500u);
    EXPECT_EQ(sms(smsBody(kPhone, repeat(ch, 501))), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"message", "too_long"}}));
  }
  EXPECT_EQ(sms(smsBody(kPhone, repeat("😀", 500))), BodyStatus::kOk);
  EXPECT_EQ(sms_.text.units, 1000u);
  EXPECT_EQ(sms_.text.segments, 16u);  // 33 pairs (66 units) per 67-unit part

  EXPECT_EQ(sms(smsBody(kPhone, "")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"message", "empty"}}));
}

TEST_F(BodySchemaTest, SmsSegmentsReported) {
  ASSERT_EQ(sms(smsBody(kPhone, std::string(160, 'a'))), BodyStatus::kOk);
  EXPECT_EQ(sms_.text.segments, 1u);
  ASSERT_EQ(sms(smsBody(kPhone, std::string(161, 'a'))), BodyStatus::kOk);
  EXPECT_EQ(sms_.text.segments, 2u);
  ASSERT_EQ(sms(smsBody(kPhone, repeat("я", 71))), BodyStatus::kOk);
  EXPECT_EQ(sms_.text.encoding, SmsEncoding::kUcs2);
  EXPECT_EQ(sms_.text.segments, 2u);
}

TEST_F(BodySchemaTest, SmsTemplateIdTypeAndSenderId) {
  EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"template_id\":\"" + std::string(12, '1') + "\"")), BodyStatus::kOk);
  EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"template_id\":\"" + std::string(19, '1') + "\"")), BodyStatus::kOk);
  EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"template_id\":\"" + std::string(11, '1') + "\"")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"template_id", "invalid_template_id"}}));
  EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"template_id\":\"" + std::string(20, '1') + "\"")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"template_id", "invalid_template_id"}}));

  for (std::string_view type : {"OTP", "promotional", "", "otp "}) {
    EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"type\":\"" + std::string(type) + "\"")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"type", "invalid_value"}}));
  }
  for (std::string_view sender : {"HOSPT", "HOSPTLX", "HOSPT1", ""}) {
    EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"sender_id\":\"" + std::string(sender) + "\"")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"sender_id", "invalid_sender_id"}}));
  }
}

TEST_F(BodySchemaTest, SmsRequiredFields) {
  EXPECT_EQ(sms("{}"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "required"}, {"message", "required"}}));
  EXPECT_EQ(sms(R"({"to":"+919800000001"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"message", "required"}}));
}

TEST_F(BodySchemaTest, SmsWrongTypes) {
  EXPECT_EQ(sms(R"({"to":919800000001,"message":"x"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "wrong_type"}}));
  EXPECT_EQ(sms(R"({"to":"+919800000001","message":null})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"message", "wrong_type"}}));
  // null is not "absent" for an optional field.
  EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"template_id\":null,\"type\":true,\"sender_id\":[\"HOSPTL\"]")),
            BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"template_id", "wrong_type"}, {"type", "wrong_type"}, {"sender_id", "wrong_type"}}));
  EXPECT_EQ(sms(R"({"to":{"number":"+919800000001"},"message":["x"]})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "wrong_type"}, {"message", "wrong_type"}}));
  EXPECT_EQ(sms(R"({"to":false,"message":-0.5e-7})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "wrong_type"}, {"message", "wrong_type"}}));
}

TEST_F(BodySchemaTest, HugeNumbersAreWellFormedButTheWrongType) {
  for (std::string_view number : {"1e999999", "-1e999999", "123456789012345678901234567890",
                                  "1.0000000000000000000000000000000000001", "0", "-0", "1E+2", "1e-400"}) {
    SCOPED_TRACE(std::string(number));
    EXPECT_EQ(sms("{\"to\":" + std::string(number) + ",\"message\":\"x\"}"), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"to", "wrong_type"}}));
    EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"zz\":" + std::string(number))), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}}));
  }
}

TEST_F(BodySchemaTest, SeveralErrorsAreReportedTogether) {
  EXPECT_EQ(sms(R"({"to":"12","message":"","type":"x","sender_id":"1","template_id":"2","extra":1})"),
            BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "invalid_phone"},
                            {"message", "empty"},
                            {"type", "invalid_value"},
                            {"sender_id", "invalid_sender_id"},
                            {"template_id", "invalid_template_id"},
                            {"", "unknown_field"}}));
}

TEST_F(BodySchemaTest, DuplicateKeys) {
  EXPECT_EQ(sms(R"({"to":"+919800000001","message":"x","to":"+919800000002"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "duplicate_field"}}));
  // An escape cannot disguise the repeat.
  EXPECT_EQ(sms(R"({"to":"+919800000001","message":"x","t\u006f":"+919800000002"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "duplicate_field"}}));
  EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"type\":\"otp\",\"type\":\"otp\"")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"type", "duplicate_field"}}));
  // The repeated value is still checked for syntax.
  EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"to\":[1,,2]")), BodyStatus::kMalformed);
}

const std::vector<std::string> kSmsNames = {"to", "message", "template_id", "type", "sender_id"};
const std::vector<std::string> kEmailNames = {"to", "subject", "text", "html", "reply_to"};

// An unknown key is client data (a number or a name typed into the wrong
// place): it is reported as the object holding it, with the names that
// object accepts, and never echoed, however harmless it looks.
TEST_F(BodySchemaTest, UnknownFieldsAreReportedByPositionWithTheAllowedNames) {
  for (const std::string& name : {std::string("priority"), std::string(R"(\u0070riority)"), std::string("To"),
                                  std::string(64, 'n'), std::string(1000, 'n'), std::string("a-b"),
                                  std::string("a b"), std::string(""), std::string("\xC3\xA9"),
                                  std::string(R"(\u0000)"), std::string(R"(a\"b)"), std::string("<script>"),
                                  std::string("9800000002")}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"" + name + "\":{\"deep\":[1,2,{}]}")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}}));
    EXPECT_EQ(allowedAt(""), kSmsNames);
  }
}

TEST_F(BodySchemaTest, UnknownFieldsAreOneErrorPerObject) {
  EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"a\":1,\"b\":2,\"c\":3")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}}));
  // Other errors keep their order; the object's unknown_field follows its fields.
  EXPECT_EQ(sms(R"({"zz":1,"to":"12"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "invalid_phone"}, {"", "unknown_field"}, {"message", "required"}}));
  // Only unknown_field errors carry names.
  for (const FieldError& e : v_.errors()) EXPECT_EQ(e.allowed.empty(), e.code != "unknown_field");
}

// ================================================================== malformed

TEST_F(BodySchemaTest, MalformedJson) {
  for (std::string_view body : {
           "", " ", "\n", "{", "}", "{\"to\":", "{\"to\":\"+919800000001\"", "{\"to\":\"+91",
           "{\"to\" \"x\"}", "{\"to\":\"x\",}", "{,}", "{\"to\":\"x\" \"message\":\"y\"}",
           "{\"to\":\"x\"}x", "{\"to\":\"x\"}}", "{}{}", "{} []", "{'to':'x'}", "{to:\"x\"}",
           "{\"to\":tru}", "{\"to\":truex}", "{\"to\":True}", "{\"to\":nul}", "{\"to\":nulll}",
           "{\"to\":01}", "{\"to\":1.}", "{\"to\":.5}", "{\"to\":+1}", "{\"to\":-}", "{\"to\":1e}",
           "{\"to\":1e+}", "{\"to\":0x10}", "{\"to\":NaN}", "{\"to\":Infinity}", "{\"to\":-Infinity}",
           "{\"a\":[1,,2]}", "{\"a\":[1 2]}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":{\"b\"}}",
           "{\"a\":{\"b\":1,}}", "{\"a\":[}", "{\"a\":{]}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
           "{\"a\":\"\\u12G4\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}",
           "{\"to\":\"x\",\"message\":\"", "{\"a\":\"b\":\"c\"}", "{\"a\"::1}", "{\"a\":1 1}",
           "{\"a\":[[[[]]]}", "{\"a\":[[[]]]]}", "{\"a\":/*c*/1}", "{\"a\":1}\n//",
           "\xEF\xBB\xBF{\"to\":\"+919800000001\",\"message\":\"x\"}",  // BOM (RFC 8259 §8.1)
       }) {
    SCOPED_TRACE(testing::PrintToString(std::string(body)));
    expectMalformed(sms(body), "malformed_json");
    EXPECT_TRUE(bulk_.empty());
  }
}

TEST_F(BodySchemaTest, EmptyViewIsMalformed) {
  expectMalformed(v_.validateSms(std::string_view(), &sms_), "malformed_json");
}

TEST_F(BodySchemaTest, ControlCharactersMustBeEscaped) {
  expectMalformed(sms(smsBody(kPhone, "a\nb")), "malformed_json");
  expectMalformed(sms(smsBody(kPhone, std::string("a\0b", 3))), "malformed_json");
  expectMalformed(sms(smsBody(kPhone, "a\x1f")), "malformed_json");
  // Escaped, they are well-formed JSON; the schema then refuses what an SMS
  // cannot carry (SmsMessageControlCharacters).
  EXPECT_EQ(sms(smsBody(kPhone, R"(a\nb\u0000)")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"message", "control_character"}}));
}

TEST_F(BodySchemaTest, SyntaxErrorAfterSchemaErrorsStillMalformed) {
  std::string body = "{";
  for (int i = 0; i < 40; ++i) body += "\"f" + std::to_string(i) + "\":1,";
  body += "\"to\":123,\"late\":[1,,2]}";
  expectMalformed(sms(body), "malformed_json");
}

TEST_F(BodySchemaTest, InvalidUtf8) {
  // Raw ill-formed bytes anywhere (value or key) make the whole body invalid.
  for (std::string_view bad : {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82", "\x80", "\xFF"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(bad)));
    expectMalformed(sms(smsBody(kPhone, "ok " + std::string(bad) + " ok")), "invalid_utf8");
    expectMalformed(sms(smsBody(kPhone, "x", ",\"k" + std::string(bad) + "\":1")), "invalid_utf8");
    expectMalformed(email(emailBody(",\"text\":\"" + std::string(bad) + "\"")), "invalid_utf8");
  }
  // Truncated at the end of the body.
  expectMalformed(sms(std::string(smsBody(kPhone, "x")) + "\xE2\x82"), "invalid_utf8");
}

TEST_F(BodySchemaTest, NotAnObject) {
  for (std::string_view body : {"[]", "[1,2]", "\"x\"", "1", "-1.5e3", "null", "true", "false", "[{\"to\":1}]"}) {
    SCOPED_TRACE(std::string(body));
    expectMalformed(sms(body), "not_object");
  }
  expectMalformed(sms("[1,,2]"), "malformed_json");
  expectMalformed(sms("tru"), "malformed_json");
  expectMalformed(sms("\"\\x\""), "malformed_json");
}

TEST_F(BodySchemaTest, DepthLimitAtTopLevel) {
  EXPECT_EQ(sms(nestedObjects(8)), BodyStatus::kInvalid);  // depth 8 is allowed
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}, {"to", "required"}, {"message", "required"}}));
  expectMalformed(sms(nestedObjects(9)), "too_deep");
  expectMalformed(sms(nestedArrays(8)), "not_object");
  expectMalformed(sms(nestedArrays(9)), "too_deep");
  expectMalformed(sms(nestedArrays(100000)), "too_deep");  // no recursion past the limit
  expectMalformed(sms(nestedObjects(100000)), "too_deep");
  // Unclosed: simdjson sees the unmatched '{' before any walk.
  expectMalformed(sms(repeat("{\"a\":", 100000)), "malformed_json");
}

TEST_F(BodySchemaTest, DepthLimitInsideAKnownField) {
  // The top-level object is depth 1, so "to" holding 7 arrays reaches depth 8.
  EXPECT_EQ(sms("{\"to\":" + nestedArrays(7) + ",\"message\":\"x\"}"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "wrong_type"}}));
  expectMalformed(sms("{\"to\":" + nestedArrays(8) + ",\"message\":\"x\"}"), "too_deep");
  expectMalformed(sms("{\"message\":\"x\",\"to\":" + nestedObjects(8) + "}"), "too_deep");
  // Also after the field was already seen (duplicate) and in unknown fields.
  expectMalformed(sms(smsBody(kPhone, "x", ",\"to\":" + nestedArrays(8))), "too_deep");
  expectMalformed(sms(smsBody(kPhone, "x", ",\"zz\":" + nestedArrays(8))), "too_deep");
  // Even when depth is hit after many schema errors.
  expectMalformed(sms("{\"to\":1,\"message\":2,\"zz\":" + nestedArrays(8) + "}"), "too_deep");
}

TEST_F(BodySchemaTest, BodySizeLimit) {
  std::string body = smsBody(kPhone, "x");
  body.append(BodyValidator::kMaxBodyBytes - body.size(), ' ');
  EXPECT_EQ(sms(body), BodyStatus::kOk);
  body.push_back(' ');
  expectMalformed(sms(body), "too_large");
}

TEST_F(BodySchemaTest, AtMost32ErrorsAreKept) {
  std::string body = "{\"message\":\"x\",\"to\":[";
  for (int i = 0; i < 40; ++i) body += std::string(i ? "," : "") + "\"1\"";
  EXPECT_EQ(bulk(body + "]}"), BodyStatus::kInvalid);
  const Errors e = errs();
  ASSERT_EQ(e.size(), BodyValidator::kMaxErrors);
  EXPECT_EQ(e.front(), (std::pair<std::string, std::string>{"to[0]", "invalid_phone"}));
  EXPECT_EQ(e.back(), (std::pair<std::string, std::string>{"to[31]", "invalid_phone"}));
}

TEST_F(BodySchemaTest, StateDoesNotLeakBetweenCalls) {
  EXPECT_EQ(sms(R"({"zz":1})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs().size(), 3u);
  EXPECT_EQ(sms(smsBody(kPhone, "x", ",\"type\":\"otp\"")), BodyStatus::kOk);
  EXPECT_TRUE(v_.errors().empty());
  EXPECT_EQ(sms_.type, SmsType::kOtp);
  EXPECT_EQ(sms(smsBody(kPhone2, "y")), BodyStatus::kOk);
  EXPECT_EQ(sms_.type, SmsType::kTransactional);
  EXPECT_EQ(sms_.to, kPhone2);
  expectMalformed(sms("{"), "malformed_json");
  EXPECT_EQ(email(emailBody(",\"text\":\"t\"")), BodyStatus::kOk);
  EXPECT_TRUE(v_.errors().empty());
}

// The rejected values themselves never come back: not in a field path, not
// in a code, not even an identifier-like unknown field name.
TEST_F(BodySchemaTest, ErrorsNeverEchoRejectedValues) {
  const std::string m = "ZQXMARKERQXZ";
  const std::vector<std::string> sms_bodies = {
      smsBody(m, m),
      smsBody(m, repeat(m, 100), ",\"template_id\":\"" + m + "\",\"type\":\"" + m + "\",\"sender_id\":\"" + m + "\""),
      smsBody(kPhone, "x", ",\"" + m + "-key\":\"" + m + "\""),
      smsBody(kPhone, "x", ",\"" + m + "\":1"),
      "{\"messages\":[" + smsBody(kPhone, "x", ",\"" + m + "\":1") + "]}",
      smsBody(kPhone, "x", ",\"" + repeat(m, 10) + "\":1"),
      smsBody(kPhone, "x", ",\"k\":{\"" + m + "\":\"" + m + "\"}"),
      "{\"to\":\"" + m,
      "{\"to\":" + m + "}",
      "{\"" + m + "-k\":" + nestedArrays(9) + "}",
      "[\"" + m + "\"]",
  };
  const std::vector<std::string> bulk_bodies = {
      "{\"to\":[\"" + m + "\",\"" + m + "\",1],\"message\":\"" + m + "\",\"type\":\"" + m + "\"}",
      "{\"messages\":[{\"to\":\"" + m + "\",\"message\":\"\",\"" + m + "!\":1},\"" + m + "\"]}",
      "{\"messages\":\"" + m + "\",\"to\":\"" + m + "\"}",
  };
  const std::vector<std::string> email_bodies = {
      "{\"to\":\"" + m + "@\",\"subject\":\"" + m + "\\r\\nBcc: x@example.invalid\",\"reply_to\":\"" + m +
          "\",\"text\":\"" + repeat(m, 1000) + "\",\"" + m + "~\":\"" + m + "\"}",
      emailBody(",\"text\":\"t\",\"" + m + "\":1"),
  };
  size_t checked = 0;
  auto check = [&](BodyStatus status) {
    EXPECT_NE(status, BodyStatus::kOk);
    for (const FieldError& e : v_.errors()) {
      ++checked;
      EXPECT_EQ(e.field.find("MARKER"), std::string_view::npos) << e.field;
      EXPECT_EQ(e.code.find("MARKER"), std::string_view::npos) << e.code;
      for (std::string_view name : e.allowed) EXPECT_EQ(name.find("MARKER"), std::string_view::npos);
    }
  };
  for (const auto& b : sms_bodies) check(sms(b));
  for (const auto& b : bulk_bodies) check(bulk(b));
  for (const auto& b : email_bodies) check(email(b));
  EXPECT_GT(checked, 20u);
}

// ================================================================== /v1/sms/bulk

std::string messagesBody(int n, std::string_view message = "Reminder") {
  std::string body = "{\"messages\":[";
  for (int i = 0; i < n; ++i) {
    if (i) body += ",";
    body += smsBody(phone(i), message);
  }
  return body + "]}";
}

std::string listBody(int n, std::string_view extra = "") {
  std::string body = "{\"to\":[";
  for (int i = 0; i < n; ++i) {
    if (i) body += ",";
    body += "\"" + phone(i) + "\"";
  }
  return body + "],\"message\":\"Clinic closed tomorrow\"" + std::string(extra) + "}";
}

TEST_F(BodySchemaTest, BulkMessagesForm) {
  ASSERT_EQ(bulk(R"({"messages":[{"to":"+919800000001","message":"a","type":"otp"},)"
                 R"({"message":"b","to":"09800000002","sender_id":"HOSPTL"}]})"),
            BodyStatus::kOk)
      << testing::PrintToString(errs());
  ASSERT_EQ(bulk_.size(), 2u);
  EXPECT_EQ(bulk_[0].to, kPhone);  // each item keeps its own E.164 form
  EXPECT_EQ(bulk_[0].message, "a");
  EXPECT_EQ(bulk_[0].type, SmsType::kOtp);
  EXPECT_EQ(bulk_[1].to, kPhone2);
  EXPECT_EQ(bulk_[1].sender_id, "HOSPTL");
  EXPECT_EQ(bulk_[1].type, SmsType::kTransactional);
  EXPECT_EQ(bulk_[1].text.segments, 1u);
}

TEST_F(BodySchemaTest, BulkMessagesCountLimits) {
  ASSERT_EQ(bulk(messagesBody(200)), BodyStatus::kOk);
  ASSERT_EQ(bulk_.size(), 200u);
  EXPECT_EQ(bulk_[199].to, phone(199));
  EXPECT_EQ(bulk(messagesBody(201)), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages", "too_many_recipients"}}));
  EXPECT_TRUE(bulk_.empty());
  EXPECT_EQ(bulk(messagesBody(0)), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages", "empty"}}));
  // Items past the limit are still checked for syntax.
  std::string broken = messagesBody(201);
  broken.insert(broken.size() - 3, ",[1,,2]");
  expectMalformed(bulk(broken), "malformed_json");
}

TEST_F(BodySchemaTest, BulkMaximalMessages) {
  ASSERT_EQ(bulk(messagesBody(200, repeat("😀", 500))), BodyStatus::kOk);
  ASSERT_EQ(bulk_.size(), 200u);
  EXPECT_EQ(bulk_[123].text.code_points, 500u);
}

TEST_F(BodySchemaTest, BulkMessagesItemErrorsCarryPaths) {
  EXPECT_EQ(bulk(R"({"messages":[{"to":"+919800000001","message":"a"},{"to":"+919800000002","message":"a"},)"
                 R"({"to":"1","message":"a"},{"to":"+919800000004","message":"","x":1},"str",{}]})"),
            BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages[2].to", "invalid_phone"},
                            {"messages[3].message", "empty"},
                            {"messages[3]", "unknown_field"},
                            {"messages[4]", "wrong_type"},
                            {"messages[5].to", "required"},
                            {"messages[5].message", "required"}}));
  EXPECT_TRUE(bulk_.empty());
  EXPECT_EQ(bulk(R"({"messages":[{"to":"+919800000001","message":"a","a-b":1,"to":"1"}]})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages[0].to", "duplicate_field"}, {"messages[0]", "unknown_field"}}));
  EXPECT_EQ(allowedAt("messages[0]"), kSmsNames);
}

TEST_F(BodySchemaTest, BulkDepthLimitInsideItems) {
  // messages (2) → item (3) → "to" value: 5 arrays reach depth 8, 6 reach 9.
  EXPECT_EQ(bulk("{\"messages\":[{\"to\":" + nestedArrays(5) + ",\"message\":\"x\"}]}"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages[0].to", "wrong_type"}}));
  expectMalformed(bulk("{\"messages\":[{\"to\":" + nestedArrays(6) + ",\"message\":\"x\"}]}"), "too_deep");
  expectMalformed(bulk("{\"to\":[\"+919800000001\"," + nestedArrays(7) + "],\"message\":\"x\"}"), "too_deep");
}

TEST_F(BodySchemaTest, BulkListForm) {
  ASSERT_EQ(bulk(listBody(3, ",\"type\":\"otp\",\"template_id\":\"100700000000\"")), BodyStatus::kOk)
      << testing::PrintToString(errs());
  ASSERT_EQ(bulk_.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(bulk_[i].to, phone(static_cast<int>(i)));
    EXPECT_EQ(bulk_[i].message, "Clinic closed tomorrow");
    EXPECT_EQ(bulk_[i].type, SmsType::kOtp);
    EXPECT_EQ(bulk_[i].template_id, "100700000000");
    EXPECT_EQ(bulk_[i].text.code_points, 22u);
  }
  // Recipients come out in E.164, whatever form each was sent in.
  ASSERT_EQ(bulk(R"({"to":["9800000001","09800000002","919800000003","+919800000004","+441632960000"],)"
                 R"("message":"m"})"),
            BodyStatus::kOk)
      << testing::PrintToString(errs());
  ASSERT_EQ(bulk_.size(), 5u);
  EXPECT_EQ(bulk_[0].to, "+919800000001");
  EXPECT_EQ(bulk_[1].to, "+919800000002");
  EXPECT_EQ(bulk_[2].to, "+919800000003");
  EXPECT_EQ(bulk_[3].to, "+919800000004");
  EXPECT_EQ(bulk_[4].to, "+441632960000");
  // Message first, recipients after: same result.
  ASSERT_EQ(bulk(R"({"message":"m","to":["+919800000001"]})"), BodyStatus::kOk);
  ASSERT_EQ(bulk_.size(), 1u);
  EXPECT_EQ(bulk_[0].message, "m");
}

TEST_F(BodySchemaTest, BulkListCountLimits) {
  ASSERT_EQ(bulk(listBody(200)), BodyStatus::kOk);
  EXPECT_EQ(bulk_.size(), 200u);
  EXPECT_EQ(bulk(listBody(201)), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "too_many_recipients"}}));
  EXPECT_EQ(bulk(listBody(0)), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "empty"}}));
}

TEST_F(BodySchemaTest, BulkListElementErrors) {
  EXPECT_EQ(bulk(R"({"to":["+919800000001","+919800000002","x",4,null,"+919800000001",)"
                 R"("919800000002","+919800000003","+919800000001"],"message":"m"})"),
            BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to[2]", "invalid_phone"},
                            {"to[3]", "wrong_type"},
                            {"to[4]", "wrong_type"},
                            {"to[5]", "duplicate_recipient"},
                            {"to[6]", "duplicate_recipient"},  // same number without '+'
                            {"to[8]", "duplicate_recipient"}}));
  EXPECT_TRUE(bulk_.empty());
  // Repeats are found in E.164: national, trunk and international forms of one number.
  EXPECT_EQ(bulk(R"({"to":["+919800000001","9800000001","09800000001","919800000001","+910000000002"],)"
                 R"("message":"m"})"),
            BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to[4]", "not_indian_mobile"},
                            {"to[1]", "duplicate_recipient"},
                            {"to[2]", "duplicate_recipient"},
                            {"to[3]", "duplicate_recipient"}}));
}

TEST_F(BodySchemaTest, BulkShapeErrors) {
  EXPECT_EQ(bulk("{}"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages", "required"}}));
  EXPECT_EQ(bulk(R"({"message":"m"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "required"}}));
  EXPECT_EQ(bulk(R"({"to":["+919800000001"]})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"message", "required"}}));
  EXPECT_EQ(bulk(R"({"to":"+919800000001","message":"m"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "wrong_type"}}));
  EXPECT_EQ(bulk(R"({"messages":{"to":"+919800000001","message":"m"}})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages", "wrong_type"}}));
  EXPECT_EQ(bulk(R"({"messages":null})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages", "wrong_type"}}));
  // The two forms do not mix.
  EXPECT_EQ(bulk(R"({"to":["+919800000001"],"messages":[{"to":"+919800000002","message":"m"}],"message":"m"})"),
            BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}}));
  EXPECT_EQ(allowedAt(""), std::vector<std::string>{"messages"});
  EXPECT_EQ(bulk(R"({"messages":[{"to":"+919800000001","message":"m"}],"messages":[]})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"messages", "duplicate_field"}}));
  EXPECT_EQ(bulk(R"({"to":["+919800000001"],"message":"m","to":["+919800000002"]})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "duplicate_field"}}));
  // What a top level allows depends on its form, once known.
  EXPECT_EQ(bulk(R"({"messages":[{"to":"+919800000001","message":"m"}],"zz":1})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}}));
  EXPECT_EQ(allowedAt(""), std::vector<std::string>{"messages"});
  EXPECT_EQ(bulk(R"({"to":["+919800000001"],"message":"m","zz":1})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}}));
  EXPECT_EQ(allowedAt(""), kSmsNames);
  EXPECT_EQ(bulk(R"({"zz":1})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}, {"messages", "required"}}));
  EXPECT_EQ(allowedAt(""),
            (std::vector<std::string>{"messages", "to", "message", "template_id", "type", "sender_id"}));
}

TEST_F(BodySchemaTest, BulkOutputReusesItsStorage) {
  ASSERT_EQ(bulk(messagesBody(200)), BodyStatus::kOk);
  const SmsMessage* first = bulk_.data();
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(bulk(listBody(200)), BodyStatus::kOk);
    EXPECT_EQ(bulk_.data(), first);
    ASSERT_EQ(bulk(messagesBody(200)), BodyStatus::kOk);
    EXPECT_EQ(bulk_.data(), first);
  }
}

// ================================================================== /v1/email

TEST_F(BodySchemaTest, EmailOk) {
  ASSERT_EQ(email(emailBody(",\"text\":\"Your report is ready.\"")), BodyStatus::kOk);
  EXPECT_EQ(email_.to, "a@example.invalid");
  EXPECT_EQ(email_.subject, "Lab results");
  EXPECT_EQ(email_.text, "Your report is ready.");
  EXPECT_EQ(email_.html, "");
  EXPECT_EQ(email_.reply_to, "");
  ASSERT_EQ(email(emailBody(",\"html\":\"<p>Hi</p>\",\"reply_to\":\"desk@hospital.example.invalid\"")),
            BodyStatus::kOk);
  EXPECT_EQ(email_.html, "<p>Hi</p>");
  EXPECT_EQ(email_.reply_to, "desk@hospital.example.invalid");
  ASSERT_EQ(email(emailBody(",\"text\":\"t\",\"html\":\"h\"")), BodyStatus::kOk);
}

TEST_F(BodySchemaTest, EmailAddresses) {
  EXPECT_EQ(email(R"({"to":"a@b","subject":"s","text":"t","reply_to":"a..b@example.invalid"})"),
            BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "invalid_email"}, {"reply_to", "invalid_email"}}));
}

// Every character a mail library may read as a line break (or that has no
// place in a header), as a JSON escape and as raw UTF-8: JSON decodes
// "\u2028" to the character itself, and the decoded text is what is checked.
const std::vector<std::string> kHeaderUnsafe = {
    R"(\r\nBcc: x@example.invalid)", R"(\n)", R"(\r)", R"(\t)", R"(\u0000)", R"(\u0001)", R"(\u000b)",
    R"(\u000c)", R"(\u001b)", R"(\u001f)", R"(\u007f)", R"(\u0080)", R"(\u0085)", R"(\u009f)",
    R"(\u2028)", R"(\u2029)", "\xC2\x85", "\xC2\x80", "\xC2\x9F", "\xE2\x80\xA8", "\xE2\x80\xA9"};

TEST_F(BodySchemaTest, EmailAddressesRefuseControlCharacters) {
  for (const std::string& bad : kHeaderUnsafe) {
    SCOPED_TRACE(testing::PrintToString(bad));
    EXPECT_EQ(email(R"({"to":"a@example.invalid)" + bad + R"(","subject":"s","text":"t"})"), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"to", "control_character"}}));
    EXPECT_EQ(email(emailBody(R"(,"text":"t","reply_to":")" + bad + R"(b@example.invalid")")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"reply_to", "control_character"}}));
  }
}

TEST_F(BodySchemaTest, EmailSubject) {
  EXPECT_EQ(email(R"({"to":"a@example.invalid","subject":")" + repeat("я", 255) + R"(","text":"t"})"),
            BodyStatus::kOk);
  EXPECT_EQ(email(R"({"to":"a@example.invalid","subject":")" + repeat("я", 256) + R"(","text":"t"})"),
            BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"subject", "too_long"}}));
  EXPECT_EQ(email(R"({"to":"a@example.invalid","subject":"","text":"t"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"subject", "empty"}}));
}

TEST_F(BodySchemaTest, EmailSubjectRefusesControlCharacters) {
  for (const std::string& bad : kHeaderUnsafe) {
    SCOPED_TRACE(testing::PrintToString(bad));
    EXPECT_EQ(email(R"({"to":"a@example.invalid","subject":"Lab)" + bad + R"(results","text":"t"})"),
              BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"subject", "control_character"}}));
  }
  // Their neighbours are ordinary text: NBSP, U+2027, U+202F, U+00A0..U+00FF.
  for (std::string_view ok : {R"(\u00a0)", R"(\u2027)", R"(\u202f)", "\xC2\xA0", "\xC3\xA9", "\xE2\x80\xA7"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(ok)));
    EXPECT_EQ(email(R"({"to":"a@example.invalid","subject":"Lab)" + std::string(ok) + R"(results","text":"t"})"),
              BodyStatus::kOk);
  }
}

// Bodies are not headers: line breaks, tabs and separators are content.
TEST_F(BodySchemaTest, EmailBodiesRefuseOnlyNul) {
  for (std::string_view field : {"text", "html"}) {
    SCOPED_TRACE(std::string(field));
    const std::string f = ",\"" + std::string(field) + "\":\"";
    ASSERT_EQ(email(emailBody(f + R"(a\r\nb\tc\u000bd\u007fe\u0085f\u2028g\u2029h")")), BodyStatus::kOk)
        << testing::PrintToString(errs());
    EXPECT_EQ(field == "text" ? email_.text : email_.html, "a\r\nb\tc\vd\x7F" "e\u0085f\u2028g\u2029h");
    EXPECT_EQ(email(emailBody(f + R"(a\u0000b")")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{std::string(field), "control_character"}}));
  }
}

TEST_F(BodySchemaTest, EmailBodyLength) {
  for (std::string_view field : {"text", "html"}) {
    SCOPED_TRACE(std::string(field));
    const std::string f = ",\"" + std::string(field) + "\":\"";
    EXPECT_EQ(email(emailBody(f + std::string(10'000, 'a') + "\"")), BodyStatus::kOk);
    EXPECT_EQ(email(emailBody(f + repeat("я", 10'000) + "\"")), BodyStatus::kOk);
    EXPECT_EQ(email(emailBody(f + repeat(R"(\ud83d\ude00)", 10'000) + "\"")), BodyStatus::kOk);
    EXPECT_EQ(email(emailBody(f + std::string(10'001, 'a') + "\"")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{std::string(field), "too_long"}}));
    EXPECT_EQ(email(emailBody(f + repeat("я", 10'001) + "\"")), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{std::string(field), "too_long"}}));
  }
}

TEST_F(BodySchemaTest, EmailRequiredFields) {
  EXPECT_EQ(email("{}"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "required"}, {"subject", "required"}, {"", "text_or_html_required"}}));
  EXPECT_EQ(email(emailBody("")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "text_or_html_required"}}));
  EXPECT_EQ(email(emailBody(",\"text\":\"\",\"html\":\"\"")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "text_or_html_required"}}));
  EXPECT_EQ(email(emailBody(",\"text\":null")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"text", "wrong_type"}, {"", "text_or_html_required"}}));
  EXPECT_EQ(email(emailBody(",\"text\":\"\",\"html\":\"<b>x</b>\"")), BodyStatus::kOk);
}

TEST_F(BodySchemaTest, EmailStrictness) {
  EXPECT_EQ(email(emailBody(",\"text\":\"t\",\"cc\":\"b@example.invalid\"")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}}));
  EXPECT_EQ(allowedAt(""), kEmailNames);
  EXPECT_EQ(email(emailBody(",\"text\":\"t\",\"subject\":\"again\"")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"subject", "duplicate_field"}}));
  EXPECT_EQ(email(emailBody(",\"text\":\"t\",\"reply_to\":null")), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"reply_to", "wrong_type"}}));
  expectMalformed(email(emailBody(",\"html\":" + nestedArrays(8))), "too_deep");
  expectMalformed(email("[]"), "not_object");
}

}  // namespace
}  // namespace phigate::pipeline
