#include "common/json_text.h"

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

}  // namespace phigate
