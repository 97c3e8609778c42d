// Input validation and request size limits through the real binary (DESIGN
// §3): every rule of the three sending routes at and one past its limit,
// malformed JSON, invalid UTF-8, huge numbers, deep nesting, media types,
// per-route body limits and MAX_CONTENT_LENGTH.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/wait.h>

#include <simdjson.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness.h"
#include "security_fixture.h"
#include "support/redis_server.h"

namespace phigate::test {
namespace {

using Errors = std::vector<std::pair<std::string, std::string>>;

/** A JSON string literal of `s` (UTF-8 passed through, specials escaped). */
std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (b < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", b);
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string smsJson(const std::string& to, const std::string& message, const std::string& more = "") {
  return "{\"to\":" + q(to) + ",\"message\":" + q(message) + more + "}";
}

/** `count` distinct valid phone numbers as a JSON list body. */
std::string phoneList(size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    out += (i ? ",\"+91987" : "\"+91987") + std::to_string(1000000 + i) + "\"";
  }
  return out;
}

/** `json` (an object) grown with spaces before its closing brace to exactly `size` bytes. */
std::string padTo(std::string json, size_t size) {
  EXPECT_LE(json.size(), size);
  json.insert(json.size() - 1, std::string(size - json.size(), ' '));
  return json;
}

/** Two fields of a 202 body. */
struct Accepted {
  std::string encoding;
  uint64_t segments = 0;
};

Accepted accepted(const Response& r) {
  Accepted a;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r.body).get(doc) != simdjson::SUCCESS) return a;
  std::string_view enc;
  if (doc["encoding"].get_string().get(enc) == simdjson::SUCCESS) a.encoding = enc;
  uint64_t n;
  if (doc["segments"].get_uint64().get(n) == simdjson::SUCCESS) a.segments = n;
  return a;
}

class ValidationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Rate limits far above what the suite sends: it is about validation
    // (bulk's default 10/min would otherwise be reached by its 202s).
    server_ = std::make_unique<Server>(ServerOptions{
        .env = {{"API_KEYS_FILE", "keys.json"}, {"PHIGATE_AUTH_FAILURE_LIMIT", "1000000"},
                {"PHIGATE_RATE_LIMITS", "sms=1000000/60,bulk=1000000/60,email=1000000/60"}},
        .files = {{"keys.json", keysFileJson({keyWithRoles("writer", {"admin"})})}}});
  }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->logText(); }

  uint16_t port() const { return server_->port(); }
  const Server& server() const { return *server_; }
  Response postTo(const std::string& path, const std::string& body,
                  const std::string& request_id = "") const {
    ApiRequest req = post(path, body, tokenFor("writer"));
    req.request_id = request_id;
    return call(port(), req);
  }
  Response sms(const std::string& body) const { return postTo("/v1/sms", body); }
  Response bulk(const std::string& body) const { return postTo("/v1/sms/bulk", body); }
  Response email(const std::string& body) const { return postTo("/v1/email", body); }

  /** 202 or a 422 with exactly `errors` (empty: must be accepted). */
  static void expectOutcome(const Response& r, const Errors& errors) {
    if (errors.empty()) {
      EXPECT_EQ(r.status, 202);
    } else {
      expectValidation(r, 422, errors);
    }
  }

  static std::unique_ptr<Server> server_;
};

std::unique_ptr<Server> ValidationTest::server_;

// ---- /v1/sms ----------------------------------------------------------------------------

TEST_F(ValidationTest, PhoneNumbersAt6And15DigitsButNot5Or16) {
  // "": accepted; otherwise the code. A leading 0 is a national (trunk)
  // number; without '+' only a home-region number is read as one.
  const std::pair<std::string, std::string> cases[] = {
      {"+123456", ""},                 {"123456", "country_code_required"},
      {"+12345", "invalid_phone"},     {"12345", "invalid_phone"},
      {"+123456789012345", ""},        {"123456789012345", "country_code_required"},
      {"98765432101", "country_code_required"},  // a national number with a digit too many
      {"+1234567890123456", "invalid_phone"}, {"1234567890123456", "invalid_phone"},
      {"+0123456789", "invalid_phone"}, {"0123456789", "not_indian_mobile"},
      {"", "invalid_phone"},           {"+", "invalid_phone"},
      {"++919876543210", "invalid_phone"}, {"+91 9876543210", "invalid_phone"},
      {"+91-9876543210", "invalid_phone"}, {"(+91)9876543210", "invalid_phone"},
      {"+91987654321O", "invalid_phone"},  {"919876543210 ", "invalid_phone"},
      {"919876543210\n", "invalid_phone"},
      {"\xd9\xa9\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6", "invalid_phone"},
  };
  for (const auto& [to, code] : cases) {
    SCOPED_TRACE("to: " + to);
    expectOutcome(sms(smsJson(to, "hello")), code.empty() ? Errors{} : Errors{{"to", code}});
  }
}

// National numbers are the default region's (PHIGATE_DEFAULT_REGION=IN) and
// are stored in E.164; under +91 only Indian mobiles exist.
TEST_F(ValidationTest, NationalNumbersAreAcceptedAndPlus91MustBeAnIndianMobile) {
  for (const std::string to : {"9800000002", "09800000002", "919800000002", "+919800000002"}) {
    SCOPED_TRACE("to: " + to);
    EXPECT_EQ(sms(smsJson(to, "hello")).status, 202);
  }
  for (const std::string to : {"+910000000001", "+915800000001", "+91980000000", "5800000001",
                               "910000000001"}) {
    SCOPED_TRACE("to: " + to);
    expectValidation(sms(smsJson(to, "hello")), 422, {{"to", "not_indian_mobile"}});
  }
  // Both bulk forms; one number in two spellings is one recipient.
  EXPECT_EQ(bulk(R"({"to":["9800000002","+919800000003"],"message":"x"})").status, 202);
  expectValidation(bulk(R"({"to":["+919800000002","09800000002","+910000000003"],"message":"x"})"), 422,
                   {{"to[2]", "not_indian_mobile"}, {"to[1]", "duplicate_recipient"}});
  EXPECT_EQ(bulk(R"({"messages":[{"to":"9800000002","message":"x"}]})").status, 202);
  expectValidation(bulk(R"({"messages":[{"to":"+910000000002","message":"x"}]})"), 422,
                   {{"messages[0].to", "not_indian_mobile"}});
}

TEST_F(ValidationTest, MessageIs1To500CodePointsWithSegmentsAndEncoding) {
  struct Case {
    std::string text;
    std::string encoding;  // "": refused
    uint64_t segments;
    std::string code;
  };
  const std::string hindi = "\xe0\xa4\x85";          // U+0905, 3 bytes, UCS-2
  const std::string emoji = "\xf0\x9f\x98\x80";      // U+1F600, 4 bytes, a surrogate pair
  const std::string euro = "\xe2\x82\xac";           // GSM-7 extension: 2 septets
  const Case cases[] = {
      {"x", "GSM-7", 1, ""},
      {std::string(160, 'a'), "GSM-7", 1, ""},
      {std::string(161, 'a'), "GSM-7", 2, ""},
      {std::string(500, 'a'), "GSM-7", 4, ""},
      {std::string(501, 'a'), "", 0, "too_long"},
      {repeat(euro, 80), "GSM-7", 1, ""},
      {repeat(euro, 81), "GSM-7", 2, ""},
      {repeat(hindi, 70), "UCS-2", 1, ""},
      {repeat(hindi, 71), "UCS-2", 2, ""},
      {repeat(hindi, 500), "UCS-2", 8, ""},  // 1500 bytes: characters are counted, not bytes
      {repeat(hindi, 501), "", 0, "too_long"},
      {repeat(emoji, 500), "UCS-2", 16, ""},  // 33 pairs per part: a pair is never split
      {repeat(emoji, 501), "", 0, "too_long"},
      {std::string(499, 'a') + euro, "GSM-7", 4, ""},
      {"", "", 0, "empty"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(std::to_string(k.text.size()) + " bytes");
    const Response r = sms(smsJson("+919876543210", k.text));
    if (k.encoding.empty()) {
      expectValidation(r, 422, {{"message", k.code}});
      continue;
    }
    ASSERT_EQ(r.status, 202);
    EXPECT_EQ(accepted(r).encoding, k.encoding);
    EXPECT_EQ(accepted(r).segments, k.segments);
  }
  // JSON escapes count as the characters they stand for.
  const Response escaped = sms("{\"to\":\"+919876543210\",\"message\":\"" + repeat("\\u00e9", 500) + "\"}");
  EXPECT_EQ(escaped.status, 202);
  const Response escaped_long =
      sms("{\"to\":\"+919876543210\",\"message\":\"" + repeat("\\u00e9", 501) + "\"}");
  expectValidation(escaped_long, 422, {{"message", "too_long"}});
}

TEST_F(ValidationTest, TemplateIdTypeAndSenderId) {
  struct Case {
    std::string extra;
    Errors errors;
  };
  const Case cases[] = {
      {R"(,"template_id":"123456789012")", {}},
      {R"(,"template_id":"1234567890123456789")", {}},
      {R"(,"template_id":"12345678901")", {{"template_id", "invalid_template_id"}}},
      {R"(,"template_id":"12345678901234567890")", {{"template_id", "invalid_template_id"}}},
      {R"(,"template_id":"12345678901a")", {{"template_id", "invalid_template_id"}}},
      {R"(,"template_id":" 123456789012")", {{"template_id", "invalid_template_id"}}},
      {R"(,"template_id":123456789012)", {{"template_id", "wrong_type"}}},
      {R"(,"type":"otp")", {}},
      {R"(,"type":"transactional")", {}},
      {R"(,"type":"OTP")", {{"type", "invalid_value"}}},
      {R"(,"type":"promotional")", {{"type", "invalid_value"}}},
      {R"(,"type":null)", {{"type", "wrong_type"}}},
      {R"(,"sender_id":"ABCDEF")", {}},
      {R"(,"sender_id":"abcdef")", {}},
      {R"(,"sender_id":"ABCDE")", {{"sender_id", "invalid_sender_id"}}},
      {R"(,"sender_id":"ABCDEFG")", {{"sender_id", "invalid_sender_id"}}},
      {R"(,"sender_id":"ABCDE1")", {{"sender_id", "invalid_sender_id"}}},
      {",\"sender_id\":\"ABCD\xc3\x89\"", {{"sender_id", "invalid_sender_id"}}},
      {R"(,"template_id":"123456789012","type":"otp","sender_id":"HOSPTL")", {}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.extra);
    expectOutcome(sms(smsJson("+919876543210", "hello", k.extra)), k.errors);
  }
}

TEST_F(ValidationTest, RequiredUnknownDuplicateAndWrongTypeFields) {
  struct Case {
    std::string body;
    Errors errors;
  };
  const Case cases[] = {
      {"{}", {{"to", "required"}, {"message", "required"}}},
      {R"({"to":"+919876543210"})", {{"message", "required"}}},
      // An unknown field is reported as its object ("": the top level), never by its name.
      {R"({"to":"+919876543210","message":"x","priority":"high"})", {{"", "unknown_field"}}},
      {R"({"to":"+919876543210","message":"x","a b<c>":1,"z":2})", {{"", "unknown_field"}}},
      {R"({"to":"+919876543210","to":"+919876543211","message":"x"})", {{"to", "duplicate_field"}}},
      // An escaped name is the same name: no smuggled duplicate.
      {R"({"to":"+919876543210","t\u006f":"+919876543211","message":"x"})", {{"to", "duplicate_field"}}},
      {R"({"to":919876543210,"message":"x"})", {{"to", "wrong_type"}}},
      {R"({"to":"+919876543210","message":["x"]})", {{"message", "wrong_type"}}},
      {R"({"to":"+919876543210","message":{"text":"x"}})", {{"message", "wrong_type"}}},
      {R"({"to":null,"message":true})", {{"to", "wrong_type"}, {"message", "wrong_type"}}},
      {R"({"to":["+919876543210"],"message":"x"})", {{"to", "wrong_type"}}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.body);
    expectValidation(sms(k.body), 422, k.errors);
  }
}

TEST_F(ValidationTest, HugeNumbersAreWellFormedButTheWrongType) {
  const std::string digits(10000, '9');
  struct Case {
    std::string body;
    Errors errors;
  };
  const Case cases[] = {
      {R"({"to":1e999999,"message":"x"})", {{"to", "wrong_type"}}},
      {R"({"to":-1e-999999,"message":"x"})", {{"to", "wrong_type"}}},
      {R"({"to":123456789012345678901234567890123456789,"message":"x"})", {{"to", "wrong_type"}}},
      {"{\"to\":" + digits + ",\"message\":\"x\"}", {{"to", "wrong_type"}}},
      {R"({"to":"+919876543210","message":"x","template_id":99999999999999999999999})",
       {{"template_id", "wrong_type"}}},
      {R"({"to":"+919876543210","message":"x","n":1.7976931348623157e309})", {{"", "unknown_field"}}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.body.substr(0, 60));
    expectValidation(sms(k.body), 422, k.errors);
  }
  // Not numbers at all.
  for (const std::string& body : {std::string(R"({"to":01,"message":"x"})"),
                                  std::string(R"({"to":1e,"message":"x"})"),
                                  std::string(R"({"to":+1,"message":"x"})"),
                                  std::string(R"({"to":NaN,"message":"x"})")}) {
    SCOPED_TRACE(body);
    expectValidation(sms(body), 400, {{"", "malformed_json"}});
  }
}

TEST_F(ValidationTest, MalformedBodiesAre400) {
  struct Case {
    std::string body;
    std::string code;
  };
  const std::string ok = R"("to":"+919876543210","message":"x")";
  const Case cases[] = {
      {"", "malformed_json"},
      {"{", "malformed_json"},
      {"{" + ok, "malformed_json"},
      {"{" + ok + ",}", "malformed_json"},
      {R"({"to":"+919876543210" "message":"x"})", "malformed_json"},
      {"{" + ok + "} {}", "malformed_json"},
      {"{" + ok + "}x", "malformed_json"},
      {"{'to':'+919876543210','message':'x'}", "malformed_json"},
      {"{" + ok + ",\"flag\":tru}", "malformed_json"},
      {"{" + ok + ",\"list\":[1,,2]}", "malformed_json"},
      {R"({"to":"+919876543210","message":"bad \q escape"})", "malformed_json"},
      {std::string("{\"to\":\"+919876543210\",\"message\":\"a") + '\0' + "b\"}", "malformed_json"},
      {"{\"to\":\"+919876543210\",\"message\":\"line\nbreak\"}", "malformed_json"},
      // A syntax error late in the body is not hidden behind earlier schema errors.
      {R"({"unknown":1,"to":5,"message":[]} trailing)", "malformed_json"},
      {"[]", "not_object"},
      {"[" + std::string("{") + ok + "}]", "not_object"},
      {"\"text\"", "not_object"},
      {"null", "not_object"},
      {"42", "not_object"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.body.substr(0, 60));
    expectValidation(sms(k.body), 400, {{"", k.code}});
  }
}

TEST_F(ValidationTest, InvalidUtf8IsRefusedAnywhere) {
  const std::string bad_bytes[] = {
      "\xff",                  // never valid
      "\xc0\xaf",              // overlong '/'
      "\xed\xa0\x80",          // an encoded UTF-16 surrogate
      "\xf4\x90\x80\x80",      // above U+10FFFF
      "\xe0\xa4",              // truncated sequence
      "\x80",                  // stray continuation byte
  };
  for (const std::string& b : bad_bytes) {
    SCOPED_TRACE(testing::PrintToString(b));
    expectValidation(sms(smsJson("+919876543210", "hello " + b + " world")), 400,
                     {{"", "invalid_utf8"}});
    expectValidation(sms("{\"to\":\"+919876543210\",\"message\":\"x\",\"k" + b + "\":1}"), 400,
                     {{"", "invalid_utf8"}});
    expectValidation(email("{\"to\":\"patient@example.org\",\"subject\":\"s" + b + "\",\"text\":\"t\"}"),
                     400, {{"", "invalid_utf8"}});
    expectValidation(bulk("{\"to\":[\"+919876543210\"],\"message\":\"" + b + "\"}"), 400,
                     {{"", "invalid_utf8"}});
  }
  // An escaped lone surrogate decodes to no character at all: not JSON text
  // we accept (RFC 8259 §8.2 leaves it open; we refuse it).
  for (const std::string esc : {"\\ud800", "\\udfff", "\\ud800\\u0041"}) {
    SCOPED_TRACE(esc);
    expectValidation(sms("{\"to\":\"+919876543210\",\"message\":\"a" + esc + "b\"}"), 400,
                     {{"", "malformed_json"}});
  }
  // A proper pair is one character (U+10FFFF).
  const Response pair = sms(R"({"to":"+919876543210","message":"a\udbff\udfffb"})");
  EXPECT_EQ(pair.status, 202);
  EXPECT_EQ(accepted(pair).encoding, "UCS-2");
}

TEST_F(ValidationTest, NestingDeeperThan8IsRefused) {
  auto arrays = [](int n) { return std::string(n, '[') + "1" + std::string(n, ']'); };
  auto objects = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "{\"a\":";
    s += "1";
    return s + std::string(n, '}');
  };
  const std::string ok = R"("to":"+919876543210","message":"x")";
  // The top-level object is depth 1, so a field's value may open 7 more levels.
  expectValidation(sms("{" + ok + ",\"x\":" + arrays(7) + "}"), 422, {{"", "unknown_field"}});
  expectValidation(sms("{" + ok + ",\"x\":" + arrays(8) + "}"), 400, {{"", "too_deep"}});
  expectValidation(sms("{" + ok + ",\"x\":" + objects(7) + "}"), 422, {{"", "unknown_field"}});
  expectValidation(sms("{" + ok + ",\"x\":" + objects(8) + "}"), 400, {{"", "too_deep"}});
  // In bulk, an item sits at depth 3: its fields may open 5 more levels.
  expectValidation(bulk("{\"messages\":[{" + ok + ",\"x\":" + arrays(5) + "}]}"), 422,
                   {{"messages[0]", "unknown_field"}});
  expectValidation(bulk("{\"messages\":[{" + ok + ",\"x\":" + arrays(6) + "}]}"), 400,
                   {{"", "too_deep"}});
  // Very deep, and deep where a string is expected: refused, and the worker lives on.
  expectValidation(sms("{\"to\":" + arrays(20000) + ",\"message\":\"x\"}"), 400, {{"", "too_deep"}});
  expectValidation(sms(std::string(30000, '[') + std::string(30000, ']')), 400, {{"", "too_deep"}});
  expectValidation(email("{\"to\":" + objects(5000) + "}"), 400, {{"", "too_deep"}});
  auto live = request(port(), get("/livez"));
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
}

// ---- /v1/sms/bulk ----------------------------------------------------------------------

TEST_F(ValidationTest, BulkListFormHas1To200Recipients) {
  const Response two_hundred = bulk("{\"to\":[" + phoneList(200) + "],\"message\":\"hello\"}");
  ASSERT_EQ(two_hundred.status, 202);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(two_hundred.body).get(doc), simdjson::SUCCESS);
  simdjson::dom::array ids;
  ASSERT_EQ(doc["ids"].get_array().get(ids), simdjson::SUCCESS);
  std::set<std::string> distinct;
  for (simdjson::dom::element e : ids) distinct.emplace(std::string_view(e.get_string().value_unsafe()));
  EXPECT_EQ(distinct.size(), 200u);
  EXPECT_EQ(jsonField(two_hundred.body, "status"), "queued");
  EXPECT_EQ(jsonField(two_hundred.body, "count"), "200");
  EXPECT_EQ(jsonField(two_hundred.body, "segments"), "200");

  expectValidation(bulk("{\"to\":[" + phoneList(201) + "],\"message\":\"hello\"}"), 422,
                   {{"to", "too_many_recipients"}});
  expectValidation(bulk(R"({"to":[],"message":"hello"})"), 422, {{"to", "empty"}});
  expectValidation(bulk(R"({"to":["+919876543210","919876543210","+919876543211"],"message":"x"})"),
                   422, {{"to[1]", "duplicate_recipient"}});
  expectValidation(bulk(R"({"to":["+919876543210",919876543211,"12"],"message":"x"})"), 422,
                   {{"to[1]", "wrong_type"}, {"to[2]", "invalid_phone"}});
  expectValidation(bulk(R"({"to":["+919876543210"]})"), 422, {{"message", "required"}});
  expectValidation(bulk("{\"to\":[\"+919876543210\"],\"message\":\"" + std::string(501, 'a') + "\"}"),
                   422, {{"message", "too_long"}});
  expectValidation(bulk(R"({"to":"+919876543210","message":"x"})"), 422, {{"to", "wrong_type"}});
  expectValidation(bulk("{}"), 422, {{"messages", "required"}});
  EXPECT_EQ(bulk(R"({"to":["+919876543210"],"message":"x","template_id":"123456789012","type":"otp"})")
                .status,
            202);
}

TEST_F(ValidationTest, BulkMessagesFormHas1To200Messages) {
  auto messages = [](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      out += (i ? ",{\"to\":\"+91987" : "{\"to\":\"+91987") + std::to_string(1000000 + i) +
             "\",\"message\":\"Reminder " + std::to_string(i) + "\"}";
    }
    return out;
  };
  const Response ok = bulk("{\"messages\":[" + messages(200) + "]}");
  ASSERT_EQ(ok.status, 202);
  EXPECT_EQ(jsonField(ok.body, "count"), "200");
  expectValidation(bulk("{\"messages\":[" + messages(201) + "]}"), 422,
                   {{"messages", "too_many_recipients"}});
  expectValidation(bulk(R"({"messages":[]})"), 422, {{"messages", "empty"}});
  expectValidation(bulk("{\"messages\":[" + messages(3) + R"(,{"to":"12","message":""}]})"), 422,
                   {{"messages[3].to", "invalid_phone"}, {"messages[3].message", "empty"}});
  expectValidation(bulk(R"({"messages":["+919876543210"]})"), 422, {{"messages[0]", "wrong_type"}});
  expectValidation(bulk(R"({"messages":[{"to":"+919876543210"}]})"), 422,
                   {{"messages[0].message", "required"}});
  expectValidation(bulk(R"({"messages":[{"to":"+919876543210","message":"x","cc":"y"}]})"), 422,
                   {{"messages[0]", "unknown_field"}});
  // The two forms do not mix.
  expectValidation(bulk("{\"messages\":[" + messages(1) + "],\"message\":\"x\"}"), 422,
                   {{"", "unknown_field"}});
  expectValidation(bulk("{\"messages\":[" + messages(1) + "],\"messages\":[" + messages(1) + "]}"), 422,
                   {{"messages", "duplicate_field"}});
}

// ---- /v1/email ---------------------------------------------------------------------------

TEST_F(ValidationTest, EmailSubjectAndBodyLimits) {
  const std::string e_acute = "\xc3\xa9";
  auto body = [](const std::string& fields) { return "{\"to\":\"patient@example.org\"" + fields + "}"; };
  const Response ok = email(kEmailBody);
  ASSERT_EQ(ok.status, 202);
  simdjson::dom::parser parser;
  simdjson::dom::object doc;
  ASSERT_EQ(parser.parse(ok.body).get(doc), simdjson::SUCCESS);
  std::set<std::string> keys;
  for (auto field : doc) keys.emplace(field.key);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "status"}));

  struct Case {
    std::string fields;
    Errors errors;
  };
  const Case cases[] = {
      {",\"subject\":\"s\",\"html\":\"<p>hi</p>\"", {}},
      {",\"subject\":\"s\",\"text\":\"t\",\"html\":\"<p>t</p>\",\"reply_to\":\"desk@example.org\"", {}},
      {",\"subject\":" + q(repeat(e_acute, 255)) + ",\"text\":\"t\"", {}},
      {",\"subject\":" + q(repeat(e_acute, 256)) + ",\"text\":\"t\"", {{"subject", "too_long"}}},
      {",\"subject\":\"\",\"text\":\"t\"", {{"subject", "empty"}}},
      {",\"subject\":\"Hi\\r\\nBcc: x@example.org\",\"text\":\"t\"", {{"subject", "control_character"}}},
      {",\"subject\":\"Hi\\u0000\",\"text\":\"t\"", {{"subject", "control_character"}}},
      {",\"subject\":\"Tab\\there\",\"text\":\"t\"", {{"subject", "control_character"}}},
      {",\"subject\":\"s\",\"text\":" + q(repeat(e_acute, 10000)), {}},
      {",\"subject\":\"s\",\"text\":" + q(repeat(e_acute, 10001)), {{"text", "too_long"}}},
      {",\"subject\":\"s\",\"html\":" + q(repeat(e_acute, 10000)), {}},
      {",\"subject\":\"s\",\"html\":" + q(repeat(e_acute, 10001)), {{"html", "too_long"}}},
      {",\"subject\":\"s\"", {{"", "text_or_html_required"}}},
      {",\"subject\":\"s\",\"text\":\"\"", {{"", "text_or_html_required"}}},
      {",\"subject\":\"s\",\"text\":\"t\",\"cc\":\"x@example.org\"", {{"", "unknown_field"}}},
      {",\"subject\":\"s\",\"text\":\"t\",\"reply_to\":\"nope\"", {{"reply_to", "invalid_email"}}},
      {",\"subject\":5,\"text\":[\"t\"]",
       {{"subject", "wrong_type"}, {"text", "wrong_type"}, {"", "text_or_html_required"}}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.fields.substr(0, 60));
    expectOutcome(email(body(k.fields)), k.errors);
  }
  expectValidation(email("{}"), 422,
                   {{"to", "required"}, {"subject", "required"}, {"", "text_or_html_required"}});
}

TEST_F(ValidationTest, EmailAddresses) {
  expectValidation(email(R"({"to":"a@example.org\r\nBcc: b@example.org","subject":"s","text":"t"})"), 422,
                   {{"to", "control_character"}});
  const std::pair<std::string, bool> cases[] = {
      {"patient@example.org", true},
      {"a.b+tag@sub.example.org", true},
      {"x_y%z-1@example.co.in", true},
      {"a@b", false},
      {"a@b.c", false},
      {"a..b@example.org", false},
      {".a@example.org", false},
      {"a.@example.org", false},
      {"@example.org", false},
      {"a@", false},
      {"a@-example.org", false},
      {"a@example..org", false},
      {"a@example.org ", false},
      {"a b@example.org", false},
      {"a@example.123", false},
      {"a@@example.org", false},
      {"<a@example.org>", false},
      {"\"a\"@example.org", false},
      {std::string(65, 'a') + "@example.org", false},
      {"", false},
  };
  for (const auto& [address, ok] : cases) {
    SCOPED_TRACE(address);
    expectOutcome(email("{\"to\":" + q(address) + ",\"subject\":\"s\",\"text\":\"t\"}"),
                  ok ? Errors{} : Errors{{"to", "invalid_email"}});
  }
  expectValidation(email(R"({"to":["patient@example.org"],"subject":"s","text":"t"})"), 422,
                   {{"to", "wrong_type"}});
}

// ---- header injection and control characters --------------------------------------------

TEST_F(ValidationTest, HeaderFieldsRefuseLineBreaksAndControlsWithTheirOwnCode) {
  // JSON escapes decode to the characters themselves; raw UTF-8 is the same text.
  const std::string unsafe[] = {"\\r\\nBcc: x@example.org", "\\t", "\\u0000", "\\u007f", "\\u0085",
                                "\\u009f", "\\u2028", "\\u2029", "\xe2\x80\xa8", "\xc2\x85"};
  for (const std::string& u : unsafe) {
    SCOPED_TRACE(testing::PrintToString(u));
    expectValidation(email("{\"to\":\"patient@example.org\",\"subject\":\"Lab" + u + "\",\"text\":\"t\"}"),
                     422, {{"subject", "control_character"}});
    expectValidation(email("{\"to\":\"patient@example.org" + u + "\",\"subject\":\"s\",\"text\":\"t\"}"),
                     422, {{"to", "control_character"}});
    expectValidation(
        email("{\"to\":\"patient@example.org\",\"subject\":\"s\",\"text\":\"t\",\"reply_to\":\"" + u +
              "desk@example.org\"}"),
        422, {{"reply_to", "control_character"}});
  }
  // Bodies are not headers: only NUL is refused there.
  EXPECT_EQ(email(R"({"to":"patient@example.org","subject":"s","text":"a\r\nb\tc\u2028d\u0085e"})").status, 202);
  expectValidation(email(R"({"to":"patient@example.org","subject":"s","html":"<p>a\u0000</p>"})"), 422,
                   {{"html", "control_character"}});
}

TEST_F(ValidationTest, SmsTextCarriesLineFeedsButNoOtherControls) {
  EXPECT_EQ(sms(R"({"to":"+919800000001","message":"Line 1\nLine 2"})").status, 202);
  for (const std::string c : {"\\r", "\\r\\n", "\\t", "\\u0000", "\\u001b", "\\u007f"}) {
    SCOPED_TRACE(c);
    expectValidation(sms("{\"to\":\"+919800000001\",\"message\":\"a" + c + "b\"}"), 422,
                     {{"message", "control_character"}});
    expectValidation(bulk("{\"to\":[\"+919800000001\"],\"message\":\"a" + c + "b\"}"), 422,
                     {{"message", "control_character"}});
  }
}

// The answer names what the object accepts; the client's own key (here
// shaped like a phone number and like an identifier) never comes back.
TEST_F(ValidationTest, UnknownFieldAnswersListTheAllowedFieldsNotTheClientsKey) {
  const Response r = sms(R"({"to":"+919800000001","message":"x","9800000002":1,"ZQXMARKERQXZ":2})");
  expectValidation(r, 422, {{"", "unknown_field"}});
  EXPECT_NE(r.body.find(R"({"field":"","code":"unknown_field",)"
                        R"("allowed":["to","message","template_id","type","sender_id"]})"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(r.body.find("9800000002"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("MARKER"), std::string::npos) << r.body;
  const Response b = bulk(R"({"messages":[{"to":"+919800000001","message":"x","note":1}],"cc":1})");
  expectValidation(b, 422, {{"messages[0]", "unknown_field"}, {"", "unknown_field"}});
  EXPECT_NE(b.body.find(R"("field":"","code":"unknown_field","allowed":["messages"])"), std::string::npos)
      << b.body;
  const Response e = email(R"({"to":"patient@example.org","subject":"s","text":"t","cc":"x@example.org"})");
  expectValidation(e, 422, {{"", "unknown_field"}});
  EXPECT_NE(e.body.find(R"("allowed":["to","subject","text","html","reply_to"])"), std::string::npos) << e.body;
}

// ---- PHIGATE_DEFAULT_REGION -------------------------------------------------------------

TEST(DefaultRegion, AnUnknownRegionStopsStartUpNamingTheVariableAndTheAccepted) {
  ServerOptions o{.env = {{"PHIGATE_DEFAULT_REGION", "ZZ"}}};
  o.wait_ready = false;
  Server s(o);
  const std::optional<int> status = s.waitExit(5000);
  ASSERT_TRUE(status) << s.logText();
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_NE(s.logText().find("PHIGATE_DEFAULT_REGION must be one of: IN"), std::string::npos) << s.logText();
  EXPECT_EQ(s.logText().find("ZZ"), std::string::npos) << "the value is not echoed";
}

TEST(DefaultRegion, IndiaIsAcceptedInAnyCase) {
  Server s({.env = {{"PHIGATE_DEFAULT_REGION", "in"}, {"SMS_API_KEY", "test-token-region-000000000000000000"}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  ApiRequest req = post("/v1/sms", R"({"to":"9800000002","message":"x"})", "test-token-region-000000000000000000");
  EXPECT_EQ(call(s.port(), req).status, 202);
}

// ---- what is sealed -------------------------------------------------------------------

const std::string kSealKeyHex = "00112233445566778899aabbccddeeff0123456789abcdef0f1e2d3c4b5a6978";

/** Opens one outbox payload (version | key id | nonce | ciphertext) as the gateway sealed it. */
std::optional<std::string> openSealed(const std::string& sealed, const std::string& ad) {
  constexpr size_t kHead = 1 + 4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  unsigned char key[32];
  if (sodium_hex2bin(key, sizeof key, kSealKeyHex.data(), kSealKeyHex.size(), nullptr, nullptr, nullptr) != 0 ||
      sealed.size() < kHead + crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return std::nullopt;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string plain(sealed.size() - kHead - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long n = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &n, nullptr, p + kHead, sealed.size() - kHead,
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), p + 5, key) != 0) {
    return std::nullopt;
  }
  plain.resize(n);
  return plain;
}

/** Every outbox entry of key `key_id` (both lanes), opened: message id -> plaintext. */
std::map<std::string, std::string> openOutbox(const RedisServer& redis, const std::string& key_id) {
  std::map<std::string, std::string> out;
  for (const char* lane : {":outbox", ":outbox:bulk"}) {
  auto r = redis.cli("XRANGE", "phigate:{" + key_id + "}" + lane, "-", "+");
  if (!r || r->type != RedisReply::Type::kArray) {
    ADD_FAILURE() << "XRANGE failed";
    return out;
  }
  for (const RedisReply& entry : r->elements) {
    if (entry.elements.size() != 2) continue;
    std::map<std::string, std::string> fields;
    const auto& kv = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < kv.size(); i += 2) fields[kv[i].str] = kv[i + 1].str;
    const std::optional<std::string> plain = openSealed(fields["payload"], fields["id"] + "\n" + key_id);
    if (!plain) ADD_FAILURE() << "an outbox payload does not open";
    out[fields["id"]] = plain.value_or("");
  }
  }
  return out;
}

// The E.164 form is what reaches the outbox (and so the provider), for the
// single route and both bulk forms: decrypted here from Redis.
TEST(SealedRecipients, TheOutboxCarriesTheE164Number) {
  ASSERT_EQ(sodium_init() >= 0, true);
  RedisServer redis;
  ASSERT_TRUE(redis.ready()) << redis.error();
  // Delivery off: the entries stay in the outbox for the test to open.
  Server s({.env = {{"API_KEYS_FILE", "keys.json"}, {"RATELIMIT_STORAGE_URI", redis.uri()},
                    {"ENCRYPTION_KEY", kSealKeyHex}, {"PHIGATE_STORE_TIMEOUT_MS", "2000"},
                    {"PHIGATE_DELIVERY", "false"}},
            .files = {{"keys.json", keysFileJson({keyWithRoles("sealer", {"sms", "bulk"})})}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  ASSERT_TRUE(s.waitForLine({"\"event\":\"store_ready\""}, 10000)) << s.logText();
  const std::string token = tokenFor("sealer");

  const Response one = call(s.port(), post("/v1/sms", R"({"to":"09800000002","message":"x"})", token));
  ASSERT_EQ(one.status, 202) << one.body;
  const Response list =
      call(s.port(), post("/v1/sms/bulk", R"({"to":["9800000003","919800000004"],"message":"y"})", token));
  ASSERT_EQ(list.status, 202) << list.body;
  const Response items =
      call(s.port(), post("/v1/sms/bulk", R"({"messages":[{"to":"9800000005","message":"z"}]})", token));
  ASSERT_EQ(items.status, 202) << items.body;

  std::map<std::string, std::string> outbox = openOutbox(redis, "sealer");
  ASSERT_EQ(outbox.size(), 4u);
  std::set<std::string> recipients;
  for (const auto& [id, plain] : outbox) recipients.insert(jsonField(plain, "to"));
  EXPECT_EQ(recipients, (std::set<std::string>{"+919800000002", "+919800000003", "+919800000004",
                                               "+919800000005"}));
  EXPECT_EQ(jsonField(outbox[jsonField(one.body, "id")], "to"), "+919800000002");
}

// ---- media type ----------------------------------------------------------------------

TEST_F(ValidationTest, OnlyApplicationJsonIsAccepted) {
  const std::pair<std::string, bool> cases[] = {
      {"application/json", true},
      {"application/json; charset=utf-8", true},
      {"application/json;charset=UTF-8", true},
      {"Application/JSON", true},
      {"text/plain", false},
      {"", false},
      {"application/x-www-form-urlencoded", false},
      {"application/json-patch+json", false},
      {"application/jsonx", false},
      {"text/json", false},
      {"multipart/form-data; boundary=x", false},
  };
  for (const std::string path : {"/v1/sms", "/v1/sms/bulk", "/v1/email"}) {
    const std::string& body = path == "/v1/sms" ? kSmsBody : path == "/v1/email" ? kEmailBody : kBulkBody;
    for (const auto& [type, ok] : cases) {
      SCOPED_TRACE(path + " Content-Type: " + type);
      ApiRequest req = post(path, body, tokenFor("writer"));
      req.content_type = type;
      const Response r = call(port(), req);
      if (ok) {
        EXPECT_EQ(r.status, 202);
      } else {
        expectProblem(r, 415, "unsupported-media-type");
      }
    }
  }
}

// ---- request size limits -----------------------------------------------------------------

/** Sends only the head of a POST with this Content-Length; the answer comes without the body. */
Response headOnly(uint16_t port, const std::string& path, size_t content_length,
                  const std::string& request_id) {
  ApiRequest req = post(path, "", tokenFor("writer"));
  req.request_id = request_id;
  std::string raw = req.raw();
  const std::string cl = "Content-Length: 0\r\n";
  raw.replace(raw.find(cl), cl.size(), "Content-Length: " + std::to_string(content_length) + "\r\n");
  Client c(port);
  if (!c.sendAll(raw)) return {};
  auto r = c.readResponse();
  if (!r) return {};
  EXPECT_TRUE(c.isClosed()) << "the unread body cannot be skipped: the connection closes";
  return *r;
}

TEST_F(ValidationTest, PerRouteBodyLimitsAreExact) {
  struct Case {
    std::string path, route, body;
    size_t limit;
  };
  const Case cases[] = {
      {"/v1/sms", "sms", kSmsBody, 64 * 1024},
      {"/v1/sms/bulk", "sms_bulk", kBulkBody, 1024 * 1024},
      {"/v1/email", "email", kEmailBody, 256 * 1024},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.path);
    // At the limit: read, validated, accepted.
    EXPECT_EQ(postTo(k.path, padTo(k.body, k.limit)).status, 202);
    // One past it: refused from Content-Length alone, before any byte of body.
    const std::string rid = uniqueRequestId("too-large");
    const Response r = headOnly(port(), k.path, k.limit + 1, rid);
    expectProblem(r, 413, "payload-too-large");
    // The answer states the limit, so the client knows what to send instead.
    EXPECT_EQ(jsonField(r.body, "limit_bytes"), std::to_string(k.limit));
    EXPECT_NE(jsonField(r.body, "detail").find(std::to_string(k.limit) + " bytes"), std::string::npos);
    // The limit is decided after authentication: the line names the key.
    expectAuditLine(server(), rid,
                    {.route = k.route, .status = 413, .event = "body_too_large", .key_id = "writer"});
  }
  // A chunked body is cut off as soon as it passes the route's limit.
  ApiRequest req = post("/v1/sms", "", tokenFor("writer"));
  std::string head = req.raw();
  const std::string cl = "Content-Length: 0\r\n";
  head.replace(head.find(cl), cl.size(), "Transfer-Encoding: chunked\r\n");
  Client c(port());
  ASSERT_TRUE(c.sendAll(head + "8000\r\n" + std::string(0x8000, ' ') + "\r\n"));
  ASSERT_TRUE(c.sendAll("8000\r\n" + std::string(0x8000, ' ') + "\r\n"));
  c.sendNonBlocking("1\r\n \r\n0\r\n\r\n", 200, 1000);
  auto chunked = c.readResponse();
  ASSERT_TRUE(chunked);
  expectProblem(*chunked, 413, "payload-too-large");
}

TEST(RequestSize, MaxContentLengthCapsEveryRoute) {
  Server s({.env = {{"API_KEYS_FILE", "keys.json"}, {"PHIGATE_AUTH_FAILURE_LIMIT", "1000000"}, {"MAX_CONTENT_LENGTH", "4096"}},
            .files = {{"keys.json", keysFileJson({keyWithRoles("writer", {"admin"})})}}});
  ASSERT_TRUE(s.ready()) << s.logText();
  EXPECT_EQ(call(s.port(), post("/v1/sms", padTo(kSmsBody, 4096), tokenFor("writer"))).status, 202);
  for (const std::string path : {"/v1/sms", "/v1/sms/bulk", "/v1/email"}) {
    SCOPED_TRACE(path);
    expectProblem(headOnly(s.port(), path, 4097, uniqueRequestId("over-max")), 413,
                  "payload-too-large");
  }
}

}  // namespace
}  // namespace phigate::test
