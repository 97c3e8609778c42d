#include "common/clock.h"

#include <cstdio>
#include <cstring>
#include <ctime>

namespace phigate {

void WallClock::refresh() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  usec_ = static_cast<uint32_t>(ts.tv_nsec / 1000);
  if (ts.tv_sec == sec_) return;
  sec_ = ts.tv_sec;
  tm t;
  gmtime_r(&sec_, &t);
  date_len_ = strftime(date_, sizeof date_, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &t);
  strftime(iso_, sizeof iso_, "%Y-%m-%dT%H:%M:%S.", &t);
}

size_t WallClock::iso8601(char out[32]) const {
  memcpy(out, iso_, 20);
  uint32_t u = usec_;
  for (int i = 25; i >= 20; --i) {
    out[i] = static_cast<char>('0' + u % 10);
    u /= 10;
  }
  out[26] = 'Z';
  return 27;
}

}  // namespace phigate
