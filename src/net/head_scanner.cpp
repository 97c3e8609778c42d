#include "net/head_scanner.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace phigate::net {

using obs::SecurityEvent;

namespace {

// RFC 9110 §5.6.2 tchar.
constexpr bool isTcharSlow(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

struct TcharTable {
  bool ok[256];
  constexpr TcharTable() : ok() {
    for (int c = 0; c < 256; ++c) ok[c] = isTcharSlow(static_cast<unsigned char>(c));
  }
};
constexpr TcharTable kTchar;

inline bool isTchar(unsigned char c) { return kTchar.ok[c]; }

constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

void HeadScanner::reset(size_t start) {
  start_ = start;
  checked_ = start;
  pos_ = start;
  line_start_ = start;
  header_bytes_ = 0;
  fields_ = 0;
  in_request_line_ = true;
  prev_cr_ = false;
  started_ = false;
  error_ = SecurityEvent::kNone;
}

void HeadScanner::shift(size_t delta) {
  start_ -= delta;
  checked_ -= delta;
  pos_ -= delta;
  line_start_ -= delta;
}

namespace {

// Length of the run of "plain" bytes at p (anything but CTLs and DEL; HTAB
// stops the run too and is handled one at a time). SSE2 looks at 16 bytes per
// step: a head is mostly plain bytes, so this is where the scan spends its time.
size_t plainRun(const unsigned char* p, const unsigned char* e) {
  const unsigned char* q = p;
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7f);
  while (e - q >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    // x >= 0x20 (unsigned) <=> max(x, 0x20) == x
    const __m128i ge_space = _mm_cmpeq_epi8(_mm_max_epu8(x, space), x);
    const __m128i is_del = _mm_cmpeq_epi8(x, del);
    const int plain = _mm_movemask_epi8(_mm_andnot_si128(is_del, ge_space));
    if (plain != 0xffff) return static_cast<size_t>(q - p) + __builtin_ctz(~plain & 0xffff);
    q += 16;
  }
#endif
  while (q < e && *q >= 0x20 && *q != 0x7f) ++q;
  return static_cast<size_t>(q - p);
}

}  // namespace

HeadScanner::Result HeadScanner::scan(const char* buf, size_t end) {
  const auto* ubuf = reinterpret_cast<const unsigned char*>(buf);
  while (pos_ < end) {
    if (prev_cr_) {
      if (ubuf[pos_] != '\n') return fail(SecurityEvent::kBareCr);
      prev_cr_ = false;
      const size_t line_end = pos_ - 1;  // offset of the CR
      ++pos_;
      Result r = endOfLine(buf, line_end);
      if (r != Result::kNeedMore) return r;
      continue;
    }
    if (!in_request_line_ && pos_ == line_start_ && (ubuf[pos_] == ' ' || ubuf[pos_] == '\t')) {
      return fail(SecurityEvent::kObsFold);
    }
    size_t run = plainRun(ubuf + pos_, ubuf + end);
    if (run == 0) {
      const unsigned char c = ubuf[pos_];
      if (c == '\r') {
        prev_cr_ = true;  // line terminators do not count towards the limits
        ++pos_;
        continue;
      }
      if (c == '\n') return fail(SecurityEvent::kBareLf);
      if (c != '\t') return fail(SecurityEvent::kControlByte);
      run = 1;
    }
    started_ = true;
    pos_ += run;
    // Length limits are checked as bytes arrive so a never-ending line is cut
    // off at the limit, not when (if ever) its CRLF shows up.
    if (in_request_line_) {
      if (pos_ - line_start_ > limits_.max_request_line) {
        return fail(SecurityEvent::kRequestLineTooLong);
      }
    } else if ((header_bytes_ += static_cast<uint32_t>(run)) > limits_.max_header_bytes) {
      return fail(SecurityEvent::kHeadersTooLarge);
    }
  }
  return Result::kNeedMore;
}

HeadScanner::Result HeadScanner::endOfLine(const char* buf, size_t line_end) {
  const char* line = buf + line_start_;
  const size_t len = line_end - line_start_;
  line_start_ = pos_;
  Result r = Result::kNeedMore;
  if (in_request_line_) {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before
    // the request-line. We ignore a few; llhttp does the same.
    if (len == 0) {
      if (pos_ - start_ > 8) return fail(SecurityEvent::kBadRequestLine);
    } else {
      in_request_line_ = false;
      SecurityEvent e = checkRequestLine(line, len);
      if (e != SecurityEvent::kNone) return fail(e);
    }
  } else if (len == 0) {
    r = Result::kComplete;
  } else {
    if (++fields_ > limits_.max_headers) return fail(SecurityEvent::kTooManyHeaders);
    SecurityEvent e = checkFieldLine(line, len);
    if (e != SecurityEvent::kNone) return fail(e);
  }
  checked_ = pos_;
  return r;
}

// request-line = method SP request-target SP HTTP-version; we check the
// version token strictly here and leave method/target grammar to llhttp.
SecurityEvent HeadScanner::checkRequestLine(const char* line, size_t len) const {
  const char* sp = static_cast<const char*>(memrchr(line, ' ', len));
  if (sp == nullptr || sp == line) return SecurityEvent::kBadRequestLine;
  const char* v = sp + 1;
  const size_t vlen = static_cast<size_t>(line + len - v);
  if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || !isDigit(v[5]) || v[6] != '.' ||
      !isDigit(v[7])) {
    return SecurityEvent::kBadVersion;
  }
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return SecurityEvent::kUnsupportedVersion;
  return SecurityEvent::kNone;
}

SecurityEvent HeadScanner::checkFieldLine(const char* line, size_t len) const {
  const char* colon = static_cast<const char*>(memchr(line, ':', len));
  if (colon == nullptr) return SecurityEvent::kMissingColon;
  if (colon == line) return SecurityEvent::kBadHeaderName;
  for (const char* p = line; p < colon; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (!isTchar(c)) {
      return (c == ' ' || c == '\t') ? SecurityEvent::kSpaceBeforeColon
                                     : SecurityEvent::kBadHeaderName;
    }
  }
  return SecurityEvent::kNone;
}

}  // namespace phigate::net
