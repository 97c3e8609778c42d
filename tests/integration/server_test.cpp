// HTTP/1.1 server behaviour through the real binary: pipelining, keep-alive,
// chunked requests, 100-continue, the headers every response carries,
// request ids, the generic answers (404, 405, OPTIONS, HEAD) and the access
// log.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "harness.h"

namespace phigate::test {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  // /health is limited to 5/min per client address by default (the guide's
  // rule, tested in RateLimitTest); these tests ask it many times.
  static void SetUpTestSuite() {
    server_ = std::make_unique<Server>(ServerOptions{.env = {{"PHIGATE_RATE_LIMITS", "health=100000/60"}}});
  }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->logText(); }
  uint16_t port() const { return server_->port(); }
  static std::unique_ptr<Server> server_;
};

std::unique_ptr<Server> ServerTest::server_;

// ---- connection management ---------------------------------------------------------

TEST_F(ServerTest, FiftyPipelinedRequestsAreAnsweredInOrder) {
  Client c(port());
  std::string all;
  for (int i = 1; i <= 50; ++i)
    all += get(i % 2 ? "/livez" : "/health", "X-Request-ID: req-" + std::to_string(i) + "\r\n");
  ASSERT_TRUE(c.sendAll(all));  // one write
  for (int i = 1; i <= 50; ++i) {
    auto r = c.readResponse();
    ASSERT_TRUE(r) << "response " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("x-request-id"), "req-" + std::to_string(i));
    EXPECT_FALSE(r->has("connection"));
  }
  // Still open and usable.
  ASSERT_TRUE(c.sendAll(get("/livez", "X-Request-ID: after\r\n")));
  auto r = c.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-request-id"), "after");
}

TEST_F(ServerTest, Http11KeepsTheConnectionAlive) {
  Client c(port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.sendAll(get("/livez")));
    auto r = c.readResponse();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->version, "HTTP/1.1");
    EXPECT_FALSE(r->has("connection"));
  }
}

TEST_F(ServerTest, Http11ConnectionCloseIsHonoured) {
  Client c(port());
  ASSERT_TRUE(c.sendAll(get("/livez", "Connection: close\r\n") + get("/livez")));
  auto r = c.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("connection"), "close");
  const ReadResult rest = c.readUntilClosed(3000);
  EXPECT_TRUE(rest.closed());
  EXPECT_EQ(rest.data, "");
}

TEST_F(ServerTest, Http10KeepAliveOnRequest) {
  Client c(port());
  const std::string req = "GET /livez HTTP/1.0\r\nHost: test\r\nConnection: keep-alive\r\n\r\n";
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.sendAll(req));
    auto r = c.readResponse();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("connection"), "keep-alive");
  }
}

TEST_F(ServerTest, Http10WithoutKeepAliveCloses) {
  Client c(port());
  ASSERT_TRUE(c.sendAll("GET /livez HTTP/1.0\r\nHost: test\r\n\r\n" + get("/livez")));
  auto r = c.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("connection"), "close");
  const ReadResult rest = c.readUntilClosed(3000);
  EXPECT_TRUE(rest.closed());
  EXPECT_EQ(rest.data, "");
}

// No route takes a body yet; an empty chunked body on /livez shows that
// chunked framing is parsed (and the connection stays in sync after it).
TEST_F(ServerTest, ChunkedRequestBodyIsParsed) {
  Client c(port());
  ASSERT_TRUE(c.sendAll(get("/livez", "Transfer-Encoding: chunked\r\nX-Request-ID: chunked-1\r\n") +
                        "0\r\n\r\n" + get("/livez", "X-Request-ID: chunked-2\r\n")));
  for (const char* id : {"chunked-1", "chunked-2"}) {
    auto r = c.readResponse();
    ASSERT_TRUE(r) << id;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("x-request-id"), id);
  }
  // Chunk pieces arriving in separate writes.
  ASSERT_TRUE(c.sendAll(get("/livez", "Transfer-Encoding: chunked\r\n")));
  ASSERT_TRUE(c.sendAll("0"));
  ASSERT_TRUE(c.sendAll("\r\n"));
  ASSERT_TRUE(c.sendAll("\r\n"));
  auto r = c.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// 100 Continue is sent before the body is read, then the final answer.
TEST_F(ServerTest, ExpectContinueGetsInterimResponseBeforeTheBody) {
  Client c(port());
  ASSERT_TRUE(c.sendAll(get("/livez", "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n")));
  auto interim = c.readResponse();
  ASSERT_TRUE(interim) << "no 100 Continue before the body";
  EXPECT_EQ(interim->head, "HTTP/1.1 100 Continue\r\n");
  ASSERT_TRUE(c.sendAll("0\r\n\r\n"));
  auto r = c.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// A body over the limit is refused at once: no 100 Continue invites it.
TEST_F(ServerTest, ExpectContinueOverTheLimitGets413Immediately) {
  Client c(port());
  ASSERT_TRUE(c.sendAll(get("/livez", "Content-Length: 20000000\r\nExpect: 100-continue\r\n")));
  auto r = c.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << "first response was " << r->head;
  expectProblem(*r, 413, "payload-too-large");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.isClosed());
  EXPECT_EQ(c.buffered(), "");
}

// ---- headers on every response ---------------------------------------------------------

TEST_F(ServerTest, SecurityHeadersOnEveryKindOfResponse) {
  struct Case {
    const char* what;
    std::string raw;
    int status;
  };
  const Case cases[] = {
      {"200", get("/livez"), 200},
      {"404", get("/nope"), 404},
      {"405", "POST /livez HTTP/1.1\r\nHost: test\r\n\r\n", 405},
      {"413", get("/livez", "Content-Length: 20000000\r\n"), 413},
      {"parser 400", "GET /livez HTTP/1.1\r\nHost: test\r\nBad Header: x\r\n\r\n", 400},
      {"204", "OPTIONS /livez HTTP/1.1\r\nHost: test\r\n\r\n", 204},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    auto r = request(port(), k.raw);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, k.status);
    expectSecurityHeaders(*r, false);
    EXPECT_TRUE(r->has("date"));
  }
}

TEST(ServerProduction, StrictTransportSecurityOnlyInProduction) {
  Server s({.env = productionEnv()});
  ASSERT_TRUE(s.ready()) << s.logText();
  for (const std::string& raw :
       {get("/livez"), get("/nope"), get("/livez", "Content-Length: 20000000\r\n"),
        std::string("GET /livez HTTP/1.1\r\n\r\n")}) {
    auto r = request(s.port(), raw);
    ASSERT_TRUE(r);
    SCOPED_TRACE(r->status);
    expectSecurityHeaders(*r, true);
  }
}

// (The development side: expectSecurityHeaders(..., false) above checks that
// Strict-Transport-Security is absent.)

// ---- request ids ---------------------------------------------------------------------

TEST_F(ServerTest, ValidRequestIdIsEchoed) {
  for (const std::string& id :
       {std::string("a"), std::string("abc-DEF_123.xyz"), std::string(64, 'z')}) {
    auto r = request(port(), get("/livez", "X-Request-ID: " + id + "\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("x-request-id"), id);
  }
}

TEST_F(ServerTest, InvalidRequestIdIsReplacedByAFreshOne) {
  const std::string invalid[] = {
      std::string(65, 'z'), "has space", "a/b", "caf\xc3\xa9", "", "semi;colon", "quote\"",
  };
  std::string previous;
  for (const std::string& id : invalid) {
    auto r = request(port(), get("/livez", "X-Request-ID: " + id + "\r\n"));
    ASSERT_TRUE(r) << id;
    const std::string got = r->header("x-request-id");
    EXPECT_TRUE(isFreshRequestId(got)) << "sent '" << id << "', got '" << got << "'";
    EXPECT_NE(got, previous);
    previous = got;
  }
  // Without the header too; two requests get two different ids.
  auto a = request(port(), get("/livez"));
  auto b = request(port(), get("/livez"));
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(isFreshRequestId(a->header("x-request-id")));
  EXPECT_NE(a->header("x-request-id"), b->header("x-request-id"));
}

// ---- generic answers -------------------------------------------------------------------

TEST_F(ServerTest, UnknownPathIs404ProblemAndKeepsTheConnection) {
  Client c(port());
  ASSERT_TRUE(c.sendAll(get("/nope") + get("/livez/") + get("/livez")));
  for (int i = 0; i < 2; ++i) {
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    expectProblem(*r, 404, "not-found");
    EXPECT_FALSE(r->has("connection"));
  }
  auto ok = c.readResponse();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, WrongMethodIs405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    SCOPED_TRACE(method);
    auto r = request(port(), std::string(method) + " /livez HTTP/1.1\r\nHost: test\r\n\r\n");
    ASSERT_TRUE(r);
    expectProblem(*r, 405, "method-not-allowed");
    EXPECT_EQ(r->header("allow"), "GET, HEAD, OPTIONS");
  }
  // With a body the answer comes from the head, and the unread body closes
  // the connection.
  Client c(port());
  ASSERT_TRUE(c.sendAll("POST /health HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\n"));
  auto r = c.readResponse();
  ASSERT_TRUE(r);
  expectProblem(*r, 405, "method-not-allowed");
  EXPECT_EQ(r->header("allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(r->header("connection"), "close");
}

TEST_F(ServerTest, HeadHasTheHeadersButNoBody) {
  Client c(port());
  ASSERT_TRUE(c.sendAll("HEAD /livez HTTP/1.1\r\nHost: test\r\n\r\n" +
                        get("/livez", "X-Request-ID: next\r\n")));
  auto head = c.readResponse(5000, /*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-length"), "15");
  EXPECT_EQ(head->header("content-type"), "application/json; charset=utf-8");
  expectSecurityHeaders(*head);
  // The next bytes on the wire are the next response, not a body.
  EXPECT_EQ(c.buffered().rfind("HTTP/1.1 200", 0), 0u) << c.buffered().substr(0, 40);
  auto next = c.readResponse();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->header("x-request-id"), "next");
  EXPECT_EQ(next->body, R"({"status":"ok"})");
}

TEST_F(ServerTest, OptionsAnswers204WithAllow) {
  auto r = request(port(), "OPTIONS /livez HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->header("allow"), "GET, HEAD, OPTIONS");
  EXPECT_FALSE(r->has("content-length"));
  EXPECT_EQ(r->body, "");
  auto star = request(port(), "OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(star);
  EXPECT_EQ(star->status, 204);
  EXPECT_EQ(star->header("allow"), "GET, HEAD, POST, PUT, DELETE, OPTIONS");
  auto unknown = request(port(), "OPTIONS /nope HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(ServerTest, HealthIsOkJson) {
  auto r = request(port(), get("/health"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(jsonField(r->body, "status"), "ok");
  auto live = request(port(), get("/livez"));
  ASSERT_TRUE(live);
  EXPECT_EQ(live->body, R"({"status":"ok"})");
  EXPECT_EQ(live->header("content-length"), "15");
}

// ---- access log ----------------------------------------------------------------------

TEST_F(ServerTest, OneAccessLogLinePerRequestWithoutTheQuery) {
  const std::string ids[] = {"log-a", "log-b", "log-c"};
  Client c(port());
  ASSERT_TRUE(
      c.sendAll(get("/livez?secret=MARKERq", "X-Request-ID: log-a\r\n") +
                get("/nope?token=MARKERq", "X-Request-ID: log-b\r\n") +
                "HEAD /health?MARKERq HTTP/1.1\r\nHost: test\r\nX-Request-ID: log-c\r\n\r\n"));
  ASSERT_TRUE(c.readResponse());
  ASSERT_TRUE(c.readResponse());
  ASSERT_TRUE(c.readResponse(5000, true));

  const std::string expect_route[] = {"livez", "-", "health"};
  const std::string expect_status[] = {"200", "404", "200"};
  const std::string expect_method[] = {"GET", "GET", "HEAD"};
  for (int i = 0; i < 3; ++i) {
    auto line = server_->waitForLine({"\"request_id\":\"" + ids[i] + "\""});
    ASSERT_TRUE(line) << ids[i] << "\n" << server_->logText();
    EXPECT_EQ(server_->countLines("\"request_id\":\"" + ids[i] + "\""), 1u);
    for (const char* field :
         {"time", "request_id", "client_ip", "method", "route", "status", "bytes", "latency_us"}) {
      EXPECT_NE(line->find(std::string("\"") + field + "\":"), std::string::npos)
          << field << " in " << *line;
    }
    EXPECT_EQ(jsonField(*line, "client_ip"), "127.0.0.1");
    EXPECT_EQ(jsonField(*line, "method"), expect_method[i]);
    EXPECT_EQ(jsonField(*line, "route"), expect_route[i]);
    EXPECT_EQ(jsonField(*line, "status"), expect_status[i]);
    EXPECT_GT(std::stoul(jsonField(*line, "bytes")), 0u);
    EXPECT_EQ(line->find("event"), std::string::npos);
  }
  EXPECT_EQ(server_->logText().find("MARKERq"), std::string::npos);
  EXPECT_EQ(server_->logText().find("secret="), std::string::npos);
}

}  // namespace
}  // namespace phigate::test
