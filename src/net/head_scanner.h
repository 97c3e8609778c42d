// Byte-level checks on a request head, run before llhttp sees the bytes.
//
// llhttp checks the grammar; this scanner enforces what llhttp 8 is lenient
// about or does not limit: line endings must be exactly CRLF (no bare CR or LF),
// no control bytes, no obs-fold, no whitespace before a header colon, tchar-only
// field names, the request-line/header-block/field-count limits, and a strict
// "HTTP/1.0" / "HTTP/1.1" version token (505 for any other well-formed one).
// It works on the connection's contiguous buffer and keeps its position across
// reads, so each byte of a head is looked at once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "obs/security_event.h"

namespace phigate::net {

struct HeadLimits {
  uint32_t max_request_line = 8 * 1024;
  uint32_t max_header_bytes = 16 * 1024;
  uint32_t max_headers = 100;
};

class HeadScanner {
 public:
  enum class Result { kNeedMore, kComplete, kError };

  explicit HeadScanner(const HeadLimits& limits) : limits_(limits) {}

  /** Starts a new head at buffer offset `start`. */
  void reset(size_t start);

  /** Scans buf[pos_, end). On kComplete, headEnd() is the offset after CRLFCRLF. */
  Result scan(const char* buf, size_t end);

  /** Moves internal offsets when the owner compacts its buffer by `delta`. */
  void shift(size_t delta);

  obs::SecurityEvent error() const { return error_; }
  size_t headEnd() const { return pos_; }
  /** End of the last complete line that passed every check (llhttp may parse up to here). */
  size_t checkedEnd() const { return checked_; }
  bool started() const { return started_; }

 private:
  Result fail(obs::SecurityEvent e) {
    error_ = e;
    return Result::kError;
  }
  Result endOfLine(const char* buf, size_t line_end);
  obs::SecurityEvent checkRequestLine(const char* line, size_t len) const;
  obs::SecurityEvent checkFieldLine(const char* line, size_t len) const;

  const HeadLimits& limits_;
  size_t start_ = 0;        // offset where this head began
  size_t pos_ = 0;          // next byte to scan
  size_t line_start_ = 0;   // offset of the current line
  size_t checked_ = 0;      // end of the last line that passed its checks
  uint32_t header_bytes_ = 0;
  uint32_t fields_ = 0;
  bool in_request_line_ = true;
  bool prev_cr_ = false;
  bool started_ = false;    // a non-CRLF byte of this head has been seen
  obs::SecurityEvent error_ = obs::SecurityEvent::kNone;
};

}  // namespace phigate::net
