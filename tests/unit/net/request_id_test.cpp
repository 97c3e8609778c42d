#include "net/request_id.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "crypto/random.h"

namespace phigate::net {
namespace {

TEST(RequestId, AcceptsOnlySafeCharactersUpTo64) {
  EXPECT_TRUE(isValidRequestId("a"));
  EXPECT_TRUE(isValidRequestId("Req-1.2_3"));
  EXPECT_TRUE(isValidRequestId(std::string(64, 'x')));
  EXPECT_FALSE(isValidRequestId(""));
  EXPECT_FALSE(isValidRequestId(std::string(65, 'x')));
  EXPECT_FALSE(isValidRequestId("a b"));
  EXPECT_FALSE(isValidRequestId("a/b"));
  EXPECT_FALSE(isValidRequestId("a\"b"));
  EXPECT_FALSE(isValidRequestId("caf\xc3\xa9"));
  EXPECT_FALSE(isValidRequestId("a\r\nX-Evil: 1"));
}

TEST(RequestId, KeepsValidClientIdElseFresh) {
  ASSERT_TRUE(crypto::initCrypto());
  char storage[kMaxRequestIdLength];
  EXPECT_EQ(chooseRequestId("client-id-7", storage), "client-id-7");
  std::string_view fresh = chooseRequestId("bad id", storage);
  EXPECT_EQ(fresh.size(), kFreshRequestIdLength);
  EXPECT_TRUE(isValidRequestId(fresh));
  EXPECT_EQ(fresh.find_first_not_of("0123456789abcdef"), std::string_view::npos);
}

TEST(RequestId, FreshIdsDoNotRepeat) {
  ASSERT_TRUE(crypto::initCrypto());
  std::set<std::string> seen;
  char storage[kMaxRequestIdLength];
  for (int i = 0; i < 10000; ++i) seen.insert(std::string(freshRequestId(storage)));
  EXPECT_EQ(seen.size(), 10000u);
}

}  // namespace
}  // namespace phigate::net
