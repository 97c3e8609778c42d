#include "common/json_text.h"

#include <ctime>

namespace phigate {

void appendJsonString(Buffer& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.append('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.append('\\');
      out.append(ch);
    } else if (c < 0x20) {
      out.append("\\u00");
      out.append(kHex[c >> 4]);
      out.append(kHex[c & 0xf]);
    } else {
      out.append(ch);
    }
  }
  out.append('"');
}

void appendIsoTime(Buffer& out, int64_t unix_ms, bool millis) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  tm t;
  gmtime_r(&secs, &t);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  if (millis) {
    const int frac = static_cast<int>(unix_ms % 1000 < 0 ? 0 : unix_ms % 1000);
    buf[n++] = '.';
    buf[n++] = static_cast<char>('0' + frac / 100);
    buf[n++] = static_cast<char>('0' + frac / 10 % 10);
    buf[n++] = static_cast<char>('0' + frac % 10);
  }
  buf[n++] = 'Z';
  out.append(std::string_view(buf, n));
}

}  // namespace phigate
