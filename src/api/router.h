// A static route table: (methods, path pattern) -> handler. Patterns are
// checked once at start-up; matching walks the table segment by segment with
// no allocation. `{name}` matches one non-empty segment, `{name...}` the
// non-empty rest of the path.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/exchange.h"
#include "net/http_request.h"
#include "pipeline/stage.h"

namespace phigate::api {

/** Bit for a method in Route::methods. */
constexpr uint8_t methodBit(net::Method m) { return static_cast<uint8_t>(1u << static_cast<int>(m)); }

inline constexpr uint8_t kGet = methodBit(net::Method::kGet);
inline constexpr uint8_t kPost = methodBit(net::Method::kPost);
inline constexpr uint8_t kPut = methodBit(net::Method::kPut);
inline constexpr uint8_t kDelete = methodBit(net::Method::kDelete);
inline constexpr uint8_t kPatch = methodBit(net::Method::kPatch);

struct Call;
struct Services;
using Handler = void (*)(Call& call);

/**
 * A route's own check of the head, after the pipeline's head stages passed
 * (nullptr: none). False: `out` is the answer, given before the body is
 * read. May lower ex.body_limit.
 */
using HeadCheck = bool (*)(Services& services, net::Exchange& ex,
                           std::span<const std::string_view> params, pipeline::Rejection* out);

/** One entry of the route table. HEAD is implied by GET, OPTIONS by any. */
struct Route {
  uint8_t methods;
  std::string_view pattern;
  std::string_view name;     // for logs and metrics
  Handler handler;
  uint64_t max_body;         // bytes; 0 = no body accepted
  pipeline::RoutePolicy policy = {};
  HeadCheck head_check = nullptr;
};

inline constexpr size_t kMaxParams = 4;

/** The result of a lookup. */
struct RouteMatch {
  const Route* route = nullptr;  // set when path and method match
  uint8_t allowed = 0;           // methods allowed on this path (0: unknown path)
  std::array<std::string_view, kMaxParams> params{};
  size_t param_count = 0;
};

class Router {
 public:
  /** Returns an empty string when every pattern is well-formed, else why not. */
  static std::string validate(std::span<const Route> routes);

  explicit Router(std::span<const Route> routes) : routes_(routes) {}

  RouteMatch find(net::Method method, std::string_view path) const;

  /** "GET, HEAD, OPTIONS" for a method mask (HEAD and OPTIONS added). */
  static std::string allowHeader(uint8_t allowed);

 private:
  static bool matchPattern(std::string_view pattern, std::string_view path, RouteMatch* m);

  std::span<const Route> routes_;
};

}  // namespace phigate::api
