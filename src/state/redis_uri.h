// RATELIMIT_STORAGE_URI for the Redis backend:
//
//   redis://[[user]:password@]host[:port][/db]      port 6379, db 0 by default
//   unix:///path/to/redis.sock[?db=N][&password=...][&user=...]
//
// host is an IPv4 literal, a bracketed IPv6 literal or a host name. hiredis's
// redisAsyncConnect resolves names with a blocking getaddrinfo, which must
// never run on a worker's loop, so a name is resolved once at start-up
// (resolveRedisHost) and the client only ever connects to an IP literal.
//
// The URI may carry a password: no error message here ever contains the URI
// or any part of it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace phigate::state {

/** Where the Redis server is and how to log in to it. */
struct RedisEndpoint {
  bool unix_socket = false;
  std::string host;       // TCP: an IP literal (without brackets) once resolved
  uint16_t port = 6379;   // TCP only
  std::string path;       // unix socket only
  int db = 0;
  std::string user;       // Redis 6 ACL user; empty: AUTH with the password only
  std::string password;   // empty: no AUTH
};

/**
 * Parses `uri` into `out` without any DNS (a host name is kept as is). On
 * failure returns false and sets `error` to a message that names
 * RATELIMIT_STORAGE_URI but never repeats the URI.
 */
bool parseRedisUri(std::string_view uri, RedisEndpoint* out, std::string* error);

/**
 * Replaces a host name by the first address getaddrinfo gives for it. Blocks:
 * call it at start-up only, never on a worker's loop. A no-op for IP literals
 * and unix sockets.
 */
bool resolveRedisHost(RedisEndpoint* ep, std::string* error);

/** True when `host` is an IPv4 or IPv6 literal (IPv6 without brackets). */
bool isIpLiteral(std::string_view host);

}  // namespace phigate::state
