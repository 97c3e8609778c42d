#include "state/redis_uri.h"
#include "common/ascii.h"


#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <charconv>
#include <cstring>

namespace phigate::state {

namespace {

constexpr uint16_t kDefaultPort = 6379;
// sun_path holds the path and its terminating NUL.
constexpr size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;
constexpr size_t kMaxHostName = 253;

bool fail(std::string* error, std::string_view why) {
  *error = "RATELIMIT_STORAGE_URI ";
  *error += why;
  return false;
}

// RFC 3986 percent-decoding ('+' is not a space here: this is not a form).
bool percentDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hexValue(in[i + 1]);
    const int lo = hexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool parseDb(std::string_view s, int* db) {
  if (!allDigits(s) || s.size() > 9) return false;  // 9 digits always fit an int
  std::from_chars(s.data(), s.data() + s.size(), *db);
  return true;
}

bool parsePort(std::string_view s, uint16_t* port) {
  if (!allDigits(s) || s.size() > 5) return false;
  unsigned v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v == 0 || v > 65535) return false;
  *port = static_cast<uint16_t>(v);
  return true;
}

// A DNS name (RFC 1123 labels; '_' is tolerated because container and
// service-discovery names use it). A name whose last label is all digits is
// refused: getaddrinfo would read "127.1" as an address, "256.0.0.1" as a name.
bool validHostName(std::string_view h) {
  if (h.empty() || h.size() > kMaxHostName) return false;
  size_t label = 0;
  bool label_numeric = true;
  bool last_numeric = false;  // of the last complete label
  char prev = '.';
  for (char c : h) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      last_numeric = label_numeric;
      label = 0;
      label_numeric = true;
    } else {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && c != '-' && c != '_') return false;
      if (label == 0 && c == '-') return false;
      if (++label > 63) return false;
      if (c < '0' || c > '9') label_numeric = false;
    }
    prev = c;
  }
  if (prev == '-') return false;
  // A trailing dot (an absolute name) leaves an empty last label: the one before counts.
  if (label > 0) last_numeric = label_numeric;
  return !last_numeric;
}


// `userinfo` is what precedes '@': "user:password" or ":password".
bool parseUserInfo(std::string_view userinfo, RedisEndpoint* ep, std::string* error) {
  const size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    return fail(error, "has a user name but no password (write user:password@ or :password@)");
  }
  if (!percentDecode(userinfo.substr(0, colon), &ep->user) ||
      !percentDecode(userinfo.substr(colon + 1), &ep->password)) {
    return fail(error, "has an invalid percent-escape in its credentials");
  }
  if (ep->password.empty()) return fail(error, "has an empty password");
  return true;
}

// "host", "host:port", "[v6]" or "[v6]:port".
bool parseHostPort(std::string_view hp, RedisEndpoint* ep, std::string* error) {
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!hp.empty() && hp.front() == '[') {
    const size_t close = hp.find(']');
    if (close == std::string_view::npos) return fail(error, "has an unclosed '[' in its host");
    host = hp.substr(1, close - 1);
    std::string_view rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail(error, "has characters after its IPv6 address");
      port = rest.substr(1);
      has_port = true;
    }
    in6_addr a6;
    if (host.empty() || host.size() > INET6_ADDRSTRLEN ||
        inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      return fail(error, "has an invalid IPv6 address in brackets");
    }
  } else {
    const size_t colon = hp.find(':');
    if (colon != std::string_view::npos && hp.find(':', colon + 1) != std::string_view::npos) {
      return fail(error, "has an IPv6 address that is not in brackets");
    }
    host = hp.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = hp.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return fail(error, "has no host");
    if (!isIpLiteral(host) && !validHostName(host)) {
      return fail(error, "has a host that is neither an IP address nor a valid host name");
    }
  }
  if (has_port && !parsePort(port, &ep->port)) {
    return fail(error, "has an invalid port (1-65535)");
  }
  ep->host = std::string(host);
  return true;
}

bool parseTcp(std::string_view rest, RedisEndpoint* ep, std::string* error) {
  if (rest.find('#') != std::string_view::npos) return fail(error, "must not have a fragment");
  if (rest.find('?') != std::string_view::npos) {
    return fail(error, "must not have query parameters with redis:// (the db goes in the path)");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  // The last '@' ends the credentials: a lenient reading for passwords with an unescaped '@'.
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    if (!parseUserInfo(authority.substr(0, at), ep, error)) return false;
    authority.remove_prefix(at + 1);
  }
  if (authority.empty()) return fail(error, "has no host");
  if (!parseHostPort(authority, ep, error)) return false;
  if (path.size() > 1 && !parseDb(path.substr(1), &ep->db)) {
    return fail(error, "has an invalid database number (redis://host:port/N)");
  }
  return true;
}

bool parseUnixQuery(std::string_view query, RedisEndpoint* ep, std::string* error) {
  bool seen_db = false;
  bool seen_password = false;
  bool seen_user = false;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) return fail(error, "has a query parameter without a value");
    const std::string_view name = param.substr(0, eq);
    const std::string_view value = param.substr(eq + 1);
    bool* seen = name == "db" ? &seen_db : name == "password" ? &seen_password
                                         : name == "user"     ? &seen_user
                                                              : nullptr;
    if (seen == nullptr) {
      return fail(error, "has an unknown query parameter (unix:// takes db, password and user)");
    }
    if (*seen) return fail(error, "repeats a query parameter");
    *seen = true;
    if (name == "db") {
      if (!parseDb(value, &ep->db)) return fail(error, "has an invalid database number (db=N)");
    } else if (!percentDecode(value, name == "user" ? &ep->user : &ep->password)) {
      return fail(error, "has an invalid percent-escape in its credentials");
    }
  }
  if (seen_password && ep->password.empty()) return fail(error, "has an empty password");
  if (!ep->user.empty() && ep->password.empty()) {
    return fail(error, "has a user name but no password");
  }
  return true;
}

bool parseUnix(std::string_view rest, RedisEndpoint* ep, std::string* error) {
  if (rest.empty() || rest.front() != '/') {
    return fail(error, "must be unix:///absolute/path/to/socket (no host)");
  }
  if (rest.find('#') != std::string_view::npos) return fail(error, "must not have a fragment");
  const size_t q = rest.find('?');
  if (!percentDecode(rest.substr(0, q), &ep->path)) {
    return fail(error, "has an invalid percent-escape in its socket path");
  }
  if (ep->path.size() < 2 || ep->path.back() == '/') return fail(error, "has no socket path");
  if (ep->path.find('\0') != std::string::npos) return fail(error, "has a NUL in its socket path");
  if (ep->path.size() > kMaxSocketPath) {
    return fail(error, "has a socket path longer than 107 bytes");
  }
  if (q != std::string_view::npos && !parseUnixQuery(rest.substr(q + 1), ep, error)) return false;
  ep->unix_socket = true;
  return true;
}

}  // namespace

bool isIpLiteral(std::string_view host) {
  if (host.empty() || host.size() > INET6_ADDRSTRLEN) return false;
  const std::string h(host);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool parseRedisUri(std::string_view uri, RedisEndpoint* out, std::string* error) {
  *out = RedisEndpoint{};
  for (char c : uri) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return fail(error, "contains spaces or control characters");
  }
  const size_t sep = uri.find("://");
  if (sep == std::string_view::npos) {
    return fail(error, "must start with redis:// or unix://");
  }
  const std::string_view scheme = uri.substr(0, sep);
  const std::string_view rest = uri.substr(sep + 3);
  RedisEndpoint ep;
  ep.port = kDefaultPort;
  bool ok;
  if (equalsLower(scheme, "redis")) {
    ok = parseTcp(rest, &ep, error);
  } else if (equalsLower(scheme, "unix")) {
    ok = parseUnix(rest, &ep, error);
  } else if (equalsLower(scheme, "rediss")) {
    return fail(error, "uses rediss:// (TLS), which is not supported: use a unix socket or a "
                       "local TLS tunnel");
  } else {
    return fail(error, "must start with redis:// or unix://");
  }
  if (!ok) return false;
  *out = std::move(ep);
  return true;
}

bool resolveRedisHost(RedisEndpoint* ep, std::string* error) {
  if (ep->unix_socket || isIpLiteral(ep->host)) return true;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(ep->host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    // The name itself is not repeated: a mistyped URI can put part of a password there.
    return fail(error, std::string("has a host name that does not resolve: ") + gai_strerror(rc));
  }
  if (res == nullptr) return fail(error, "has a host name that resolves to no IP address");
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr = nullptr;
  if (res->ai_family == AF_INET) {
    addr = &reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr;
  } else if (res->ai_family == AF_INET6) {
    addr = &reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr;
  }
  const bool ok = addr != nullptr && inet_ntop(res->ai_family, addr, text, sizeof text) != nullptr;
  freeaddrinfo(res);
  if (!ok) return fail(error, "has a host name that resolves to no IP address");
  ep->host = text;
  return true;
}

}  // namespace phigate::state
