#include "api/router.h"

namespace phigate::api {

namespace {

// Splits off the first '/'-separated segment of `s` (which starts after a '/').
std::string_view nextSegment(std::string_view* s) {
  const size_t slash = s->find('/');
  std::string_view seg = s->substr(0, slash);
  s->remove_prefix(slash == std::string_view::npos ? s->size() : slash + 1);
  return seg;
}

bool isParam(std::string_view seg) {
  return seg.size() >= 3 && seg.front() == '{' && seg.back() == '}';
}

bool isRestParam(std::string_view seg) {
  return isParam(seg) && seg.size() > 5 && seg.substr(seg.size() - 4) == "...}";
}

}  // namespace

std::string Router::validate(std::span<const Route> routes) {
  for (const Route& r : routes) {
    if (r.pattern.empty() || r.pattern.front() != '/') {
      return "route pattern must start with '/': " + std::string(r.pattern);
    }
    if (r.methods == 0 || r.handler == nullptr) {
      return "route needs methods and a handler: " + std::string(r.pattern);
    }
    std::string_view rest = r.pattern.substr(1);
    size_t params = 0;
    while (!rest.empty()) {
      std::string_view seg = nextSegment(&rest);
      if (seg.empty()) return "empty segment in route pattern: " + std::string(r.pattern);
      if (isParam(seg) && ++params > kMaxParams) {
        return "too many parameters in route pattern: " + std::string(r.pattern);
      }
      if (isRestParam(seg) && !rest.empty()) {
        return "{name...} must be the last segment: " + std::string(r.pattern);
      }
    }
  }
  return {};
}

bool Router::matchPattern(std::string_view pattern, std::string_view path, RouteMatch* m) {
  if (path.empty() || path.front() != '/') return false;
  std::string_view pat = pattern.substr(1);
  std::string_view p = path.substr(1);
  m->param_count = 0;
  if (pat.empty()) return p.empty();
  while (!pat.empty()) {
    std::string_view want = nextSegment(&pat);
    if (isRestParam(want)) {
      if (p.empty()) return false;
      m->params[m->param_count++] = p;
      return true;
    }
    std::string_view got = nextSegment(&p);
    if (got.empty()) return false;  // "//" or trailing "/"
    if (isParam(want)) {
      m->params[m->param_count++] = got;
    } else if (got != want) {
      return false;
    }
  }
  return p.empty() && path.back() != '/';
}

RouteMatch Router::find(net::Method method, std::string_view path) const {
  RouteMatch result;
  // HEAD is answered by GET routes (the net layer drops the body).
  const uint8_t want = method == net::Method::kHead ? kGet : methodBit(method);
  for (const Route& r : routes_) {
    RouteMatch m;
    if (!matchPattern(r.pattern, path, &m)) continue;
    result.allowed |= r.methods;
    if ((r.methods & want) != 0 && result.route == nullptr) {
      m.allowed = 0;
      m.route = &r;
      const uint8_t allowed = result.allowed;
      result = m;
      result.allowed = allowed;
    }
  }
  return result;
}

std::string Router::allowHeader(uint8_t allowed) {
  std::string out;
  auto add = [&out](std::string_view m) {
    if (!out.empty()) out += ", ";
    out += m;
  };
  if (allowed & kGet) {
    add("GET");
    add("HEAD");
  }
  if (allowed & kPost) add("POST");
  if (allowed & kPut) add("PUT");
  if (allowed & kPatch) add("PATCH");
  if (allowed & kDelete) add("DELETE");
  add("OPTIONS");
  return out;
}

}  // namespace phigate::api
