// The eHospital / ABDM pass-through through the real binary against a real
// HTTPS upstream on 127.0.0.1 (tests/support/ehospital_upstream.py, with a
// certificate from a CA this test makes with the openssl CLI, trusted
// through OUTBOUND_CA_FILE). The upstream records every request it gets, so
// each test asserts what reached it (or that nothing did), not only what
// the client was told.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <stdlib.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "security_fixture.h"
#include "support/helper_process.h"
#include "support/spawn.h"

namespace phigate::test {
namespace {

const std::string kReader = tokenFor("eh-reader");
const std::string kWriter = tokenFor("eh-writer");
const std::string kSmsOnly = tokenFor("eh-sms");
const std::string kSigner = tokenFor("eh-signer");
constexpr const char* kSignerSecret = "eh-signing-secret-fake-0123456789abcdef";
constexpr const char* kStatic = "static-upstream-token";
constexpr const char* kPaths =
    "GET /api/patients/*,GET /api/patients/*/visits,POST /api/appointments,PUT /api/appointments,PATCH /api/appointments,"
    "DELETE /api/appointments,"
    "GET /api/slow,GET /api/big,GET /api/malformed,GET /api/error";

/** Polls `done` until it holds (false after ~20 s: the test then fails on what it waited for). */
template <typename Pred>
bool waitUntil(Pred done) {
  for (int i = 0; i < 2000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

struct Seen {
  std::string method, path, query, body;
  std::map<std::string, std::string> headers;
  std::string header(const std::string& lower) const {
    auto it = headers.find(lower);
    return it == headers.end() ? "" : it->second;
  }
};

class Ehospital : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/phigate-ehospital-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    certs_ = tmpl;
    const std::string openssl = findProgram("openssl");
    ASSERT_FALSE(openssl.empty()) << "needs the openssl CLI (make setup installs it)";
    ASSERT_TRUE(makeTestCertificates(certs_, openssl, "127.0.0.1", "IP:127.0.0.1,DNS:localhost"));
  }
  static void TearDownTestSuite() {
    pid_t none = -1;
    stopHelper(&none, certs_);
  }

  void SetUp() override {
    const std::string python = findProgram("python3");
    ASSERT_FALSE(python.empty()) << "needs python3";
    std::string error;
    out_ = certs_ + "/upstream-" + std::to_string(++runs_) + ".out";
    pid_ = spawnServer({.args = {python, PHIGATE_SOURCE_DIR "/tests/support/ehospital_upstream.py",
                                 certs_ + "/srv.pem", certs_ + "/srv.key"},
                        .output = out_,
                        .truncate_output = true},
                       &error);
    ASSERT_TRUE(waitForPorts(pid_, out_, {&https_port_, &control_port_})) << error;
  }
  void TearDown() override {
    server_.reset();
    stopHelper(&pid_, "");
  }

  std::string upstreamUrl(const std::string& path = "") const {
    return "https://127.0.0.1:" + std::to_string(https_port_) + path;
  }

  std::map<std::string, std::string> baseEnv() const {
    return {{"API_KEYS_FILE", "keys.json"},
            {"EHOSPITAL_BASE_URL", upstreamUrl()},
            {"EHOSPITAL_ALLOWED_PATHS", kPaths},
            {"OUTBOUND_CA_FILE", certs_ + "/ca.pem"}};
  }
  std::map<std::string, std::string> staticEnv() const {
    auto env = baseEnv();
    env["EHOSPITAL_TOKEN"] = kStatic;
    return env;
  }
  std::map<std::string, std::string> oauthEnv(const std::string& secret = "test-secret") const {
    auto env = baseEnv();
    env["EHOSPITAL_CLIENT_ID"] = "test-client";
    env["EHOSPITAL_CLIENT_SECRET"] = secret;
    env["EHOSPITAL_TOKEN_URL"] = upstreamUrl("/oauth/token");
    return env;
  }

  void start(std::map<std::string, std::string> env) {
    ServerOptions o;
    o.env = std::move(env);
    o.files = {{"keys.json", keysFileJson({keyWithRoles("eh-reader", {"ehospital"}),
                                           keyWithRoles("eh-writer", {"ehospital", "ehospital-write"}),
                                           keyWithRoles("eh-sms", {"sms"}), signer()})}};
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->ready()) << server_->logText();
  }
  uint16_t port() const { return server_->port(); }
  static TestKey signer() {
    TestKey k = keyWithRoles("eh-signer", {"ehospital", "ehospital-write"});
    k.signing_secret = kSignerSecret;
    return k;
  }

  std::string control(const std::string& path, const std::string& method = "GET") const {
    auto r = request(control_port_, method + " " + path + " HTTP/1.1\r\nHost: c\r\nContent-Length: 0\r\n\r\n");
    EXPECT_TRUE(r.has_value()) << "the upstream's control port did not answer";
    return r ? r->body : "";
  }

  std::vector<Seen> seen() const {
    std::vector<Seen> out;
    const std::string text = control("/__requests");
    simdjson::dom::parser p;
    simdjson::dom::array list;
    if (p.parse(text).get(list) != simdjson::SUCCESS) {
      ADD_FAILURE() << "unreadable request list";
      return out;
    }
    for (simdjson::dom::element e : list) {
      Seen s;
      s.method = std::string(e["method"].get_string().value_unsafe());
      s.path = std::string(e["path"].get_string().value_unsafe());
      s.query = std::string(e["query"].get_string().value_unsafe());
      s.body = std::string(e["body"].get_string().value_unsafe());
      simdjson::dom::object headers;
      if (e["headers"].get(headers) != simdjson::SUCCESS) continue;
      for (auto [k, v] : headers) {
        s.headers[std::string(k)] = std::string(v.get_string().value_unsafe());
      }
      out.push_back(std::move(s));
    }
    return out;
  }
  /** Requests other than token requests. */
  std::vector<Seen> apiSeen() const {
    std::vector<Seen> out;
    for (Seen& s : seen()) {
      if (s.path != "/oauth/token" && s.path != "/gateway/v0.5/sessions") out.push_back(std::move(s));
    }
    return out;
  }
  int tokenFetches() const { return std::stoi(jsonField(control("/__tokens"), "fetches")); }

  Response get(const std::string& path, const std::string& token = kReader,
               const std::string& extra = "") {
    return callGet(port(), "/v1/ehospital" + path, token, extra);
  }

  /** Every answer of the pass-through, success or not. */
  static void expectNoStore(const Response& r) {
    EXPECT_EQ(r.count("cache-control"), 1u);
    EXPECT_EQ(r.header("cache-control"), "no-store");
    if (r.header("content-type").find("charset=utf-8") != std::string::npos) {
      expectSecurityHeaders(r);
      return;
    }
    // An upstream's own Content-Type (no charset added): the rest of the set.
    const std::pair<const char*, const char*> fixed[] = {
        {"x-content-type-options", "nosniff"},
        {"x-frame-options", "DENY"},
        {"x-xss-protection", "1; mode=block"},
        {"referrer-policy", "strict-origin-when-cross-origin"},
        {"content-security-policy", "default-src 'none'; frame-ancestors 'none'"}};
    for (const auto& [name, value] : fixed) {
      EXPECT_EQ(r.count(name), 1u) << name;
      EXPECT_EQ(r.header(name), value) << name;
    }
    EXPECT_EQ(r.count("permissions-policy"), 1u);
    EXPECT_EQ(r.count("x-request-id"), 1u);
  }

  static inline std::string certs_;
  static inline int runs_ = 0;
  std::string out_;
  pid_t pid_ = -1;
  int https_port_ = 0;
  int control_port_ = 0;
  std::unique_ptr<Server> server_;
};

TEST_F(Ehospital, AnAllowedGetCarriesPhigatesBearerAndOnlyAllowListedHeaders) {
  start(staticEnv());
  const Response r = get("/api/patients/PATIENT-77?include=PHI-QUERY-VALUE", kReader,
                         "Cookie: session=CLIENT-COOKIE\r\nX-Forwarded-For: 203.0.113.9\r\n"
                         "X-Forwarded-Host: evil.example\r\nProxy-Authorization: Basic Q0xJRU5U\r\n"
                         "Accept: application/fhir+json\r\nX-HIP-ID: hip-1\r\nX-Custom: nope\r\n"
                         "X-Request-ID: eh-trace-1\r\n");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonField(r.body, "id"), "PATIENT-77");
  EXPECT_EQ(r.header("content-type"), "application/fhir+json");
  EXPECT_EQ(r.header("etag"), "\"v1\"");
  EXPECT_EQ(r.header("last-modified"), "Mon, 01 Jan 2024 00:00:00 GMT");
  EXPECT_FALSE(r.has("set-cookie"));
  EXPECT_FALSE(r.has("x-upstream-internal"));
  EXPECT_EQ(r.header("x-request-id"), "eh-trace-1");
  EXPECT_TRUE(r.has("ratelimit-policy"));
  expectNoStore(r);

  const std::vector<Seen> up = apiSeen();
  ASSERT_EQ(up.size(), 1u);
  const Seen& s = up[0];
  EXPECT_EQ(s.method, "GET");
  EXPECT_EQ(s.path, "/api/patients/PATIENT-77");
  EXPECT_EQ(s.query, "include=PHI-QUERY-VALUE");
  EXPECT_EQ(s.header("authorization"), std::string("Bearer ") + kStatic);
  EXPECT_EQ(s.header("x-request-id"), "eh-trace-1");
  EXPECT_EQ(s.header("accept"), "application/fhir+json");
  EXPECT_EQ(s.header("x-hip-id"), "hip-1");
  for (const char* stripped : {"cookie", "x-forwarded-for", "x-forwarded-host", "proxy-authorization",
                               "x-custom", "x-timestamp", "x-nonce"}) {
    EXPECT_EQ(s.headers.count(stripped), 0u) << stripped;
  }
}

TEST_F(Ehospital, NothingOfTheRequestOrTheCredentialIsLogged) {
  start(staticEnv());
  EXPECT_EQ(get("/api/patients/PATIENT-LOG-1?q=QUERY-LOG-1").status, 200);
  EXPECT_EQ(get("/api/error?q=QUERY-LOG-2").status, 502);
  ASSERT_TRUE(server_->waitForLog("\"route\":\"ehospital_read\""));
  ASSERT_TRUE(server_->waitForLog("\"status\":502"));
  const std::string logs = server_->logText();
  for (const std::string& secret : {std::string("PATIENT-LOG-1"), std::string("QUERY-LOG"),
                                    std::string(kStatic), kReader, std::string("UPSTREAM-500-BODY"),
                                    std::string("/api/")}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << "the log holds " << secret;
  }
}

TEST_F(Ehospital, RefusedPathsAndMethodsNeverReachTheUpstream) {
  start(staticEnv());
  for (const std::string path : {"/api/other", "/api/patients", "/api/patients/1/extra",
                                 "/api/patients/..", "/api/patients/%2e%2e", "/api/patients/a%2Fb",
                                 "/api//patients/1", "/api/patients/1/"}) {
    const Response r = get(path);
    expectProblem(r, 404, "ehospital-path-not-allowed");
    expectNoStore(r);
  }
  // POST where only GET is allowed; GET where only POST is.
  Response r = call(port(), post("/v1/ehospital/api/patients/1", "{}", kWriter));
  expectProblem(r, 404, "ehospital-path-not-allowed");
  r = get("/api/appointments", kWriter);
  expectProblem(r, 404, "ehospital-path-not-allowed");
  // A refused request with a body is answered before the body is read.
  ApiRequest big = post("/v1/ehospital/api/other", std::string(1000, 'x'), kWriter);
  r = call(port(), big);
  expectProblem(r, 404, "ehospital-path-not-allowed");
  EXPECT_TRUE(seen().empty());
}

// `;` would let `*` match `..;`, which a Java upstream (Tomcat, Jetty,
// Spring: `;params` stripped, then dot segments resolved) reads as `..`:
// /api/patients/..;/visits would be served as /api/visits. Refused, as are
// the other disguises of a dot segment or another path.
TEST_F(Ehospital, DisguisedPathsAreRefusedWithoutReachingTheUpstream) {
  start(staticEnv());
  for (const std::string path :
       {"/api/patients/..;/visits", "/api/patients/..;", "/api/patients/.;", "/api/patients/.;/visits",
        "/api/patients/x;a=b", "/api/patients/1;jsessionid=x/visits", "/api/patients;/1",
        "/api/patients/%2e%2e/visits", "/api/patients/%2E%2E/visits", "/api/patients/%2e",
        "/api/patients/.%2e/visits", "/api/patients/a%2fb", "/api/patients/a%2Fb", "/api/patients/a%5cb",
        "/api/patients/a%3bb", "/api/patients/a%3Bb", "/api/patients//visits", "/api//patients/1",
        "//api/patients/1", "/api/patients/1/visits/", "/api/patients/1//", "/API/patients/1",
        "/api/PATIENTS/1", "/api/patients/1/VISITS"}) {
    const Response r = get(path);
    expectProblem(r, 404, "ehospital-path-not-allowed");
    expectNoStore(r);
  }
  // A backslash is refused by the request parser already, or here.
  for (const std::string path : {"/api/patients/..\\visits", "/api/patients\\..\\1",
                                 "/api/patients/a\\b"}) {
    const Response r = get(path);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << path << " " << r.status;
  }
  // A write with `;` too (decided from the head, before the nonce is spent).
  expectProblem(call(port(), post("/v1/ehospital/api/appointments;x=1", "{}", kWriter)), 404,
                "ehospital-path-not-allowed");
  EXPECT_TRUE(seen().empty());
  // The plain path still works (the allow-list is not simply closed).
  EXPECT_EQ(get("/api/patients/1/visits").status, 200);
  ASSERT_EQ(apiSeen().size(), 1u);
  EXPECT_EQ(apiSeen()[0].path, "/api/patients/1/visits");
}

// The query goes upstream as sent, so it must be RFC 3986 query characters:
// anything else is the client's to percent-encode (400, nothing sent; not a
// 502, which would blame the upstream and count against its circuit).
TEST_F(Ehospital, AQueryThatIsNotPlainIs400BeforeAnythingIsSent) {
  auto env = staticEnv();
  env["EHOSPITAL_CIRCUIT_FAILURES"] = "2";
  start(env);
  for (const std::string query : {"name=%22x%22%7C", "a=%41&b=c/d?e", "q=J%C3%A9r%C3%B4me"}) {
    EXPECT_EQ(get("/api/patients/1?" + query).status, 200) << query;
  }
  for (const std::string query : {"name=\"x\"", "a=<b>", "a={1}", "a=b|c", "a=b^c", "a=`b`",
                                  "a=b\\c", "a=%", "a=%zz", "a=%4"}) {
    const Response r = get("/api/patients/1?" + query);
    expectProblem(r, 400, "ehospital-bad-query");
    expectNoStore(r);
    const Response w = call(port(), post("/v1/ehospital/api/appointments?" + query, "{}", kWriter));
    expectProblem(w, 400, "ehospital-bad-query");
  }
  EXPECT_EQ(get("/api/patients/1").status, 200);  // the circuit is closed
  EXPECT_EQ(apiSeen().size(), 4u);
}

TEST_F(Ehospital, PermissionsAreCheckedBeforeTheAllowList) {
  start(staticEnv());
  Response r = get("/api/patients/1", kSmsOnly);
  expectProblem(r, 403, "forbidden");
  EXPECT_EQ(jsonField(r.body, "missing_permission"), "ehospital:read");
  expectNoStore(r);
  r = call(port(), post("/v1/ehospital/api/appointments", R"({"slot":1})", kReader));
  expectProblem(r, 403, "forbidden");
  EXPECT_EQ(jsonField(r.body, "missing_permission"), "ehospital:write");
  r = get("/api/other", "");  // unauthenticated: 401, the allow-list is not told
  expectUnauthorized(r);
  expectNoStore(r);
  EXPECT_TRUE(seen().empty());
}

TEST_F(Ehospital, WritesAreForwardedWithTheirBodyAndNeedAFreshNonce) {
  start(staticEnv());
  ApiRequest req = post("/v1/ehospital/api/appointments", R"({"patient":"p1","slot":"09:00"})", kWriter);
  Response r = call(port(), req);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(jsonField(r.body, "method"), "POST");
  expectNoStore(r);
  r = call(port(), req);  // the same nonce again
  expectProblem(r, 409, "replayed");
  expectNoStore(r);
  ApiRequest put = post("/v1/ehospital/api/appointments", R"({"slot":"10:00"})", kWriter);
  put.method = "PUT";
  EXPECT_EQ(call(port(), put).status, 201);
  ApiRequest patch = post("/v1/ehospital/api/appointments", R"({"slot":"11:00"})", kWriter);
  patch.method = "PATCH";
  EXPECT_EQ(call(port(), patch).status, 201);
  ApiRequest del = post("/v1/ehospital/api/appointments", "", kWriter);
  del.method = "DELETE";
  del.content_type.clear();
  EXPECT_EQ(call(port(), del).status, 201);
  ApiRequest no_nonce = post("/v1/ehospital/api/appointments", "{}", kWriter);
  no_nonce.omit_nonce = true;
  expectProblem(call(port(), no_nonce), 401, "replay-headers-required");

  const std::vector<Seen> up = apiSeen();
  ASSERT_EQ(up.size(), 4u);
  EXPECT_EQ(up[0].method, "POST");
  EXPECT_EQ(up[0].body, R"({"patient":"p1","slot":"09:00"})");
  EXPECT_EQ(up[0].header("content-type"), "application/json");
  EXPECT_EQ(up[1].method, "PUT");
  EXPECT_EQ(up[1].body, R"({"slot":"10:00"})");
  EXPECT_EQ(up[2].method, "PATCH");
  EXPECT_EQ(up[2].body, R"({"slot":"11:00"})");
  EXPECT_EQ(up[3].method, "DELETE");
  EXPECT_EQ(up[3].headers.count("content-type"), 0u);
  // PATCH on a path allowed only for other methods never reaches the upstream.
  ApiRequest stray = post("/v1/ehospital/api/patients/p1", "{}", kWriter);
  stray.method = "PATCH";
  expectProblem(call(port(), stray), 404, "ehospital-path-not-allowed");
  EXPECT_EQ(apiSeen().size(), 4u);
}

// The query is forwarded, so a signing key's signature covers it: a write
// whose query was changed after signing is refused and nothing is sent.
TEST_F(Ehospital, ASignedWriteCoversItsQuery) {
  start(staticEnv());
  const std::string path = "/v1/ehospital/api/appointments";
  const std::string body = R"({"slot":"09:00"})";
  ApiRequest genuine = post(path + "?patient=P-1&notify=sms", body, kSigner);
  genuine.signing_secret = kSignerSecret;  // signs "POST\n<path>?patient=P-1&notify=sms\n..."
  Response r = call(port(), genuine);
  EXPECT_EQ(r.status, 201) << r.body;
  ASSERT_EQ(apiSeen().size(), 1u);
  EXPECT_EQ(apiSeen()[0].query, "patient=P-1&notify=sms");

  // Signed for one query, sent with another.
  ApiRequest tampered = post(path + "?patient=P-2&notify=sms", body, kSigner);
  tampered.timestamp = std::to_string(unixNow());
  tampered.nonce = freshNonce();
  tampered.signature = requestSignature(kSignerSecret, "POST", path + "?patient=P-1&notify=sms",
                                        *tampered.timestamp, *tampered.nonce, body);
  r = call(port(), tampered);
  expectReplayRefusal(r, "invalid-signature");
  expectNoStore(r);
  // Signed over the path alone, sent with a query added.
  ApiRequest added = post(path + "?patient=P-3", body, kSigner);
  added.timestamp = std::to_string(unixNow());
  added.nonce = freshNonce();
  added.signature = requestSignature(kSignerSecret, "POST", path, *added.timestamp, *added.nonce, body);
  expectReplayRefusal(call(port(), added), "invalid-signature");
  // Without a query the path alone is signed, as always.
  ApiRequest plain = post(path, body, kSigner);
  plain.signing_secret = kSignerSecret;
  EXPECT_EQ(call(port(), plain).status, 201);
  EXPECT_EQ(apiSeen().size(), 2u);
}

TEST_F(Ehospital, RequestBodiesAboveTheCapAre413BeforeAnythingIsSent) {
  auto env = staticEnv();
  env["EHOSPITAL_MAX_REQUEST_BYTES"] = "100";
  start(env);
  const Response r = call(port(), post("/v1/ehospital/api/appointments", std::string(200, 'x'), kWriter));
  EXPECT_EQ(r.status, 413);
  expectNoStore(r);
  EXPECT_EQ(call(port(), post("/v1/ehospital/api/appointments", "{}", kWriter)).status, 201);
  EXPECT_EQ(apiSeen().size(), 1u);
}

TEST_F(Ehospital, ConditionalGetPassesThe304Through) {
  start(staticEnv());
  const Response r = get("/api/patients/1", kReader, "If-None-Match: \"v1\"\r\n");
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.header("etag"), "\"v1\"");
  expectNoStore(r);
  ASSERT_EQ(apiSeen().size(), 1u);
  EXPECT_EQ(apiSeen()[0].header("if-none-match"), "\"v1\"");
}

TEST_F(Ehospital, OAuthTokenIsFetchedOnceAndReused) {
  start(oauthEnv());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("/api/patients/" + std::to_string(i)).status, 200);
  EXPECT_EQ(tokenFetches(), 1);
  const std::vector<Seen> all = seen();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].path, "/oauth/token");
  EXPECT_EQ(all[0].header("content-type"), "application/x-www-form-urlencoded");
  for (size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i].header("authorization"), "Bearer tok-1");
  EXPECT_FALSE(server_->logText().find("test-secret") != std::string::npos);
  EXPECT_FALSE(server_->logText().find("tok-1") != std::string::npos);
}

// A token is refreshed shortly before its expires_in ends (1 s here: at
// 0.9 s), without a 401 first.
TEST_F(Ehospital, AnExpiringTokenIsRefreshedBeforeUse) {
  control("/__expires_in?s=1");
  start(oauthEnv());
  EXPECT_EQ(get("/api/patients/1").status, 200);
  EXPECT_EQ(tokenFetches(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // past its refresh time, never before
  EXPECT_EQ(get("/api/patients/2").status, 200);
  EXPECT_EQ(tokenFetches(), 2);
  const std::vector<Seen> up = apiSeen();
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[0].header("authorization"), "Bearer tok-1");
  EXPECT_EQ(up[1].header("authorization"), "Bearer tok-2");  // no 401 in between
}

TEST_F(Ehospital, HeadIsForwardedAndAnsweredWithoutABody) {
  start(staticEnv());
  auto r = request(port(), "HEAD /v1/ehospital/api/patients/7 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                               kReader + "\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(r->header("content-type"), "application/fhir+json");
  EXPECT_EQ(r->header("etag"), "\"v1\"");
  expectNoStore(*r);
  const std::vector<Seen> up = apiSeen();
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].method, "HEAD");
  EXPECT_EQ(up[0].path, "/api/patients/7");
  EXPECT_EQ(up[0].header("authorization"), std::string("Bearer ") + kStatic);
}

TEST_F(Ehospital, TheAbdmSessionsStyleWorksToo) {
  auto env = oauthEnv();
  env["EHOSPITAL_TOKEN_URL"] = upstreamUrl("/gateway/v0.5/sessions");
  env["EHOSPITAL_TOKEN_REQUEST"] = "json";
  start(env);
  EXPECT_EQ(get("/api/patients/1").status, 200);
  EXPECT_EQ(tokenFetches(), 1);
  ASSERT_EQ(apiSeen().size(), 1u);
  EXPECT_EQ(apiSeen()[0].header("authorization"), "Bearer tok-1");
}

TEST_F(Ehospital, ARefusedTokenIsRefreshedOnceAndTheRequestRetriedOnce) {
  start(oauthEnv());
  EXPECT_EQ(get("/api/patients/1").status, 200);
  control("/__revoke", "POST");  // the upstream now refuses tok-1, as when it expired early
  const Response r = get("/api/patients/2");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(tokenFetches(), 2);
  const std::vector<Seen> up = apiSeen();
  ASSERT_EQ(up.size(), 3u);
  EXPECT_EQ(up[1].header("authorization"), "Bearer tok-1");  // refused
  EXPECT_EQ(up[2].header("authorization"), "Bearer tok-2");  // the one retry
  EXPECT_EQ(up[2].path, "/api/patients/2");
}

TEST_F(Ehospital, ARefusedRetryIs502AndNotRetriedAgain) {
  start(oauthEnv());
  control("/__refuse_all", "POST");  // every token, old and new, is refused
  const Response r = get("/api/patients/1");
  expectProblem(r, 502, "ehospital-bad-gateway");
  EXPECT_EQ(jsonField(r.body, "code"), "upstream_refused_credential");
  EXPECT_EQ(r.body.find("UPSTREAM-401-BODY"), std::string::npos);
  expectNoStore(r);
  EXPECT_EQ(tokenFetches(), 2);     // the first token, then one refresh
  EXPECT_EQ(apiSeen().size(), 2u);  // the request, then one retry
}

// An upstream that refuses every token (a wrong or disabled client): the
// first refusal refreshes once; the fresh token's refusal is final, and so
// are later ones for the next 30 s, so N requests do not cause N fetches.
TEST_F(Ehospital, AnUpstreamRefusingEveryTokenCausesAtMostTwoFetches) {
  start(oauthEnv());
  control("/__refuse_all", "POST");
  constexpr int kRequests = 6;
  for (int i = 0; i < kRequests; ++i) {
    const Response r = get("/api/patients/" + std::to_string(i));
    expectProblem(r, 502, "ehospital-bad-gateway");
    EXPECT_EQ(jsonField(r.body, "code"), "upstream_refused_credential") << i;
  }
  EXPECT_EQ(tokenFetches(), 2);
  EXPECT_EQ(apiSeen().size(), static_cast<size_t>(kRequests + 1));  // one retry, the first time
}

// A final 401 is the upstream refusing phigate's credential: every caller
// gets the same, so it counts against the circuit.
TEST_F(Ehospital, RefusedCredentialsOpenTheCircuit) {
  auto env = oauthEnv();
  env["EHOSPITAL_CIRCUIT_FAILURES"] = "3";
  start(env);
  control("/__refuse_all", "POST");
  for (int i = 0; i < 3; ++i) {
    const Response r = get("/api/patients/1");
    EXPECT_EQ(jsonField(r.body, "code"), "upstream_refused_credential") << i;
  }
  const Response r = get("/api/patients/1");
  expectProblem(r, 503, "ehospital-unavailable");
  EXPECT_FALSE(r.header("retry-after").empty());
  expectNoStore(r);
  EXPECT_EQ(apiSeen().size(), 4u);
  EXPECT_EQ(tokenFetches(), 2);
}

TEST_F(Ehospital, AStaticTokenTheUpstreamRefusesIs502WithoutTheUpstreamsBody) {
  auto env = staticEnv();
  env["EHOSPITAL_TOKEN"] = "not-the-upstream-token";
  start(env);
  const Response r = get("/api/patients/1");
  expectProblem(r, 502, "ehospital-bad-gateway");
  EXPECT_EQ(jsonField(r.body, "code"), "upstream_refused_credential");
  EXPECT_EQ(r.body.find("UPSTREAM-401-BODY"), std::string::npos);
  expectNoStore(r);
  EXPECT_EQ(apiSeen().size(), 1u);  // a static token is not refreshed: no retry
}

TEST_F(Ehospital, ConcurrentCallersShareOneTokenFetch) {
  control("/__token_delay?ms=400");
  start(oauthEnv());
  constexpr int kCallers = 8;
  std::vector<int> statuses(kCallers, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      auto r = request(port(), authedGet("/v1/ehospital/api/patients/" + std::to_string(i), kReader));
      statuses[i] = r ? r->status : -1;
    });
  }
  for (auto& t : threads) t.join();
  for (int s : statuses) EXPECT_EQ(s, 200);
  EXPECT_EQ(tokenFetches(), 1);
  EXPECT_EQ(apiSeen().size(), static_cast<size_t>(kCallers));
}

// One key may hold at most half of EHOSPITAL_CONCURRENCY's slots (here
// 1 of 2): its next call is a 503 ehospital-busy, another key's goes on.
TEST_F(Ehospital, OneKeyCannotTakeEverySlot) {
  auto env = staticEnv();
  env["EHOSPITAL_CONCURRENCY"] = "2";
  start(env);
  int slow_status = 0;
  std::thread slow([&] {
    auto r = request(port(), authedGet("/v1/ehospital/api/slow", kReader));
    slow_status = r ? r->status : -1;
  });
  ASSERT_TRUE(waitUntil([&] { return apiSeen().size() == 1; }));  // the slow call holds its slot
  const Response busy = get("/api/patients/1", kReader);
  expectProblem(busy, 503, "ehospital-busy");
  EXPECT_EQ(busy.header("retry-after"), "1");
  expectNoStore(busy);
  EXPECT_EQ(get("/api/patients/2", kWriter).status, 200);  // another key
  slow.join();
  EXPECT_EQ(slow_status, 200);
  EXPECT_EQ(get("/api/patients/3", kReader).status, 200);  // its slot is back
  const std::vector<Seen> up = apiSeen();
  ASSERT_EQ(up.size(), 3u);
  EXPECT_EQ(up[1].path, "/api/patients/2");
  EXPECT_EQ(up[2].path, "/api/patients/3");
}

TEST_F(Ehospital, ATokenEndpointThatRefusesIs502AndNothingIsSent) {
  start(oauthEnv("wrong-secret"));
  const Response r = get("/api/patients/1");
  expectProblem(r, 502, "ehospital-bad-gateway");
  EXPECT_EQ(jsonField(r.body, "code"), "credential_unavailable");
  expectNoStore(r);
  EXPECT_TRUE(apiSeen().empty());
  EXPECT_EQ(tokenFetches(), 1);
}

// The upstream sleeps 3 s: a 500 ms total timeout always ends it first,
// however loaded the machine (the other failures get their own server with
// the default timeout, so a slow TLS handshake cannot turn them into 504s).
TEST_F(Ehospital, ASlowUpstreamIs504) {
  auto env = staticEnv();
  env["EHOSPITAL_TIMEOUT_MS"] = "500";
  start(env);
  const Response r = get("/api/slow");
  expectProblem(r, 504, "ehospital-timeout");
  expectNoStore(r);
  EXPECT_EQ(apiSeen().size(), 1u);
}

TEST_F(Ehospital, UpstreamFailuresAre502WithoutUpstreamBytes) {
  auto env = staticEnv();
  env["EHOSPITAL_MAX_RESPONSE_BYTES"] = "65536";
  start(env);
  Response r = get("/api/big");
  expectProblem(r, 502, "ehospital-bad-gateway");
  EXPECT_EQ(jsonField(r.body, "code"), "too_large");
  expectNoStore(r);
  r = get("/api/malformed");
  expectProblem(r, 502, "ehospital-bad-gateway");
  EXPECT_EQ(jsonField(r.body, "code"), "malformed");
  r = get("/api/error");
  expectProblem(r, 502, "ehospital-bad-gateway");
  EXPECT_EQ(jsonField(r.body, "code"), "upstream_error");
  EXPECT_EQ(jsonField(r.body, "upstream_status"), "500");
  EXPECT_EQ(r.body.find("UPSTREAM-500-BODY"), std::string::npos);
  EXPECT_FALSE(r.has("x-upstream-internal"));
  expectNoStore(r);
  EXPECT_EQ(apiSeen().size(), 3u);
}

// Too-large answers are the client's doing (it asked for too much), not the
// upstream's failure: they must not open the circuit for every other caller.
TEST_F(Ehospital, OversizedAnswersDoNotOpenTheCircuit) {
  auto env = staticEnv();
  env["EHOSPITAL_MAX_RESPONSE_BYTES"] = "65536";
  env["EHOSPITAL_CIRCUIT_FAILURES"] = "3";
  start(env);
  for (int i = 0; i < 15; ++i) {
    const Response r = get("/api/big");
    expectProblem(r, 502, "ehospital-bad-gateway");
    EXPECT_EQ(jsonField(r.body, "code"), "too_large") << i;
  }
  EXPECT_EQ(get("/api/patients/1", kWriter).status, 200);
  EXPECT_EQ(apiSeen().size(), 16u);
  // ... while real failures still do (3 in a row here).
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("/api/error").status, 502);
  expectProblem(get("/api/patients/1", kWriter), 503, "ehospital-unavailable");
  EXPECT_EQ(apiSeen().size(), 19u);
}

TEST_F(Ehospital, AnUpstreamThatIsDownIs502AndOpensTheCircuit) {
  auto env = staticEnv();
  env["EHOSPITAL_BASE_URL"] = "https://127.0.0.1:" + std::to_string(freePort());
  env["EHOSPITAL_CIRCUIT_FAILURES"] = "2";
  start(env);
  for (int i = 0; i < 2; ++i) {
    const Response r = get("/api/patients/1");
    expectProblem(r, 502, "ehospital-bad-gateway");
    EXPECT_EQ(jsonField(r.body, "code"), "connect");
    expectNoStore(r);
  }
  const Response r = get("/api/patients/1");
  expectProblem(r, 503, "ehospital-unavailable");
  EXPECT_FALSE(r.header("retry-after").empty());
  expectNoStore(r);
}

TEST_F(Ehospital, AnUpstreamCertificateThatDoesNotVerifyIs502Tls) {
  auto env = staticEnv();
  env.erase("OUTBOUND_CA_FILE");
  start(env);
  const Response r = get("/api/patients/1");
  expectProblem(r, 502, "ehospital-bad-gateway");
  EXPECT_EQ(jsonField(r.body, "code"), "tls");
  EXPECT_TRUE(apiSeen().empty());
}

TEST_F(Ehospital, TheEhospitalRateClassLimitsPerKey) {
  auto env = staticEnv();
  env["PHIGATE_RATE_LIMITS"] = "ehospital=2/60";
  start(env);
  EXPECT_EQ(get("/api/patients/1").status, 200);
  const Response second = get("/api/patients/2");
  EXPECT_EQ(second.status, 200);
  EXPECT_NE(second.header("ratelimit-policy").find("\"ehospital\""), std::string::npos);
  const Response third = get("/api/patients/3");
  expectProblem(third, 429, "rate-limited");
  expectNoStore(third);
  EXPECT_EQ(get("/api/patients/4", kWriter).status, 200);  // another key, its own window
  EXPECT_EQ(apiSeen().size(), 3u);
}

TEST_F(Ehospital, WithoutABaseUrlTheRouteSaysItIsNotConfigured) {
  ServerOptions o;
  o.env = {{"API_KEYS_FILE", "keys.json"}};
  o.files = {{"keys.json", keysFileJson({keyWithRoles("eh-reader", {"ehospital"})})}};
  server_ = std::make_unique<Server>(o);
  ASSERT_TRUE(server_->ready());
  const Response r = get("/api/patients/1");
  expectProblem(r, 404, "ehospital-not-configured");
  expectNoStore(r);
}

}  // namespace
}  // namespace phigate::test
