// The provider adapters against the mock provider's own protocol checks
// (src/mock/cdac.*, linked in): what CdacAdapter builds, the mock accepts,
// and what the mock answers, the adapter classifies as documented in
// docs/PROVIDERS.md. Test data is fake: +9190000000xx numbers, made-up secrets.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "crypto/digest_hex.h"
#include "delivery/cdac_adapter.h"
#include "delivery/cdac_text.h"
#include "delivery/http_adapter.h"
#include "delivery/sms_adapter.h"
#include "mock/cdac.h"
#include "mock/delivery_book.h"
#include "mock/form.h"

namespace phigate::delivery {
namespace {

constexpr std::string_view kUser = "fake-user";
constexpr std::string_view kPassword = "fake-password-1";
constexpr std::string_view kSecureKey = "fake-secure-key-1";
constexpr std::string_view kSender = "FAKEID";
constexpr std::string_view kTemplate = "1107000000000000001";
constexpr std::string_view kTo = "+919000000001";

CdacOptions cdacOptions() {
  CdacOptions o;
  o.url = "https://cdac.test/esms/sendsmsrequestDLT";
  o.username = kUser;
  o.password = kPassword;
  o.sender_id = kSender;
  o.secure_key = kSecureKey;
  o.report_url = "https://cdac.test/XMLForReportG/reportXMLNew";
  return o;
}

mock::CdacAccount mockAccount() {
  return {.username = std::string(kUser), .password = std::string(kPassword),
          .secure_key = std::string(kSecureKey), .sender_id = std::string(kSender)};
}

SmsToSend sms(std::string_view text, SmsKind kind = SmsKind::kTransactional,
              TextEncoding enc = TextEncoding::kGsm7) {
  SmsToSend m;
  m.message_id = "0123456789abcdef0123456789abcdef";
  m.to = kTo;
  m.text = text;
  m.template_id = kTemplate;
  m.kind = kind;
  m.encoding = enc;
  return m;
}

// Builds `m` and decodes the form as the mock does.
mock::Form buildForm(const CdacAdapter& a, const SmsToSend& m, OutboundRequest* req) {
  std::string_view err;
  EXPECT_TRUE(a.build(m, req, &err)) << err;
  mock::Form form;
  EXPECT_TRUE(mock::parseForm(req->body, &form));
  return form;
}

std::string field(const mock::Form& f, std::string_view name) {
  const std::string* v = f.find(name);
  return v == nullptr ? "<absent>" : *v;
}

net::HttpResult reply(long status, std::string_view body) {
  net::HttpResult r;
  r.status = status;
  r.body = body;
  return r;
}

net::HttpResult failure(net::HttpError e) {
  net::HttpResult r;
  r.error = e;
  return r;
}

// ---- CDAC: the send form ----------------------------------------------------

TEST(CdacAdapterBuild, FormFieldsAreExactAndTheMockAcceptsThem) {
  const CdacAdapter a(cdacOptions());
  OutboundRequest req;
  const mock::Form f = buildForm(a, sms("Your OTP is 123456 & valid 10 min", SmsKind::kOtp), &req);
  EXPECT_EQ(req.method, HttpMethod::kPost);
  EXPECT_EQ(req.url, "https://cdac.test/esms/sendsmsrequestDLT");
  ASSERT_EQ(req.headers.size(), 1u);
  EXPECT_EQ(req.headers[0], "Content-Type: application/x-www-form-urlencoded");
  EXPECT_EQ(f.fields.size(), 8u);
  EXPECT_EQ(field(f, "username"), kUser);
  EXPECT_EQ(field(f, "password"), crypto::sha1Hex(kPassword));
  EXPECT_EQ(field(f, "senderid"), kSender);
  EXPECT_EQ(field(f, "content"), "Your OTP is 123456 & valid 10 min");
  EXPECT_EQ(field(f, "smsservicetype"), "otpmsg");
  EXPECT_EQ(field(f, "mobileno"), "9000000001");
  EXPECT_EQ(field(f, "bulkmobno"), "<absent>");
  EXPECT_EQ(field(f, "templateid"), kTemplate);
  // The key recomputed on the mock's side, from the decoded fields.
  EXPECT_EQ(field(f, "key"), mock::cdacKey(kUser, kSender, "Your OTP is 123456 & valid 10 min", kSecureKey));
  const mock::CdacCheck check = mock::checkCdacRequest(f, mockAccount());
  EXPECT_EQ(check.code, 402);
  ASSERT_EQ(check.recipients.size(), 1u);
  EXPECT_EQ(check.recipients[0], "9000000001");
}

TEST(CdacAdapterBuild, PasswordIsItsLowerCaseSha1) {
  CdacOptions o = cdacOptions();
  o.password = "abc";
  const CdacAdapter a(o);
  OutboundRequest req;
  EXPECT_EQ(field(buildForm(a, sms("hi"), &req), "password"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(CdacAdapterBuild, FormEncodingSurvivesReservedCharacters) {
  const CdacAdapter a(cdacOptions());
  OutboundRequest req;
  const std::string text = "a+b=c&d%e f/g?h#i\xC3\xA9";
  const mock::Form f = buildForm(a, sms(text), &req);
  EXPECT_EQ(field(f, "content"), text);
  EXPECT_NE(req.body.find("content=a%2Bb%3Dc%26d%25e+f%2Fg%3Fh%23i%C3%A9&"), std::string::npos);
  EXPECT_EQ(mock::checkCdacRequest(f, mockAccount()).code, 402);
}

TEST(CdacAdapterBuild, TrimsTheTextAndHashesExactlyWhatItSends) {
  const CdacAdapter a(cdacOptions());
  OutboundRequest req;
  const mock::Form f = buildForm(a, sms("  \tAppointment at 10\n "), &req);
  EXPECT_EQ(field(f, "content"), "Appointment at 10");
  EXPECT_EQ(field(f, "key"),
            crypto::sha512Hex(std::string(kUser) + std::string(kSender) + "Appointment at 10" +
                              std::string(kSecureKey)));
}

TEST(CdacAdapterBuild, TheMessagesOwnSenderIdGoesIntoTheFormAndTheKey) {
  const CdacAdapter a(cdacOptions());
  SmsToSend m = sms("hello");
  m.sender_id = "OTHRID";
  OutboundRequest req;
  const mock::Form f = buildForm(a, m, &req);
  EXPECT_EQ(field(f, "senderid"), "OTHRID");
  EXPECT_EQ(field(f, "key"), mock::cdacKey(kUser, "OTHRID", "hello", kSecureKey));
  // The key is right (not 403); the mock's account approves only FAKEID.
  EXPECT_EQ(mock::checkCdacRequest(f, mockAccount()).code, 411);
}

TEST(CdacAdapterBuild, ServiceTypeAndNumberFieldPerKindAndEncoding) {
  struct Case {
    SmsKind kind;
    TextEncoding enc;
    std::string_view type;
    std::string_view number_field;
  };
  const Case cases[] = {
      {SmsKind::kOtp, TextEncoding::kGsm7, "otpmsg", "mobileno"},
      {SmsKind::kTransactional, TextEncoding::kGsm7, "singlemsg", "mobileno"},
      {SmsKind::kBulk, TextEncoding::kGsm7, "bulkmsg", "bulkmobno"},
      {SmsKind::kOtp, TextEncoding::kUcs2, "unicodeotpmsg", "mobileno"},
      {SmsKind::kTransactional, TextEncoding::kUcs2, "unicodemsg", "bulkmobno"},
      {SmsKind::kBulk, TextEncoding::kUcs2, "unicodemsg", "bulkmobno"},
  };
  const CdacAdapter a(cdacOptions());
  for (const Case& c : cases) {
    OutboundRequest req;
    const mock::Form f = buildForm(a, sms("Clinic closed today", c.kind, c.enc), &req);
    EXPECT_EQ(field(f, "smsservicetype"), c.type);
    EXPECT_EQ(field(f, c.number_field), "9000000001") << c.type;
    EXPECT_EQ(field(f, c.number_field == "mobileno" ? "bulkmobno" : "mobileno"), "<absent>");
    EXPECT_EQ(mock::checkCdacRequest(f, mockAccount()).code, 402) << c.type;
  }
}

TEST(CdacAdapterBuild, UnicodeSendsEveryCharacterAsUtf16EntitiesAndHashesThem) {
  const CdacAdapter a(cdacOptions());
  OutboundRequest req;
  // "नमस्ते A😀": Devanagari, a space, ASCII, and one character beyond the BMP.
  const std::string text = "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87 A\xF0\x9F\x98\x80";
  const std::string want = "&#2344;&#2350;&#2360;&#2381;&#2340;&#2375;&#32;&#65;&#55357;&#56832;";
  const mock::Form f = buildForm(a, sms(text, SmsKind::kOtp, TextEncoding::kUcs2), &req);
  EXPECT_EQ(field(f, "content"), want);
  EXPECT_EQ(field(f, "key"), crypto::sha512Hex(std::string(kUser) + std::string(kSender) + want +
                                               std::string(kSecureKey)));
  EXPECT_EQ(mock::checkCdacRequest(f, mockAccount()).code, 402);
}

TEST(CdacAdapterBuild, UnicodeRefusesIllFormedUtf8) {
  const CdacAdapter a(cdacOptions());
  OutboundRequest req;
  std::string_view err;
  for (std::string_view bad : {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "ab\xE0\xA4", "\x80"}) {
    EXPECT_FALSE(a.build(sms(bad, SmsKind::kOtp, TextEncoding::kUcs2), &req, &err));
    EXPECT_EQ(err, "bad-text");
  }
}

TEST(CdacAdapterBuild, RefusesWhatCdacCannotSend) {
  const CdacAdapter a(cdacOptions());
  OutboundRequest req;
  std::string_view err;
  for (std::string_view to : {"+14155550100", "+91900000000", "+9190000000012", "+915000000001",
                              "919000000001", "+91900000000a"}) {
    SmsToSend m = sms("hi");
    m.to = to;
    EXPECT_FALSE(a.build(m, &req, &err));
    EXPECT_EQ(err, "not-indian-mobile");
  }
  SmsToSend no_template = sms("hi");
  no_template.template_id = "";
  EXPECT_FALSE(a.build(no_template, &req, &err));
  EXPECT_EQ(err, "no-template");
  EXPECT_FALSE(a.build(sms(" \n "), &req, &err));
  EXPECT_EQ(err, "empty-text");
}

TEST(CdacText, MobileAndUnicodeForms) {
  EXPECT_EQ(cdacMobile("+919812345678"), "9812345678");
  EXPECT_EQ(cdacMobile("+916000000000"), "6000000000");
  EXPECT_EQ(cdacMobile("+91981234567"), "");
  std::string out;
  ASSERT_TRUE(appendCdacUnicode("", &out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(appendCdacUnicode("\xEF\xBF\xBF\xF4\x8F\xBF\xBF", &out));  // U+FFFF, U+10FFFF
  EXPECT_EQ(out, "&#65535;&#56319;&#57343;");
}

// ---- CDAC: replies ----------------------------------------------------------

TEST(CdacAdapterClassify, AcceptedRepliesCarryTheSanitizedMsgId) {
  const CdacAdapter a(cdacOptions());
  SendVerdict v = a.classify(reply(200, "402,MsgID = 150620161466003974245msdgsms"));
  EXPECT_EQ(v.outcome, Outcome::kSent);
  EXPECT_EQ(v.provider_message_id, "150620161466003974245msdgsms");
  v = a.classify(reply(200, "\r\n 402 , msgid=abc123msdgsms\r\n"));
  EXPECT_EQ(v.outcome, Outcome::kSent);
  EXPECT_EQ(v.provider_message_id, "abc123msdgsms");
  v = a.classify(reply(200, "402,MsgID = x<y>"));
  EXPECT_EQ(v.outcome, Outcome::kSent);
  EXPECT_EQ(v.provider_message_id, "-");
  v = a.classify(reply(200, "402,"));
  EXPECT_EQ(v.outcome, Outcome::kSent);  // taken: a retry would send it twice
  EXPECT_EQ(v.provider_message_id, "-");
}

TEST(CdacAdapterClassify, ErrorCodeTable) {
  const CdacAdapter a(cdacOptions());
  struct Case {
    std::string_view body;
    Outcome outcome;
    std::string_view code;
  };
  const Case cases[] = {
      {"ERROR : 405 Internal Networking Error", Outcome::kRetry, "cdac-405"},
      {"ERROR : 407 Network Error on SMSC", Outcome::kRetry, "cdac-407"},
      {"ERROR:408", Outcome::kRetry, "cdac-408"},
      {"  error :  409 SMSC response timed out", Outcome::kRetry, "cdac-409"},
      {"ERROR : 401 Credentials Error", Outcome::kPermanent, "cdac-401"},
      {"ERROR : 403 Invalid key", Outcome::kPermanent, "cdac-403"},
      {"ERROR : 404 Missing", Outcome::kPermanent, "cdac-404"},
      {"ERROR : 406 Invalid or Duplicate numbers", Outcome::kPermanent, "cdac-406"},
      {"ERROR : 411 Sender ID not approved", Outcome::kPermanent, "cdac-411"},
      {"ERROR : 418 Daily Limit Exceeded", Outcome::kPermanent, "cdac-418"},
      {"ERROR : 777 something new", Outcome::kPermanent, "cdac-unknown"},
      {"ERROR : oops", Outcome::kRetry, "malformed"},
      {"<html><body>Maintenance</body></html>", Outcome::kRetry, "malformed"},
      {"", Outcome::kRetry, "malformed"},
  };
  for (const Case& c : cases) {
    const SendVerdict v = a.classify(reply(200, c.body));
    EXPECT_EQ(v.outcome, c.outcome) << c.body;
    EXPECT_EQ(v.error_code, c.code) << c.body;
  }
}

TEST(CdacAdapterClassify, EveryMockErrorLineMeansWhatTheMockMeansByIt) {
  const CdacAdapter a(cdacOptions());
  for (int code : {401, 403, 404, 405, 406, 407, 408, 409, 411}) {
    const std::string line = mock::cdacError(code);
    const SendVerdict v = a.classify(reply(200, line));
    EXPECT_EQ(v.outcome, mock::isCdacTemporary(code) ? Outcome::kRetry : Outcome::kPermanent) << code;
    EXPECT_EQ(v.error_code, "cdac-" + std::to_string(code));
  }
}

TEST(CdacAdapterClassify, HttpStatusesAndTransportErrors) {
  const CdacAdapter a(cdacOptions());
  struct Case {
    net::HttpResult r;
    Outcome outcome;
    std::string_view code;
  };
  const Case cases[] = {
      {reply(503, "busy"), Outcome::kRetry, "http-503"},
      {reply(500, ""), Outcome::kRetry, "http-500"},
      {reply(599, ""), Outcome::kRetry, "http-5xx"},
      {reply(429, ""), Outcome::kRetry, "http-429"},
      {reply(408, ""), Outcome::kRetry, "http-408"},
      {reply(404, "402,MsgID = no"), Outcome::kPermanent, "http-404"},
      {reply(403, ""), Outcome::kPermanent, "http-403"},
      {reply(418, ""), Outcome::kPermanent, "http-4xx"},
      {reply(302, ""), Outcome::kPermanent, "http-302"},
      {reply(201, "402,MsgID = x"), Outcome::kPermanent, "http-other"},
      {failure(net::HttpError::kConnect), Outcome::kRetry, "connect"},
      {failure(net::HttpError::kTimeout), Outcome::kRetry, "timeout"},
      {failure(net::HttpError::kOther), Outcome::kRetry, "network"},
      {failure(net::HttpError::kTls), Outcome::kRetry, "tls"},
      {failure(net::HttpError::kTooLarge), Outcome::kRetry, "too-large"},
      {failure(net::HttpError::kCancelled), Outcome::kRetry, "cancelled"},
      {failure(net::HttpError::kRefused), Outcome::kPermanent, "refused"},
  };
  for (const Case& c : cases) {
    const SendVerdict v = a.classify(c.r);
    EXPECT_EQ(v.outcome, c.outcome) << c.code;
    EXPECT_EQ(v.error_code, c.code);
    EXPECT_TRUE(v.provider_message_id.empty());
  }
}

// ---- CDAC: delivery reports -------------------------------------------------

TEST(CdacAdapterReport, PollsOneMsgIdWithTheAccountInTheQuery) {
  CdacOptions o = cdacOptions();
  o.password = "p@ss word";
  const CdacAdapter a(o);
  EXPECT_TRUE(a.hasReports());
  EXPECT_EQ(a.maxReportBatch(), 1u);
  OutboundRequest req;
  const std::string_view ids[] = {"mock1abc"};
  a.buildReport(ids, &req);
  EXPECT_EQ(req.method, HttpMethod::kGet);
  EXPECT_EQ(req.url, "https://cdac.test/XMLForReportG/reportXMLNew?userid=fake-user&password=p%40ss+word"
                     "&msgid=mock1abc");
  EXPECT_TRUE(req.body.empty());
  mock::Form q;
  ASSERT_TRUE(mock::parseForm(std::string_view(req.url).substr(req.url.find('?') + 1), &q));
  EXPECT_EQ(field(q, "password"), "p@ss word");

  o.report_url = "";
  const CdacAdapter off(o);
  EXPECT_FALSE(off.hasReports());
}

TEST(CdacAdapterReport, ReadsTheMocksReportsInEveryState) {
  const CdacAdapter a(cdacOptions());
  mock::DeliveryBook book;
  book.accept("mock1aa", {{"9000000001", true}}, 100);
  book.accept("mock2bb", {{"9000000009", false}}, 100);
  const auto parse = [&](std::string_view id, uint64_t now) {
    const std::string xml = book.reportXml(kUser, id, now);
    std::vector<ReportItem> items;
    EXPECT_TRUE(a.parseReport(reply(200, xml), &items));  // (the XML lists numbers: not printed)
    EXPECT_EQ(items.size(), 1u);
    return items.empty() ? ReportItem{} : items[0];
  };
  ReportItem r = parse("mock1aa", 99);
  EXPECT_EQ(r.provider_message_id, "mock1aa");
  EXPECT_EQ(r.state, ReportState::kPending);  // submitted, not final yet
  r = parse("mock1aa", 100);
  EXPECT_EQ(r.state, ReportState::kDelivered);
  r = parse("mock2bb", 200);
  EXPECT_EQ(r.state, ReportState::kUndelivered);
  EXPECT_EQ(r.error_code, "cdac-failed");
  r = parse("mock9zz", 200);  // never seen: all counts 0
  EXPECT_EQ(r.state, ReportState::kPending);
}

TEST(CdacAdapterReport, ReadsAPublishedReportAndRefusesWhatIsNotOne) {
  const CdacAdapter a(cdacOptions());
  // The shape of a reportXMLNew answer as published in a public CDAC client's
  // tests (numbers replaced by fake ones).
  const std::string_view published =
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><dept value=\"fake-user\">"
      "<msgid>290920201601346533977fake-user</msgid><delvSMSCount>2</delvSMSCount>"
      "<fldSMSCount>0</fldSMSCount><subSMSCount>0</subSMSCount><undelv/><del>"
      "<no mobNo=\"919000000001\">DELIVRED</no><no mobNo=\"919000000002\">DELIVRED</no></del>"
      "<sub/><fld/></dept>";
  std::vector<ReportItem> items;
  ASSERT_TRUE(a.parseReport(reply(200, published), &items));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].provider_message_id, "290920201601346533977fake-user");
  EXPECT_EQ(items[0].state, ReportState::kDelivered);

  const std::string_view undelivered =
      "<dept value=\"u\"><msgid>m1</msgid><delvSMSCount>0</delvSMSCount><fldSMSCount>0</fldSMSCount>"
      "<subSMSCount>0</subSMSCount><undelv><no mobNo=\"919000000001\">UNDELIV</no></undelv></dept>";
  ASSERT_TRUE(a.parseReport(reply(200, undelivered), &items));
  EXPECT_EQ(items[0].state, ReportState::kUndelivered);
  EXPECT_EQ(items[0].error_code, "cdac-undelivered");

  EXPECT_FALSE(a.parseReport(reply(200, mock::cdacError(401)), &items));
  EXPECT_TRUE(items.empty());
  EXPECT_FALSE(a.parseReport(reply(200, "<dept><delvSMSCount>1</delvSMSCount></dept>"), &items));
  EXPECT_FALSE(a.parseReport(reply(200, "<dept><msgid>m</msgid><delvSMSCount>x</delvSMSCount>"
                                         "<fldSMSCount>0</fldSMSCount></dept>"),
                             &items));
  EXPECT_FALSE(a.parseReport(reply(500, published), &items));
  EXPECT_FALSE(a.parseReport(failure(net::HttpError::kTimeout), &items));
}

// ---- the generic JSON provider ----------------------------------------------

HttpOptions httpOptions() { return {.url = "https://provider.test/v1/messages", .token = "fake-token-1"}; }

TEST(HttpAdapterBuild, HeadersAndAnEscapedJsonBody) {
  const HttpAdapter a(httpOptions());
  const std::string text = "He said \"hi\"\n\\ \xE0\xA4\xA8\t\x01";
  SmsToSend m = sms(text, SmsKind::kOtp);
  m.sender_id = "FAKEID";
  OutboundRequest req;
  std::string_view err;
  ASSERT_TRUE(a.build(m, &req, &err));
  EXPECT_EQ(req.method, HttpMethod::kPost);
  EXPECT_EQ(req.url, "https://provider.test/v1/messages");
  const std::vector<std::string> want_headers = {"Content-Type: application/json",
                                                 "Authorization: Bearer fake-token-1",
                                                 "Idempotency-Key: 0123456789abcdef0123456789abcdef"};
  EXPECT_EQ(req.headers, want_headers);
  EXPECT_EQ(req.body,
            "{\"id\":\"0123456789abcdef0123456789abcdef\",\"to\":\"+919000000001\","
            "\"text\":\"He said \\\"hi\\\"\\u000a\\\\ \xE0\xA4\xA8\\u0009\\u0001\","
            "\"template_id\":\"1107000000000000001\",\"sender_id\":\"FAKEID\",\"type\":\"otp\"}");
  // And a JSON parser reads the text back unchanged.
  simdjson::dom::parser parser;
  std::string_view back;
  ASSERT_EQ(parser.parse(req.body)["text"].get(back), simdjson::SUCCESS);
  EXPECT_EQ(back, text);
}

TEST(HttpAdapterBuild, OptionalMembersAndTypes) {
  const HttpAdapter a(httpOptions());
  OutboundRequest req;
  std::string_view err;
  SmsToSend m = sms("x", SmsKind::kBulk);
  m.template_id = "";
  ASSERT_TRUE(a.build(m, &req, &err));
  EXPECT_EQ(req.body, "{\"id\":\"0123456789abcdef0123456789abcdef\",\"to\":\"+919000000001\","
                      "\"text\":\"x\",\"type\":\"bulk\"}");
  ASSERT_TRUE(a.build(sms("x"), &req, &err));
  EXPECT_NE(req.body.find("\"type\":\"transactional\""), std::string::npos);
  m.message_id = "bad id\r\nX: y";
  EXPECT_FALSE(a.build(m, &req, &err));
  EXPECT_EQ(err, "bad-id");
  EXPECT_TRUE(req.headers.empty());
}

TEST(HttpAdapterClassify, Table) {
  const HttpAdapter a(httpOptions());
  struct Case {
    net::HttpResult r;
    Outcome outcome;
    std::string_view code;
    std::string_view id;
  };
  const Case cases[] = {
      {reply(202, "{\"provider_message_id\":\"pm-1abc\"}"), Outcome::kSent, "", "pm-1abc"},
      {reply(200, "{\"provider_message_id\":\"pm:2\",\"x\":1}"), Outcome::kSent, "", "pm:2"},
      {reply(200, "{}"), Outcome::kSent, "", "-"},
      {reply(201, "not json"), Outcome::kSent, "", "-"},
      {reply(204, ""), Outcome::kSent, "", "-"},
      {reply(202, "{\"provider_message_id\":\"+919000000001 hi\"}"), Outcome::kSent, "", "-"},
      {reply(202, "{\"provider_message_id\":7}"), Outcome::kSent, "", "-"},
      {reply(429, ""), Outcome::kRetry, "http-429", ""},
      {reply(503, ""), Outcome::kRetry, "http-503", ""},
      {reply(502, ""), Outcome::kRetry, "http-502", ""},
      {reply(504, ""), Outcome::kRetry, "http-504", ""},
      {reply(507, ""), Outcome::kRetry, "http-5xx", ""},
      {reply(408, ""), Outcome::kRetry, "http-408", ""},
      {reply(400, ""), Outcome::kPermanent, "http-400", ""},
      {reply(401, ""), Outcome::kPermanent, "http-401", ""},
      {reply(409, ""), Outcome::kPermanent, "http-409", ""},
      {reply(422, ""), Outcome::kPermanent, "http-422", ""},
      {reply(451, ""), Outcome::kPermanent, "http-4xx", ""},
      {reply(301, ""), Outcome::kPermanent, "http-301", ""},
      {failure(net::HttpError::kTimeout), Outcome::kRetry, "timeout", ""},
      {failure(net::HttpError::kRefused), Outcome::kPermanent, "refused", ""},
  };
  for (const Case& c : cases) {
    const SendVerdict v = a.classify(c.r);
    EXPECT_EQ(v.outcome, c.outcome) << c.r.status << " " << c.code;
    EXPECT_EQ(v.error_code, c.code) << c.r.status;
    EXPECT_EQ(v.provider_message_id, c.id) << c.r.status;
  }
  EXPECT_FALSE(a.hasReports());
}

// ---- sanitizeProviderId -------------------------------------------------------

TEST(SanitizeProviderId, KeepsSafeIdsAndReplacesEverythingElse) {
  EXPECT_EQ(sanitizeProviderId("abc-1.2_3:4"), "abc-1.2_3:4");
  EXPECT_EQ(sanitizeProviderId(std::string(64, 'a')), std::string(64, 'a'));
  EXPECT_EQ(sanitizeProviderId(std::string(65, 'a')), "-");
  EXPECT_EQ(sanitizeProviderId(""), "-");
  for (std::string_view bad : {"a b", "a\"b", "a\\b", "a\nb", "a/b", "+919000000001", "\xC3\xA9"}) {
    EXPECT_EQ(sanitizeProviderId(bad), "-");
  }
}

}  // namespace
}  // namespace phigate::delivery
