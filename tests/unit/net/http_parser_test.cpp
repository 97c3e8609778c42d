#include "net/http_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace phigate::net {
namespace {

using obs::SecurityEvent;
using Event = HttpParser::Event;

// Feeds `wire` into a padded buffer, in pieces of `step` bytes (0: at once),
// the way a connection would, and collects events up to the first message.
class ParserHarness {
 public:
  explicit ParserHarness(std::string wire, uint64_t body_limit = 1 << 20)
      : wire_(std::move(wire)), buf_(wire_.size() + 64, '\0'), parser_(limits_),
        body_limit_(body_limit) {
    parser_.begin(0);
  }

  Event run(size_t step = 0) {
    size_t end = 0;
    for (;;) {
      if (end < wire_.size()) {
        size_t n = step == 0 ? wire_.size() - end : std::min(step, wire_.size() - end);
        memcpy(buf_.data() + end, wire_.data() + end, n);
        end += n;
      }
      Event ev = parser_.advance(buf_.data(), end);
      if (ev == Event::kHeadersComplete) {
        parser_.setBodyLimit(body_limit_);
        continue;
      }
      if (ev == Event::kNeedMore && end < wire_.size()) continue;
      return ev;
    }
  }

  HttpParser& parser() { return parser_; }
  std::string& buffer() { return buf_; }

 private:
  std::string wire_;
  std::string buf_;
  HeadLimits limits_;
  HttpParser parser_;
  uint64_t body_limit_;
};

SecurityEvent errorOf(const std::string& wire) {
  ParserHarness h(wire);
  EXPECT_EQ(h.run(), Event::kError) << wire;
  return h.parser().error();
}

TEST(HttpParser, ParsesTypicalPost) {
  const std::string body = R"({"to":"+910000000000","message":"test"})";
  const std::string wire = "POST /v1/sms?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                           "Content-Length: " + std::to_string(body.size()) +
                           "\r\nX-Request-ID: abc-1\r\n\r\n" + body;
  for (size_t step : {0, 1, 7}) {
    ParserHarness h(wire);
    ASSERT_EQ(h.run(step), Event::kMessageComplete) << step;
    const HttpRequest& r = h.parser().request();
    EXPECT_EQ(r.method, Method::kPost);
    EXPECT_EQ(r.path, "/v1/sms");
    EXPECT_EQ(r.query, "x=1");
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.request_id, "abc-1");
    EXPECT_EQ(r.content_length, static_cast<int64_t>(body.size()));
    EXPECT_EQ(r.body, body);
    EXPECT_TRUE(r.keep_alive);
    // Zero-copy: the body view points into the caller's buffer.
    EXPECT_GE(r.body.data(), h.buffer().data());
    EXPECT_LT(r.body.data(), h.buffer().data() + h.buffer().size());
  }
}

TEST(HttpParser, DechunksBodyInPlace) {
  const std::string wire =
      "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n";
  for (size_t step : {0, 1, 4}) {
    ParserHarness h(wire);
    ASSERT_EQ(h.run(step), Event::kMessageComplete) << step;
    EXPECT_TRUE(h.parser().request().chunked);
    EXPECT_EQ(h.parser().request().body, "hello world");
  }
}

TEST(HttpParser, KeepAliveRules) {
  ParserHarness a("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(a.run(), Event::kMessageComplete);
  EXPECT_FALSE(a.parser().request().keep_alive);
  ParserHarness b("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(b.run(), Event::kMessageComplete);
  EXPECT_FALSE(b.parser().request().keep_alive);
  ParserHarness c("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_EQ(c.run(), Event::kMessageComplete);
  EXPECT_TRUE(c.parser().request().keep_alive);
}

TEST(HttpParser, PipelinedMessagesOneAtATime) {
  const std::string wire = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string buf = wire + std::string(64, '\0');
  HeadLimits limits;
  HttpParser p(limits);
  p.begin(0);
  ASSERT_EQ(p.advance(buf.data(), wire.size()), Event::kHeadersComplete);
  ASSERT_EQ(p.advance(buf.data(), wire.size()), Event::kMessageComplete);
  EXPECT_EQ(p.request().path, "/a");
  const size_t next = p.consumed();
  EXPECT_EQ(next, wire.size() / 2);
  p.begin(next);
  ASSERT_EQ(p.advance(buf.data(), wire.size()), Event::kHeadersComplete);
  ASSERT_EQ(p.advance(buf.data(), wire.size()), Event::kMessageComplete);
  EXPECT_EQ(p.request().path, "/b");
}

TEST(HttpParser, ShiftKeepsSpansValid) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string second = "GET /bb HTTP/1.1\r\nHost: zz\r\nX-Long: value\r\n\r\n";
  std::string buf = first + second + std::string(64, '\0');
  HeadLimits limits;
  HttpParser p(limits);
  p.begin(0);
  p.advance(buf.data(), first.size());
  ASSERT_EQ(p.advance(buf.data(), first.size()), Event::kMessageComplete);
  p.begin(first.size());
  // Half of the second head arrives, then the owner compacts its buffer.
  const size_t half = first.size() + 20;
  ASSERT_EQ(p.advance(buf.data(), half), Event::kNeedMore);
  memmove(buf.data(), buf.data() + first.size(), second.size());
  p.shift(first.size());
  ASSERT_EQ(p.advance(buf.data(), second.size()), Event::kHeadersComplete);
  EXPECT_EQ(p.request().path, "/bb");
  EXPECT_EQ(p.request().header("host"), "zz");
  EXPECT_EQ(p.request().header("x-long"), "value");
}

TEST(HttpParser, FramingViolations) {
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            SecurityEvent::kContentLengthWithChunked);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
            SecurityEvent::kDuplicateContentLength);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1a\r\n\r\n"),
            SecurityEvent::kBadContentLength);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
            SecurityEvent::kBadContentLength);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
            SecurityEvent::kBadTransferEncoding);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            SecurityEvent::kBadTransferEncoding);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\n\r\n"), SecurityEvent::kMissingHost);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), SecurityEvent::kDuplicateHost);
  EXPECT_EQ(errorOf("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), SecurityEvent::kMethodRefused);
  EXPECT_EQ(errorOf("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n"), SecurityEvent::kMethodRefused);
  {
    ParserHarness patch("PATCH / HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(patch.run(), Event::kMessageComplete) << "PATCH is routed (eHospital)";
  }
  EXPECT_EQ(errorOf("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), SecurityEvent::kMethodRefused);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"),
            SecurityEvent::kUpgradeRefused);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: a\r\nExpect: later\r\n\r\n"), SecurityEvent::kBadExpect);
  EXPECT_EQ(errorOf("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), SecurityEvent::kBadTarget);
  EXPECT_EQ(errorOf("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), SecurityEvent::kBadTarget);
}

TEST(HttpParser, HostMustBeUriHostAndPort) {
  for (const char* ok : {"", "a", "example.org", "example.org:8080", "127.0.0.1:80", "[::1]",
                         "[2001:db8::1]:443", "xn--bcher-kva.example", "a%41b", "h:"}) {
    EXPECT_TRUE(isValidHostHeader(ok)) << ok;
  }
  for (const char* bad : {"a b", "user@h", "user:pw@h", "h:65536", "h:123456", "h:8a", "h:80:80",
                          "[::1", "[::1]x", "[zz]", ":80", "h\xc3\xa9", "a%4", "a%zz", "h/p",
                          "h?q", "[::1]:-1"}) {
    EXPECT_FALSE(isValidHostHeader(bad)) << bad;
  }
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), SecurityEvent::kBadHost);
}

TEST(HttpParser, RequestLineHasExactlyOneSpaceEachSide) {
  EXPECT_EQ(errorOf("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), SecurityEvent::kBadRequestLine);
  EXPECT_EQ(errorOf("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), SecurityEvent::kBadRequestLine);
  ParserHarness exact("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(exact.run(), Event::kMessageComplete);
}

TEST(HttpParser, RepeatedSingletonHeadersAreRefused) {
  for (const char* name : {"Content-Type", "Authorization", "X-Timestamp", "X-Nonce", "X-Signature",
                           "Idempotency-Key", "X-Request-ID", "Expect"}) {
    const std::string head = std::string("GET / HTTP/1.1\r\nHost: a\r\n") + name + ": 100-continue\r\n" + name +
                             ": 100-continue\r\n\r\n";
    EXPECT_EQ(errorOf(head), SecurityEvent::kDuplicateHeader) << name;
  }
  // List-valued fields may repeat (a proxy chain appends X-Forwarded-For lines).
  ParserHarness list("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n"
                     "X-Forwarded-For: 5.6.7.8\r\n\r\n");
  EXPECT_EQ(list.run(), Event::kMessageComplete);
}

TEST(HttpParser, TransferEncodingInHttp10IsRefused) {
  EXPECT_EQ(errorOf("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            SecurityEvent::kBadTransferEncoding);
}

TEST(HttpParser, ChunkDataMustEndInCrlf) {
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  // Without llhttp's strict mode any two bytes after the data were skipped.
  EXPECT_EQ(errorOf(head + "5\r\nhelloXX0\r\n\r\n"), SecurityEvent::kMalformed);
  EXPECT_EQ(errorOf(head + "2\r\nab\n3c\r\n"), SecurityEvent::kMalformed);
}

TEST(HttpParser, BadChunks) {
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(errorOf(head + "zz\r\nhi\r\n0\r\n\r\n"), SecurityEvent::kBadChunk);
  EXPECT_EQ(errorOf(head + "fffffffffffffffffffff\r\n"), SecurityEvent::kBadChunk);
  EXPECT_EQ(errorOf(head + "1;" + std::string(300, 'e') + "\r\nx\r\n0\r\n\r\n"),
            SecurityEvent::kBadChunk);
  EXPECT_EQ(errorOf(head + "1\r\nx\r\n0\r\nX-Trailer: 1\r\n\r\n"), SecurityEvent::kTrailers);
}

TEST(HttpParser, BodyLimitWhileStreaming) {
  const std::string chunked =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
  ParserHarness ok(chunked, 8);
  EXPECT_EQ(ok.run(), Event::kMessageComplete);
  ParserHarness over(chunked, 7);
  EXPECT_EQ(over.run(), Event::kError);
  EXPECT_EQ(over.parser().error(), SecurityEvent::kBodyTooLarge);
}

TEST(HttpParser, AbsoluteFormTarget) {
  ParserHarness h("GET http://gw.example/livez?q=1 HTTP/1.1\r\nHost: gw.example\r\n\r\n");
  ASSERT_EQ(h.run(), Event::kMessageComplete);
  EXPECT_EQ(h.parser().request().path, "/livez");
  EXPECT_EQ(h.parser().request().query, "q=1");
}

TEST(HttpParser, StatusForViolation) {
  EXPECT_EQ(statusForViolation(SecurityEvent::kRequestLineTooLong), 414);
  EXPECT_EQ(statusForViolation(SecurityEvent::kTooManyHeaders), 431);
  EXPECT_EQ(statusForViolation(SecurityEvent::kBodyTooLarge), 413);
  EXPECT_EQ(statusForViolation(SecurityEvent::kUnsupportedVersion), 505);
  EXPECT_EQ(statusForViolation(SecurityEvent::kMethodRefused), 501);
  EXPECT_EQ(statusForViolation(SecurityEvent::kBadExpect), 417);
  EXPECT_EQ(statusForViolation(SecurityEvent::kObsFold), 400);
}

}  // namespace
}  // namespace phigate::net
