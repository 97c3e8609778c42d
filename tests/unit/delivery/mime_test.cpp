// The email message builder (src/delivery/mime.*): exact output for small
// messages, RFC 2047 subjects decoded back, quoted-printable decoded back,
// multipart structure, line limits and refused header injection. Addresses
// are example.org test addresses; no real person's data.
#include "delivery/mime.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/ascii.h"
#include "crypto/random.h"
#include "pipeline/validators.h"

namespace phigate::delivery {
namespace {

constexpr std::string_view kId = "0123456789abcdef0123456789abcdef";

MailMessage baseMessage() {
  MailMessage m;
  m.from = "sender@example.org";
  m.to = "patient@example.org";
  m.subject = "Appointment reminder";
  m.text = "Hello.\n";
  m.message_id_left = kId;
  m.domain = "example.org";
  m.date_unix_s = 1700000000;  // Tue, 14 Nov 2023 22:13:20 UTC
  return m;
}

std::string build(const MailMessage& m) {
  std::string out;
  std::string_view error = "unset";
  EXPECT_TRUE(buildMail(m, &out, &error)) << error;
  return out;
}

// Lines without their CRLF; fails the test on a bare CR or LF.
std::vector<std::string> crlfLines(std::string_view s) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < s.size()) {
    const size_t end = s.find("\r\n", start);
    EXPECT_NE(end, std::string_view::npos) << "output does not end in CRLF";
    if (end == std::string_view::npos) break;
    const std::string_view line = s.substr(start, end - start);
    EXPECT_EQ(line.find_first_of("\r\n"), std::string_view::npos) << "bare CR/LF: " << line;
    lines.emplace_back(line);
    start = end + 2;
  }
  return lines;
}

std::string_view bodyOf(std::string_view msg) { return msg.substr(msg.find("\r\n\r\n") + 4); }

// The unfolded value of header `name` (case-sensitive, first occurrence).
std::string headerValue(std::string_view msg, std::string_view name) {
  const std::string_view head = msg.substr(0, msg.find("\r\n\r\n") + 2);
  const std::string prefix = std::string(name) + ": ";
  size_t at = head.starts_with(prefix) ? 0 : head.find("\r\n" + prefix);
  if (at == std::string_view::npos) return "<absent>";
  if (at != 0) at += 2;
  size_t end = at;
  do end = head.find("\r\n", end + 1);
  while (end + 2 < head.size() && head[end + 2] == ' ');
  std::string value(head.substr(at + prefix.size(), end - at - prefix.size()));
  for (size_t p; (p = value.find("\r\n")) != std::string::npos;) value.erase(p, 2);  // unfold
  return value;
}

std::string qpDecode(std::string_view s) {
  std::string out;
  for (const std::string& line : crlfLines(s)) {
    EXPECT_LE(line.size(), 76u) << line;
    EXPECT_FALSE(!line.empty() && (line.back() == ' ' || line.back() == '\t')) << "trailing ws";
    bool soft = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      EXPECT_TRUE(c >= 0x20 ? c < 0x7F : c == '\t') << "unencoded byte in " << line;
      if (c != '=') {
        out.push_back(c);
      } else if (i + 1 == line.size()) {
        soft = true;
      } else {
        EXPECT_TRUE(i + 2 < line.size() && isHexDigit(line[i + 1]) && isHexDigit(line[i + 2]));
        out.push_back(static_cast<char>(hexValue(line[i + 1]) * 16 + hexValue(line[i + 2])));
        i += 2;
      }
    }
    if (!soft) out.append("\r\n");
  }
  return out;
}

std::string qp(std::string_view s) {
  std::string out;
  appendQuotedPrintable(&out, s);
  return out;
}

std::string base64Decode(std::string_view s) {
  static constexpr std::string_view kB64 =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const size_t v = kB64.find(c);
    EXPECT_NE(v, std::string_view::npos);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

// The Subject header of `msg` decoded; every encoded-word must be whole
// UTF-8 on its own and <= 75 chars, every header line <= 78.
std::string decodedSubject(std::string_view msg, bool* encoded) {
  for (const std::string& line : crlfLines(msg.substr(0, msg.find("\r\n\r\n") + 2)))
    EXPECT_LE(line.size(), 78u) << line;
  const std::string value = headerValue(msg, "Subject");
  *encoded = value.starts_with("=?");
  if (!*encoded) return value;
  std::string out;
  size_t pos = 0;
  while (pos < value.size()) {
    size_t end = value.find(' ', pos);
    if (end == std::string::npos) end = value.size();
    const std::string word = value.substr(pos, end - pos);
    EXPECT_LE(word.size(), 75u);
    EXPECT_TRUE(word.starts_with("=?UTF-8?B?") && word.ends_with("?=")) << word;
    const std::string chunk = base64Decode(word.substr(10, word.size() - 12));
    EXPECT_TRUE(pipeline::countCodePoints(chunk).has_value()) << "a UTF-8 character split";
    out += chunk;
    pos = end + 1;
  }
  return out;
}

std::string crlf(std::string_view lf_text) {
  std::string out;
  for (char c : lf_text) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

TEST(Mime, GoldenTextOnlyMessage) {
  MailMessage m = baseMessage();
  m.reply_to = "desk@example.org";
  m.text = "Hello.\nSee you at 10:00 =)\n";
  EXPECT_EQ(build(m),
            "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
            "From: sender@example.org\r\n"
            "To: patient@example.org\r\n"
            "Reply-To: desk@example.org\r\n"
            "Subject: Appointment reminder\r\n"
            "Message-ID: <0123456789abcdef0123456789abcdef@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "Hello.\r\n"
            "See you at 10:00 =3D)\r\n");
}

TEST(Mime, GoldenMultipartWithFixedBoundary) {
  MailMessage m = baseMessage();
  m.text = "Hi";
  m.html = "<p>Hi</p>\n";
  m.boundary = "b-1";
  EXPECT_EQ(build(m),
            "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
            "From: sender@example.org\r\n"
            "To: patient@example.org\r\n"
            "Subject: Appointment reminder\r\n"
            "Message-ID: <0123456789abcdef0123456789abcdef@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative;\r\n"
            " boundary=\"b-1\"\r\n"
            "\r\n"
            "--b-1\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "Hi\r\n"
            "--b-1\r\n"
            "Content-Type: text/html; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "<p>Hi</p>\r\n"
            "\r\n"
            "--b-1--\r\n");
}

TEST(Mime, HtmlOnlyIsTextHtml) {
  MailMessage m = baseMessage();
  m.text = "";
  m.html = "<b>x</b>";
  const std::string msg = build(m);
  EXPECT_EQ(headerValue(msg, "Content-Type"), "text/html; charset=UTF-8");
  EXPECT_EQ(bodyOf(msg), "<b>x</b>\r\n");
}

TEST(Mime, DatesAreRfc5322Utc) {
  MailMessage m = baseMessage();
  const std::pair<int64_t, std::string_view> cases[] = {
      {0, "Thu, 01 Jan 1970 00:00:00 +0000"},
      {951782400, "Tue, 29 Feb 2000 00:00:00 +0000"},
      {253402300799, "Fri, 31 Dec 9999 23:59:59 +0000"}};
  for (const auto& [t, want] : cases) {
    m.date_unix_s = t;
    EXPECT_EQ(headerValue(build(m), "Date"), want);
  }
  std::string out;
  std::string_view error;
  for (int64_t bad : {int64_t{-1}, int64_t{253402300800}}) {
    m.date_unix_s = bad;
    EXPECT_FALSE(buildMail(m, &out, &error));
    EXPECT_EQ(error, "bad-date");
  }
}

TEST(Mime, AsciiSubjectStaysPlainAndFoldsAtSpaces) {
  MailMessage m = baseMessage();
  bool encoded = true;
  EXPECT_EQ(decodedSubject(build(m), &encoded), "Appointment reminder");
  EXPECT_FALSE(encoded);

  std::string longer;
  for (int i = 0; i < 30; ++i) longer += "word" + std::to_string(i) + " ";
  longer.pop_back();
  m.subject = longer;
  const std::string msg = build(m);
  EXPECT_EQ(decodedSubject(msg, &encoded), longer);  // lines <= 78 checked inside
  EXPECT_FALSE(encoded);
  EXPECT_NE(msg.find("Subject: word0 "), std::string::npos);
  EXPECT_NE(msg.find("\r\n word"), std::string::npos) << "folded";
}

TEST(Mime, SubjectsThatCannotGoPlainAreEncodedWords) {
  MailMessage m = baseMessage();
  const std::string devanagari = "आपकी अपॉइंटमेंट कल सुबह 10 बजे है — कृपया समय पर पहुँचें";
  const std::string emoji = "Reminder 😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀 done";
  const std::string looks_encoded = "=?UTF-8?B?eA==?= is literal";
  const std::string one_long_word(300, 'x');
  const std::string edge_space = " leading space";
  for (const std::string& s : {devanagari, emoji, looks_encoded, one_long_word, edge_space}) {
    m.subject = s;
    bool encoded = false;
    EXPECT_EQ(decodedSubject(build(m), &encoded), s);
    EXPECT_TRUE(encoded) << s;
  }
  // Long ones take several words, each split between whole characters.
  m.subject = devanagari;
  EXPECT_NE(headerValue(build(m), "Subject").find(" =?UTF-8?B?"), std::string::npos);
}

TEST(Mime, SubjectEncodingIsExact) {
  std::string out;
  ASSERT_TRUE(appendSubjectHeader(&out, "नमस्ते"));
  EXPECT_EQ(out, "Subject: =?UTF-8?B?4KSo4KSu4KS44KWN4KSk4KWH?=\r\n");
}

TEST(Mime, QuotedPrintableRoundTrips) {
  const std::string long_line(200, 'a');
  const std::string input = long_line + "\n" +
                            "a = b\n"
                            "trailing spaces   \n"
                            "trailing tab\t\n"
                            ".\n"
                            "..two dots\n"
                            "From the clinic\n"
                            "\n"
                            "नमस्ते 😀 " +
                            std::string(40, 'e') + "é" + std::string(40, '=') +
                            "\n"
                            "\tlast, no newline";
  const std::string encoded = qp(input);
  EXPECT_EQ(qpDecode(encoded + "\r\n"), crlf(input) + "\r\n") << encoded;
  EXPECT_NE(encoded.find("a =3D b\r\n"), std::string::npos);
  EXPECT_NE(encoded.find("trailing spaces  =20\r\n"), std::string::npos);
  EXPECT_NE(encoded.find("trailing tab=09\r\n"), std::string::npos);
  EXPECT_NE(encoded.find("\r\n=2E\r\n"), std::string::npos) << "a lone dot is escaped, not stuffed";
  EXPECT_NE(encoded.find("\r\n=2E.two dots\r\n"), std::string::npos);
  EXPECT_NE(encoded.find("\r\n=46rom the clinic\r\n"), std::string::npos);
  for (const std::string& line : crlfLines(encoded + "\r\n")) {
    EXPECT_FALSE(line.starts_with(".")) << line;
  }
}

TEST(Mime, QuotedPrintableSoftBreaksNeverStartALineWithADot) {
  // A dot exactly where a soft break falls.
  const std::string input = std::string(75, 'a') + "." + std::string(80, '.');
  const std::string encoded = qp(input);
  EXPECT_EQ(qpDecode(encoded + "\r\n"), input + "\r\n");
  for (const std::string& line : crlfLines(encoded + "\r\n")) EXPECT_FALSE(line.starts_with("."));
}

TEST(Mime, BareCrAndLfBecomeCrlfInBodies) {
  EXPECT_EQ(qp("a\nb\rc\r\nd\r\r\ne"), "a\r\nb\r\nc\r\nd\r\n\r\ne");
  MailMessage m = baseMessage();
  m.text = "one\ntwo\rthree\r\n";
  EXPECT_EQ(bodyOf(build(m)), "one\r\ntwo\r\nthree\r\n");
}

TEST(Mime, MultipartHasTextThenHtmlBetweenExactDelimiters) {
  ASSERT_TRUE(crypto::initCrypto());
  MailMessage m = baseMessage();
  m.text = "Your report is ready.\nVisit the portal.\n";
  m.html = "<p>Your report is <b>ready</b>.</p>\n<p>Visit the portal.</p>\n";
  const std::string msg = build(m);
  const std::string ct = headerValue(msg, "Content-Type");
  const std::string prefix = "multipart/alternative; boundary=\"";
  ASSERT_TRUE(ct.starts_with(prefix) && ct.ends_with("\"")) << ct;
  const std::string boundary = ct.substr(prefix.size(), ct.size() - prefix.size() - 1);
  EXPECT_TRUE(boundary.starts_with("phigate-"));
  EXPECT_EQ(boundary.size(), 40u);

  const std::vector<std::string> lines = crlfLines(bodyOf(msg));
  std::vector<size_t> delimiters;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find(boundary) == std::string::npos) continue;
    EXPECT_TRUE(lines[i] == "--" + boundary ||
                (lines[i] == "--" + boundary + "--" && i + 1 == lines.size()))
        << lines[i];
    delimiters.push_back(i);
  }
  ASSERT_EQ(delimiters.size(), 3u);
  EXPECT_EQ(delimiters[0], 0u);
  EXPECT_EQ(lines.back(), "--" + boundary + "--");

  // Each part: its headers, a blank line, QP content up to the CRLF before the next delimiter.
  const std::string_view body = bodyOf(msg);
  const std::string delim = "\r\n--" + boundary;
  const size_t first = ("--" + boundary + "\r\n").size();
  const size_t second = body.find(delim, first);
  const size_t third = body.find(delim, second + delim.size());
  const std::string_view part1 = body.substr(first, second - first);
  const std::string_view part2 =
      body.substr(second + delim.size() + 2, third - second - delim.size() - 2);
  EXPECT_EQ(headerValue(std::string(part1) + "\r\n", "Content-Type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(headerValue(std::string(part2) + "\r\n", "Content-Type"), "text/html; charset=UTF-8");
  EXPECT_EQ(qpDecode(std::string(bodyOf(part1)) + "\r\n"), crlf(m.text) + "\r\n");
  EXPECT_EQ(qpDecode(std::string(bodyOf(part2)) + "\r\n"), crlf(m.html) + "\r\n");
}

TEST(Mime, BoundaryFoundInAPartIsRefused) {
  MailMessage m = baseMessage();
  m.html = "<p>x</p>";
  m.boundary = "fixed";
  m.text = "the word fixed appears here";
  std::string out;
  std::string_view error;
  EXPECT_FALSE(buildMail(m, &out, &error));
  EXPECT_EQ(error, "bad-boundary");
  EXPECT_TRUE(out.empty());
  m.boundary = "has space";
  EXPECT_FALSE(buildMail(m, &out, &error));
  EXPECT_EQ(error, "bad-boundary");
}

TEST(Mime, LongSingleLineBodyStaysWithinLineLimits) {
  MailMessage m = baseMessage();
  const std::string big(5000, 'x');
  m.text = big;
  const std::string one_word(5000, 's');
  m.subject = one_word;  // no space to fold at: encoded-words, one per line
  const std::string msg = build(m);
  for (const std::string& line : crlfLines(msg)) {
    EXPECT_LE(line.size(), 998u);
    EXPECT_LE(line.size(), 78u);
    EXPECT_FALSE(line.starts_with(".")) << line;
  }
  EXPECT_EQ(qpDecode(std::string(bodyOf(msg))), big + "\r\n");
}

TEST(Mime, HeaderInjectionAndBadAddressesAreRefused) {
  const std::string_view bad_addresses[] = {
      "",
      "a@example.org\r\nBcc: other@example.org",
      "a@example.org\nBcc: other@example.org",
      std::string_view("a@example.org\0x", 15),
      "a@example.org,b@example.org",
      "a@example.org;b@example.org",
      "<a@example.org>",
      "Name <a@example.org>",
      "\"a b\"@example.org",
      "a b@example.org",
      "a\t@example.org",
      "a@example.org (comment)",
      "example.org",
      "@example.org",
      "a@",
      "a@b@example.org",
      "pätient@example.org",
  };
  std::string out = "stale";
  std::string_view error;
  for (std::string_view bad : bad_addresses) {
    for (int field = 0; field < 3; ++field) {
      MailMessage m = baseMessage();
      (field == 0 ? m.from : field == 1 ? m.to : m.reply_to) = bad;
      if (field == 2 && bad.empty()) continue;  // no Reply-To is fine
      EXPECT_FALSE(buildMail(m, &out, &error)) << field << ": " << bad;
      EXPECT_EQ(error, field == 0 ? "bad-from" : field == 1 ? "bad-to" : "bad-reply-to");
      EXPECT_TRUE(out.empty());
    }
  }
  const std::string_view bad_subjects[] = {"",
                                           "Hi\r\nBcc: other@example.org",
                                           "Hi\nBcc: x",
                                           "Hi\rx",
                                           std::string_view("Hi\0x", 4),
                                           "tab\there",
                                           "del\x7f",
                                           "\xff\xfe",
                                           "cut \xe0\xa4"};
  for (std::string_view bad : bad_subjects) {
    MailMessage m = baseMessage();
    m.subject = bad;
    EXPECT_FALSE(buildMail(m, &out, &error)) << bad;
    EXPECT_EQ(error, "bad-subject");
    EXPECT_TRUE(out.empty());
  }
  for (std::string_view bad : {"", "a>b", "a\r\nb", ".a", "a..b", "a b"}) {
    MailMessage m = baseMessage();
    m.message_id_left = bad;
    EXPECT_FALSE(buildMail(m, &out, &error)) << bad;
    EXPECT_EQ(error, "bad-message-id");
    m = baseMessage();
    m.domain = bad;
    EXPECT_FALSE(buildMail(m, &out, &error)) << bad;
    EXPECT_EQ(error, "bad-message-id");
  }
}

TEST(Mime, BodiesMustExistAndHoldNoNul) {
  MailMessage m = baseMessage();
  std::string out;
  std::string_view error;
  m.text = "";
  EXPECT_FALSE(buildMail(m, &out, &error));
  EXPECT_EQ(error, "no-body");
  m.text = std::string_view("a\0b", 3);
  EXPECT_FALSE(buildMail(m, &out, &error));
  EXPECT_EQ(error, "bad-body");
}

}  // namespace
}  // namespace phigate::delivery
