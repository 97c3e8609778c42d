// What the per-address connection cap counts a peer as.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "net/worker.h"

namespace phigate::net {
namespace {

using Key = std::array<unsigned char, 16>;

// A socket peer as the worker sees it: IPv6, or IPv4 mapped into ::ffff:0:0/96.
Key peer(const char* text) {
  unsigned char bytes[16] = {};
  if (inet_pton(AF_INET6, text, bytes) != 1) {
    unsigned char v4[4];
    EXPECT_EQ(inet_pton(AF_INET, text, v4), 1) << text;
    bytes[10] = bytes[11] = 0xff;
    memcpy(bytes + 12, v4, 4);
  }
  Key k;
  memcpy(k.data(), bytes, k.size());
  return k;
}

Key capKey(const char* text) {
  const Key p = peer(text);
  unsigned char bytes[16];
  memcpy(bytes, p.data(), sizeof bytes);
  return connectionCapKey(bytes);
}

TEST(ConnectionCapKey, Ipv4AloneIpv6ByItsSlash64) {
  EXPECT_EQ(capKey("203.0.113.7"), peer("203.0.113.7"));
  EXPECT_NE(capKey("203.0.113.7"), capKey("203.0.113.8"));
  EXPECT_EQ(capKey("2001:db8:1:2::1"), peer("2001:db8:1:2::"));
  EXPECT_EQ(capKey("2001:db8:1:2::1"), capKey("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_NE(capKey("2001:db8:1:2::1"), capKey("2001:db8:1:3::1"));
  // IPv4 clients behind NAT64 are counted one by one, like IPv4.
  EXPECT_EQ(capKey("64:ff9b::203.0.113.7"), peer("64:ff9b::203.0.113.7"));
  EXPECT_NE(capKey("64:ff9b::203.0.113.7"), capKey("64:ff9b::203.0.113.8"));
}

}  // namespace
}  // namespace phigate::net
