#include "crypto/pseudonym.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "crypto/random.h"

namespace phigate::crypto {
namespace {

using Kind = Pseudonymizer::Kind;

// 000102...1f: a test key, not a secret.
const std::string kSecret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string kOtherSecret = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

class PseudonymTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(initCrypto()); }

  static Pseudonymizer make(const std::string& secret, bool allow_derived = false) {
    Pseudonymizer p;
    std::string error;
    EXPECT_TRUE(Pseudonymizer::create(secret, allow_derived, &p, &error)) << error;
    return p;
  }
  static std::string text(const Pseudonymizer& p, Kind kind, std::string_view value) {
    std::string out(Pseudonymizer::kTextChars, '?');
    p.text(kind, value, out.data());
    return out;
  }
};

// Known answers computed independently (Python's hashlib.blake2b: the KDF is
// BLAKE2b keyed with the master key, salt = subkey id, personal = context;
// the pseudonym is BLAKE2b-128 keyed with the subkey, personal =
// "phigate.redis.<kind>"). They pin the scheme: a change would rename every
// key a running deployment keeps in Redis.
TEST_F(PseudonymTest, KnownAnswers) {
  const Pseudonymizer p = make(kSecret);
  EXPECT_EQ(text(p, Kind::kNonce, "nonce-0000000000-abc"), "899afeabd4fc68a719cfa1dc14ce5ce6");
  EXPECT_EQ(text(p, Kind::kIdempotencyKey, "order-0001"), "37e6f6de3aedcec719355a9a423285bb");
  EXPECT_EQ(text(p, Kind::kClientAddress, "203.0.113.7"), "b73807cc51d0c6102d8196267954d999");
  EXPECT_EQ(text(p, Kind::kClientAddress, ""), "679796640ba3012f4f4608bf8da64b6c");
}

TEST_F(PseudonymTest, DevelopmentKeyThatIsNotHexIsStretched) {
  const Pseudonymizer p = make("dev-secret-key", true);
  EXPECT_EQ(text(p, Kind::kClientAddress, "203.0.113.7"), "07102d4d74aa29758fcbd8eadecc7db4");
}

TEST_F(PseudonymTest, ProductionNeedsHexAndNamesOnlyTheVariable) {
  Pseudonymizer p;
  std::string error;
  EXPECT_FALSE(Pseudonymizer::create("MARKERnot-hex", false, &p, &error));
  EXPECT_FALSE(p.ready());
  EXPECT_NE(error.find("SECRET_KEY"), std::string::npos);
  EXPECT_EQ(error.find("MARKER"), std::string::npos);
  EXPECT_FALSE(Pseudonymizer::create("", true, &p, &error));
}

TEST_F(PseudonymTest, SameValueSameNameAcrossInstances) {
  // Two processes with one SECRET_KEY must find each other's keys.
  const Pseudonymizer a = make(kSecret), b = make(kSecret);
  EXPECT_EQ(text(a, Kind::kNonce, "n-1234567890abcdef"), text(b, Kind::kNonce, "n-1234567890abcdef"));
}

TEST_F(PseudonymTest, KindsKeysAndValuesAreSeparated) {
  const Pseudonymizer p = make(kSecret), q = make(kOtherSecret);
  std::set<std::string> seen = {
      text(p, Kind::kNonce, "same"), text(p, Kind::kIdempotencyKey, "same"),
      text(p, Kind::kClientAddress, "same"), text(q, Kind::kNonce, "same"),
      text(p, Kind::kNonce, "same "), text(p, Kind::kNonce, std::string("same\0", 5))};
  EXPECT_EQ(seen.size(), 6u);
}

TEST_F(PseudonymTest, OutputIsLowerHexAndNeverTheValue) {
  const Pseudonymizer p = make(kSecret);
  const std::string value = "0123456789abcdef0123456789abcdef";  // looks like a pseudonym itself
  const std::string t = text(p, Kind::kIdempotencyKey, value);
  EXPECT_EQ(t.size(), Pseudonymizer::kTextChars);
  EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos) << t;
  EXPECT_NE(t, value);
}

TEST_F(PseudonymTest, MovedFromInstanceHoldsNoKey) {
  Pseudonymizer a = make(kSecret);
  const std::string before = text(a, Kind::kNonce, "x");
  Pseudonymizer b = std::move(a);
  EXPECT_FALSE(a.ready());  // NOLINT(bugprone-use-after-move): that is the point
  ASSERT_TRUE(b.ready());
  EXPECT_EQ(text(b, Kind::kNonce, "x"), before);
}

TEST_F(PseudonymTest, UnkeyedUseAborts) {
  const Pseudonymizer p;
  char out[Pseudonymizer::kTextChars];
  EXPECT_DEATH(p.text(Kind::kNonce, "x", out), "");
}

}  // namespace
}  // namespace phigate::crypto
