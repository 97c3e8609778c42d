#include "crypto/hash.h"

#include <gtest/gtest.h>

#include <array>
#include <span>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/random.h"

namespace phigate::crypto {
namespace {

class HashTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(initCrypto()); }
};

std::string hex(std::span<const uint8_t> bytes) {
  std::string out(2 * bytes.size(), '\0');
  toHex(bytes, out.data());
  return out;
}

std::span<const uint8_t> bytesOf(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// ---- SHA-256 (FIPS 180-2 known answers) ----

TEST_F(HashTest, Sha256OfAbc) {
  EXPECT_EQ(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(HashTest, Sha256OfEmptyString) {
  EXPECT_EQ(hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(HashTest, Sha256OfTwoBlockMessage) {
  EXPECT_EQ(hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_F(HashTest, Sha256HashesEmbeddedNulBytes) {
  const std::string with_nul("a\0b", 3);
  EXPECT_NE(sha256(with_nul), sha256("a"));
  EXPECT_NE(sha256(with_nul), sha256("ab"));
}

// ---- HMAC-SHA256 (RFC 4231) ----

TEST_F(HashTest, HmacRfc4231TestCase1) {
  const std::vector<uint8_t> key(20, 0x0b);
  EXPECT_EQ(hex(hmacSha256(key, {"Hi There"})),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST_F(HashTest, HmacRfc4231TestCase2Jefe) {
  EXPECT_EQ(hex(hmacSha256(bytesOf("Jefe"), {"what do ya want for nothing?"})),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_F(HashTest, HmacRfc4231TestCase6KeyLongerThanBlock) {
  const std::vector<uint8_t> key(131, 0xaa);
  EXPECT_EQ(hex(hmacSha256(key, {"Test Using Larger Than Block-Size Key - Hash Key First"})),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_F(HashTest, HmacOfPartsEqualsHmacOfConcatenation) {
  const auto whole = hmacSha256(bytesOf("Jefe"), {"what do ya want for nothing?"});
  EXPECT_EQ(hmacSha256(bytesOf("Jefe"), {"what do ", "ya want", "", " for nothing?"}), whole);
  EXPECT_EQ(hmacSha256(bytesOf("Jefe"), {"", "what do ya want for nothing?", ""}), whole);
}

TEST_F(HashTest, HmacDependsOnKey) {
  EXPECT_NE(hmacSha256(bytesOf("Jefe"), {"message"}), hmacSha256(bytesOf("Jeff"), {"message"}));
}

// ---- toHex / fromHex ----

TEST_F(HashTest, ToHexIsLowerCaseAndWritesExactlyTwicePerByte) {
  const std::array<uint8_t, 5> bytes{0x00, 0x01, 0x7f, 0xab, 0xff};
  std::string out(12, '#');  // two sentinel chars after the 10 hex digits
  toHex(bytes, out.data());
  EXPECT_EQ(out, "00017fabff##");
}

TEST_F(HashTest, ToHexOfNothingWritesNothing) {
  char out[1] = {'#'};
  toHex(std::span<const uint8_t>(), out);
  EXPECT_EQ(out[0], '#');
}

TEST_F(HashTest, HexRoundTripOfAllByteValues) {
  std::vector<uint8_t> bytes(256);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  const std::string text = hex(bytes);
  ASSERT_EQ(text.size(), 512u);
  std::vector<uint8_t> back(256, 0);
  ASSERT_TRUE(fromHex(text, back));
  EXPECT_EQ(back, bytes);
}

TEST_F(HashTest, FromHexAcceptsUpperAndMixedCase) {
  std::array<uint8_t, 4> out{};
  ASSERT_TRUE(fromHex("DEADbeef", out));
  EXPECT_EQ(out, (std::array<uint8_t, 4>{0xde, 0xad, 0xbe, 0xef}));
}

TEST_F(HashTest, FromHexRejectsOddLength) {
  std::array<uint8_t, 2> out{};
  EXPECT_FALSE(fromHex("abc", out));
  std::array<uint8_t, 1> one{};
  EXPECT_FALSE(fromHex("a", one));
  EXPECT_FALSE(fromHex("abc", one));
}

TEST_F(HashTest, FromHexRejectsWrongLength) {
  std::array<uint8_t, 2> out{};
  EXPECT_FALSE(fromHex("", out));
  EXPECT_FALSE(fromHex("ab", out));
  EXPECT_FALSE(fromHex("abcdef", out));
  std::array<uint8_t, kSha256Bytes> digest{};
  EXPECT_FALSE(fromHex(std::string(63, 'a'), digest));
  EXPECT_FALSE(fromHex(std::string(65, 'a'), digest));
  EXPECT_TRUE(fromHex(std::string(64, 'a'), digest));
}

TEST_F(HashTest, FromHexRejectsNonHexCharacters) {
  std::array<uint8_t, 2> out{};
  for (std::string_view bad : {"abcg", "gbcd", "ab c", " abc", "abc ", "0x12", "ab-d", "zzzz",
                               "ab:d", "ab/d", "ab@d", "ab`d", "abGd", "ab\xff" "d"}) {
    EXPECT_FALSE(fromHex(bad, out)) << "input #" << bad.size();
  }
  EXPECT_FALSE(fromHex(std::string_view("ab\0d", 4), out));
}

TEST_F(HashTest, FromHexOfEmptyIntoEmptySucceeds) {
  EXPECT_TRUE(fromHex("", std::span<uint8_t>()));
}

// ---- constantTimeEqual ----

TEST_F(HashTest, ConstantTimeEqualOnEqualBuffers) {
  const Sha256 a = sha256("abc");
  const Sha256 b = sha256("abc");
  EXPECT_TRUE(constantTimeEqual(a.data(), b.data(), a.size()));
}

TEST_F(HashTest, ConstantTimeEqualDetectsADifferenceAtEveryPosition) {
  const Sha256 a = sha256("abc");
  for (size_t i = 0; i < a.size(); ++i) {
    Sha256 b = a;
    b[i] ^= 0x01;
    EXPECT_FALSE(constantTimeEqual(a.data(), b.data(), a.size())) << "byte " << i;
    b[i] = a[i] ^ 0x80;
    EXPECT_FALSE(constantTimeEqual(a.data(), b.data(), a.size())) << "byte " << i;
  }
}

TEST_F(HashTest, ConstantTimeEqualComparesOnlyNBytes) {
  const char a[] = "abcdX";
  const char b[] = "abcdY";
  EXPECT_TRUE(constantTimeEqual(a, b, 4));
  EXPECT_FALSE(constantTimeEqual(a, b, 5));
  EXPECT_TRUE(constantTimeEqual(a, b, 0));
}

}  // namespace
}  // namespace phigate::crypto
