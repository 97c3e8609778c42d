#include "net/response.h"

namespace phigate::net {

StaticHeaders::StaticHeaders(bool production) {
  block_ =
      "X-Content-Type-Options: nosniff\r\n"
      "X-Frame-Options: DENY\r\n"
      "X-XSS-Protection: 1; mode=block\r\n"
      "Referrer-Policy: strict-origin-when-cross-origin\r\n"
      "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
      "Permissions-Policy: accelerometer=(), camera=(), geolocation=(), gyroscope=(), "
      "magnetometer=(), microphone=(), payment=(), usb=()\r\n"
      "Cache-Control: no-store\r\n";
  if (production) {
    block_ += "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n";
  }
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

size_t appendResponse(Buffer& out, const StaticHeaders& fixed, const WallClock& clock,
                      const ResponseSpec& spec, std::string_view body) {
  const size_t start = out.size();
  // One reserve for the common case, so the appends below do not reallocate.
  out.reserve(start + 320 + fixed.block().size() + spec.request_id.size() + body.size());
  out.append("HTTP/1.1 ");
  out.appendUint(static_cast<uint64_t>(spec.status));
  out.append(' ');
  out.append(reasonPhrase(spec.status));
  out.append("\r\n");
  out.append(clock.dateHeader());
  out.append(fixed.block());
  out.append("Content-Type: ");
  out.append(spec.content_type);
  out.append("\r\n");
  // RFC 9110 §8.6: no Content-Length in a 204; a 304 (passed through from
  // an upstream) has no body, and a length of 0 would misstate the resource's.
  const bool no_body = spec.status == 204 || spec.status == 304;
  if (!no_body) {
    out.append("Content-Length: ");
    out.appendUint(body.size());
    out.append("\r\n");
  }
  out.append("X-Request-ID: ");
  out.append(spec.request_id);
  out.append("\r\n");
  for (const HeaderField& h : spec.extra) {
    out.append(h.name);
    out.append(": ");
    out.append(h.value);
    out.append("\r\n");
  }
  if (spec.close) {
    out.append("Connection: close\r\n");
  } else if (spec.keep_alive_http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  if (!spec.head_only && !no_body) out.append(body);
  return out.size() - start;
}

}  // namespace phigate::net
