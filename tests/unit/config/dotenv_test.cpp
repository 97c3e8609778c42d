#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace phigate::config {
namespace {

// Parses `text`, expecting success; returns the map.
EnvMap parseOk(std::string_view text) {
  EnvMap out;
  std::string error;
  EXPECT_TRUE(parseDotenv(text, &out, &error)) << error;
  EXPECT_TRUE(error.empty());
  return out;
}

// Parses `text`, expecting failure; returns the error.
std::string parseError(std::string_view text) {
  EnvMap out;
  std::string error;
  EXPECT_FALSE(parseDotenv(text, &out, &error));
  return error;
}

TEST(DotenvTest, SimpleAssignments) {
  EnvMap env = parseOk("A=1\nB=two\n");
  EXPECT_EQ(env.size(), 2u);
  EXPECT_EQ(env["A"], "1");
  EXPECT_EQ(env["B"], "two");
}

TEST(DotenvTest, EmptyTextAndBlankLines) {
  EXPECT_TRUE(parseOk("").empty());
  EXPECT_TRUE(parseOk("\n\n   \n\t\n").empty());
}

TEST(DotenvTest, CommentsAreIgnored) {
  EnvMap env = parseOk("# a comment\n   # indented comment\nA=1 # trailing note\nB=x#y\n");
  EXPECT_EQ(env.size(), 2u);
  EXPECT_EQ(env["A"], "1");
  EXPECT_EQ(env["B"], "x#y");  // no blank before '#': part of the value
}

TEST(DotenvTest, ValueThatIsOnlyACommentIsEmpty) {
  EnvMap env = parseOk("A= # nothing here\n");
  EXPECT_EQ(env["A"], "");
}

TEST(DotenvTest, HashAtValueStartIsKept) {
  EXPECT_EQ(parseOk("A=#abc\n")["A"], "#abc");
}

TEST(DotenvTest, WhitespaceAroundNameAndValueIsTrimmed) {
  EnvMap env = parseOk("  A = spaced value  \n\tB\t=\tx\t\n");
  EXPECT_EQ(env["A"], "spaced value");
  EXPECT_EQ(env["B"], "x");
}

TEST(DotenvTest, EmptyValue) { EXPECT_EQ(parseOk("A=\n").at("A"), ""); }

TEST(DotenvTest, ExportPrefix) {
  EnvMap env = parseOk("export A=1\nexport\tB=2\nexportC=3\nexport=4\n");
  EXPECT_EQ(env["A"], "1");
  EXPECT_EQ(env["B"], "2");
  EXPECT_EQ(env["exportC"], "3");
  EXPECT_EQ(env["export"], "4");
}

TEST(DotenvTest, DoubleQuotesWithEscapes) {
  EnvMap env = parseOk(R"(A="hello world"
B="line1\nline2"
C="say \"hi\""
D="back\\slash"
E="keep\tunknown"
F="# not a comment" # a comment
)");
  EXPECT_EQ(env["A"], "hello world");
  EXPECT_EQ(env["B"], "line1\nline2");
  EXPECT_EQ(env["C"], "say \"hi\"");
  EXPECT_EQ(env["D"], "back\\slash");
  EXPECT_EQ(env["E"], "keep\\tunknown");
  EXPECT_EQ(env["F"], "# not a comment");
}

TEST(DotenvTest, SingleQuotesAreLiteral) {
  EnvMap env = parseOk(R"(A='no \n escapes here'
B='  keeps blanks  '
C='#hash' # note
)");
  EXPECT_EQ(env["A"], R"(no \n escapes here)");
  EXPECT_EQ(env["B"], "  keeps blanks  ");
  EXPECT_EQ(env["C"], "#hash");
}

TEST(DotenvTest, QuotedEmptyValues) {
  EnvMap env = parseOk("A=\"\"\nB=''\n");
  EXPECT_EQ(env["A"], "");
  EXPECT_EQ(env["B"], "");
}

TEST(DotenvTest, QuoteInsideUnquotedValueIsLiteral) {
  EXPECT_EQ(parseOk("A=it's\n")["A"], "it's");
}

TEST(DotenvTest, CrlfLineEndings) {
  EnvMap env = parseOk("A=1\r\nB=\"two\"\r\n");
  EXPECT_EQ(env["A"], "1");
  EXPECT_EQ(env["B"], "two");
}

TEST(DotenvTest, Utf8BomIsSkipped) { EXPECT_EQ(parseOk("\xEF\xBB\xBF" "A=1\n")["A"], "1"); }

TEST(DotenvTest, LastLineWithoutNewline) { EXPECT_EQ(parseOk("A=1\nB=2")["B"], "2"); }

TEST(DotenvTest, LaterDuplicateWins) { EXPECT_EQ(parseOk("A=1\nA=2\n")["A"], "2"); }

TEST(DotenvTest, ValueMayContainEquals) {
  EXPECT_EQ(parseOk("URI=redis://h:6379/2?a=b\n")["URI"], "redis://h:6379/2?a=b");
}

TEST(DotenvTest, GuideDevelopmentExampleParses) {
  EnvMap env = parseOk(
      "APP_ENV=development\nDEBUG=True\nSECRET_KEY=dev-secret-key-not-for-production\n"
      "SMS_API_KEY=dev-api-key\nADMIN_API_KEY=dev-admin-key\n"
      "ENCRYPTION_KEY=dev-encryption-key\nSESSION_COOKIE_SECURE=False\n");
  EXPECT_EQ(env.size(), 7u);
  EXPECT_EQ(env["SECRET_KEY"], "dev-secret-key-not-for-production");
}

TEST(DotenvTest, MergesIntoExistingMapOnlyOnSuccess) {
  EnvMap out{{"KEEP", "k"}, {"A", "old"}};
  std::string error;
  ASSERT_TRUE(parseDotenv("A=new\nB=b\n", &out, &error));
  EXPECT_EQ(out["KEEP"], "k");
  EXPECT_EQ(out["A"], "new");
  EXPECT_EQ(out["B"], "b");

  EnvMap untouched{{"X", "1"}};
  EXPECT_FALSE(parseDotenv("Y=2\nbroken line\n", &untouched, &error));
  EXPECT_EQ(untouched.size(), 1u);  // Y was not half-applied
}

TEST(DotenvTest, NullErrorPointerIsAllowed) {
  EnvMap out;
  EXPECT_FALSE(parseDotenv("nope\n", &out, nullptr));
}

// Each malformed line reports its number and never its content.
struct MalformedCase {
  const char* text;
  const char* line;
  const char* content_marker;
};

TEST(DotenvTest, MalformedLinesNameLineNumberButNotContent) {
  const MalformedCase cases[] = {
      {"A=1\nSECRETMARKER_no_equals\n", "line 2:", "SECRETMARKER"},
      {"A=\"SECRETMARKER unterminated\n", "line 1:", "SECRETMARKER"},
      {"A=1\nB=2\nC='SECRETMARKER\n", "line 3:", "SECRETMARKER"},
      {"A=\"SECRETMARKER\" trailing\n", "line 1:", "SECRETMARKER"},
      {"A='x'SECRETMARKER\n", "line 1:", "SECRETMARKER"},
      {"1SECRETMARKER=x\n", "line 1:", "SECRETMARKER"},
      {"A-SECRETMARKER=x\n", "line 1:", "SECRETMARKER"},
      {"# ok\n\n=SECRETMARKER\n", "line 3:", "SECRETMARKER"},
      {"A=\"SECRETMARKER\\\"\n", "line 1:", "SECRETMARKER"},  // escaped closing quote
      {"export \n", "line 1:", "export"},
  };
  for (const auto& c : cases) {
    std::string error = parseError(c.text);
    EXPECT_NE(error.find(c.line), std::string::npos) << c.text << " -> " << error;
    EXPECT_EQ(error.find(c.content_marker), std::string::npos) << c.text << " -> " << error;
  }
}

TEST(DotenvTest, NulByteIsRejected) {
  std::string text = "A=1\nB=x";
  text.push_back('\0');
  text += "y\n";
  std::string error = parseError(text);
  EXPECT_NE(error.find("line 2:"), std::string::npos) << error;
}

TEST(DotenvTest, LineNumbersCountCommentsAndBlankLines) {
  std::string error = parseError("# c\n\nA=1\n\n   # c\nbad\n");
  EXPECT_EQ(error.substr(0, 7), "line 6:");
}

}  // namespace
}  // namespace phigate::config
