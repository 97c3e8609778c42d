#include "net/problem.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "net/http_parser.h"

namespace phigate::net {

using obs::SecurityEvent;

namespace {
Problem describeViolation(SecurityEvent e) {
  const int status = statusForViolation(e);
  switch (e) {
    case SecurityEvent::kRequestLineTooLong:
      return {status, "uri-too-long", "URI Too Long", "The request line exceeds the limit."};
    case SecurityEvent::kHeadersTooLarge:
      return {status, "headers-too-large", "Request Header Fields Too Large",
              "The header block exceeds the size limit."};
    case SecurityEvent::kTooManyHeaders:
      return {status, "headers-too-large", "Request Header Fields Too Large",
              "The request has too many header fields."};
    case SecurityEvent::kBodyTooLarge:
      return {status, "payload-too-large", "Content Too Large",
              "The request body exceeds the limit for this route."};
    case SecurityEvent::kUnsupportedVersion:
      return {status, "http-version-not-supported", "HTTP Version Not Supported",
              "Only HTTP/1.0 and HTTP/1.1 are served on this port."};
    case SecurityEvent::kMethodRefused:
      return {status, "method-not-implemented", "Not Implemented",
              "Only GET, HEAD, POST, PUT, DELETE and OPTIONS are accepted."};
    case SecurityEvent::kBadExpect:
      return {status, "expectation-failed", "Expectation Failed",
              "Only 'Expect: 100-continue' is supported."};
    case SecurityEvent::kHeaderTimeout:
      return {status, "request-timeout", "Request Timeout",
              "The request head did not arrive in time."};
    case SecurityEvent::kBodyTimeout:
      return {status, "request-timeout", "Request Timeout",
              "The request body did not arrive in time."};
    case SecurityEvent::kUpgradeRefused:
      return {status, "bad-request", "Bad Request", "Protocol upgrades are not supported."};
    case SecurityEvent::kMissingHost:
    case SecurityEvent::kDuplicateHost:
      return {status, "bad-request", "Bad Request", "HTTP/1.1 requires exactly one Host header."};
    case SecurityEvent::kBadHost:
      return {status, "bad-request", "Bad Request",
              "The Host header must be host[:port] (RFC 9112 section 3.2): no user info, spaces, "
              "control or non-ASCII bytes, and a port of at most 65535."};
    case SecurityEvent::kDuplicateHeader:
      return {status, "bad-request", "Bad Request",
              "A header phigate reads as one value (Content-Type, Authorization, X-Timestamp, "
              "X-Nonce, X-Signature, Idempotency-Key, X-Request-ID, Expect) was sent twice."};
    case SecurityEvent::kBadRequestLine:
      return {status, "bad-request", "Bad Request",
              "The request line must be exactly: METHOD SP target SP HTTP/1.1 (one space each)."};
    case SecurityEvent::kTooManyConnections:
    case SecurityEvent::kTooManyConnectionsPerIp:
      return {503, "too-many-connections", "Service Unavailable",
              "Connection limit reached; retry later."};
    case SecurityEvent::kBodyBufferFull:
      return {503, "server-busy", "Service Unavailable",
              "This server holds too many request bodies right now; retry in a moment."};
    default:
      return {status, "bad-request", "Bad Request", "The request is not valid HTTP/1.1 framing."};
  }
}

}  // namespace

Problem problemForViolation(SecurityEvent e) {
  Problem p = describeViolation(e);
  p.code = obs::securityEventName(e);
  return p;
}

namespace {

void appendMember(Buffer& out, std::string_view name) {
  out.append(',');
  appendJsonString(out, name);
  out.append(':');
}
}  // namespace

void writeProblem(Buffer& out, const Problem& p, std::string_view request_id) {
  out.append("{\"type\":\"");
  out.append(kProblemBase);
  out.append(p.type);
  out.append("\",\"title\":");
  appendJsonString(out, p.title);
  out.append(",\"status\":");
  out.appendUint(static_cast<uint64_t>(p.status));
  if (!p.detail.empty()) {
    appendMember(out, "detail");
    appendJsonString(out, p.detail);
  }
  if (!p.code.empty()) {
    appendMember(out, "code");
    appendJsonString(out, p.code);
  }
  for (const ProblemMember& m : p.members) {
    appendMember(out, m.name);
    if (m.is_number) {
      out.appendInt(m.number);
    } else {
      appendJsonString(out, m.text);
    }
  }
  if (!p.errors.empty()) {
    out.append(",\"errors\":[");
    for (size_t i = 0; i < p.errors.size(); ++i) {
      if (i > 0) out.append(',');
      out.append("{\"field\":");
      appendJsonString(out, p.errors[i].field);
      out.append(",\"code\":");
      appendJsonString(out, p.errors[i].code);
      const auto allowed = p.errors[i].allowed;
      if (!allowed.empty()) {
        out.append(",\"allowed\":[");
        for (size_t j = 0; j < allowed.size(); ++j) {
          if (j > 0) out.append(',');
          appendJsonString(out, allowed[j]);
        }
        out.append(']');
      }
      out.append('}');
    }
    out.append(']');
  }
  appendMember(out, "request_id");
  appendJsonString(out, request_id);
  out.append('}');
}

DetailText& DetailText::operator<<(std::string_view s) {
  const size_t n = std::min(s.size(), cap_ - len_);
  memcpy(buf_ + len_, s.data(), n);
  len_ += n;
  return *this;
}

DetailText& DetailText::operator<<(int64_t v) {
  const auto r = std::to_chars(buf_ + len_, buf_ + cap_, v);
  if (r.ec == std::errc()) len_ = static_cast<size_t>(r.ptr - buf_);
  return *this;
}

}  // namespace phigate::net
