// EHOSPITAL_ALLOWED_PATHS parsing and matching, the request-path rules that
// keep `*` from matching a dot segment, and the token source's pure parts
// (the token endpoint's answer, when a token is refreshed).
#include "upstream/path_allowlist.h"

#include <gtest/gtest.h>

#include "upstream/token_source.h"

namespace phigate::upstream {
namespace {

using net::Method;

PathAllowList parsed(std::string_view text) {
  PathAllowList l;
  std::string error;
  EXPECT_TRUE(l.parse(text, &error)) << error;
  return l;
}

TEST(PathAllowList, StarIsExactlyOneSegment) {
  const PathAllowList l = parsed("GET /api/patients/*,POST /api/appointments");
  EXPECT_EQ(l.size(), 2u);
  EXPECT_TRUE(l.allows(Method::kGet, "/api/patients/123"));
  EXPECT_TRUE(l.allows(Method::kHead, "/api/patients/123"));  // GET allows HEAD
  EXPECT_FALSE(l.allows(Method::kGet, "/api/patients"));
  EXPECT_FALSE(l.allows(Method::kGet, "/api/patients/123/records"));
  EXPECT_FALSE(l.allows(Method::kPost, "/api/patients/123"));
  EXPECT_TRUE(l.allows(Method::kPost, "/api/appointments"));
  EXPECT_FALSE(l.allows(Method::kGet, "/api/appointments"));
  EXPECT_FALSE(l.allows(Method::kPut, "/api/appointments"));
  EXPECT_FALSE(l.allows(Method::kPost, "/api/appointments/1"));
  EXPECT_FALSE(l.allows(Method::kPost, "/api/Appointments"));  // case matters in paths
}

TEST(PathAllowList, HeadAloneDoesNotAllowGet) {
  const PathAllowList l = parsed("HEAD /a, PUT /b/*/c , DELETE /d/*");
  EXPECT_TRUE(l.allows(Method::kHead, "/a"));
  EXPECT_FALSE(l.allows(Method::kGet, "/a"));
  EXPECT_TRUE(l.allows(Method::kPut, "/b/x/c"));
  EXPECT_TRUE(l.allows(Method::kDelete, "/d/x"));
}

TEST(PathAllowList, BadItemsAreRefusedByPosition) {
  for (const char* text : {"GET", "GET api", "FETCH /a", "get /a", "GET /a/", "GET //a", "GET /a/../b",
                           "GET /a/./b", "GET /a%2Fb", ",GET /a", "GET /a,,GET /b", "GET /a b", "GET /"}) {
    PathAllowList l;
    std::string error;
    EXPECT_FALSE(l.parse(text, &error)) << text;
    EXPECT_NE(error.find("EHOSPITAL_ALLOWED_PATHS item "), std::string::npos) << error;
    EXPECT_EQ(l.size(), 0u);
  }
  PathAllowList l;
  std::string error;
  EXPECT_FALSE(l.parse("GET /ok,POST /x/%41", &error));
  EXPECT_NE(error.find("item 2 "), std::string::npos) << error;
  EXPECT_TRUE(parsed("").size() == 0);  // empty: nothing allowed
}

// `;` is not a segment character: Java upstreams (Tomcat, Jetty, Spring)
// strip `;params` and then resolve dot segments, so `..;` would be `..`.
TEST(PathAllowList, ARuleWithASemicolonIsAConfigurationError) {
  for (const char* text : {"GET /a;b", "GET /api/patients/*;v=1", "GET /api/..;", "GET /a/;"}) {
    PathAllowList l;
    std::string error;
    EXPECT_FALSE(l.parse(text, &error)) << text;
    EXPECT_NE(error.find("item 1 "), std::string::npos) << error;
    EXPECT_NE(error.find("-._~!$&'()+,=:@"), std::string::npos) << "what is allowed: " << error;
  }
}

TEST(RequestPath, DotSegmentsEncodingAndEmptySegmentsAreRefused) {
  EXPECT_TRUE(requestPathOk("/api/patients/123"));
  EXPECT_TRUE(requestPathOk("/v0.5/consent-requests/on-init"));
  EXPECT_TRUE(requestPathOk("/abha/user@sbx"));
  for (const char* p : {"", "/", "api", "/api/", "//api", "/api//x", "/api/..", "/api/.", "/../x",
                        "/api/%2e%2e", "/api/a%2Fb", "/api/*", "/api/a b", "/api/\x01", "/api/\xc3\xa9"}) {
    EXPECT_FALSE(requestPathOk(p)) << p;
  }
  std::string deep;
  for (size_t i = 0; i <= kMaxPathSegments; ++i) deep += "/a";
  EXPECT_FALSE(requestPathOk(deep));
  // `*` never matches a segment requestPathOk refused.
  const PathAllowList l = parsed("GET /api/patients/*");
  EXPECT_FALSE(requestPathOk("/api/patients/..") && l.allows(Method::kGet, "/api/patients/.."));
}

TEST(RequestPath, SemicolonsAreRefusedAnywhere) {
  for (const char* p : {"/api/patients/..;", "/api/patients/.;", "/api/patients/x;a=b",
                        "/api/patients/..;/visits", "/api;/patients/1", "/api/patients/;",
                        "/api/patients/;..", "/api/patients/..;x"}) {
    EXPECT_FALSE(requestPathOk(p)) << p;
  }
  const PathAllowList l = parsed("GET /v1/patients/*/visits");
  EXPECT_TRUE(l.allows(Method::kGet, "/v1/patients/1/visits"));
  EXPECT_FALSE(requestPathOk("/v1/patients/..;/visits"));
}

TEST(RequestQuery, OnlyRfc3986QueryCharactersGoUpstream) {
  for (const char* q : {"", "a=1&b=2", "name=J%C3%A9r%c3%b4me", "q=a+b;c:d@e/f?g", "x=!$'()*,~._-",
                        "%41", "a=%2F%2e"}) {
    EXPECT_TRUE(requestQueryOk(q)) << q;
  }
  for (const char* q : {"a=\"b\"", "a=<b>", "a={1}", "a=b|c", "a=b^c", "a=`b`", "a=b\\c", "a=b c",
                        "a=b#c", "a=%", "a=%4", "a=%zz", "a=%4g", "%", "a=\x7f", "a=\x01",
                        "a=\xc3\xa9", "a=\tb"}) {
    EXPECT_FALSE(requestQueryOk(q)) << q;
  }
}

TEST(TokenResponse, ReadsOAuthAndAbdmSpellings) {
  std::string token;
  uint32_t life = 0;
  ASSERT_TRUE(parseTokenResponse(R"({"access_token":"abc.def","expires_in":3600,"token_type":"Bearer"})",
                                 &token, &life));
  EXPECT_EQ(token, "abc.def");
  EXPECT_EQ(life, 3600u);
  ASSERT_TRUE(parseTokenResponse(R"({"accessToken":"xyz","expiresIn":1200})", &token, &life));
  EXPECT_EQ(token, "xyz");
  EXPECT_EQ(life, 1200u);
  ASSERT_TRUE(parseTokenResponse(R"({"access_token":"t"})", &token, &life));
  EXPECT_EQ(life, kDefaultTokenLifetimeS);
  ASSERT_TRUE(parseTokenResponse(R"({"access_token":"t","expires_in":999999999})", &token, &life));
  EXPECT_EQ(life, kMaxTokenLifetimeS);
  for (const char* bad : {"", "[]", "{}", R"({"access_token":""})", R"({"access_token":"a b"})",
                          R"({"access_token":"a\r\nX-Injected: 1"})", R"({"access_token":5})",
                          "not json"}) {
    EXPECT_FALSE(parseTokenResponse(bad, &token, &life)) << bad;
  }
}

TEST(TokenRefresh, ShortlyBeforeExpiry) {
  EXPECT_EQ(refreshAtMs(1000, 3600), 1000 + 3'600'000 - 60'000);  // a minute early
  EXPECT_EQ(refreshAtMs(0, 100), 100'000 - 10'000);               // a tenth early
  EXPECT_EQ(refreshAtMs(0, 1), 900u);
  EXPECT_EQ(refreshAtMs(0, 0), 900u);  // at least a second's life
}

}  // namespace
}  // namespace phigate::upstream
