#include "crypto/digest_hex.h"

#include <openssl/evp.h>

#include "crypto/hash.h"

namespace phigate::crypto {

namespace {

std::string digestHex(const EVP_MD* md, std::initializer_list<std::string_view> parts) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, md, nullptr) == 1;
  for (std::string_view p : parts) {
    ok = ok && EVP_DigestUpdate(ctx, p.data(), p.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, out, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  std::string hex(2 * len, '\0');
  toHex({out, len}, hex.data());
  return hex;
}

}  // namespace

std::string sha1Hex(std::string_view data) { return digestHex(EVP_sha1(), {data}); }
std::string sha256Hex(std::string_view data) { return digestHex(EVP_sha256(), {data}); }
std::string sha512Hex(std::string_view data) { return digestHex(EVP_sha512(), {data}); }

std::string sha512Hex(std::initializer_list<std::string_view> parts) {
  return digestHex(EVP_sha512(), parts);
}

}  // namespace phigate::crypto
