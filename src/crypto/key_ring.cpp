#include "crypto/key_ring.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include "crypto/hash.h"
#include "crypto/random.h"

namespace phigate::crypto {

namespace {
constexpr uint8_t kVersion = 1;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
static_assert(kNonceBytes == 24);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == KeyRing::kKeyBytes);
}  // namespace

KeyRing::Key KeyRing::makeKey(const uint8_t* bytes) {
  Key k;
  memcpy(k.bytes.data(), bytes, kKeyBytes);
  const Sha256 h = sha256({reinterpret_cast<const char*>(bytes), kKeyBytes});
  memcpy(k.id.data(), h.data(), k.id.size());
  return k;
}

bool KeyRing::create(std::string_view current, std::string_view old_list, bool allow_derived,
                     KeyRing* out, std::string* error) {
  out->wipe();
  std::array<uint8_t, kKeyBytes> raw;
  if (fromHex(current, raw)) {
    out->keys_.push_back(makeKey(raw.data()));
  } else if (allow_derived && !current.empty()) {
    Sha256 h = sha256(current);
    out->keys_.push_back(makeKey(h.data()));
    sodium_memzero(h.data(), h.size());
  } else {
    *error = "ENCRYPTION_KEY must be 64 hex characters";
    return false;
  }
  size_t pos = 0;
  while (pos < old_list.size()) {
    size_t comma = old_list.find(',', pos);
    std::string_view item = old_list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? old_list.size() : comma + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    if (!fromHex(item, raw)) {
      sodium_memzero(raw.data(), raw.size());
      out->wipe();  // no half-built ring
      *error = "ENCRYPTION_KEYS_OLD must be a comma-separated list of 64-hex-character keys";
      return false;
    }
    out->keys_.push_back(makeKey(raw.data()));
  }
  sodium_memzero(raw.data(), raw.size());
  return true;
}

KeyRing::~KeyRing() { wipe(); }

void KeyRing::wipe() {
  for (Key& k : keys_) sodium_memzero(k.bytes.data(), k.bytes.size());
  keys_.clear();
}

const KeyRing::Key* KeyRing::find(const uint8_t* id) const {
  for (const Key& k : keys_) {
    if (memcmp(k.id.data(), id, k.id.size()) == 0) return &k;
  }
  return nullptr;
}

void KeyRing::seal(std::string_view plain, std::string_view ad, uint8_t* out) const {
  // Sealing with no key would store plaintext-equivalent garbage: a ring is
  // only ever used after create() succeeded, so this is a programming error.
  if (keys_.empty()) std::abort();
  const Key& k = keys_.front();
  out[0] = kVersion;
  memcpy(out + 1, k.id.data(), 4);
  uint8_t* nonce = out + 5;
  // 192-bit random nonces: no counter to persist, no collision risk at our volumes.
  pooledRandomBytes(nonce, kNonceBytes);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + 5 + kNonceBytes, &clen, reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce, k.bytes.data());
}

bool KeyRing::open(std::string_view sealed, std::string_view ad, std::string* out) const {
  if (sealed.size() < kOverhead || static_cast<uint8_t>(sealed[0]) != kVersion) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(sealed.data());
  const Key* k = find(p + 1);
  if (k == nullptr) return false;
  const size_t clen = sealed.size() - 5 - kNonceBytes;
  out->resize(clen - 16);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(out->data()), &mlen, nullptr, p + 5 + kNonceBytes, clen,
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), p + 5, k->bytes.data()) != 0) {
    sodium_memzero(out->data(), out->size());
    out->clear();
    return false;
  }
  out->resize(mlen);
  return true;
}

}  // namespace phigate::crypto
