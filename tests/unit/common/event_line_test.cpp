#include "common/event_line.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "common/ascii.h"

namespace phigate {
namespace {

TEST(EventLine, OneJsonObjectPerLineInOneWrite) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EventLine("store_full").str("backend", "memory").num("messages", 200000).num("delta", -3).emit(fds[1]);
  char buf[256];
  const ssize_t n = read(fds[0], buf, sizeof buf);
  close(fds[0]);
  close(fds[1]);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
            "{\"event\":\"store_full\",\"backend\":\"memory\",\"messages\":200000,\"delta\":-3}\n");
}

TEST(EventLine, EscapesWhatCouldBreakTheLine) {
  EventLine line("redis_unavailable");
  line.str("reason", "a\"b\\c\nd");
  EXPECT_EQ(line.text(), R"({"event":"redis_unavailable","reason":"a\"b\\c\u000ad")");
}

TEST(Ascii, CaseAndHex) {
  EXPECT_TRUE(equalsLower("Content-Type", "content-type"));
  EXPECT_FALSE(equalsLower("Content-Typ", "content-type"));
  EXPECT_FALSE(equalsLower("CONTENT-TYPE", "Content-Type")) << "the second argument must be lower case";
  EXPECT_EQ(hexValue('a'), 10);
  EXPECT_EQ(hexValue('F'), 15);
  EXPECT_EQ(hexValue('9'), 9);
  EXPECT_EQ(hexValue('g'), -1);
  EXPECT_FALSE(isHexDigit(' '));
  EXPECT_EQ(toLowerAscii('\xc3'), '\xc3') << "bytes past ASCII are left alone";
}

}  // namespace
}  // namespace phigate
