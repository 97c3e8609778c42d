// The one writer of JSON event lines: {"event":"<name>",...}\n on stderr, for
// what operators and tests watch (a store connecting or going down, a worker
// starting or dying, a store filling up). One line goes out in one write(2),
// so lines of several processes sharing stderr never interleave (a line stays
// far below PIPE_BUF). Events are rare state changes, not per request, so the
// write is synchronous. Values are phigate's own text (event names, reasons it
// chose, numbers), never client bytes.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/buffer.h"

namespace phigate {

class EventLine {
 public:
  explicit EventLine(std::string_view event);
  EventLine& str(std::string_view name, std::string_view value);
  EventLine& num(std::string_view name, int64_t value);
  /** Ends the line and writes it to `fd` (stderr by default). */
  void emit(int fd = 2);
  /** The line so far (for tests). */
  std::string_view text() const { return out_.view(); }

 private:
  Buffer out_;
};

}  // namespace phigate
