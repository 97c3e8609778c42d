// Cached wall-clock strings. The HTTP Date header and the log timestamp's
// seconds part change once a second, so they are formatted once a second.
#pragma once

#include <cstdint>
#include <ctime>
#include <string_view>

namespace phigate {

/** Formats "Date: <IMF-fixdate>\r\n" and an ISO-8601 prefix, once per second. */
class WallClock {
 public:
  /** Refreshes from the real clock; cheap when the second has not changed. */
  void refresh();
  /** "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
  std::string_view dateHeader() const { return {date_, date_len_}; }
  /** Appends "2026-11-28T02:01:59.123456Z" (microseconds) to `out` (27 bytes). */
  size_t iso8601(char out[32]) const;

 private:
  time_t sec_ = -1;
  uint32_t usec_ = 0;
  char date_[48] = {};
  size_t date_len_ = 0;
  char iso_[24] = {};  // "2026-11-28T02:01:59."
};

}  // namespace phigate
