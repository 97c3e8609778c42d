#include "net/head_scanner.h"

#include <gtest/gtest.h>

#include <string>

namespace phigate::net {
namespace {

using obs::SecurityEvent;
using Result = HeadScanner::Result;

struct Scan {
  Result result;
  SecurityEvent error;
  size_t end;
};

Scan scanAll(const std::string& bytes, const HeadLimits& limits = {}, size_t step = 0) {
  HeadScanner s(limits);
  s.reset(0);
  Result r = Result::kNeedMore;
  if (step == 0) {
    r = s.scan(bytes.data(), bytes.size());
  } else {
    // Byte-at-a-time (or step-at-a-time) arrival must give the same answer.
    for (size_t end = step; r == Result::kNeedMore; end += step) {
      r = s.scan(bytes.data(), std::min(end, bytes.size()));
      if (end >= bytes.size()) break;
    }
  }
  return {r, s.error(), s.headEnd()};
}

TEST(HeadScanner, AcceptsWellFormedHead) {
  const std::string head = "GET /livez HTTP/1.1\r\nHost: a\r\nX-A: b\tc\r\n\r\nBODY";
  for (size_t step : {0, 1, 3}) {
    Scan s = scanAll(head, {}, step);
    EXPECT_EQ(s.result, Result::kComplete) << step;
    EXPECT_EQ(s.end, head.size() - 4) << step;
  }
}

TEST(HeadScanner, NeedsMoreUntilBlankLine) {
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nHost: a\r\n").result, Result::kNeedMore);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nHost: a\r\n\r").result, Result::kNeedMore);
}

TEST(HeadScanner, IgnoresLeadingEmptyLines) {
  EXPECT_EQ(scanAll("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").result, Result::kComplete);
}

TEST(HeadScanner, RejectsLineEndingsOtherThanCrlf) {
  EXPECT_EQ(scanAll("GET / HTTP/1.1\nHost: a\r\n\r\n").error, SecurityEvent::kBareLf);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nHost: a\n\r\n").error, SecurityEvent::kBareLf);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\rHost: a\r\n\r\n").error, SecurityEvent::kBareCr);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n").error, SecurityEvent::kBareCr);
}

TEST(HeadScanner, RejectsControlBytes) {
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n").error, SecurityEvent::kControlByte);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nX\x7f: a\r\n\r\n").error, SecurityEvent::kControlByte);
  EXPECT_EQ(scanAll(std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 30)).error,
            SecurityEvent::kControlByte);
}

TEST(HeadScanner, RejectsObsFoldAndSpaceBeforeColon) {
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n").error, SecurityEvent::kObsFold);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n").error, SecurityEvent::kObsFold);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nHost : a\r\n\r\n").error, SecurityEvent::kSpaceBeforeColon);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n").error,
            SecurityEvent::kSpaceBeforeColon);
}

TEST(HeadScanner, RejectsBadFieldNames) {
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nNoColon\r\n\r\n").error, SecurityEvent::kMissingColon);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\n: empty\r\n\r\n").error, SecurityEvent::kBadHeaderName);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nA(b: c\r\n\r\n").error, SecurityEvent::kBadHeaderName);
}

TEST(HeadScanner, ChecksVersionToken) {
  EXPECT_EQ(scanAll("GET / HTTP/1.0\r\n\r\n").result, Result::kComplete);
  EXPECT_EQ(scanAll("GET / HTTP/2.0\r\n\r\n").error, SecurityEvent::kUnsupportedVersion);
  EXPECT_EQ(scanAll("PRI * HTTP/2.0\r\n\r\n").error, SecurityEvent::kUnsupportedVersion);
  EXPECT_EQ(scanAll("GET / HTTP/1.2\r\n\r\n").error, SecurityEvent::kUnsupportedVersion);
  EXPECT_EQ(scanAll("GET / HTTP/1.x\r\n\r\n").error, SecurityEvent::kBadVersion);
  EXPECT_EQ(scanAll("GET / HTTP/11\r\n\r\n").error, SecurityEvent::kBadVersion);
  EXPECT_EQ(scanAll("GET / HTTX/1.1\r\n\r\n").error, SecurityEvent::kBadVersion);
  EXPECT_EQ(scanAll("GET / HTTP/1.1.1\r\n\r\n").error, SecurityEvent::kBadVersion);
  EXPECT_EQ(scanAll("GET\r\n\r\n").error, SecurityEvent::kBadRequestLine);
}

TEST(HeadScanner, RequestLineLimitIsExact) {
  HeadLimits limits;
  limits.max_request_line = 32;
  // "GET /" + padding + " HTTP/1.1" exactly 32 bytes long.
  std::string line = "GET /" + std::string(32 - 5 - 9, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 32u);
  EXPECT_EQ(scanAll(line + "\r\n\r\n", limits).result, Result::kComplete);
  std::string longer = "GET /" + std::string(32 - 5 - 9 + 1, 'a') + " HTTP/1.1";
  EXPECT_EQ(scanAll(longer + "\r\n\r\n", limits).error, SecurityEvent::kRequestLineTooLong);
  // Cut off as soon as the limit passes, without waiting for a line end.
  EXPECT_EQ(scanAll("GET /" + std::string(100, 'a'), limits).error,
            SecurityEvent::kRequestLineTooLong);
}

TEST(HeadScanner, HeaderBytesAndCountLimits) {
  HeadLimits limits;
  limits.max_header_bytes = 64;
  limits.max_headers = 3;
  // Header bytes count every byte after the request line except CR/LF.
  std::string ok = "GET / HTTP/1.1\r\nA: " + std::string(61, 'x') + "\r\n\r\n";
  EXPECT_EQ(scanAll(ok, limits).result, Result::kComplete);
  std::string big = "GET / HTTP/1.1\r\nA: " + std::string(62, 'x') + "\r\n\r\n";
  EXPECT_EQ(scanAll(big, limits).error, SecurityEvent::kHeadersTooLarge);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits).result,
            Result::kComplete);
  EXPECT_EQ(scanAll("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits).error,
            SecurityEvent::kTooManyHeaders);
}

TEST(HeadScanner, ResetStartsAtOffset) {
  const std::string two = "GET / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\nHost: a\r\n\r\n";
  const HeadLimits limits;  // the scanner keeps a reference: it must outlive it
  HeadScanner s(limits);
  s.reset(0);
  ASSERT_EQ(s.scan(two.data(), two.size()), Result::kComplete);
  s.reset(s.headEnd());
  EXPECT_EQ(s.scan(two.data(), two.size()), Result::kError);
  EXPECT_EQ(s.error(), SecurityEvent::kBareLf);
}

}  // namespace
}  // namespace phigate::net
