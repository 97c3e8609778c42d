// EHOSPITAL_ALLOWED_PATHS: which upstream (method, path) pairs phigate
// forwards. Anything else is a 404 that never reaches the upstream. Parsed
// once at start-up; matching walks the rules segment by segment with no
// allocation.
//
// Syntax: a comma-separated list of `METHOD /path` items, e.g.
// `GET /api/patients/*,POST /api/appointments`. METHOD is GET, HEAD, POST,
// PUT, PATCH or DELETE (GET allows HEAD too). A path is `/`-separated non-empty
// segments; `*` is exactly one segment (never none, never several). Literal
// segments use the characters requestPathOk() accepts.
//
// The path a request asks for must be plain before it is matched
// (requestPathOk): no empty segment, no `.` or `..` segment, no
// percent-encoding, no `;`. Otherwise `*` could match `..` and the upstream
// (or curl, which squashes dot segments) would see another path than the one
// that was checked; an encoded `/` or `.` would be decoded by the upstream;
// `..;` is `..` to a Java upstream (servlet containers strip `;params`, then
// resolve dot segments).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_request.h"

namespace phigate::upstream {

/** The most segments a rule or a matched path may have. */
inline constexpr size_t kMaxPathSegments = 32;

/**
 * True for "/seg/seg..." of 1..kMaxPathSegments segments, each non-empty,
 * not "." or "..", of ALPHA DIGIT and "-._~!$&'()+,=:@" only (RFC 3986
 * pchar without percent-encoding, without ";" and without "*").
 */
bool requestPathOk(std::string_view path);

/**
 * True for a query (without '?') that goes into the upstream URL as sent:
 * RFC 3986 query characters only (ALPHA DIGIT "-._~!$&'()*+,;=:@/?" and
 * "%" with two hex digits). Anything else (blanks, `"<>\^`{|}`, a stray
 * "%", non-ASCII) is the client's to percent-encode: the upstream must not
 * be left to guess what a raw one means.
 */
bool requestQueryOk(std::string_view query);

class PathAllowList {
 public:
  /**
   * Parses `text`; false with `error` saying which item (by position) and
   * what is wrong with it. An empty list allows nothing.
   */
  bool parse(std::string_view text, std::string* error);

  /** Whether `method` on `path` is allowed; `path` must pass requestPathOk(). */
  bool allows(net::Method method, std::string_view path) const;

  size_t size() const { return rules_.size(); }

 private:
  struct Rule {
    net::Method method = net::Method::kGet;
    std::vector<std::string> segments;  // "*" matches any one segment
  };
  std::vector<Rule> rules_;
};

}  // namespace phigate::upstream
