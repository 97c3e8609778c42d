#include "crypto/pseudonym.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include "crypto/hash.h"

namespace phigate::crypto {

namespace {

// Changing either constant renames every key phigate keeps in Redis: a
// deployment that mixes old and new processes would stop sharing nonces.
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "phgRdsKy";
constexpr uint64_t kKdfSubkeyId = 1;

static_assert(crypto_kdf_KEYBYTES == 32);
static_assert(crypto_generichash_blake2b_KEYBYTES_MIN <= 32 && 32 <= crypto_generichash_blake2b_KEYBYTES_MAX);
static_assert(crypto_generichash_blake2b_PERSONALBYTES == 16);
static_assert(Pseudonymizer::kHashBytes >= crypto_generichash_blake2b_BYTES_MIN);

}  // namespace

bool Pseudonymizer::create(std::string_view secret_key, bool allow_derived, Pseudonymizer* out,
                           std::string* error) {
  out->wipe();
  std::array<uint8_t, crypto_kdf_KEYBYTES> master;
  if (!fromHex(secret_key, master)) {
    if (!allow_derived || secret_key.empty()) {
      sodium_memzero(master.data(), master.size());
      *error = "SECRET_KEY must be 64 hex characters";
      return false;
    }
    const Sha256 h = sha256(secret_key);
    memcpy(master.data(), h.data(), master.size());
  }
  crypto_kdf_derive_from_key(out->key_.data(), out->key_.size(), kKdfSubkeyId, kKdfContext,
                             master.data());
  sodium_memzero(master.data(), master.size());
  out->ready_ = true;
  return true;
}

Pseudonymizer::Pseudonymizer(Pseudonymizer&& o) noexcept : key_(o.key_), ready_(o.ready_) { o.wipe(); }

Pseudonymizer& Pseudonymizer::operator=(Pseudonymizer&& o) noexcept {
  if (this != &o) {
    key_ = o.key_;
    ready_ = o.ready_;
    o.wipe();
  }
  return *this;
}

Pseudonymizer::~Pseudonymizer() { wipe(); }

void Pseudonymizer::wipe() {
  sodium_memzero(key_.data(), key_.size());
  ready_ = false;
}

// One BLAKE2b call, no allocation: this runs up to three times per request.
void Pseudonymizer::text(Kind kind, std::string_view value, char* out) const {
  // Without a key every value would map to a guessable name: a programming
  // error (the store is only built after create() succeeded), never a fallback.
  if (!ready_) std::abort();
  unsigned char personal[crypto_generichash_blake2b_PERSONALBYTES] = {
      'p', 'h', 'i', 'g', 'a', 't', 'e', '.', 'r', 'e', 'd', 'i', 's', '.', 0, 0};
  personal[14] = static_cast<unsigned char>(kind);
  uint8_t hash[kHashBytes];
  crypto_generichash_blake2b_salt_personal(hash, sizeof hash,
                                           reinterpret_cast<const unsigned char*>(value.data()),
                                           value.size(), key_.data(), key_.size(), nullptr, personal);
  toHex(hash, out);
}

}  // namespace phigate::crypto
