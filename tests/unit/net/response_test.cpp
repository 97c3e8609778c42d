#include "net/response.h"

#include <gtest/gtest.h>

#include <string>

#include "net/problem.h"

namespace phigate::net {
namespace {

std::string build(const ResponseSpec& spec, std::string_view body, bool production = false) {
  StaticHeaders fixed(production);
  WallClock clock;
  clock.refresh();
  Buffer out;
  appendResponse(out, fixed, clock, spec, body);
  return std::string(out.view());
}

TEST(Response, CarriesSecurityHeadersAndFraming) {
  ResponseSpec spec;
  spec.status = 200;
  spec.request_id = "rid-1";
  const std::string r = build(spec, "{}");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  for (const char* h : {"X-Content-Type-Options: nosniff\r\n", "X-Frame-Options: DENY\r\n",
                        "X-XSS-Protection: 1; mode=block\r\n",
                        "Referrer-Policy: strict-origin-when-cross-origin\r\n",
                        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n",
                        "Permissions-Policy: ", "Cache-Control: no-store\r\n",
                        "Content-Type: application/json; charset=utf-8\r\n",
                        "Content-Length: 2\r\n", "X-Request-ID: rid-1\r\n", "Date: "}) {
    EXPECT_NE(r.find(h), std::string::npos) << h;
  }
  EXPECT_EQ(r.find("Strict-Transport-Security"), std::string::npos);
  EXPECT_EQ(r.find("Connection:"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 6), "\r\n\r\n{}");
}

TEST(Response, HstsOnlyInProduction) {
  ResponseSpec spec;
  spec.request_id = "r";
  EXPECT_NE(build(spec, "", true).find("Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"),
            std::string::npos);
}

TEST(Response, CloseHeadAnd204) {
  ResponseSpec spec;
  spec.request_id = "r";
  spec.close = true;
  spec.head_only = true;
  const std::string head = build(spec, "hello");
  EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(head.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");  // no body for HEAD

  ResponseSpec nc;
  nc.status = 204;
  nc.request_id = "r";
  const std::string r204 = build(nc, "");
  EXPECT_EQ(r204.find("Content-Length"), std::string::npos);
}

TEST(Response, ExtraHeadersAndHttp10KeepAlive) {
  ResponseSpec spec;
  spec.status = 405;
  spec.request_id = "r";
  const HeaderField extra[] = {{"Allow", "GET, HEAD, OPTIONS"}};
  spec.extra = extra;
  spec.keep_alive_http10 = true;
  const std::string r = build(spec, "");
  EXPECT_EQ(r.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u);
  EXPECT_NE(r.find("Allow: GET, HEAD, OPTIONS\r\n"), std::string::npos);
  EXPECT_NE(r.find("Connection: keep-alive\r\n"), std::string::npos);
}

TEST(Problem, BodyIsStableJsonWithoutClientBytes) {
  Buffer out;
  writeProblem(out, problemForViolation(obs::SecurityEvent::kObsFold), "rid");
  EXPECT_EQ(out.view(),
            R"({"type":"https://phigate.dev/problems/bad-request","title":"Bad Request","status":400,)"
            R"("detail":"The request is not valid HTTP/1.1 framing.","code":"obs_fold","request_id":"rid"})");
}

// One writer for every layer: members, field errors and numbers in one
// object, in a fixed order, closed once (no re-opened object).
TEST(Problem, MembersAndErrorsInOneObject) {
  Buffer out;
  const ProblemMember members[] = {ProblemMember::num("limit_bytes", 65536),
                                   ProblemMember::num("skew", -5),
                                   ProblemMember::str("missing_permission", "sms:bulk")};
  const ProblemFieldError errors[] = {{"to", "invalid_phone"}, {"messages[1].message", "too_long"}};
  Problem p{422, "validation", "Validation failed", "d", "schema", members, errors};
  writeProblem(out, p, "rid");
  EXPECT_EQ(out.view(),
            R"({"type":"https://phigate.dev/problems/validation","title":"Validation failed",)"
            R"("status":422,"detail":"d","code":"schema","limit_bytes":65536,"skew":-5,)"
            R"("missing_permission":"sms:bulk","errors":[{"field":"to","code":"invalid_phone"},)"
            R"({"field":"messages[1].message","code":"too_long"}],"request_id":"rid"})");
}

TEST(Problem, DetailTextTruncatesAtItsBuffer) {
  char buf[16];
  DetailText d(buf, sizeof buf);
  d << "limit " << int64_t{1048576} << " bytes and more";
  EXPECT_EQ(d.view(), "limit 1048576 by");
}

TEST(Problem, EscapesStrings) {
  Buffer out;
  appendJsonString(out, "a\"b\\c\n");
  EXPECT_EQ(out.view(), R"("a\"b\\c\u000a")");
}

}  // namespace
}  // namespace phigate::net
