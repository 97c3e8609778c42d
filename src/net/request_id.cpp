#include "net/request_id.h"

#include <cstring>

#include "common/ascii.h"
#include "crypto/random.h"

namespace phigate::net {

bool isValidRequestId(std::string_view id) { return isIdentifier(id, kMaxRequestIdLength); }

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
