#include "crypto/random.h"

#include <sodium.h>

#include <cstring>

namespace phigate::crypto {

namespace {
constexpr size_t kPoolSize = 4096;
unsigned char g_pool[kPoolSize];
size_t g_pool_left = 0;  // unread bytes at the end of g_pool
}  // namespace

bool initCrypto() { return sodium_init() >= 0; }

void randomBytes(void* out, size_t n) { randombytes_buf(out, n); }

std::string randomHex(size_t nbytes) {
  std::string raw(nbytes, '\0');
  randombytes_buf(raw.data(), nbytes);
  std::string hex(nbytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 nbytes);
  hex.pop_back();
  sodium_memzero(raw.data(), raw.size());
  return hex;
}

void pooledRandomBytes(void* out, size_t n) {
  if (n > kPoolSize / 4) {
    randombytes_buf(out, n);
    return;
  }
  if (g_pool_left < n) {
    randombytes_buf(g_pool, kPoolSize);
    g_pool_left = kPoolSize;
  }
  unsigned char* src = g_pool + (kPoolSize - g_pool_left);
  memcpy(out, src, n);
  sodium_memzero(src, n);  // a byte handed out is never handed out again
  g_pool_left -= n;
}

void resetRandomPool() {
  sodium_memzero(g_pool, kPoolSize);
  g_pool_left = 0;
}

}  // namespace phigate::crypto
