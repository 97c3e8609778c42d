#include "pipeline/client_ip.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>
#include "support/ip_literals.h"

namespace phigate::pipeline {
namespace {

using test::format;
using test::ip;

class ClientIpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(CidrList::parse("10.0.0.0/8, 2001:db8:ffff::/48", &trusted_, &error)) << error;
  }

  // Resolves with the given X-Forwarded-For header instances, in order.
  ClientIp resolve(std::string_view peer, std::initializer_list<std::string_view> values) const {
    const std::vector<std::string_view> headers(values);
    return resolveClientIp(ip(peer), headers, trusted_);
  }

  CidrList trusted_;
};

// Checks both the address and how it was found.
#define EXPECT_CLIENT(result, expected_ip, expected_source)                        \
  do {                                                                             \
    const ClientIp r_ = (result);                                                  \
    EXPECT_EQ(format(r_.ip), (expected_ip));                                       \
    EXPECT_EQ(clientIpSourceName(r_.source), clientIpSourceName(expected_source)); \
  } while (0)

// ---- untrusted peers ----

TEST_F(ClientIpTest, UntrustedPeerIgnoresForwardedFor) {
  EXPECT_CLIENT(resolve("203.0.113.9", {"1.2.3.4"}), "203.0.113.9", ClientIpSource::kPeer);
  EXPECT_CLIENT(resolve("203.0.113.9", {"10.0.0.1"}), "203.0.113.9", ClientIpSource::kPeer);
  EXPECT_CLIENT(resolve("203.0.113.9", {"1.2.3.4, 10.0.0.2"}), "203.0.113.9",
                ClientIpSource::kPeer);
  EXPECT_CLIENT(resolve("203.0.113.9", {"garbage"}), "203.0.113.9", ClientIpSource::kPeer);
  EXPECT_CLIENT(resolve("203.0.113.9", {}), "203.0.113.9", ClientIpSource::kPeer);
  EXPECT_CLIENT(resolve("2001:db8::9", {"1.2.3.4"}), "2001:db8::9", ClientIpSource::kPeer);
}

TEST_F(ClientIpTest, EmptyTrustedListMeansAlwaysThePeer) {
  const CidrList none;
  const std::vector<std::string_view> headers = {"1.2.3.4", "10.0.0.1"};
  const ClientIp r = resolveClientIp(ip("10.0.0.5"), headers, none);
  EXPECT_EQ(r.ip, ip("10.0.0.5"));
  EXPECT_EQ(r.source, ClientIpSource::kPeer);
}

TEST_F(ClientIpTest, V4MappedPeerIsMatchedAgainstIpv4Blocks) {
  const unsigned char peer_bytes[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7};
  const std::vector<std::string_view> headers = {"1.2.3.4"};
  const ClientIp r = resolveClientIp(ipFromBytes(peer_bytes), headers, trusted_);
  EXPECT_EQ(r.ip, ip("1.2.3.4"));
  EXPECT_EQ(r.source, ClientIpSource::kForwardedFor);
}

// ---- trusted peers ----

TEST_F(ClientIpTest, TrustedPeerSkipsTrustedHops) {
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4"}), "1.2.3.4", ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4, 10.0.0.2"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4,10.0.0.2,10.9.9.9"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
}

TEST_F(ClientIpTest, AttackerPrependedEntriesAreIgnored) {
  // The client at 1.2.3.4 sent "X-Forwarded-For: 6.6.6.6"; our proxy appended 1.2.3.4.
  EXPECT_CLIENT(resolve("10.0.0.1", {"6.6.6.6, 1.2.3.4"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"6.6.6.6, 7.7.7.7, 1.2.3.4, 10.0.0.2"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
  // Forging a trusted address on the left does not help: the right-most untrusted entry wins.
  EXPECT_CLIENT(resolve("10.0.0.1", {"10.0.0.99, 1.2.3.4"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
  // Nor does claiming loopback or a private range we do not trust.
  EXPECT_CLIENT(resolve("10.0.0.1", {"127.0.0.1, 192.168.0.1, 1.2.3.4"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
}

TEST_F(ClientIpTest, NeverTheLeftMostUnlessEverythingRightOfItIsTrusted) {
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.1.1.1, 2.2.2.2, 3.3.3.3"}), "3.3.3.3",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.1.1.1, 10.0.0.3, 10.0.0.2"}), "1.1.1.1",
                ClientIpSource::kForwardedFor);
}

TEST_F(ClientIpTest, AllTrustedChainAnswersTheLeftMost) {
  EXPECT_CLIENT(resolve("10.0.0.1", {"10.0.0.3, 10.0.0.2"}), "10.0.0.3",
                ClientIpSource::kLastTrustedHop);
  EXPECT_CLIENT(resolve("10.0.0.1", {"10.0.0.4", "10.0.0.3, 10.0.0.2"}), "10.0.0.4",
                ClientIpSource::kLastTrustedHop);
  EXPECT_CLIENT(resolve("10.0.0.1", {"2001:db8:ffff::1, 10.0.0.2"}), "2001:db8:ffff::1",
                ClientIpSource::kLastTrustedHop);
}

TEST_F(ClientIpTest, TrustedPeerWithoutHeaderIsThePeer) {
  EXPECT_CLIENT(resolve("10.0.0.1", {}), "10.0.0.1", ClientIpSource::kLastTrustedHop);
}

TEST_F(ClientIpTest, EmptyHeaderIsThePeer) {
  EXPECT_CLIENT(resolve("10.0.0.1", {""}), "10.0.0.1", ClientIpSource::kLastTrustedHop);
  EXPECT_CLIENT(resolve("10.0.0.1", {"   "}), "10.0.0.1", ClientIpSource::kLastTrustedHop);
  EXPECT_CLIENT(resolve("10.0.0.1", {","}), "10.0.0.1", ClientIpSource::kLastTrustedHop);
}

TEST_F(ClientIpTest, MultipleHeaderInstancesActAsOneList) {
  // As if "6.6.6.6, 1.2.3.4, 10.0.0.2": the last instance is the nearest hop.
  EXPECT_CLIENT(resolve("10.0.0.1", {"6.6.6.6", "1.2.3.4", "10.0.0.2"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"6.6.6.6, 1.2.3.4", "10.0.0.3, 10.0.0.2"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4", "5.6.7.8"}), "5.6.7.8",
                ClientIpSource::kForwardedFor);
  // A forged first instance never outranks the one our proxy added.
  EXPECT_CLIENT(resolve("10.0.0.1", {"10.0.0.50", "1.2.3.4"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
}

TEST_F(ClientIpTest, EmptyInstanceIsAnEmptyEntry) {
  // {"1.2.3.4", ""} behaves like "1.2.3.4," : the nearest entry is empty.
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4", ""}), "10.0.0.1", ClientIpSource::kLastTrustedHop);
  // An empty instance left of the client is never reached.
  EXPECT_CLIENT(resolve("10.0.0.1", {"", "1.2.3.4"}), "1.2.3.4", ClientIpSource::kForwardedFor);
}

TEST_F(ClientIpTest, GarbageStopsTheWalkAtTheLastGoodAddress) {
  // Garbage right next to the peer: the peer is the answer.
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4, garbage"}), "10.0.0.1",
                ClientIpSource::kLastTrustedHop);
  // Garbage in the middle, behind a trusted hop: that hop is the answer, never what is left of it.
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4, unknown, 10.0.0.2"}), "10.0.0.2",
                ClientIpSource::kLastTrustedHop);
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4", "garbage", "10.0.0.3, 10.0.0.2"}), "10.0.0.3",
                ClientIpSource::kLastTrustedHop);
  // Garbage left of the client is never looked at.
  EXPECT_CLIENT(resolve("10.0.0.1", {"garbage, 1.2.3.4"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"garbage", "1.2.3.4, 10.0.0.2"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
}

TEST_F(ClientIpTest, UnparseableEntries) {
  const std::string_view bad[] = {
      "",
      "unknown",
      "_hidden",
      "1.2.3.4:80",
      "[2001:db8::1]:443",
      "2001:db8::1%eth0",
      "[1.2.3.4]",
      "[]",
      "[",
      "[::1",
      "::1]",
      "1.2.3",
      "1.2.3.256",
      "01.2.3.4",
      "1.2.3.4/32",
      "for=1.2.3.4",
      "\"1.2.3.4\"",
      "1.2.3.4 5.6.7.8",
      "1.2.3.4;",
      "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255.",  // 46 bytes: too long and invalid
  };
  for (std::string_view entry : bad) {
    const std::string header = "1.2.3.4, " + std::string(entry) + ", 10.0.0.2";
    EXPECT_CLIENT(resolve("10.0.0.1", {header}), "10.0.0.2", ClientIpSource::kLastTrustedHop);
  }
}

TEST_F(ClientIpTest, OverlongEntriesAreGarbage) {
  // Surrounding whitespace is trimmed before the length check; 64 bytes of
  // entry (more than any literal plus its NUL) is garbage whatever its content.
  const std::string padded_ok = std::string(70, ' ') + "1.2.3.4" + std::string(70, '\t');
  EXPECT_CLIENT(resolve("10.0.0.1", {padded_ok}), "1.2.3.4", ClientIpSource::kForwardedFor);
  const std::string long_entry(64, '1');
  EXPECT_CLIENT(resolve("10.0.0.1", {long_entry}), "10.0.0.1", ClientIpSource::kLastTrustedHop);
  const std::string huge(100000, 'a');
  EXPECT_CLIENT(resolve("10.0.0.1", {huge}), "10.0.0.1", ClientIpSource::kLastTrustedHop);
}

TEST_F(ClientIpTest, EmbeddedNulIsGarbage) {
  const std::string_view with_nul("1.2.3.4\0, 10.0.0.2", 18);
  EXPECT_CLIENT(resolve("10.0.0.1", {with_nul}), "10.0.0.2", ClientIpSource::kLastTrustedHop);
}

TEST_F(ClientIpTest, WhitespaceAroundCommas) {
  EXPECT_CLIENT(resolve("10.0.0.1", {"6.6.6.6 ,\t1.2.3.4\t, 10.0.0.2 "}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"  1.2.3.4  "}), "1.2.3.4", ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4,10.0.0.2"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
}

TEST_F(ClientIpTest, Ipv6Entries) {
  EXPECT_CLIENT(resolve("10.0.0.1", {"2001:db8::1"}), "2001:db8::1", ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"[2001:db8::1]"}), "2001:db8::1",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"6.6.6.6, 2001:DB8::1, 2001:db8:ffff::2"}), "2001:db8::1",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"[2001:db8::1], [2001:db8:ffff::2]"}), "2001:db8::1",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"::ffff:1.2.3.4"}), "1.2.3.4", ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("10.0.0.1", {"[::ffff:1.2.3.4]"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
}

TEST_F(ClientIpTest, Ipv6PeerAndProxies) {
  EXPECT_CLIENT(resolve("2001:db8:ffff::1", {"2001:db8::42"}), "2001:db8::42",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("2001:db8:ffff::1", {"1.2.3.4, [2001:db8:ffff::5]"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
  EXPECT_CLIENT(resolve("2001:db8:ffff::1", {"[2001:db8::42]:8080"}), "2001:db8:ffff::1",
                ClientIpSource::kLastTrustedHop);
}

TEST_F(ClientIpTest, V4MappedTrustedHopInHeaderIsSkipped) {
  EXPECT_CLIENT(resolve("10.0.0.1", {"1.2.3.4, ::ffff:10.0.0.2"}), "1.2.3.4",
                ClientIpSource::kForwardedFor);
}

TEST_F(ClientIpTest, TrustEverythingStillAnswersAnAddressFromTheChain) {
  // A (misconfigured) ::/0 trust list: every entry is trusted, so the left-most
  // is the answer and is flagged as such for audit.
  CidrList all;
  std::string error;
  ASSERT_TRUE(CidrList::parse("::/0", &all, &error));
  const std::vector<std::string_view> headers = {"6.6.6.6, 1.2.3.4"};
  const ClientIp r = resolveClientIp(ip("10.0.0.1"), headers, all);
  EXPECT_EQ(r.ip, ip("6.6.6.6"));
  EXPECT_EQ(r.source, ClientIpSource::kLastTrustedHop);
}

TEST(ClientIpSourceName, StableNames) {
  EXPECT_EQ(clientIpSourceName(ClientIpSource::kPeer), "peer");
  EXPECT_EQ(clientIpSourceName(ClientIpSource::kForwardedFor), "forwarded_for");
  EXPECT_EQ(clientIpSourceName(ClientIpSource::kLastTrustedHop), "last_trusted_hop");
}

}  // namespace
}  // namespace phigate::pipeline
