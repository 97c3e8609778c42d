// Response serialisation. Every response -- success, error, parser error,
// 404 -- goes through appendResponse(), so every one carries the security
// headers, Cache-Control: no-store, a charset and X-Request-ID.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/buffer.h"
#include "common/clock.h"

namespace phigate::net {

/** A response header added per response (name and value are not copied). */
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

inline constexpr std::string_view kJsonType = "application/json; charset=utf-8";
inline constexpr std::string_view kProblemType = "application/problem+json; charset=utf-8";
inline constexpr std::string_view kTextType = "text/plain; charset=utf-8";

/**
 * The header lines shared by every response (DESIGN §3), formatted once at
 * start-up. HSTS is included only in production.
 */
class StaticHeaders {
 public:
  explicit StaticHeaders(bool production);
  std::string_view block() const { return block_; }

 private:
  std::string block_;
};

/** What varies per response. */
struct ResponseSpec {
  int status = 200;
  std::string_view content_type = kJsonType;
  std::string_view request_id;
  std::span<const HeaderField> extra;
  bool close = false;             // send "Connection: close"
  bool keep_alive_http10 = false; // HTTP/1.0 client that asked for keep-alive
  bool head_only = false;         // HEAD: same headers, no body
};

std::string_view reasonPhrase(int status);

/** Appends status line, headers and body to `out`; returns bytes appended. */
size_t appendResponse(Buffer& out, const StaticHeaders& fixed, const WallClock& clock,
                      const ResponseSpec& spec, std::string_view body);

}  // namespace phigate::net
