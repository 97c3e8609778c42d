#include "upstream/path_allowlist.h"

#include <cctype>

namespace phigate::upstream {

namespace {

// No ';': Java servlet containers (Tomcat, Jetty, Spring) strip `;params`
// from a segment and then resolve dot segments, so `..;` would be `..` to
// them after it matched `*` here.
bool segmentChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c)) != 0) return true;
  return std::string_view("-._~!$&'()+,=:@").find(c) != std::string_view::npos;
}

bool segmentOk(std::string_view seg) {
  if (seg.empty() || seg == "." || seg == "..") return false;
  for (const char c : seg) {
    if (!segmentChar(c)) return false;
  }
  return true;
}

// Calls `each(segment)` for "/a/b/c"; false when `each` says so or a
// segment is missing (empty path, "//", trailing "/") or there are too many.
template <typename Each>
bool forSegments(std::string_view path, Each each) {
  if (path.size() < 2 || path.front() != '/' || path.back() == '/') return false;
  std::string_view rest = path.substr(1);
  size_t n = 0;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
    if (seg.empty() || ++n > kMaxPathSegments || !each(seg)) return false;
  }
  return true;
}

bool parseMethod(std::string_view s, net::Method* out) {
  const std::pair<std::string_view, net::Method> names[] = {
      {"GET", net::Method::kGet},   {"HEAD", net::Method::kHead},
      {"POST", net::Method::kPost}, {"PUT", net::Method::kPut},
      {"PATCH", net::Method::kPatch}, {"DELETE", net::Method::kDelete}};
  for (const auto& [name, m] : names) {
    if (s == name) {
      *out = m;
      return true;
    }
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

bool requestPathOk(std::string_view path) { return forSegments(path, segmentOk); }

bool requestQueryOk(std::string_view query) {
  const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  for (size_t i = 0; i < query.size(); ++i) {
    const char c = query[i];
    if (c == '%') {
      if (i + 2 >= query.size() || !hex(query[i + 1]) || !hex(query[i + 2])) return false;
      i += 2;
      continue;
    }
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) continue;
    if (std::string_view("-._~!$&'()*+,;=:@/?").find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool PathAllowList::parse(std::string_view text, std::string* error) {
  rules_.clear();
  std::string_view rest = text;
  size_t position = 0;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    ++position;
    const auto bad = [&](std::string_view why) {
      *error = "EHOSPITAL_ALLOWED_PATHS item " + std::to_string(position) + " " + std::string(why) +
               " (items are `METHOD /path`, METHOD one of GET, HEAD, POST, PUT, PATCH, DELETE; `*` "
               "is one path segment)";
      rules_.clear();
      return false;
    };
    if (item.empty()) return bad("is empty");
    const size_t space = item.find(' ');
    if (space == std::string_view::npos) return bad("has no path");
    Rule rule;
    if (!parseMethod(item.substr(0, space), &rule.method)) return bad("has an unknown method");
    const std::string_view path = trim(item.substr(space + 1));
    const bool ok = forSegments(path, [&](std::string_view seg) {
      if (seg != "*" && !segmentOk(seg)) return false;
      rule.segments.emplace_back(seg);
      return true;
    });
    if (!ok) {
      return bad("has a path that is not /segment/... (non-empty segments of letters, digits, "
                 "-._~!$&'()+,=:@ or `*`; no `.`, `..`, `%`, semicolon or trailing `/`)");
    }
    rules_.push_back(std::move(rule));
  }
  return true;
}

bool PathAllowList::allows(net::Method method, std::string_view path) const {
  for (const Rule& rule : rules_) {
    const bool method_ok =
        rule.method == method || (rule.method == net::Method::kGet && method == net::Method::kHead);
    if (!method_ok) continue;
    size_t i = 0;
    const bool matched = forSegments(path, [&](std::string_view seg) {
      if (i >= rule.segments.size()) return false;
      const std::string& want = rule.segments[i++];
      return want == "*" || want == seg;
    });
    if (matched && i == rule.segments.size()) return true;
  }
  return false;
}

}  // namespace phigate::upstream
