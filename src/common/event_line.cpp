#include "common/event_line.h"

#include <unistd.h>

#include <cerrno>

#include "common/json_text.h"

namespace phigate {

EventLine::EventLine(std::string_view event) {
  out_.reserve(256);
  out_.append("{\"event\":");
  appendJsonString(out_, event);
}

EventLine& EventLine::str(std::string_view name, std::string_view value) {
  out_.append(',');
  appendJsonString(out_, name);
  out_.append(':');
  appendJsonString(out_, value);
  return *this;
}

EventLine& EventLine::num(std::string_view name, int64_t value) {
  out_.append(',');
  appendJsonString(out_, name);
  out_.append(':');
  out_.appendInt(value);
  return *this;
}

void EventLine::emit(int fd) {
  out_.append("}\n");
  const char* p = out_.data();
  size_t left = out_.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr gone: nothing else to tell
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace phigate
