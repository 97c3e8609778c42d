// The parsed view of one HTTP/1.1 request. Every string_view points into the
// connection's read buffer and is valid only while the exchange is in progress
// (the buffer is never moved while a request is being handled).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/ascii.h"

namespace phigate::net {

/** The methods phigate accepts; anything else is refused before routing. */
enum class Method : uint8_t { kGet, kHead, kPost, kPut, kDelete, kOptions, kPatch, kOther };

std::string_view methodName(Method m);

/** One header field as received (name case preserved, value trimmed of OWS). */
struct Header {
  std::string_view name;
  std::string_view value;
};

/** A complete request head (and, once the message is complete, its body). */
struct HttpRequest {
  Method method = Method::kOther;
  uint8_t version_minor = 1;            // HTTP/1.<minor>; only 0 and 1 get this far
  std::string_view method_text;
  std::string_view target;              // as sent
  std::string_view path;                // target without query, origin-form
  std::string_view query;               // without '?'; never logged
  std::span<const Header> headers;
  std::string_view body;                // de-chunked, contiguous, followed by padding
  int64_t content_length = -1;          // -1 when absent
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false;
  std::string_view request_id;          // client's X-Request-ID, unvalidated

  /** First header named `lower` (lower-case name), or empty. */
  std::string_view header(std::string_view lower) const;
  bool hasBody() const { return chunked || content_length > 0; }
};

}  // namespace phigate::net
