#include "crypto/key_ring.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "crypto/hash.h"
#include "crypto/random.h"

namespace phigate::crypto {
namespace {

// Obviously fake test keys (64 hex characters each).
const std::string kKeyA = std::string(32, 'a') + std::string(32, '1');
const std::string kKeyB = std::string(32, 'b') + std::string(32, '2');
const std::string kKeyC = std::string(32, 'c') + std::string(32, '3');

constexpr std::string_view kPlain = "fake message body: hello from the ward test";
constexpr std::string_view kAd = "msg-00000000000000000000000000000001|key-test";

class KeyRingTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(initCrypto()); }

  static void make(std::string_view current, std::string_view old, KeyRing* ring,
                   bool allow_derived = false) {
    std::string error;
    ASSERT_TRUE(KeyRing::create(current, old, allow_derived, ring, &error)) << error;
  }

  static std::string seal(const KeyRing& ring, std::string_view plain, std::string_view ad) {
    std::string out(KeyRing::sealedSize(plain.size()), '\0');
    ring.seal(plain, ad, reinterpret_cast<uint8_t*>(out.data()));
    return out;
  }
};

TEST_F(KeyRingTest, SealedSizeAddsVersionKeyIdNonceAndTag) {
  EXPECT_EQ(KeyRing::kOverhead, 1u + 4u + 24u + 16u);
  EXPECT_EQ(KeyRing::sealedSize(0), KeyRing::kOverhead);
  EXPECT_EQ(KeyRing::sealedSize(100), 100 + KeyRing::kOverhead);
}

TEST_F(KeyRingTest, SealOpenRoundTrip) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  const std::string sealed = seal(ring, kPlain, kAd);
  ASSERT_EQ(sealed.size(), KeyRing::sealedSize(kPlain.size()));
  EXPECT_EQ(sealed.find(kPlain), std::string::npos) << "plaintext visible in the blob";
  std::string out;
  ASSERT_TRUE(ring.open(sealed, kAd, &out));
  EXPECT_EQ(out, kPlain);
}

TEST_F(KeyRingTest, RoundTripOfEmptyAndBinaryPlaintext) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  std::string out = "stale";
  ASSERT_TRUE(ring.open(seal(ring, "", kAd), kAd, &out));
  EXPECT_EQ(out, "");

  std::string binary;
  for (int i = 0; i < 300; ++i) binary.push_back(static_cast<char>(i & 0xff));
  ASSERT_TRUE(ring.open(seal(ring, binary, ""), "", &out));
  EXPECT_EQ(out, binary);
}

TEST_F(KeyRingTest, BlobHeaderIsVersionThenKeyId) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  const std::string sealed = seal(ring, kPlain, kAd);
  EXPECT_EQ(static_cast<uint8_t>(sealed[0]), 1);
  std::array<uint8_t, KeyRing::kKeyBytes> raw{};
  ASSERT_TRUE(fromHex(kKeyA, raw));
  const Sha256 id = sha256({reinterpret_cast<const char*>(raw.data()), raw.size()});
  EXPECT_EQ(sealed.substr(1, 4), std::string(reinterpret_cast<const char*>(id.data()), 4));
}

TEST_F(KeyRingTest, WrongAssociatedDataFails) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  const std::string sealed = seal(ring, kPlain, kAd);
  std::string out;
  EXPECT_FALSE(ring.open(sealed, "msg-00000000000000000000000000000002|key-test", &out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(ring.open(sealed, "", &out));
  EXPECT_FALSE(ring.open(sealed, std::string(kAd) + "x", &out));
  EXPECT_TRUE(out.empty());
}

TEST_F(KeyRingTest, EveryFlippedByteFails) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  const std::string sealed = seal(ring, kPlain, kAd);
  for (size_t i = 0; i < sealed.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::string tampered = sealed;
      tampered[i] = static_cast<char>(static_cast<uint8_t>(tampered[i]) ^ mask);
      std::string out;
      EXPECT_FALSE(ring.open(tampered, kAd, &out)) << "byte " << i << " mask " << int{mask};
      EXPECT_TRUE(out.empty()) << "byte " << i << ": partial plaintext left in output";
    }
  }
  std::string out;
  EXPECT_TRUE(ring.open(sealed, kAd, &out));  // the original still opens
}

TEST_F(KeyRingTest, TruncatedOrExtendedFails) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  const std::string sealed = seal(ring, kPlain, kAd);
  for (size_t len = 0; len < sealed.size(); ++len) {
    std::string out;
    EXPECT_FALSE(ring.open(std::string_view(sealed).substr(0, len), kAd, &out)) << "length " << len;
    EXPECT_TRUE(out.empty());
  }
  std::string out;
  EXPECT_FALSE(ring.open(sealed + '\0', kAd, &out));
  EXPECT_FALSE(ring.open(sealed + sealed, kAd, &out));
}

TEST_F(KeyRingTest, EmptyPlaintextBlobTruncatedFails) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  const std::string sealed = seal(ring, "", kAd);
  ASSERT_EQ(sealed.size(), KeyRing::kOverhead);
  std::string out;
  EXPECT_FALSE(ring.open(std::string_view(sealed).substr(0, sealed.size() - 1), kAd, &out));
}

TEST_F(KeyRingTest, TwoSealsOfTheSamePlaintextDiffer) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  const std::string a = seal(ring, kPlain, kAd);
  const std::string b = seal(ring, kPlain, kAd);
  EXPECT_NE(a, b);
  EXPECT_NE(a.substr(5, 24), b.substr(5, 24)) << "nonce reused";
  std::string out;
  ASSERT_TRUE(ring.open(a, kAd, &out));
  EXPECT_EQ(out, kPlain);
  ASSERT_TRUE(ring.open(b, kAd, &out));
  EXPECT_EQ(out, kPlain);
}

TEST_F(KeyRingTest, ManySealsHaveDistinctNonces) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  std::set<std::string> nonces;
  for (int i = 0; i < 500; ++i) nonces.insert(seal(ring, "x", kAd).substr(5, 24));
  EXPECT_EQ(nonces.size(), 500u);
}

TEST_F(KeyRingTest, DifferentKeyCannotOpen) {
  KeyRing a, b;
  make(kKeyA, "", &a);
  make(kKeyB, "", &b);
  std::string out;
  EXPECT_FALSE(b.open(seal(a, kPlain, kAd), kAd, &out));
  EXPECT_TRUE(out.empty());
}

TEST_F(KeyRingTest, RotationOldKeyStillOpens) {
  KeyRing ring_a, ring_b_with_a, ring_b_only;
  make(kKeyA, "", &ring_a);
  make(kKeyB, kKeyA, &ring_b_with_a);
  make(kKeyB, "", &ring_b_only);

  const std::string sealed_by_a = seal(ring_a, kPlain, kAd);
  std::string out;
  ASSERT_TRUE(ring_b_with_a.open(sealed_by_a, kAd, &out));
  EXPECT_EQ(out, kPlain);
  out.clear();
  EXPECT_FALSE(ring_b_only.open(sealed_by_a, kAd, &out));
  EXPECT_TRUE(out.empty());

  // The rotated ring seals with the new (current) key only.
  const std::string sealed_by_b = seal(ring_b_with_a, kPlain, kAd);
  EXPECT_FALSE(ring_a.open(sealed_by_b, kAd, &out));
  ASSERT_TRUE(ring_b_only.open(sealed_by_b, kAd, &out));
  EXPECT_EQ(out, kPlain);
}

TEST_F(KeyRingTest, OldListIsCommaSeparatedWithSpacesAndEmptyItems) {
  KeyRing ring_a, ring_c, rotated;
  make(kKeyA, "", &ring_a);
  make(kKeyC, "", &ring_c);
  make(kKeyB, " " + kKeyA + " , ," + kKeyC + ",", &rotated);
  std::string out;
  EXPECT_TRUE(rotated.open(seal(ring_a, kPlain, kAd), kAd, &out));
  EXPECT_TRUE(rotated.open(seal(ring_c, kPlain, kAd), kAd, &out));
}

TEST_F(KeyRingTest, UpperCaseHexKeyIsTheSameKey) {
  std::string upper = kKeyA;
  for (char& c : upper) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  KeyRing lower_ring, upper_ring;
  make(kKeyA, "", &lower_ring);
  make(upper, "", &upper_ring);
  std::string out;
  EXPECT_TRUE(upper_ring.open(seal(lower_ring, kPlain, kAd), kAd, &out));
}

// ---- create() errors: name the variable, never the value ----

TEST_F(KeyRingTest, BadCurrentKeyErrorNamesVariableNotValue) {
  const std::string marker = "MARKERCURRENTKEY-not-hex-" + std::string(39, 'q');  // 64 chars
  for (const std::string& bad :
       {marker, std::string("MARKERCURRENTKEY") + std::string(46, '0'), kKeyA.substr(0, 62),
        kKeyA + "00", std::string()}) {
    KeyRing ring;
    std::string error;
    EXPECT_FALSE(KeyRing::create(bad, "", false, &ring, &error));
    EXPECT_NE(error.find("ENCRYPTION_KEY"), std::string::npos) << error;
    EXPECT_EQ(error.find("MARKER"), std::string::npos) << "error echoes the value";
    if (!bad.empty()) {
      EXPECT_EQ(error.find(bad), std::string::npos) << "error echoes the value";
    }
  }
}

TEST_F(KeyRingTest, BadOldKeyErrorNamesVariableNotValue) {
  const std::string marker = "MARKEROLDKEY" + std::string(52, 'z');  // 64 chars, not hex
  for (const std::string& old : {marker, kKeyA + "," + marker, kKeyA + ",MARKEROLDKEY-short",
                                 kKeyA.substr(0, 63)}) {
    KeyRing ring;
    std::string error;
    EXPECT_FALSE(KeyRing::create(kKeyB, old, false, &ring, &error));
    EXPECT_NE(error.find("ENCRYPTION_KEYS_OLD"), std::string::npos) << error;
    EXPECT_EQ(error.find("MARKER"), std::string::npos) << "error echoes the value";
    EXPECT_EQ(error.find(kKeyA.substr(0, 16)), std::string::npos) << "error echoes a key";
    EXPECT_EQ(error.find(kKeyB.substr(0, 16)), std::string::npos) << "error echoes a key";
  }
}

TEST_F(KeyRingTest, OldKeysAreNeverDerivedEvenInDevelopment) {
  KeyRing ring;
  std::string error;
  EXPECT_FALSE(KeyRing::create("dev-encryption-key", "dev-old-key", true, &ring, &error));
  EXPECT_NE(error.find("ENCRYPTION_KEYS_OLD"), std::string::npos) << error;
  EXPECT_EQ(error.find("dev-old-key"), std::string::npos);
}

// ---- development derivation ----

TEST_F(KeyRingTest, DevelopmentKeyIsDerivedWhenAllowed) {
  KeyRing ring;
  make("dev-encryption-key", "", &ring, /*allow_derived=*/true);
  std::string out;
  ASSERT_TRUE(ring.open(seal(ring, kPlain, kAd), kAd, &out));
  EXPECT_EQ(out, kPlain);

  // Deterministic: the key is SHA-256 of the text, so another process (or the
  // same key given as hex) opens what this one sealed.
  KeyRing again;
  make("dev-encryption-key", "", &again, true);
  EXPECT_TRUE(again.open(seal(ring, kPlain, kAd), kAd, &out));

  const Sha256 h = sha256("dev-encryption-key");
  std::string h_hex(64, '\0');
  toHex(h, h_hex.data());
  KeyRing as_hex;
  make(h_hex, "", &as_hex);
  EXPECT_TRUE(as_hex.open(seal(ring, kPlain, kAd), kAd, &out));
}

TEST_F(KeyRingTest, DevelopmentKeyIsRefusedWithoutAllowDerived) {
  KeyRing ring;
  std::string error;
  EXPECT_FALSE(KeyRing::create("dev-encryption-key", "", false, &ring, &error));
  EXPECT_NE(error.find("ENCRYPTION_KEY"), std::string::npos) << error;
  EXPECT_EQ(error.find("dev-encryption-key"), std::string::npos) << "error echoes the value";
}

TEST_F(KeyRingTest, EmptyCurrentKeyIsRefusedEvenWhenDerivationAllowed) {
  KeyRing ring;
  std::string error;
  EXPECT_FALSE(KeyRing::create("", "", true, &ring, &error));
  EXPECT_NE(error.find("ENCRYPTION_KEY"), std::string::npos) << error;
}

TEST_F(KeyRingTest, HexCurrentKeyIsUsedAsIsWhenDerivationAllowed) {
  KeyRing derived_allowed, strict;
  make(kKeyA, "", &derived_allowed, true);
  make(kKeyA, "", &strict, false);
  std::string out;
  EXPECT_TRUE(strict.open(seal(derived_allowed, kPlain, kAd), kAd, &out));
}

TEST_F(KeyRingTest, MovedRingStillWorks) {
  KeyRing ring;
  make(kKeyA, "", &ring);
  const std::string sealed = seal(ring, kPlain, kAd);
  KeyRing moved = std::move(ring);
  std::string out;
  ASSERT_TRUE(moved.open(sealed, kAd, &out));
  EXPECT_EQ(out, kPlain);
}

}  // namespace
}  // namespace phigate::crypto
