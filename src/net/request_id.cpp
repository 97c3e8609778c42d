#include "net/request_id.h"

#include <cstring>

#include "crypto/random.h"

namespace phigate::net {

bool isValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string_view freshRequestId(char (&out)[kMaxRequestIdLength]) {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char raw[kFreshRequestIdLength / 2];
  crypto::pooledRandomBytes(raw, sizeof raw);
  for (size_t i = 0; i < sizeof raw; ++i) {
    out[2 * i] = kHex[raw[i] >> 4];
    out[2 * i + 1] = kHex[raw[i] & 0xf];
  }
  return {out, kFreshRequestIdLength};
}

std::string_view chooseRequestId(std::string_view client, char (&storage)[kMaxRequestIdLength]) {
  if (isValidRequestId(client)) {
    memcpy(storage, client.data(), client.size());
    return {storage, client.size()};
  }
  return freshRequestId(storage);
}

}  // namespace phigate::net
