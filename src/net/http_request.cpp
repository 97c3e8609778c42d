#include "net/http_request.h"

namespace phigate::net {

std::string_view methodName(Method m) {
  switch (m) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPost: return "POST";
    case Method::kPut: return "PUT";
    case Method::kDelete: return "DELETE";
    case Method::kOptions: return "OPTIONS";
    case Method::kPatch: return "PATCH";
    case Method::kOther: break;
  }
  return "OTHER";
}

std::string_view HttpRequest::header(std::string_view lower) const {
  for (const Header& h : headers) {
    if (equalsLower(h.name, lower)) return h.value;
  }
  return {};
}

}  // namespace phigate::net
