// The audit trail and what must never be in it (DESIGN §4 "Logs",
// SECURITY-GUIDE "Secure Logging"): every security event is one structured
// access-log line with request id, client IP, key id, route and reason; no
// token, secret, phone number, email address or message text reaches any log
// line, response or this binary's own output.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "security_fixture.h"

namespace phigate::test {
namespace {

const std::string kSigningSecret = "sig_audit_0123456789abcdefghijklmnopqrstuv";

// ---- one structured line per security event -----------------------------------------------

class AuditTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TestKey office = keyWithRoles("office", {"sms"});
    office.allow_cidrs = {"10.20.0.0/16"};
    TestKey revoked = keyWithRoles("gone", {"sms"});
    revoked.revoked = true;
    TestKey signer = keyWithRoles("signer", {"sms"});
    signer.signing_secret = kSigningSecret;
    const std::vector<TestKey> keys = {keyWithRoles("clinic", {"sms"}),
                                       keyWithRoles("records", {"ehospital"}), office, revoked,
                                       signer};
    server_ = std::make_unique<Server>(ServerOptions{
        .env = {{"API_KEYS_FILE", "keys.json"}, {"PHIGATE_AUTH_FAILURE_LIMIT", "1000000"},
                {"TRUSTED_PROXIES", "127.0.0.1/32"},
                {"IP_DENYLIST", "6.6.6.0/24"}},
        .files = {{"keys.json", keysFileJson(keys)}}});
  }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->logText(); }

  static std::unique_ptr<Server> server_;
};

std::unique_ptr<Server> AuditTest::server_;

TEST_F(AuditTest, EverySecurityEventIsOneStructuredLine) {
  const std::string clinic = tokenFor("clinic");
  struct Event {
    const char* what;
    ApiRequest req;
    int status;
    AuditExpectation want;
  };
  std::vector<Event> events;
  auto add = [&](const char* what, ApiRequest req, int status, AuditExpectation want) {
    req.request_id = uniqueRequestId(std::string("audit-") + what);
    want.status = status;
    events.push_back({what, std::move(req), status, std::move(want)});
  };
  auto sms = [&](const std::string& token) { return post("/v1/sms", kSmsBody, token); };

  // Authentication failures: no key id (none was established).
  const AuditExpectation auth{.route = "sms", .event = "auth_failure"};
  auto authFailure = [&](const char* reason) {
    AuditExpectation w = auth;
    w.reason = reason;
    return w;
  };
  add("missing-token", sms(""), 401, authFailure("missing_token"));
  ApiRequest malformed = sms("");
  malformed.extra_headers = "Authorization: Basic " + clinic + "\r\n";
  add("malformed-token", malformed, 401, authFailure("malformed_token"));
  add("unknown-token", sms(tokenFor("stranger")), 401, authFailure("unknown_token"));
  add("revoked-token", sms(tokenFor("gone")), 401, authFailure("revoked_token"));
  add("query-token", post("/v1/sms?access_token=" + clinic, kSmsBody, clinic), 400,
      authFailure("token_in_query"));

  // RBAC: the permission that was missing, and whose key it was.
  add("rbac-send", post("/v1/sms/bulk", kBulkBody, clinic), 403,
      {.route = "sms_bulk", .event = "rbac_violation", .reason = "sms:bulk", .key_id = "clinic"});
  ApiRequest read = post("/v1/messages/0123456789abcdef0123456789abcdef", "", tokenFor("records"));
  read.method = "GET";
  read.content_type.clear();
  read.omit_nonce = read.omit_timestamp = true;
  add("rbac-read", read, 403,
      {.method = "GET", .route = "message_status", .event = "rbac_violation",
       .reason = "messages:read", .key_id = "records"});

  // Replay protection.
  const AuditExpectation replay{.route = "sms", .event = "replay", .key_id = "clinic"};
  auto replayed = [&](const char* reason, const char* key_id = "clinic") {
    AuditExpectation w = replay;
    w.reason = reason;
    w.key_id = key_id;
    return w;
  };
  ApiRequest no_ts = sms(clinic);
  no_ts.omit_timestamp = true;
  add("missing-timestamp", no_ts, 401, replayed("missing_timestamp"));
  ApiRequest stale = sms(clinic);
  stale.timestamp = std::to_string(unixNow() - 3600);
  add("stale-timestamp", stale, 401, replayed("stale_timestamp"));
  ApiRequest no_nonce = sms(clinic);
  no_nonce.omit_nonce = true;
  add("missing-nonce", no_nonce, 401, replayed("missing_nonce"));
  add("missing-signature", sms(tokenFor("signer")), 401, replayed("missing_signature", "signer"));
  ApiRequest forged = sms(tokenFor("signer"));
  forged.signature = std::string(64, 'a');
  add("bad-signature", forged, 401, replayed("bad_signature", "signer"));
  ApiRequest original = sms(clinic);
  original.nonce = freshNonce();
  add("first-use", original, 202, {.route = "sms", .key_id = "clinic"});
  ApiRequest again = sms(clinic);
  again.nonce = original.nonce;
  add("nonce-reused", again, 409, replayed("nonce_reused"));

  // Validation failures.
  const AuditExpectation invalid{.route = "sms", .event = "validation_failure", .key_id = "clinic"};
  auto failed = [&](const char* reason) {
    AuditExpectation w = invalid;
    w.reason = reason;
    return w;
  };
  add("schema", post("/v1/sms", R"({"to":"1","message":"x"})", clinic), 422, failed("schema"));
  add("malformed-body", post("/v1/sms", "{\"to\":", clinic), 400, failed("malformed_body"));
  ApiRequest form = sms(clinic);
  form.content_type = "application/x-www-form-urlencoded";
  add("content-type", form, 415, failed("content_type"));

  // IP blocks: the resolved client address, and the key once it is known.
  ApiRequest denied = sms(clinic);
  denied.extra_headers = "X-Forwarded-For: 6.6.6.6\r\n";
  add("denylist", denied, 403,
      {.route = "sms", .event = "ip_blocked", .reason = "denylist", .client_ip = "6.6.6.6"});
  ApiRequest elsewhere = sms(tokenFor("office"));
  elsewhere.extra_headers = "X-Forwarded-For: 10.99.0.1\r\n";
  add("key-allowlist", elsewhere, 403,
      {.route = "sms", .event = "ip_blocked", .reason = "not_in_key_allowlist", .key_id = "office",
       .client_ip = "10.99.0.1"});

  for (Event& e : events) {
    SCOPED_TRACE(e.what);
    const Response r = call(server_->port(), e.req);
    EXPECT_EQ(r.status, e.status);
    EXPECT_EQ(r.header("x-request-id"), e.req.request_id);
  }
  for (const Event& e : events) {
    SCOPED_TRACE(e.what);
    expectAuditLine(*server_, e.req.request_id, e.want);
  }
  // The key id is there; the token never is, nor anything of the bodies.
  const std::string log = server_->logText();
  for (const std::string& secret :
       {clinic, tokenFor("gone"), tokenFor("stranger"), tokenFor("signer"), tokenFor("office"),
        tokenFor("records"), kSigningSecret, std::string("9876543210"), std::string("Bearer"),
        std::string("appointment")}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "the log holds a value of the request";
  }
}

// ---- no marker anywhere ------------------------------------------------------------------

// Distinctive fake values: every token, secret, phone number, address and text
// the test sends contains one of these (case-insensitively "marker", or the
// marker phone digits).
const std::string kTokSms = "tok_MARKERtokSms_7f3a9cQ2";
const std::string kTokAdmin = "tok_MARKERtokAdmin_5b1e8dW4";
const std::string kTokRevoked = "tok_MARKERtokRevoked_2c7f0aR8";
const std::string kTokSigner = "tok_MARKERtokSigner_9d4b6eT1";
const std::string kTokOffice = "tok_MARKERtokOffice_4a8c2fY6";
const std::string kTokUnknown = "tok_MARKERtokUnknown_0e3d7bU9";
const std::string kSecret = "MARKERsecret_0123456789abcdefghijklmnop";
const std::string kPhoneA = "+919999000111";
const std::string kPhoneB = "+919999000222";
const std::string kEmailTo = "marker@example.invalid";
const std::string kEmailReply = "marker.reply@example.invalid";
const std::string kText = "MARKERtext your test result is ready";

/** What may never appear, with a label that is safe to print. */
std::vector<std::pair<std::string, std::string>> forbidden() {
  std::vector<std::pair<std::string, std::string>> out = {
      {"marker", "a marker (token, secret, address or text)"},
      {"9999000111", "marker phone A"},
      {"9999000222", "marker phone B"},
      {"example.invalid", "a marker email domain"},
  };
  for (const std::string& token : {kTokSms, kTokAdmin, kTokRevoked, kTokSigner, kTokOffice}) {
    out.emplace_back(sha256Hex(token), "a token's SHA-256");
  }
  return out;
}

std::string lowerCase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/** The labels of the forbidden values `text` contains (it is never printed itself). */
std::vector<std::string> leaks(const std::string& text) {
  const std::string haystack = lowerCase(text);
  std::vector<std::string> found;
  for (const auto& [needle, label] : forbidden()) {
    if (haystack.find(lowerCase(needle)) != std::string::npos) found.push_back(label);
  }
  return found;
}

std::string smsMarkerBody(const std::string& to) {
  return "{\"to\":\"" + to + "\",\"message\":\"" + kText +
         "\",\"template_id\":\"1234567890123\",\"sender_id\":\"MARKER\"}";
}

TEST(NoLeaks, MarkersNeverReachTheLogsOrAnyResponse) {
  TestKey sms_key{.id = "m-sms", .token = kTokSms, .roles = {"sms"}};
  TestKey admin{.id = "m-admin", .token = kTokAdmin, .roles = {"admin"}};
  TestKey revoked{.id = "m-revoked", .token = kTokRevoked, .roles = {"admin"}, .revoked = true};
  TestKey signer{.id = "m-signer", .token = kTokSigner, .roles = {"sms"}, .signing_secret = kSecret};
  TestKey office{.id = "m-office", .token = kTokOffice, .roles = {"sms"}, .allow_cidrs = {"10.20.0.0/16"}};
  Server s({.env = {{"API_KEYS_FILE", "keys.json"}, {"PHIGATE_AUTH_FAILURE_LIMIT", "1000000"},
                    {"TRUSTED_PROXIES", "127.0.0.1/32"},
                    {"IP_DENYLIST", "6.6.6.0/24"},
                    {"PHIGATE_REPLAY_WINDOW_S", "60"}},
            .files = {{"keys.json", keysFileJson({sms_key, admin, revoked, signer, office})}}});
  ASSERT_TRUE(s.ready()) << "the server did not start";

  struct Sent {
    std::string what;
    int status;  // expected
    std::string raw;
  };
  std::vector<Sent> all;
  auto add = [&](const std::string& what, int status, ApiRequest req) {
    req.extra_headers += "Idempotency-Key: MARKERidem-" + what + "\r\n";
    all.push_back({what, status, req.raw()});
  };
  const std::string sms_body = smsMarkerBody(kPhoneA);
  const std::string bulk_list = "{\"to\":[\"" + kPhoneA + "\",\"" + kPhoneB + "\"],\"message\":\"" + kText + "\"}";
  const std::string bulk_items = "{\"messages\":[{\"to\":\"" + kPhoneA + "\",\"message\":\"" + kText +
                                 "\"},{\"to\":\"" + kPhoneB + "\",\"message\":\"MARKERsecond\"}]}";
  const std::string email_body = "{\"to\":\"" + kEmailTo + "\",\"subject\":\"MARKERsubject\",\"text\":\"" +
                                 kText + "\",\"html\":\"<p>MARKERhtml</p>\",\"reply_to\":\"" +
                                 kEmailReply + "\"}";

  // Accepted.
  add("sms", 202, post("/v1/sms", sms_body, kTokSms));
  add("bulk-list", 202, post("/v1/sms/bulk", bulk_list, kTokAdmin));
  add("bulk-items", 202, post("/v1/sms/bulk", bulk_items, kTokAdmin));
  add("email", 202, post("/v1/email", email_body, kTokAdmin));
  ApiRequest signed_req = post("/v1/sms", sms_body, kTokSigner);
  signed_req.signing_secret = kSecret;
  add("signed", 202, signed_req);
  // 401: every authentication and replay failure.
  add("no-token", 401, post("/v1/sms", sms_body, ""));
  add("unknown-token", 401, post("/v1/sms", sms_body, kTokUnknown));
  add("revoked-token", 401, post("/v1/email", email_body, kTokRevoked));
  ApiRequest malformed = post("/v1/sms", sms_body, "");
  malformed.extra_headers = "Authorization: Bearer " + kTokSms + " " + kSecret + "\r\n";
  add("malformed-token", 401, malformed);
  ApiRequest basic = post("/v1/sms", sms_body, "");
  basic.extra_headers = "Authorization: Basic " + kTokAdmin + "\r\n";
  add("basic-auth", 401, basic);
  add("query-token", 400, post("/v1/sms?access_token=" + kTokSms + "&to=" + kPhoneA, sms_body, kTokSms));
  ApiRequest stale = post("/v1/sms", sms_body, kTokSms);
  stale.timestamp = std::to_string(unixNow() - 3600);
  add("stale", 401, stale);
  ApiRequest forged = post("/v1/sms", sms_body, kTokSigner);
  forged.signature = requestSignature(kSecret, "POST", "/v1/sms", std::to_string(unixNow()),
                                      freshNonce(), sms_body);
  add("bad-signature", 401, forged);
  ApiRequest unsigned_req = post("/v1/sms", sms_body, kTokSigner);
  add("missing-signature", 401, unsigned_req);
  // 403: RBAC, the global denylist, a key's own allowlist.
  add("rbac", 403, post("/v1/sms/bulk", bulk_list, kTokSms));
  ApiRequest denied = post("/v1/email", email_body, kTokAdmin);
  denied.extra_headers = "X-Forwarded-For: 6.6.6.6\r\n";
  add("denylist", 403, denied);
  add("key-allowlist", 403, post("/v1/sms", sms_body, kTokOffice));
  // 409.
  ApiRequest first = post("/v1/sms", sms_body, kTokSms);
  first.nonce = freshNonce();
  add("first", 202, first);
  ApiRequest again = post("/v1/sms", smsMarkerBody(kPhoneB), kTokSms);
  again.nonce = first.nonce;
  add("replayed", 409, again);
  // 415.
  ApiRequest form = post("/v1/sms", "to=" + kPhoneA + "&message=" + kText, kTokSms);
  form.content_type = "application/x-www-form-urlencoded";
  add("form", 415, form);
  // 422: each kind of refused value, carrying markers.
  add("bad-phone", 422, post("/v1/sms", smsMarkerBody(kPhoneA + "99999"), kTokSms));
  add("long-text", 422,
      post("/v1/sms", "{\"to\":\"" + kPhoneA + "\",\"message\":\"" + kText + std::string(500, 'x') + "\"}",
           kTokSms));
  add("bad-sender", 422,
      post("/v1/sms", "{\"to\":\"" + kPhoneA + "\",\"message\":\"" + kText + "\",\"sender_id\":\"MARKERX\"}",
           kTokSms));
  add("unknown-field", 422,
      post("/v1/sms", "{\"to\":\"" + kPhoneA + "\",\"message\":\"x\",\"note\":\"" + kText + "\"}", kTokSms));
  add("bad-email", 422,
      post("/v1/email", "{\"to\":\"marker@@example.invalid\",\"subject\":\"MARKERs\",\"text\":\"" + kText +
                            "\",\"reply_to\":\"" + kEmailTo + " x\"}",
           kTokAdmin));
  add("header-injection", 422,
      post("/v1/email", "{\"to\":\"" + kEmailTo + "\",\"subject\":\"MARKER\\r\\nBcc: " + kEmailReply +
                            "\",\"text\":\"" + kText + "\"}",
           kTokAdmin));
  add("duplicate-recipient", 422,
      post("/v1/sms/bulk", "{\"to\":[\"" + kPhoneA + "\",\"" + kPhoneA + "\"],\"message\":\"" + kText + "\"}",
           kTokAdmin));
  // 400.
  add("malformed-json", 400, post("/v1/sms", "{\"to\":\"" + kPhoneA + "\",\"message\":\"" + kText + "\"", kTokSms));
  add("invalid-utf8", 400,
      post("/v1/sms", "{\"to\":\"" + kPhoneA + "\",\"message\":\"" + kText + "\xff\"}", kTokSms));
  add("too-deep", 400,
      post("/v1/sms", "{\"to\":\"" + kPhoneA + "\",\"message\":[[[[[[[[[\"" + kText + "\"]]]]]]]]]}", kTokSms));
  // 404 and 405.
  all.push_back({"not-found", 404,
                 authedGet("/v1/messages/0123456789abcdef0123456789abcdef?to=" + kPhoneA, kTokSms,
                           "Idempotency-Key: MARKERidem\r\n")});
  all.push_back({"malformed-id", 404, authedGet("/v1/messages/MARKERid" + kPhoneA, kTokSms)});
  all.push_back({"unknown-path", 404, authedGet("/v1/MARKERpath/" + kEmailTo, kTokAdmin)});
  all.push_back({"wrong-method", 405, authedGet("/v1/sms?message=" + kText.substr(0, 10), kTokSms)});
  // 413: refused from Content-Length; the marker bytes that follow are never read.
  ApiRequest huge = post("/v1/sms", "", kTokSms);
  std::string raw = huge.raw();
  raw.replace(raw.find("Content-Length: 0\r\n"), 19, "Content-Length: 70000\r\n");
  all.push_back({"too-large", 413, raw + sms_body});
  // Public routes with markers in the query and headers.
  all.push_back({"health", 200,
                 get("/health?token=" + kTokSms + "&to=" + kPhoneA,
                     "Authorization: Bearer " + kTokAdmin + "\r\nX-Note: " + kText + "\r\n")});
  all.push_back({"livez", 200, get("/livez?email=" + kEmailTo, "Authorization: Bearer " + kTokSms + "\r\n")});
  // Framing errors with markers in the head.
  all.push_back({"bad-header", 400,
                 "POST /v1/sms HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + kTokSms +
                     "\r\nX-Phone " + kPhoneA + ": " + kText + "\r\n\r\n"});

  std::vector<std::string> message_ids;
  std::string last_request_id;
  for (const Sent& k : all) {
    SCOPED_TRACE(k.what);
    Client c(s.port());
    ASSERT_TRUE(c.sendAll(k.raw));
    auto r = c.readResponse();
    ASSERT_TRUE(r) << "no answer";
    EXPECT_EQ(r->status, k.status);
    EXPECT_EQ(leaks(r->head + r->body), std::vector<std::string>{}) << "the response repeats a value";
    if (const std::string id = jsonField(r->body, "id"); !id.empty()) message_ids.push_back(id);
    last_request_id = r->header("x-request-id");
  }
  // The message status answers hold no PHI either.
  ASSERT_FALSE(message_ids.empty());
  for (const std::string& id : message_ids) {
    for (const std::string& token : {kTokSms, kTokAdmin, kTokSigner}) {
      auto r = request(s.port(), authedGet("/v1/messages/" + id, token));
      ASSERT_TRUE(r);
      EXPECT_TRUE(r->status == 200 || r->status == 404) << r->status;
      EXPECT_EQ(leaks(r->head + r->body), std::vector<std::string>{});
    }
  }

  // Every request's line is out; then the final lines of a graceful stop.
  EXPECT_TRUE(s.waitForLine({"\"request_id\":\"" + last_request_id + "\""}));
  ASSERT_EQ(s.sendSignal(SIGTERM), 0);
  const std::optional<int> status = s.waitExit(5000);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  const std::string output = s.logText();
  EXPECT_GT(s.countLines("\"request_id\":"), all.size());  // the lines are there...
  EXPECT_EQ(leaks(output), std::vector<std::string>{}) << "the server's output holds a value";  // ...clean
}

}  // namespace
}  // namespace phigate::test
