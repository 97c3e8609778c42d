// X-Request-ID handling: a client's id is echoed only if it is safe to put in
// a header and a log line; otherwise a fresh random one is made.
#pragma once

#include <string_view>

namespace phigate::net {

inline constexpr size_t kMaxRequestIdLength = 64;
inline constexpr size_t kFreshRequestIdLength = 32;

/** True for 1-64 characters of [A-Za-z0-9._-]. */
bool isValidRequestId(std::string_view id);

/** Writes 32 random lower-case hex characters into `out`. */
std::string_view freshRequestId(char (&out)[kMaxRequestIdLength]);

/** The client's id when valid, else a fresh one (stored in `storage`). */
std::string_view chooseRequestId(std::string_view client, char (&storage)[kMaxRequestIdLength]);

}  // namespace phigate::net
