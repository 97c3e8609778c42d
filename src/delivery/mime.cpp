#include "delivery/mime.h"

#include <sodium.h>

#include <utility>

#include "common/ascii.h"
#include "crypto/random.h"

namespace phigate::delivery {

namespace {

constexpr size_t kMaxLine = 998;            // RFC 5322 §2.1.1, without the CRLF
constexpr size_t kFoldAt = 78;              // RFC 5322 §2.1.1 "SHOULD"
constexpr size_t kQpLine = 76;              // RFC 2045 §6.7 (5)
constexpr size_t kMaxAddress = 254;         // RFC 5321 §4.5.3.1.3 path minus "<>"
constexpr int64_t kMaxDate = 253402300799;  // 9999-12-31T23:59:59Z
constexpr char kHex[] = "0123456789ABCDEF";

}  // namespace

// One addr-spec, no display name, nothing a header parser could read as a
// second address, a comment, a group or a line break.
bool isPlainAddress(std::string_view s) {
  if (s.empty() || s.size() > kMaxAddress) return false;
  size_t at = std::string_view::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c <= 0x20 || c >= 0x7F) return false;
    switch (c) {
      case '<':
      case '>':
      case ',':
      case ';':
      case '"':
      case ':':
      case '(':
      case ')':
      case '[':
      case ']':
      case '\\':
        return false;
      case '@':
        if (at != std::string_view::npos) return false;
        at = i;
        break;
      default:
        break;
    }
  }
  return at != std::string_view::npos && at > 0 && at + 1 < s.size();
}

namespace {

// [A-Za-z0-9._-]+ with no empty dot-separated piece: a dot-atom both sides of
// a Message-ID accept.
bool isIdDotAtom(std::string_view s) {
  if (!isIdentifier(s, 255) || s.front() == '.' || s.back() == '.') return false;
  return s.find("..") == std::string_view::npos;
}

// Length of the well-formed UTF-8 character at s[i], or 0.
size_t utf8Length(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  size_t len;
  uint32_t cp;
  uint32_t min;
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

void appendBase64(std::string* out, std::string_view in) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    const char q[4] = {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], kB64[v & 63]};
    out->append(q, 4);
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i + 1])) << 8;
    out->push_back(kB64[v >> 18]);
    out->push_back(kB64[(v >> 12) & 63]);
    out->push_back(i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=');
    out->push_back('=');
  }
}

// A subject that can go out as it is: printable ASCII, nothing a decoder
// could take for an encoded-word, no edge spaces (lost or added by unfolding
// readers).
bool isPlainSubject(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return s.find("=?") == std::string_view::npos && s.front() != ' ' && s.back() != ' ';
}

// Appends the plain subject folded before single spaces so every line stays
// <= 78. False when that is impossible (a word too long to fit): the caller
// encodes instead, which always fits.
bool appendFoldedPlain(std::string* out, std::string_view s, size_t line_len) {
  size_t pos = 0;
  while (s.size() - pos > kFoldAt - line_len) {
    // A fold point: a space with a non-space each side; the continuation line
    // starts with it. The last one that keeps this line within 78.
    const size_t room = kFoldAt - line_len;
    size_t best = std::string_view::npos;
    for (size_t i = pos + 1; i + 1 < s.size() && i - pos <= room; ++i) {
      if (s[i] == ' ' && s[i - 1] != ' ' && s[i + 1] != ' ') best = i;
    }
    if (best == std::string_view::npos) return false;
    out->append(s.substr(pos, best - pos));
    out->append("\r\n");
    line_len = 0;
    pos = best;
  }
  out->append(s.substr(pos));
  return true;
}

// Appends `s` as =?UTF-8?B?...?= words, one per line; each whole characters
// only, the first sized to fit after "Subject: " in 78, the rest in " " + 75.
void appendEncodedWords(std::string* out, std::string_view s, size_t line_len) {
  size_t pos = 0;
  bool first = true;
  while (pos < s.size()) {
    const size_t word_max = first ? kFoldAt - line_len : 75;  // whole encoded-word
    const size_t max_bytes = (word_max - 12) / 4 * 3;         // "=?UTF-8?B?" + "?="
    size_t end = pos;
    while (end < s.size()) {
      const size_t n = utf8Length(s, end);  // validated by the caller: n >= 1
      if (end + n - pos > max_bytes) break;
      end += n;
    }
    if (!first) out->append("\r\n ");
    out->append("=?UTF-8?B?");
    appendBase64(out, s.substr(pos, end - pos));
    out->append("?=");
    pos = end;
    first = false;
  }
}

void appendDate(std::string* out, int64_t t) {
  static constexpr const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const int64_t days = t / 86400;
  const int64_t secs = t % 86400;
  // Days to civil date (H. Hinnant's algorithm), for days >= 0.
  const int64_t z = days + 719468;
  const int64_t era = z / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t mo = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (mo <= 2 ? 1 : 0);
  const auto two = [out](int64_t v) {
    out->push_back(static_cast<char>('0' + v / 10));
    out->push_back(static_cast<char>('0' + v % 10));
  };
  out->append(kDays[days % 7]);
  out->append(", ");
  two(d);
  out->push_back(' ');
  out->append(kMonths[mo - 1]);
  out->push_back(' ');
  two(y / 100);
  two(y % 100);
  out->push_back(' ');
  two(secs / 3600);
  out->push_back(':');
  two(secs / 60 % 60);
  out->push_back(':');
  two(secs % 60);
  out->append(" +0000");
}

void appendPartHeaders(std::string* out, std::string_view type) {
  out->append("Content-Type: ");
  out->append(type);
  out->append("; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n");
}

bool linesWithin998(std::string_view s) {
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find("\r\n", start);
    if (end == std::string_view::npos) end = s.size();
    if (end - start > kMaxLine) return false;
    start = end + 2;
  }
  return true;
}

bool fail(std::string* out, std::string_view* error, std::string_view code) {
  sodium_memzero(out->data(), out->size());
  out->clear();
  *error = code;
  return false;
}

}  // namespace

void appendQuotedPrintable(std::string* out, std::string_view data) {
  size_t i = 0;
  while (i < data.size()) {
    // One input line, its end (CRLF, bare CR or bare LF) excluded.
    size_t end = i;
    while (end < data.size() && data[end] != '\r' && data[end] != '\n') ++end;
    const std::string_view line = data.substr(i, end - i);
    size_t col = 0;  // length of the output line so far
    for (size_t k = 0; k < line.size(); ++k) {
      const auto c = static_cast<unsigned char>(line[k]);
      const bool last = k + 1 == line.size();
      const auto literal = [&](size_t at_col) {
        if (c == '=' || c > 0x7E || (c < 0x20 && c != '\t')) return false;
        if ((c == ' ' || c == '\t') && last) return false;  // RFC 2045 §6.7 (3)
        // A dot or "From " opening an output line: escaped, so no transport
        // (SMTP, mbox) has anything to stuff there.
        if (at_col == 0 && c == '.') return false;
        if (at_col == 0 && c == 'F' && line.substr(k, 5) == "From ") return false;
        return true;
      };
      size_t width = literal(col) ? 1 : 3;
      // Room on this output line: 76, less one for a soft break's '=' unless
      // this is the line's last character.
      if (col + width > (last ? kQpLine : kQpLine - 1)) {
        out->append("=\r\n");
        col = 0;
        width = literal(0) ? 1 : 3;
      }
      if (width == 1) {
        out->push_back(static_cast<char>(c));
      } else {
        const char esc[3] = {'=', kHex[c >> 4], kHex[c & 15]};
        out->append(esc, 3);
      }
      col += width;
    }
    if (end == data.size()) break;
    out->append("\r\n");
    i = end + ((data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1);
  }
}

bool appendSubjectHeader(std::string* out, std::string_view subject) {
  if (subject.empty()) return false;
  for (size_t i = 0; i < subject.size();) {
    const size_t n = utf8Length(subject, i);
    if (n == 0) return false;
    const auto c = static_cast<unsigned char>(subject[i]);
    if (c < 0x20 || c == 0x7F) return false;
    i += n;
  }
  const size_t mark = out->size();
  out->append("Subject: ");
  constexpr size_t kName = 9;
  if (!isPlainSubject(subject) || !appendFoldedPlain(out, subject, kName)) {
    out->resize(mark + kName);
    appendEncodedWords(out, subject, kName);
  }
  out->append("\r\n");
  return true;
}

bool buildMail(const MailMessage& m, std::string* out, std::string_view* error) {
  out->clear();
  if (!isPlainAddress(m.from)) return fail(out, error, "bad-from");
  if (!isPlainAddress(m.to)) return fail(out, error, "bad-to");
  if (!m.reply_to.empty() && !isPlainAddress(m.reply_to)) return fail(out, error, "bad-reply-to");
  if (!isIdDotAtom(m.message_id_left) || !isIdDotAtom(m.domain))
    return fail(out, error, "bad-message-id");
  if (m.date_unix_s < 0 || m.date_unix_s > kMaxDate) return fail(out, error, "bad-date");
  if (m.text.empty() && m.html.empty()) return fail(out, error, "no-body");
  if (m.text.find('\0') != std::string_view::npos || m.html.find('\0') != std::string_view::npos)
    return fail(out, error, "bad-body");
  if (!m.boundary.empty() && !isIdentifier(m.boundary, 70)) return fail(out, error, "bad-boundary");

  // Reserved up front (QP's worst case) so no PHI is left behind in a buffer
  // freed by a reallocation.
  const auto qpWorst = [](std::string_view s) { return s.size() * 3 + s.size() / 25 + 8; };
  out->reserve(1024 + m.subject.size() * 2 + qpWorst(m.text) + qpWorst(m.html));
  out->append("Date: ");
  appendDate(out, m.date_unix_s);
  out->append("\r\nFrom: ");
  out->append(m.from);
  out->append("\r\nTo: ");
  out->append(m.to);
  if (!m.reply_to.empty()) {
    out->append("\r\nReply-To: ");
    out->append(m.reply_to);
  }
  out->append("\r\n");
  if (!appendSubjectHeader(out, m.subject)) return fail(out, error, "bad-subject");
  out->append("Message-ID: <");
  out->append(m.message_id_left);
  out->push_back('@');
  out->append(m.domain);
  out->append(">\r\nMIME-Version: 1.0\r\n");

  if (m.text.empty() || m.html.empty()) {
    appendPartHeaders(out, m.text.empty() ? "text/html" : "text/plain");
    out->append("\r\n");
    appendQuotedPrintable(out, m.text.empty() ? m.html : m.text);
    if (out->back() != '\n') out->append("\r\n");
  } else {
    // The parts are encoded first so the boundary can be chosen not to occur
    // in them (then wiped: they hold PHI).
    std::string text_qp, html_qp;
    text_qp.reserve(qpWorst(m.text));
    html_qp.reserve(qpWorst(m.html));
    appendQuotedPrintable(&text_qp, m.text);
    appendQuotedPrintable(&html_qp, m.html);
    std::string boundary(m.boundary);
    for (int attempt = 0;; ++attempt) {
      if (boundary.empty()) boundary = "phigate-" + crypto::randomHex(16);
      if (text_qp.find(boundary) == std::string::npos &&
          html_qp.find(boundary) == std::string::npos)
        break;
      if (!m.boundary.empty() || attempt == 8) {
        sodium_memzero(text_qp.data(), text_qp.size());
        sodium_memzero(html_qp.data(), html_qp.size());
        return fail(out, error, "bad-boundary");
      }
      boundary.clear();
    }
    out->append("Content-Type: multipart/alternative;\r\n boundary=\"");
    out->append(boundary);
    out->append("\"\r\n\r\n");
    const std::pair<std::string_view, std::string*> bodies[] = {{"text/plain", &text_qp},
                                                                {"text/html", &html_qp}};
    for (const auto& [type, qp] : bodies) {
      out->append("--");
      out->append(boundary);
      out->append("\r\n");
      appendPartHeaders(out, type);
      out->append("\r\n");
      out->append(*qp);
      out->append("\r\n");  // belongs to the delimiter that follows (RFC 2046 §5.1.1)
      sodium_memzero(qp->data(), qp->size());
    }
    out->append("--");
    out->append(boundary);
    out->append("--\r\n");
  }
  if (!linesWithin998(*out)) return fail(out, error, "line-too-long");
  return true;
}

}  // namespace phigate::delivery
