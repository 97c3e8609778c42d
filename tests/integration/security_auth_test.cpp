// The security controls in front of the API, through the real binary
// (DESIGN §3-§4, SECURITY-GUIDE "Security Testing"): security headers,
// authentication, RBAC, client IP and IP access, replay protection and
// object-level authorization on /v1/messages/{id}.
#include <gtest/gtest.h>

#include <simdjson.h>

#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "harness.h"
#include "security_fixture.h"

namespace phigate::test {
namespace {

const std::string kSigningSecret = "sig_0123456789abcdefghijklmnopqrstuvwxyz";
const std::string kEnvSmsToken = "env_sms_token_Hk3Jq8Lp2Vb7Nc4Xz9";
const std::string kEnvAdminToken = "env_admin_token_Rw5Ty1Ui6Op0As3Df8";
constexpr int kWindowS = 100;  // PHIGATE_REPLAY_WINDOW_S of the shared server

/** The message ids of a 202 ({"id"} or {"ids":[...]}); empty when there are none. */
std::vector<std::string> messageIds(const Response& r) {
  std::vector<std::string> out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r.body).get(doc) != simdjson::SUCCESS) return out;
  std::string_view id;
  if (doc["id"].get_string().get(id) == simdjson::SUCCESS) out.emplace_back(id);
  simdjson::dom::array ids;
  if (doc["ids"].get_array().get(ids) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : ids) {
      if (e.get_string().get(id) == simdjson::SUCCESS) out.emplace_back(id);
    }
  }
  return out;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

/** A problem body without its request id, to compare answers of different requests. */
std::string withoutRequestId(const Response& r) {
  std::string body = r.body;
  const std::string id = r.header("x-request-id");
  const size_t at = id.empty() ? std::string::npos : body.find(id);
  if (at != std::string::npos) body.erase(at, id.size());
  return body;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<TestKey> keys = oneKeyPerRole();
    keys.push_back(keyWithRoles("sms-b", {"sms"}));
    TestKey revoked = keyWithRoles("revoked", {"sms", "admin"});
    revoked.revoked = true;
    keys.push_back(revoked);
    TestKey signer = keyWithRoles("signer", {"sms", "bulk"});
    signer.signing_secret = kSigningSecret;
    keys.push_back(signer);
    server_ = std::make_unique<Server>(ServerOptions{
        .env = {{"API_KEYS_FILE", "keys.json"}, {"PHIGATE_AUTH_FAILURE_LIMIT", "1000000"},
                {"PHIGATE_REPLAY_WINDOW_S", std::to_string(kWindowS)},
                {"SMS_API_KEY", kEnvSmsToken},
                {"ADMIN_API_KEY", kEnvAdminToken}},
        .files = {{"keys.json", keysFileJson(keys)}}});
  }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->logText(); }

  uint16_t port() const { return server_->port(); }
  const Server& server() const { return *server_; }
  Response send(ApiRequest& req) const { return call(port(), req); }
  Response send(ApiRequest&& req) const { return call(port(), req); }
  Response sendSms(const std::string& token) const { return send(post("/v1/sms", kSmsBody, token)); }

  static std::unique_ptr<Server> server_;
};

std::unique_ptr<Server> SecurityTest::server_;

const std::string kRandomId = "0123456789abcdef0123456789abcdef";

// ---- security headers ---------------------------------------------------------------

TEST_F(SecurityTest, SecurityHeadersOnEveryApiAnswer) {
  const std::string sms = tokenFor("role-sms");
  std::vector<std::pair<std::string, Response>> answers;

  Response accepted = sendSms(sms);
  EXPECT_EQ(accepted.status, 202);
  EXPECT_EQ(accepted.header("content-type"), "application/json; charset=utf-8");
  answers.emplace_back("202", accepted);
  const std::vector<std::string> ids = messageIds(accepted);
  ASSERT_EQ(ids.size(), 1u);
  answers.emplace_back("200", callGet(port(), "/v1/messages/" + ids[0], sms));
  answers.emplace_back("401", sendSms(""));
  ApiRequest stale = post("/v1/sms", kSmsBody, sms);
  stale.timestamp = "1";
  answers.emplace_back("401", send(stale));
  answers.emplace_back("403", sendSms(tokenFor("role-email")));
  ApiRequest once = post("/v1/sms", kSmsBody, sms);
  EXPECT_EQ(send(once).status, 202);
  answers.emplace_back("409", send(once));
  ApiRequest plain = post("/v1/sms", kSmsBody, sms);
  plain.content_type = "text/plain";
  answers.emplace_back("415", send(plain));
  answers.emplace_back("422", send(post("/v1/sms", R"({"to":"12","message":"x"})", sms)));
  answers.emplace_back("400", send(post("/v1/sms", "{", sms)));
  answers.emplace_back("404", callGet(port(), "/v1/messages/" + kRandomId, sms));
  std::string big = post("/v1/sms", "", sms).raw();
  big.replace(big.find("Content-Length: 0"), 17, "Content-Length: 70000");
  auto too_large = request(port(), big);
  ASSERT_TRUE(too_large);
  answers.emplace_back("413", *too_large);

  for (const auto& [status, r] : answers) {
    SCOPED_TRACE(status);
    EXPECT_EQ(std::to_string(r.status), status);
    expectSecurityHeaders(r, false);
    EXPECT_EQ(r.has("www-authenticate"), status == "401");
  }
}

// ---- cross-site requests (the guide's known limitation 2, CSRF) ---------------------

// A page on another origin cannot use a visitor's standing: phigate has no
// cookies or sessions (only Bearer tokens, which a browser never adds on its
// own), never approves a CORS preflight (so a script cannot send an
// Authorization header cross-origin), and takes only application/json (so an
// HTML form, the one cross-site POST that needs no preflight, gets 415).
TEST_F(SecurityTest, CrossSiteBrowsersGetNothingToWorkWith) {
  const std::string origin = "Origin: https://attacker.invalid\r\n";
  auto preflight = request(port(), "OPTIONS /v1/sms HTTP/1.1\r\nHost: test\r\n" + origin +
                                       "Access-Control-Request-Method: POST\r\n"
                                       "Access-Control-Request-Headers: authorization, content-type\r\n\r\n");
  ASSERT_TRUE(preflight);
  for (const char* h : {"access-control-allow-origin", "access-control-allow-headers",
                        "access-control-allow-methods", "access-control-allow-credentials"}) {
    EXPECT_FALSE(preflight->has(h)) << h;
  }
  // A cookie is not a credential here.
  const std::string form = "to=%2B910000000001&message=hi";
  auto with_cookie = request(port(), "POST /v1/sms HTTP/1.1\r\nHost: test\r\n" + origin +
                                         "Cookie: session=0123456789abcdef\r\n"
                                         "Content-Type: application/x-www-form-urlencoded\r\n"
                                         "Content-Length: " + std::to_string(form.size()) + "\r\n\r\n" + form);
  ASSERT_TRUE(with_cookie);
  EXPECT_EQ(with_cookie->status, 401);
  EXPECT_FALSE(with_cookie->has("access-control-allow-origin"));
  EXPECT_FALSE(with_cookie->has("set-cookie"));
  // Even with a token, a form body is refused.
  ApiRequest as_form = post("/v1/sms", form, tokenFor("role-sms"));
  as_form.content_type = "application/x-www-form-urlencoded";
  const Response refused = send(as_form);
  EXPECT_EQ(refused.status, 415);
  EXPECT_FALSE(refused.has("access-control-allow-origin"));
}

// ---- authentication -----------------------------------------------------------------

TEST_F(SecurityTest, MissingTokenIs401OnEveryProtectedRoute) {
  struct Case {
    std::string method, path, route, body;
  };
  const Case cases[] = {{"POST", "/v1/sms", "sms", kSmsBody},
                        {"POST", "/v1/sms/bulk", "sms_bulk", kBulkBody},
                        {"POST", "/v1/email", "email", kEmailBody},
                        {"GET", "/v1/messages/" + kRandomId, "message_status", ""}};
  for (const Case& k : cases) {
    SCOPED_TRACE(k.path);
    const std::string rid = uniqueRequestId("missing-token");
    Response r;
    if (k.method == "GET") {
      r = callGet(port(), k.path, "", "X-Request-ID: " + rid + "\r\n");
    } else {
      ApiRequest req = post(k.path, k.body, "");
      req.request_id = rid;
      r = send(req);
    }
    expectUnauthorized(r);
    expectAuditLine(server(), rid,
                    {.method = k.method, .route = k.route, .status = 401, .event = "auth_failure",
                     .reason = "missing_token"});
  }
  // HEAD is GET without the body: the same protection.
  auto head = request(port(), "HEAD /v1/messages/" + kRandomId + " HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 401);
  EXPECT_EQ(head->header("www-authenticate"), "Bearer realm=\"phigate\"");
}

TEST_F(SecurityTest, MalformedAuthorizationIs401) {
  const std::string valid = tokenFor("role-sms");
  const std::string cases[] = {
      "Authorization: Basic dXNlcjpwYXNzd29yZA==\r\n",
      "Authorization: Bearer\r\n",
      "Authorization: Bearer" + valid + "\r\n",
      "Authorization: Token " + valid + "\r\n",
      "Authorization: Bearer two words\r\n",
      "Authorization: Bearer =abc\r\n",
      "Authorization: Bearer tok,other\r\n",
      "Authorization: Bearer " + std::string(600, 'a') + "\r\n",
  };
  for (const std::string& header : cases) {
    SCOPED_TRACE(header.substr(0, 40));
    ApiRequest req = post("/v1/sms", kSmsBody, "");
    req.extra_headers = header;
    req.request_id = uniqueRequestId("malformed-token");
    expectUnauthorized(send(req));
    expectAuditLine(server(), req.request_id,
                    {.route = "sms", .status = 401, .event = "auth_failure",
                     .reason = "malformed_token"});
  }
  // Two credentials: which one would count? Neither: the head is refused
  // before the pipeline sees it (RFC 9112: a field read as one value).
  ApiRequest twice = post("/v1/sms", kSmsBody, "");
  twice.extra_headers = "Authorization: Bearer " + valid + "\r\nAuthorization: Bearer " + valid + "\r\n";
  const Response r = send(twice);
  expectProblem(r, 400, "bad-request");
  EXPECT_EQ(jsonField(r.body, "code"), "duplicate_header");
}

TEST_F(SecurityTest, UnknownAndRevokedTokensGetTheSameAnswerAsNoToken) {
  ApiRequest none = post("/v1/sms", kSmsBody, "");
  none.request_id = "same-401-aaaa";
  ApiRequest unknown = post("/v1/sms", kSmsBody, tokenFor("nobody"));
  unknown.request_id = "same-401-bbbb";
  ApiRequest revoked = post("/v1/sms", kSmsBody, tokenFor("revoked"));
  revoked.request_id = "same-401-cccc";
  const Response r_none = send(none), r_unknown = send(unknown), r_revoked = send(revoked);
  for (const Response* r : {&r_none, &r_unknown, &r_revoked}) expectUnauthorized(*r);
  // Byte for byte, apart from the request id: nothing tells a probing client
  // whether a token exists or was revoked.
  EXPECT_EQ(withoutRequestId(r_unknown), withoutRequestId(r_none));
  EXPECT_EQ(withoutRequestId(r_revoked), withoutRequestId(r_none));
  // Only the audit line does.
  expectAuditLine(server(), unknown.request_id,
                  {.route = "sms", .status = 401, .event = "auth_failure", .reason = "unknown_token"});
  expectAuditLine(server(), revoked.request_id,
                  {.route = "sms", .status = 401, .event = "auth_failure", .reason = "revoked_token"});
  // A revoked key's token opens nothing, reads included.
  expectUnauthorized(callGet(port(), "/v1/messages/" + kRandomId, tokenFor("revoked")));
}

// Not the generic 401: a credential in the URL is the wrong place, not a
// wrong credential, and the client must be told to move it (and replace it).
void expectCredentialInQuery(const Response& r) {
  expectProblem(r, 400, "credential-in-query");
  EXPECT_EQ(r.count("www-authenticate"), 0u);
  EXPECT_NE(jsonField(r.body, "detail").find("Authorization: Bearer"), std::string::npos);
}

TEST_F(SecurityTest, TokenInTheQueryStringIsRefusedEvenNextToAValidHeader) {
  const std::string valid = tokenFor("role-sms");
  const std::string names[] = {"access_token", "token",        "api_key",      "apikey",
                               "key",          "auth",         "bearer",       "authorization",
                               "ACCESS_TOKEN", "access%5Ftoken", "%61pi_key"};
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    ApiRequest req = post("/v1/sms?lang=en&" + name + "=" + valid, kSmsBody, valid);
    req.request_id = uniqueRequestId("query-token");
    expectCredentialInQuery(send(req));
    expectAuditLine(server(), req.request_id,
                    {.route = "sms", .status = 400, .event = "auth_failure",
                     .reason = "token_in_query"});
  }
  const std::string rid = uniqueRequestId("query-token-get");
  expectCredentialInQuery(callGet(port(), "/v1/messages/" + kRandomId + "?access_token=" + valid, valid,
                                  "X-Request-ID: " + rid + "\r\n"));
  expectAuditLine(server(), rid,
                  {.method = "GET", .route = "message_status", .status = 400,
                   .event = "auth_failure", .reason = "token_in_query"});
  // The control: an innocent query does not trip the check.
  EXPECT_EQ(send(post("/v1/sms?lang=en", kSmsBody, valid)).status, 202);
  // The query (and the token in it) is never logged.
  EXPECT_EQ(server().logText().find(valid), std::string::npos);
  EXPECT_EQ(server().logText().find("lang=en"), std::string::npos);
}

TEST_F(SecurityTest, BearerSchemeIsCaseInsensitive) {
  for (const char* scheme : {"bearer", "BEARER"}) {
    ApiRequest req = post("/v1/sms", kSmsBody, "");
    req.extra_headers = std::string("Authorization: ") + scheme + " " + tokenFor("role-sms") + "\r\n";
    EXPECT_EQ(send(req).status, 202) << scheme;
  }
}

TEST_F(SecurityTest, EnvironmentKeysHaveTheGuidesRoles) {
  ApiRequest sms = post("/v1/sms", kSmsBody, kEnvSmsToken);
  sms.request_id = uniqueRequestId("env-sms");
  EXPECT_EQ(send(sms).status, 202);
  expectAuditLine(server(), sms.request_id, {.route = "sms", .status = 202, .key_id = "env-sms"});

  ApiRequest bulk = post("/v1/sms/bulk", kBulkBody, kEnvSmsToken);
  bulk.request_id = uniqueRequestId("env-sms-bulk");
  expectProblem(send(bulk), 403, "forbidden");
  expectAuditLine(server(), bulk.request_id,
                  {.route = "sms_bulk", .status = 403, .event = "rbac_violation",
                   .reason = "sms:bulk", .key_id = "env-sms"});

  EXPECT_EQ(send(post("/v1/sms/bulk", kBulkBody, kEnvAdminToken)).status, 202);
  EXPECT_EQ(send(post("/v1/email", kEmailBody, kEnvAdminToken)).status, 202);
  EXPECT_EQ(server().logText().find(kEnvSmsToken), std::string::npos);
  EXPECT_EQ(server().logText().find(kEnvAdminToken), std::string::npos);
}

// ---- RBAC ---------------------------------------------------------------------------

TEST_F(SecurityTest, EveryRoleAgainstEveryRoute) {
  struct RouteCase {
    std::string method, path, route, body, permission;
  };
  const RouteCase routes[] = {
      {"POST", "/v1/sms", "sms", kSmsBody, "sms:send"},
      {"POST", "/v1/sms/bulk", "sms_bulk", kBulkBody, "sms:bulk"},
      {"POST", "/v1/email", "email", kEmailBody, "email:send"},
      {"GET", "/v1/messages/" + kRandomId, "message_status", "", "messages:read"},
  };
  // DESIGN §8: which role grants which route (sms, bulk, email, messages).
  const std::map<std::string, std::vector<bool>> allowed = {
      {"sms", {true, false, false, true}},       {"bulk", {false, true, false, true}},
      {"email", {false, false, true, true}},     {"ehospital", {false, false, false, false}},
      {"ehospital-write", {false, false, false, false}},
      {"metrics", {false, false, false, false}}, {"admin", {true, true, true, true}},
  };
  ASSERT_EQ(allowed.size(), kAllRoles.size());
  struct Sent {
    std::string request_id, key_id;
    const RouteCase* route;
    bool allowed;
  };
  std::vector<Sent> sent;
  for (const std::string& role : kAllRoles) {
    const std::string key_id = "role-" + role;
    for (size_t i = 0; i < std::size(routes); ++i) {
      const RouteCase& rc = routes[i];
      const bool ok = allowed.at(role)[i];
      SCOPED_TRACE(role + " -> " + rc.path);
      const std::string rid = uniqueRequestId("rbac");
      Response r;
      if (rc.method == "GET") {
        r = callGet(port(), rc.path, tokenFor(key_id), "X-Request-ID: " + rid + "\r\n");
      } else {
        ApiRequest req = post(rc.path, rc.body, tokenFor(key_id));
        req.request_id = rid;
        r = send(req);
      }
      if (!ok) {
        expectProblem(r, 403, "forbidden");
        // It names the missing permission, so the integrator knows which role to ask for.
        EXPECT_EQ(jsonField(r.body, "missing_permission"), rc.permission);
        EXPECT_NE(jsonField(r.body, "detail").find(rc.permission), std::string::npos);
      } else if (rc.method == "GET") {
        expectProblem(r, 404, "not-found");  // allowed to ask; the message is not theirs
      } else {
        EXPECT_EQ(r.status, 202);
        EXPECT_FALSE(messageIds(r).empty());
      }
      sent.push_back({rid, key_id, &rc, ok});
    }
  }
  // The audit trail: one line per request, an RBAC event for each refusal.
  for (const Sent& s : sent) {
    SCOPED_TRACE(s.key_id + " -> " + s.route->path);
    AuditExpectation want{.method = s.route->method, .route = s.route->route, .key_id = s.key_id};
    if (s.allowed) {
      want.status = s.route->method == "GET" ? 404 : 202;
    } else {
      want.status = 403;
      want.event = "rbac_violation";
      want.reason = s.route->permission;
    }
    expectAuditLine(server(), s.request_id, want);
  }
}

// A key without the permission learns nothing about what else its request
// would have needed: no replay headers, wrong media type, broken body: 403.
TEST_F(SecurityTest, RbacIsDecidedBeforeReplayHeadersAndBody) {
  ApiRequest req = post("/v1/sms", "not json", tokenFor("role-ehospital"));
  req.omit_timestamp = req.omit_nonce = true;
  req.content_type = "text/plain";
  expectProblem(send(req), 403, "forbidden");
  req = post("/v1/sms/bulk", "{", tokenFor("role-sms"));
  req.omit_timestamp = true;
  expectProblem(send(req), 403, "forbidden");
}

// ---- replay protection ----------------------------------------------------------------

TEST_F(SecurityTest, MissingOrMalformedTimestampIs401) {
  const std::string token = tokenFor("role-sms");
  ApiRequest req = post("/v1/sms", kSmsBody, token);
  req.omit_timestamp = true;
  req.request_id = uniqueRequestId("no-ts");
  expectReplayRefusal(send(req), "replay-headers-required");
  expectAuditLine(server(), req.request_id,
                  {.route = "sms", .status = 401, .event = "replay", .reason = "missing_timestamp",
                   .key_id = "role-sms"});
  const std::string now = std::to_string(unixNow());
  const std::vector<std::string> malformed = {"", "12a", "-5", now + ".0", "1.7e9", "0x10", now + "000"};
  for (const std::string& ts : malformed) {
    SCOPED_TRACE("X-Timestamp: " + ts);
    ApiRequest bad = post("/v1/sms", kSmsBody, token);
    bad.timestamp = ts;
    expectReplayRefusal(send(bad), "replay-headers-required");
  }
}

TEST_F(SecurityTest, StaleAndFutureTimestampsAreRefused) {
  const std::string token = tokenFor("role-sms");
  const int64_t now = unixNow();
  const int64_t outside[] = {now - kWindowS - 50, now + kWindowS + 50, 0, 99999999999};
  for (int64_t ts : outside) {
    SCOPED_TRACE(ts - now);
    ApiRequest req = post("/v1/sms", kSmsBody, token);
    req.timestamp = std::to_string(ts);
    req.request_id = uniqueRequestId("stale");
    const Response r = send(req);
    expectReplayRefusal(r, "stale-timestamp");
    // What to change: the accepted window and the server's clock.
    EXPECT_EQ(jsonField(r.body, "window_s"), std::to_string(kWindowS));
    const int64_t server_time = std::stoll("0" + jsonField(r.body, "server_time"));
    EXPECT_LE(std::abs(server_time - unixNow()), 2);
    EXPECT_NE(jsonField(r.body, "detail").find(std::to_string(server_time)), std::string::npos);
    expectAuditLine(server(), req.request_id,
                    {.route = "sms", .status = 401, .event = "replay", .reason = "stale_timestamp",
                     .key_id = "role-sms"});
  }
  // Inside the window, either side of the server's clock, is fine.
  for (int64_t ts : {now - kWindowS + 10, now + kWindowS - 10}) {
    ApiRequest req = post("/v1/sms", kSmsBody, token);
    req.timestamp = std::to_string(ts);
    EXPECT_EQ(send(req).status, 202) << ts - now;
  }
}

TEST_F(SecurityTest, NonceMustBe16To128SafeCharacters) {
  const std::string token = tokenFor("role-sms");
  ApiRequest missing = post("/v1/sms", kSmsBody, token);
  missing.omit_nonce = true;
  missing.request_id = uniqueRequestId("no-nonce");
  expectReplayRefusal(send(missing), "replay-headers-required");
  expectAuditLine(server(), missing.request_id,
                  {.route = "sms", .status = 401, .event = "replay", .reason = "missing_nonce",
                   .key_id = "role-sms"});
  const std::string base = freshNonce() + freshNonce() + freshNonce() + freshNonce();  // 128
  struct Case {
    std::string nonce;
    bool ok;
  };
  const Case cases[] = {
      {base.substr(0, 15), false},      {base.substr(0, 16), true},
      {base.substr(0, 128), true},      {base + "x", false},
      {base.substr(0, 16) + ".", false}, {base.substr(0, 16) + "=", false},
      {base.substr(0, 8) + "/" + base.substr(8, 8), false},
      {"_-_-_-_-_-_-_-_-" + base.substr(0, 4), true},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.nonce);
    ApiRequest req = post("/v1/sms", kSmsBody, token);
    req.nonce = k.nonce;
    const Response r = send(req);
    if (k.ok) {
      EXPECT_EQ(r.status, 202);
    } else {
      expectReplayRefusal(r, "replay-headers-required");
    }
  }
}

TEST_F(SecurityTest, ReusedNonceIs409) {
  const std::string token = tokenFor("role-admin");
  const std::string nonce = freshNonce();
  ApiRequest first = post("/v1/sms", kSmsBody, token);
  first.nonce = nonce;
  const Response accepted = send(first);
  EXPECT_EQ(accepted.status, 202);

  // The same bytes again, then the same nonce with another body, timestamp
  // and route: all the same replay.
  ApiRequest again = first;
  again.request_id = uniqueRequestId("replayed");
  const Response replayed = send(again);
  expectProblem(replayed, 409, "replayed");
  EXPECT_TRUE(messageIds(replayed).empty());
  expectAuditLine(server(), again.request_id,
                  {.route = "sms", .status = 409, .event = "replay", .reason = "nonce_reused",
                   .key_id = "role-admin"});
  ApiRequest other_body = post("/v1/sms", R"({"to":"+919876500000","message":"other"})", token);
  other_body.nonce = nonce;
  other_body.timestamp = std::to_string(unixNow() - 20);
  expectProblem(send(other_body), 409, "replayed");
  ApiRequest other_route = post("/v1/sms/bulk", kBulkBody, token);
  other_route.nonce = nonce;
  expectProblem(send(other_route), 409, "replayed");

  // Nonces belong to a key: another key's use of the same string is its own.
  ApiRequest other_key = post("/v1/sms", kSmsBody, tokenFor("role-sms"));
  other_key.nonce = nonce;
  EXPECT_EQ(send(other_key).status, 202);
}

TEST_F(SecurityTest, SigningKeyNeedsAValidSignature) {
  const std::string token = tokenFor("signer");
  ApiRequest good = post("/v1/sms", kSmsBody, token);
  good.signing_secret = kSigningSecret;
  EXPECT_EQ(send(good).status, 202);
  // Exactly the same signed request again is a replay, not a new message.
  expectProblem(send(good), 409, "replayed");

  ApiRequest unsigned_req = post("/v1/sms", kSmsBody, token);
  unsigned_req.request_id = uniqueRequestId("unsigned");
  expectReplayRefusal(send(unsigned_req), "invalid-signature");
  expectAuditLine(server(), unsigned_req.request_id,
                  {.route = "sms", .status = 401, .event = "replay", .reason = "missing_signature",
                   .key_id = "signer"});

  auto signedWith = [&](const std::string& secret, const std::string& method,
                        const std::string& path, const std::string& ts, const std::string& nonce,
                        const std::string& body) {
    return requestSignature(secret, method, path, ts, nonce, body);
  };
  struct Case {
    const char* what;
    std::string body;      // sent
    std::string path;      // sent
    std::function<std::string(const std::string& ts, const std::string& nonce)> sign;
    const char* reason;
  };
  const std::string other_secret = "sig_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
  const std::string tampered = R"({"to":"+919000000000","message":"Your appointment is confirmed"})";
  const Case cases[] = {
      {"another secret", kSmsBody, "/v1/sms",
       [&](auto ts, auto n) { return signedWith(other_secret, "POST", "/v1/sms", ts, n, kSmsBody); },
       "bad_signature"},
      {"body changed after signing", tampered, "/v1/sms",
       [&](auto ts, auto n) { return signedWith(kSigningSecret, "POST", "/v1/sms", ts, n, kSmsBody); },
       "bad_signature"},
      {"signed for another path", kSmsBody, "/v1/sms",
       [&](auto ts, auto n) {
         return signedWith(kSigningSecret, "POST", "/v1/sms/bulk", ts, n, kSmsBody);
       },
       "bad_signature"},
      {"signed for /v1/sms, sent to bulk", kBulkBody, "/v1/sms/bulk",
       [&](auto ts, auto n) { return signedWith(kSigningSecret, "POST", "/v1/sms", ts, n, kBulkBody); },
       "bad_signature"},
      {"signed for another timestamp", kSmsBody, "/v1/sms",
       [&](auto ts, auto n) {
         return signedWith(kSigningSecret, "POST", "/v1/sms", std::to_string(std::stoll(ts) - 1), n,
                           kSmsBody);
       },
       "bad_signature"},
      {"signed for another nonce", kSmsBody, "/v1/sms",
       [&](auto ts, auto) {
         return signedWith(kSigningSecret, "POST", "/v1/sms", ts, freshNonce(), kSmsBody);
       },
       "bad_signature"},
      {"signed for another method", kSmsBody, "/v1/sms",
       [&](auto ts, auto n) { return signedWith(kSigningSecret, "PUT", "/v1/sms", ts, n, kSmsBody); },
       "bad_signature"},
      {"not hex", kSmsBody, "/v1/sms", [&](auto, auto) { return std::string(64, 'g'); },
       "missing_signature"},
      {"truncated", kSmsBody, "/v1/sms",
       [&](auto ts, auto n) {
         return signedWith(kSigningSecret, "POST", "/v1/sms", ts, n, kSmsBody).substr(0, 63);
       },
       "missing_signature"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    ApiRequest req = post(k.path, k.body, token);
    req.timestamp = std::to_string(unixNow());
    req.nonce = freshNonce();
    req.signature = k.sign(*req.timestamp, *req.nonce);
    req.request_id = uniqueRequestId("bad-signature");
    expectReplayRefusal(send(req), "invalid-signature");
    expectAuditLine(server(), req.request_id,
                    {.route = k.path == "/v1/sms" ? "sms" : "sms_bulk", .status = 401,
                     .event = "replay", .reason = k.reason, .key_id = "signer"});
    // A forged copy does not burn the nonce of the genuine request.
    ApiRequest genuine = post(k.path, k.path == "/v1/sms" ? kSmsBody : kBulkBody, token);
    genuine.timestamp = req.timestamp;
    genuine.nonce = req.nonce;
    genuine.signing_secret = kSigningSecret;
    EXPECT_EQ(send(genuine).status, 202);
  }
  // Keys without a secret are not asked for one (and a stray header is harmless).
  ApiRequest plain = post("/v1/sms", kSmsBody, tokenFor("role-sms"));
  plain.signature = std::string(64, '0');
  EXPECT_EQ(send(plain).status, 202);
}

TEST_F(SecurityTest, ReadsNeedNoReplayHeaders) {
  const Response r = callGet(port(), "/v1/messages/" + kRandomId, tokenFor("role-sms"));
  expectProblem(r, 404, "not-found");
}

// ---- BOLA: /v1/messages/{id} ----------------------------------------------------------

TEST_F(SecurityTest, MessageStatusIsVisibleOnlyToTheKeyThatCreatedIt) {
  const std::string owner = tokenFor("role-sms");
  const Response sent = sendSms(owner);
  ASSERT_EQ(sent.status, 202);
  const std::vector<std::string> ids = messageIds(sent);
  ASSERT_EQ(ids.size(), 1u);
  const std::string path = "/v1/messages/" + ids[0];

  const Response mine = callGet(port(), path, owner);
  ASSERT_EQ(mine.status, 200);
  expectSecurityHeaders(mine);
  simdjson::dom::parser parser;
  simdjson::dom::object doc;
  ASSERT_EQ(parser.parse(mine.body).get(doc), simdjson::SUCCESS);
  std::set<std::string> keys;
  for (auto field : doc) keys.emplace(field.key);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "status", "channel", "attempts", "provider", "provider_message_id",
                                   "created_at", "updated_at", "segments"}));
  EXPECT_EQ(jsonField(mine.body, "id"), ids[0]);
  EXPECT_EQ(jsonField(mine.body, "status"), "queued");
  EXPECT_EQ(jsonField(mine.body, "channel"), "sms");
  EXPECT_EQ(jsonField(mine.body, "segments"), "1");
  tm t{};
  const std::string created = jsonField(mine.body, "created_at");
  ASSERT_NE(strptime(created.c_str(), "%Y-%m-%dT%H:%M:%SZ", &t), nullptr) << created;
  EXPECT_LE(std::abs(static_cast<int64_t>(timegm(&t)) - unixNow()), 60);

  // Anyone else, an admin included, gets the answer an unknown id gets.
  const Response unknown = callGet(port(), "/v1/messages/" + kRandomId, owner);
  expectProblem(unknown, 404, "not-found");
  for (const std::string& other :
       {tokenFor("sms-b"), tokenFor("role-admin"), tokenFor("role-bulk"), kEnvAdminToken}) {
    const Response r = callGet(port(), path, other);
    expectProblem(r, 404, "not-found");
    EXPECT_EQ(withoutRequestId(r), withoutRequestId(unknown));
  }
  expectUnauthorized(callGet(port(), path, ""));
  expectProblem(callGet(port(), path, tokenFor("role-ehospital")), 403, "forbidden");

  // Bulk and email messages: the same rule, per message.
  const Response bulk = send(post("/v1/sms/bulk", kBulkBody, tokenFor("role-bulk")));
  ASSERT_EQ(bulk.status, 202);
  const std::vector<std::string> bulk_ids = messageIds(bulk);
  ASSERT_EQ(bulk_ids.size(), 2u);
  for (const std::string& id : bulk_ids) {
    EXPECT_EQ(callGet(port(), "/v1/messages/" + id, tokenFor("role-bulk")).status, 200);
    expectProblem(callGet(port(), "/v1/messages/" + id, owner), 404, "not-found");
  }
  const Response email = send(post("/v1/email", kEmailBody, tokenFor("role-email")));
  ASSERT_EQ(email.status, 202);
  const std::vector<std::string> email_id = messageIds(email);
  ASSERT_EQ(email_id.size(), 1u);
  const Response email_status = callGet(port(), "/v1/messages/" + email_id[0], tokenFor("role-email"));
  EXPECT_EQ(email_status.status, 200);
  EXPECT_EQ(jsonField(email_status.body, "channel"), "email");
  EXPECT_EQ(email_status.body.find("segments"), std::string::npos);
  expectProblem(callGet(port(), "/v1/messages/" + email_id[0], tokenFor("role-admin")), 404,
                "not-found");
}

TEST_F(SecurityTest, MalformedMessageIdsGetTheSame404) {
  const std::string token = tokenFor("role-sms");
  const Response unknown = callGet(port(), "/v1/messages/" + kRandomId, token);
  expectProblem(unknown, 404, "not-found");
  const std::string malformed[] = {
      "abc",
      kRandomId.substr(0, 31),
      kRandomId + "0",
      "0123456789ABCDEF0123456789ABCDEF",
      "0123456789abcdef0123456789abcdeg",
      "%30123456789abcdef0123456789abcde",
      "..",
      std::string(4000, 'a'),
  };
  for (const std::string& id : malformed) {
    SCOPED_TRACE(id.substr(0, 40));
    const Response r = callGet(port(), "/v1/messages/" + id, token);
    expectProblem(r, 404, "not-found");
    EXPECT_EQ(withoutRequestId(r), withoutRequestId(unknown));
  }
}

TEST_F(SecurityTest, MessageIdsAreRandomNotSequential) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    const std::vector<std::string> got = messageIds(sendSms(tokenFor("role-sms")));
    ASSERT_EQ(got.size(), 1u);
    ids.push_back(got[0]);
  }
  std::string recipients;
  for (int i = 0; i < 50; ++i) recipients += (i ? ",\"+9198765" : "\"+9198765") + std::to_string(10000 + i) + "\"";
  const Response bulk =
      send(post("/v1/sms/bulk", "{\"to\":[" + recipients + "],\"message\":\"x\"}", tokenFor("role-bulk")));
  ASSERT_EQ(bulk.status, 202);
  const std::vector<std::string> bulk_ids = messageIds(bulk);
  EXPECT_EQ(bulk_ids.size(), 50u);
  ids.insert(ids.end(), bulk_ids.begin(), bulk_ids.end());

  for (const std::string& id : ids) EXPECT_TRUE(isFreshRequestId(id)) << id;  // 32 lower hex
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  // 128 random bits: two ids agree in about 2 of 32 positions. Counters,
  // timestamps or a shared prefix would agree in far more.
  for (size_t a = 0; a < ids.size(); ++a) {
    for (size_t b = a + 1; b < ids.size(); ++b) {
      int same = 0;
      for (size_t i = 0; i < 32; ++i) same += ids[a][i] == ids[b][i];
      EXPECT_LT(same, 14) << ids[a] << " vs " << ids[b];
    }
  }
}

// ---- client IP and IP access ----------------------------------------------------------

ServerOptions ipServer(std::map<std::string, std::string> env, std::vector<TestKey> keys = {}) {
  keys.push_back(keyWithRoles("role-sms", {"sms"}));
  env["API_KEYS_FILE"] = "keys.json";
  env.emplace("PHIGATE_AUTH_FAILURE_LIMIT", "1000000");  // containment has its own tests
  return ServerOptions{.env = std::move(env), .files = {{"keys.json", keysFileJson(keys)}}};
}

/** POST /v1/sms by role-sms with these extra headers; returns the status. */
int smsFrom(const Server& s, const std::string& extra_headers, const std::string& request_id = "",
            const std::string& key_id = "role-sms") {
  ApiRequest req = post("/v1/sms", kSmsBody, tokenFor(key_id));
  req.extra_headers = extra_headers;
  req.request_id = request_id;
  return call(s.port(), req).status;
}

TEST(IpAccess, UntrustedPeerCannotSpoofItsAddress) {
  Server s(ipServer({{"IP_ALLOWLIST", "10.0.0.0/8"}}));
  ASSERT_TRUE(s.ready()) << s.logText();
  const std::string spoofs[] = {
      "X-Forwarded-For: 10.1.2.3\r\n",
      "X-Forwarded-For: 6.6.6.6, 10.1.2.3\r\n",
      "X-Real-IP: 10.1.2.3\r\n",
      "Forwarded: for=10.1.2.3\r\n",
      "X-Forwarded-For: 10.1.2.3\r\nX-Real-IP: 10.1.2.3\r\nX-Client-IP: 10.1.2.3\r\n",
  };
  for (const std::string& h : spoofs) {
    SCOPED_TRACE(h);
    const std::string rid = uniqueRequestId("spoof");
    ApiRequest req = post("/v1/sms", kSmsBody, tokenFor("role-sms"));
    req.extra_headers = h;
    req.request_id = rid;
    const Response r = call(s.port(), req);
    expectProblem(r, 403, "forbidden");
    EXPECT_EQ(jsonField(r.body, "code"), "not_in_allowlist");
    // Refused before authentication: no key id, the socket peer as client.
    expectAuditLine(s, rid,
                    {.route = "sms", .status = 403, .event = "ip_blocked",
                     .reason = "not_in_allowlist", .client_ip = "127.0.0.1"});
  }
  // Public routes are behind the allowlist too; only the load balancer's
  // liveness probe is not.
  auto health = request(s.port(), get("/health", "X-Forwarded-For: 10.1.2.3\r\n"));
  ASSERT_TRUE(health);
  expectProblem(*health, 403, "forbidden");
  auto live = request(s.port(), get("/livez"));
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
}

TEST(IpAccess, BehindATrustedProxyTheRightMostUntrustedEntryIsTheClient) {
  Server s(ipServer({{"TRUSTED_PROXIES", "127.0.0.1/32, 10.9.0.0/16"},
                     {"IP_ALLOWLIST", "10.0.0.0/8, 2001:db8::/32"}}));
  ASSERT_TRUE(s.ready()) << s.logText();
  struct Case {
    std::string headers;
    bool allowed;
    std::string client;  // as logged
  };
  const Case cases[] = {
      {"X-Forwarded-For: 6.6.6.6, 10.1.2.3\r\n", true, "10.1.2.3"},
      // What a proxy writes when 6.6.6.6 claims to be 10.1.2.3.
      {"X-Forwarded-For: 10.1.2.3, 6.6.6.6\r\n", false, "6.6.6.6"},
      {"X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-For: 6.6.6.6\r\n", false, "6.6.6.6"},
      {"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 10.1.2.3\r\n", true, "10.1.2.3"},
      // Further trusted proxies are skipped, from the right.
      {"X-Forwarded-For: 6.6.6.6, 10.1.2.3, 10.9.0.5, 127.0.0.1\r\n", true, "10.1.2.3"},
      // Garbage: nothing left of it is believed; the last trusted hop is the client.
      {"X-Forwarded-For: 10.1.2.3, garbage\r\n", false, "127.0.0.1"},
      {"X-Forwarded-For: 10.1.2.3, 10.1.2.4:8080\r\n", false, "127.0.0.1"},
      {"X-Forwarded-For: 10.1.2.3, 10.9.0.5, unknown\r\n", false, "127.0.0.1"},
      {"", false, "127.0.0.1"},
      // A proxy that appends its own header line (HAProxy does) after a
      // client's many lines: the proxy's line still decides.
      {repeat("X-Forwarded-For: 10.1.2.3\r\n", 40) + "X-Forwarded-For: 6.6.6.6\r\n", false, "6.6.6.6"},
      {repeat("X-Forwarded-For: 6.6.6.6\r\n", 40) + "X-Forwarded-For: 10.1.2.3\r\n", true, "10.1.2.3"},
      {"X-Forwarded-For: 2001:db8::7\r\n", true, "2001:db8::7"},
      {"X-Forwarded-For: [2001:db8::8]\r\n", true, "2001:db8::8"},
      {"X-Forwarded-For: 2001:db9::1\r\n", false, "2001:db9::1"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.headers.substr(0, 80));
    const std::string rid = uniqueRequestId("via-proxy");
    const int status = smsFrom(s, k.headers, rid);
    if (k.allowed) {
      EXPECT_EQ(status, 202);
      expectAuditLine(s, rid, {.route = "sms", .status = 202, .key_id = "role-sms",
                               .client_ip = k.client});
    } else {
      EXPECT_EQ(status, 403);
      expectAuditLine(s, rid, {.route = "sms", .status = 403, .event = "ip_blocked",
                               .reason = "not_in_allowlist", .client_ip = k.client});
    }
  }
}

TEST(IpAccess, DenylistBehindATrustedProxy) {
  Server s(ipServer({{"TRUSTED_PROXIES", "127.0.0.1/32"}, {"IP_DENYLIST", "6.6.6.0/24"}}));
  ASSERT_TRUE(s.ready()) << s.logText();
  const std::string rid = uniqueRequestId("denied");
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 6.6.6.6\r\n", rid), 403);
  expectAuditLine(s, rid, {.route = "sms", .status = 403, .event = "ip_blocked",
                           .reason = "denylist", .client_ip = "6.6.6.6"});
  // The denied client cannot hide behind an address it writes itself.
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 10.1.2.3, 6.6.6.7\r\n"), 403);
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 6.6.6.6, 10.1.2.3\r\n"), 202);
  EXPECT_EQ(smsFrom(s, ""), 202);
  auto health = request(s.port(), get("/health", "X-Forwarded-For: 6.6.6.6\r\n"));
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 403);
}

TEST(IpAccess, DenylistOfThePeerWinsOverTheAllowlist) {
  Server s(ipServer({{"IP_ALLOWLIST", "127.0.0.0/8"}, {"IP_DENYLIST", "127.0.0.1/32"}}));
  ASSERT_TRUE(s.ready()) << s.logText();
  const std::string rid = uniqueRequestId("denied-peer");
  // A forwarded address from an untrusted peer changes nothing.
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 127.0.0.2\r\n", rid), 403);
  expectAuditLine(s, rid, {.route = "sms", .status = 403, .event = "ip_blocked",
                           .reason = "denylist"});
}

// A blocked address is refused before anything else is decided: it cannot
// tell an unknown route (404), a wrong method (405) or an oversized body (413)
// from a real one, and the probe stays exempt for load balancers.
TEST(IpAccess, BlockedAddressLearnsNothingAboutRoutes) {
  Server s(ipServer({{"IP_DENYLIST", "127.0.0.1/32"}}));
  ASSERT_TRUE(s.ready()) << s.logText();
  const std::string requests[] = {
      "GET /no/such/route HTTP/1.1\r\nHost: t\r\n\r\n",
      "DELETE /v1/sms HTTP/1.1\r\nHost: t\r\n\r\n",
      "POST /v1/sms HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: 999999999\r\n\r\n",
      "POST /no/such/route HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
      "GET /health HTTP/1.1\r\nHost: t\r\n\r\n",
  };
  for (const std::string& raw : requests) {
    Client c(s.port());
    ASSERT_TRUE(c.sendAll(raw));
    std::optional<Response> r = c.readResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 403);
    EXPECT_NE(r->body.find("/problems/forbidden"), std::string::npos);
  }
  Client probe(s.port());
  ASSERT_TRUE(probe.sendAll("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::optional<Response> r = probe.readResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST(IpAccess, PerKeyAllowCidrs) {
  TestKey office = keyWithRoles("office", {"sms"});
  office.allow_cidrs = {"10.20.0.0/16"};
  TestKey local = keyWithRoles("local", {"sms"});
  local.allow_cidrs = {"127.0.0.1/32", "::1/128"};
  Server s(ipServer({{"TRUSTED_PROXIES", "127.0.0.1/32"}}, {office, local}));
  ASSERT_TRUE(s.ready()) << s.logText();

  const std::string rid = uniqueRequestId("key-cidr");
  EXPECT_EQ(smsFrom(s, "", rid, "office"), 403);
  // After authentication: the line names the key.
  expectAuditLine(s, rid, {.route = "sms", .status = 403, .event = "ip_blocked",
                           .reason = "not_in_key_allowlist", .key_id = "office"});
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 10.20.7.7\r\n", "", "office"), 202);
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 10.21.7.7\r\n", "", "office"), 403);
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 10.20.7.7, 10.21.7.7\r\n", "", "office"), 403);
  EXPECT_EQ(smsFrom(s, "", "", "local"), 202);
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 10.20.7.7\r\n", "", "local"), 403);
  // Keys without a list are not limited.
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 10.21.7.7\r\n"), 202);
  // The key's list is checked before its permissions and replay headers.
  ApiRequest req = post("/v1/sms/bulk", "{", tokenFor("office"));
  req.omit_nonce = true;
  const Response r = call(s.port(), req);
  expectProblem(r, 403, "forbidden");
  // The answer says which list refused (the key's own), never what is on it.
  EXPECT_EQ(jsonField(r.body, "code"), "not_in_key_allowlist");
  EXPECT_NE(jsonField(r.body, "detail").find("allow_cidrs"), std::string::npos);
  EXPECT_EQ(r.body.find("10.20."), std::string::npos);
  // Reads too.
  expectProblem(callGet(s.port(), "/v1/messages/" + kRandomId, tokenFor("office")), 403, "forbidden");
}

// A 403 for a key's allow_cidrs confirms the token is valid: used again and
// again from outside its addresses, it is contained like a bad token.
TEST(IpAccess, WrongAddressForAKeyCountsTowardContainment) {
  TestKey office = keyWithRoles("office", {"sms"});
  office.allow_cidrs = {"10.20.0.0/16"};
  Server s(ipServer({{"TRUSTED_PROXIES", "127.0.0.1/32"}, {"PHIGATE_AUTH_FAILURE_LIMIT", "3"}}, {office}));
  ASSERT_TRUE(s.ready()) << s.logText();
  const std::string outside = "X-Forwarded-For: 198.51.100.44\r\n";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(smsFrom(s, outside, "", "office"), 403);
  // Blocked now: even another key's valid request from there is refused.
  int status = 0;
  for (int i = 0; i < 30 && status != 403; ++i) {
    status = smsFrom(s, outside);
    if (status != 403) usleep(50'000);
  }
  EXPECT_EQ(status, 403);
  EXPECT_EQ(smsFrom(s, "X-Forwarded-For: 198.51.100.45\r\n"), 202) << "others are not affected";
}

}  // namespace
}  // namespace phigate::test
