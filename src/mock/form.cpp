#include "mock/form.h"

#include "common/ascii.h"

namespace phigate::mock {

bool urlDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (in.size() - i < 3) return false;  // '%' needs two hex digits after it
      const int hi = hexValue(in[i + 1]);
      const int lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

const std::string* Form::find(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (n == name) return &v;
  }
  return nullptr;
}

bool parseForm(std::string_view body, Form* out) {
  out->fields.clear();
  while (!body.empty()) {
    const size_t amp = body.find('&');
    const std::string_view part = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (part.empty()) continue;  // "a=1&&b=2": browsers send these
    if (out->fields.size() == kMaxFormFields) return false;
    const size_t eq = part.find('=');
    std::string name;
    std::string value;
    if (!urlDecode(part.substr(0, eq), &name)) return false;
    if (eq != std::string_view::npos && !urlDecode(part.substr(eq + 1), &value)) return false;
    out->fields.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

}  // namespace phigate::mock
