#include "pipeline/cidr.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include "support/ip_literals.h"

namespace phigate::pipeline {
namespace {

using test::format;
using test::ip;
CidrList list(std::string_view text) { return test::cidrs(text); }

// The parse error for `text`, or "<accepted>" when it parsed.
std::string parseError(std::string_view text) {
  CidrList out;
  std::string error;
  if (CidrList::parse(text, &out, &error)) return "<accepted>";
  return error;
}

// ---- IpAddress / parseIp / formatIp ----

TEST(ParseIp, Ipv4IsStoredV4Mapped) {
  const IpAddress a = ip("10.0.0.1");
  const std::array<uint8_t, 16> expected = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
  EXPECT_EQ(a.bytes, expected);
  EXPECT_TRUE(a.isV4());
  EXPECT_EQ(a, ip("::ffff:10.0.0.1"));
  EXPECT_EQ(a, ip("::FFFF:a00:1"));
  EXPECT_EQ(a, ip("0:0:0:0:0:ffff:0a00:0001"));
}

TEST(ParseIp, Ipv6) {
  const IpAddress a = ip("2001:db8::1");
  EXPECT_FALSE(a.isV4());
  EXPECT_EQ(a.bytes[0], 0x20);
  EXPECT_EQ(a.bytes[1], 0x01);
  EXPECT_EQ(a.bytes[2], 0x0d);
  EXPECT_EQ(a.bytes[3], 0xb8);
  EXPECT_EQ(a.bytes[15], 1);
  EXPECT_EQ(a, ip("2001:0DB8:0000:0000:0000:0000:0000:0001"));

  const IpAddress loopback = ip("::1");
  EXPECT_FALSE(loopback.isV4());
  EXPECT_EQ(loopback.bytes[15], 1);
  EXPECT_FALSE(ip("::").isV4());
  EXPECT_EQ(ip("::"), IpAddress{});
}

TEST(ParseIp, Ipv4CompatibleAndNearMissesAreNotV4) {
  EXPECT_FALSE(ip("::1.2.3.4").isV4());  // deprecated v4-compatible, not mapped
  EXPECT_FALSE(ip("::fffe:1.2.3.4").isV4());
  EXPECT_FALSE(ip("1::ffff:1.2.3.4").isV4());
}

TEST(ParseIp, RejectsMalformed) {
  const char* const bad[] = {
      "",
      " ",
      "10.0.0.1 ",
      " 10.0.0.1",
      "10.0.0",
      "10.1",
      "10.0.0.256",
      "10.0.0.1.2",
      "010.0.0.1",  // octal-looking: ambiguous between parsers
      "10.0.0.-1",
      "0x0a.0.0.1",
      "167772161",  // a bare integer is an address to inet_aton, not to us
      "10.0.0.1:80",
      "10.0.0.1/8",
      "[::1]",
      "[::1]:443",
      "::1%eth0",
      "fe80::1%1",
      "2001:db8:::1",
      "2001:db8::1::2",
      "1:2:3:4:5:6:7:8:9",
      "12345::1",
      "g::1",
      "unknown",
      "localhost",
      "_hidden",
  };
  for (const char* text : bad) {
    IpAddress out = ip("192.0.2.7");
    EXPECT_FALSE(parseIp(text, &out)) << text;
    EXPECT_EQ(out, ip("192.0.2.7")) << "output changed on failure: " << text;
  }
}

TEST(ParseIp, RejectsEmbeddedNulAndOverlongText) {
  IpAddress out;
  EXPECT_FALSE(parseIp(std::string_view("1.2.3.4\0junk", 12), &out));
  EXPECT_FALSE(parseIp(std::string_view("1.2.3.4\0", 8), &out));
  EXPECT_FALSE(parseIp(std::string(64, '1'), &out));
  EXPECT_FALSE(parseIp(std::string(1000, ':'), &out));
  // The longest legal literal (45 characters) still parses.
  const std::string longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  ASSERT_EQ(longest.size(), 45u);
  EXPECT_TRUE(parseIp(longest, &out));
  // Only a view's own bytes are read, not what follows it in memory.
  const std::string_view prefix_of("10.0.0.12345", 8);
  ASSERT_TRUE(parseIp(prefix_of, &out));
  EXPECT_EQ(out, ip("10.0.0.1"));
}

TEST(IpFromBytes, KeepsTheSocketBytes) {
  const unsigned char mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 5};
  EXPECT_EQ(ipFromBytes(mapped), ip("192.168.1.5"));
  EXPECT_TRUE(ipFromBytes(mapped).isV4());
  const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
  EXPECT_EQ(ipFromBytes(v6), ip("2001:db8::42"));
}

TEST(FormatIp, DottedQuadForV4AndCanonicalV6) {
  EXPECT_EQ(format(ip("10.0.0.1")), "10.0.0.1");
  EXPECT_EQ(format(ip("::ffff:10.0.0.1")), "10.0.0.1");
  EXPECT_EQ(format(ip("0.0.0.0")), "0.0.0.0");
  EXPECT_EQ(format(ip("255.255.255.255")), "255.255.255.255");
  EXPECT_EQ(format(ip("2001:0DB8:0:0:0:0:0:1")), "2001:db8::1");
  EXPECT_EQ(format(ip("::1")), "::1");
  EXPECT_EQ(format(ip("::")), "::");
  const std::string widest = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  EXPECT_EQ(format(ip(widest)), widest);
}

TEST(FormatIp, RoundTrips) {
  for (const char* text :
       {"1.2.3.4", "203.0.113.255", "2001:db8::", "fe80::1:2", "2001:db8:1:2:3:4:5:6"}) {
    EXPECT_EQ(format(ip(text)), text);
    EXPECT_EQ(ip(format(ip(text))), ip(text));
  }
}

// ---- CidrList::parse ----

TEST(CidrListParse, EmptyTextIsAnEmptyList) {
  for (std::string_view text : {"", " ", "\t\n  \r\n"}) {
    CidrList out = list("10.0.0.0/8");
    std::string error;
    ASSERT_TRUE(CidrList::parse(text, &out, &error));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(out.size(), 0u);
    EXPECT_FALSE(out.contains(ip("10.0.0.1")));
    EXPECT_FALSE(out.contains(ip("::")));
  }
}

TEST(CidrListParse, SeparatorsAreCommasAndOrWhitespace) {
  const std::string_view forms[] = {
      "10.0.0.0/8,192.168.0.0/16,2001:db8::/32",
      "10.0.0.0/8, 192.168.0.0/16 , 2001:db8::/32",
      "10.0.0.0/8 192.168.0.0/16\t2001:db8::/32",
      "  10.0.0.0/8\n192.168.0.0/16,\n 2001:db8::/32\n",
      "10.0.0.0/8 ,192.168.0.0/16  2001:db8::/32",
  };
  for (std::string_view text : forms) {
    const CidrList l = list(text);
    EXPECT_EQ(l.size(), 3u) << text;
    EXPECT_TRUE(l.contains(ip("10.255.0.1"))) << text;
    EXPECT_TRUE(l.contains(ip("192.168.77.1"))) << text;
    EXPECT_TRUE(l.contains(ip("2001:db8:ffff::1"))) << text;
    EXPECT_FALSE(l.contains(ip("172.16.0.1"))) << text;
  }
}

TEST(CidrListParse, BareAddressesAreSingleHosts) {
  const CidrList l = list("192.168.1.5, ::1");
  EXPECT_TRUE(l.contains(ip("192.168.1.5")));
  EXPECT_FALSE(l.contains(ip("192.168.1.4")));
  EXPECT_FALSE(l.contains(ip("192.168.1.6")));
  EXPECT_TRUE(l.contains(ip("::1")));
  EXPECT_FALSE(l.contains(ip("::2")));
  EXPECT_FALSE(l.contains(ip("::")));
  // ::1 is not 0.0.0.1 in any spelling.
  EXPECT_FALSE(l.contains(ip("0.0.0.1")));
}

TEST(CidrListParse, HostBitsBeyondThePrefixAreMasked) {
  const CidrList v4 = list("10.1.2.3/8");
  EXPECT_TRUE(v4.contains(ip("10.0.0.0")));
  EXPECT_TRUE(v4.contains(ip("10.200.3.4")));
  EXPECT_FALSE(v4.contains(ip("11.0.0.0")));

  const CidrList v6 = list("2001:db8:aaaa::1/32");
  EXPECT_TRUE(v6.contains(ip("2001:db8::")));
  EXPECT_TRUE(v6.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(v6.contains(ip("2001:db9::")));
}

TEST(CidrListParse, AcceptsPrefixLimitsAndLeadingZeros) {
  EXPECT_EQ(parseError("10.0.0.0/0"), "<accepted>");
  EXPECT_EQ(parseError("10.0.0.0/32"), "<accepted>");
  EXPECT_EQ(parseError("10.0.0.0/08"), "<accepted>");
  EXPECT_EQ(parseError("::/0"), "<accepted>");
  EXPECT_EQ(parseError("::1/128"), "<accepted>");
  EXPECT_EQ(parseError("::ffff:10.0.0.0/104"), "<accepted>");
  EXPECT_EQ(parseError("::ffff:0:0/96"), "<accepted>");
}

TEST(CidrListParse, RejectsMalformedEntriesByPosition) {
  struct Case {
    std::string_view text;
    std::string_view expected_prefix;
  };
  const Case cases[] = {
      {"10.0.0.0/33", "entry 1: IPv4 prefix length must be 0 to 32"},
      {"::/129", "entry 1: IPv6 prefix length must be 0 to 128"},
      {"10.0.0.0/8, 2001:db8::/200", "entry 2: IPv6 prefix length must be 0 to 128"},
      {"10.0.0.0/8,,10.1.0.0/16", "entry 2 is empty"},
      {"10.0.0.0/8, ,10.1.0.0/16", "entry 2 is empty"},
      {",10.0.0.0/8", "entry 1 is empty"},
      {"10.0.0.0/8,", "entry 2 is empty"},
      {"10.0.0.0/8 , ", "entry 2 is empty"},
      {"10.0.0.0/8, 1.2.3.4, 10.0.0.0/x", "entry 3: prefix length after '/' must be"},
      {"10.0.0.0/", "entry 1: prefix length after '/' must be"},
      {"10.0.0.0/-8", "entry 1: prefix length after '/' must be"},
      {"10.0.0.0/+8", "entry 1: prefix length after '/' must be"},
      {"10.0.0.0/8/8", "entry 1: prefix length after '/' must be"},
      {"10.0.0.0/0008", "entry 1: prefix length after '/' must be"},
      {"10.0.0.0/99999999999999999999", "entry 1: prefix length after '/' must be"},
      {"/8", "entry 1: not a valid IPv4 or IPv6 address"},
      {"10.0.0/8", "entry 1: not a valid IPv4 or IPv6 address"},
      {"10.0.0.0.0/8", "entry 1: not a valid IPv4 or IPv6 address"},
      {"300.0.0.0/8", "entry 1: not a valid IPv4 or IPv6 address"},
      {"localhost", "entry 1: not a valid IPv4 or IPv6 address"},
      {"10.0.0.1:80", "entry 1: not a valid IPv4 or IPv6 address"},
      {"1.1.1.1 2.2.2.2 junk", "entry 3: not a valid IPv4 or IPv6 address"},
      {"[::1]", "entry 1: brackets are not allowed"},
      {"[2001:db8::]/32", "entry 1: brackets are not allowed"},
      {"fe80::/10%eth0", "entry 1: zone ids are not allowed"},
      {"fe80::1%eth0", "entry 1: zone ids are not allowed"},
      {"::ffff:10.0.0.0/8", "entry 1: an IPv4-mapped IPv6 block needs a prefix of at least 96"},
      {"::ffff:0:0/95", "entry 1: an IPv4-mapped IPv6 block needs a prefix of at least 96"},
  };
  for (const Case& c : cases) {
    const std::string error = parseError(c.text);
    EXPECT_EQ(error.rfind(c.expected_prefix, 0), 0u) << "text: " << c.text << "\nerror: " << error;
  }
  EXPECT_EQ(parseError(std::string(200, 'a')).rfind("entry 1 is too long", 0), 0u);
}

TEST(CidrListParse, ErrorsNeverEchoTheEntry) {
  // Distinctive entries: none of their text may appear in the message.
  const std::string_view secrets[] = {
      "sk_live_abcdef0123456789", "10.9.8.7/33",
      "2001:db8:dead:beef::/129", "+919876543210",
      "patient@example.org",      "10.9.8.7:4433",
      "fe80::dead:beef%ens3",     "[2001:db8:dead:beef::1]",
  };
  for (std::string_view secret : secrets) {
    const std::string text = "10.0.0.0/8, " + std::string(secret);
    const std::string error = parseError(text);
    ASSERT_NE(error, "<accepted>") << secret;
    EXPECT_EQ(error.rfind("entry 2", 0), 0u) << error;
    EXPECT_EQ(error.find(secret), std::string::npos) << error;
    EXPECT_EQ(error.find("10.9.8.7"), std::string::npos) << error;
    EXPECT_EQ(error.find("dead"), std::string::npos) << error;
    EXPECT_EQ(error.find("sk_live"), std::string::npos) << error;
    EXPECT_EQ(error.find("9876543210"), std::string::npos) << error;
    EXPECT_EQ(error.find("patient"), std::string::npos) << error;
    EXPECT_EQ(error.find("4433"), std::string::npos) << error;
    EXPECT_EQ(error.find("ens3"), std::string::npos) << error;
  }
}

TEST(CidrListParse, FailureLeavesOutputUnchangedAndNullErrorIsAllowed) {
  CidrList out = list("10.0.0.0/8");
  std::string error;
  EXPECT_FALSE(CidrList::parse("192.168.0.0/16, bogus", &out, &error));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_TRUE(out.contains(ip("10.0.0.1")));
  EXPECT_FALSE(out.contains(ip("192.168.0.1")));
  EXPECT_FALSE(CidrList::parse("bogus", &out, nullptr));
  EXPECT_TRUE(out.contains(ip("10.0.0.1")));
}

TEST(CidrListParse, ReplacesThePreviousContents) {
  CidrList out = list("10.0.0.0/8");
  std::string error;
  ASSERT_TRUE(CidrList::parse("192.168.0.0/16", &out, &error));
  EXPECT_FALSE(out.contains(ip("10.0.0.1")));
  EXPECT_TRUE(out.contains(ip("192.168.0.1")));
}

TEST(CidrListParse, DropsDuplicateAndCoveredBlocks) {
  EXPECT_EQ(list("10.0.0.0/8, 10.0.0.0/8").size(), 1u);
  EXPECT_EQ(list("10.0.0.0/8, 10.1.2.3/8").size(), 1u);  // same after masking
  EXPECT_EQ(list("10.1.0.0/16, 10.0.0.0/8, 10.2.3.4").size(), 1u);
  EXPECT_EQ(list("10.0.0.0/8, 11.0.0.0/8").size(), 2u);
  EXPECT_EQ(list("10.0.0.0/8, ::ffff:10.0.0.0/104").size(), 1u);  // the same block spelled twice
  EXPECT_EQ(list("::/0, 10.0.0.0/8, 2001:db8::/32").size(), 1u);
  EXPECT_EQ(list("0.0.0.0/0, 10.0.0.0/8, 2001:db8::/32").size(), 2u);  // v4 /0 does not cover v6

  const CidrList l = list("10.1.0.0/16, 10.0.0.0/8, 10.1.0.0/16, 2001:db8:1::/48, 2001:db8::/32");
  EXPECT_EQ(l.size(), 2u);
  EXPECT_TRUE(l.contains(ip("10.1.0.1")));
  EXPECT_TRUE(l.contains(ip("10.200.0.1")));
  EXPECT_TRUE(l.contains(ip("2001:db8:1::1")));
  EXPECT_TRUE(l.contains(ip("2001:db8:2::1")));
  EXPECT_FALSE(l.contains(ip("2001:db9::")));
}

// ---- CidrList::contains ----

TEST(CidrListContains, Ipv4BoundariesAcrossPrefixLengths) {
  struct Case {
    std::string_view block, before, first, last, after;
  };
  const Case cases[] = {
      {"10.0.0.0/8", "9.255.255.255", "10.0.0.0", "10.255.255.255", "11.0.0.0"},
      {"172.16.0.0/12", "172.15.255.255", "172.16.0.0", "172.31.255.255", "172.32.0.0"},
      {"192.168.1.0/24", "192.168.0.255", "192.168.1.0", "192.168.1.255", "192.168.2.0"},
      {"192.168.1.4/30", "192.168.1.3", "192.168.1.4", "192.168.1.7", "192.168.1.8"},
      {"192.168.1.5/32", "192.168.1.4", "192.168.1.5", "192.168.1.5", "192.168.1.6"},
      {"128.0.0.0/1", "127.255.255.255", "128.0.0.0", "255.255.255.255", "::1"},
      {"100.64.0.0/10", "100.63.255.255", "100.64.0.0", "100.127.255.255", "100.128.0.0"},
  };
  for (const Case& c : cases) {
    const CidrList l = list(c.block);
    EXPECT_FALSE(l.contains(ip(c.before))) << c.block << " " << c.before;
    EXPECT_TRUE(l.contains(ip(c.first))) << c.block << " " << c.first;
    EXPECT_TRUE(l.contains(ip(c.last))) << c.block << " " << c.last;
    EXPECT_FALSE(l.contains(ip(c.after))) << c.block << " " << c.after;
  }
}

TEST(CidrListContains, Ipv6BoundariesAcrossPrefixLengths) {
  struct Case {
    std::string_view block, before, first, last, after;
  };
  const Case cases[] = {
      {"2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
       "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"},
      // A prefix exactly on the 64-bit seam between the two halves.
      {"2001:db8:0:1::/64", "2001:db8::ffff:ffff:ffff:ffff",
       "2001:db8:0:1::", "2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8:0:2::"},
      // Just either side of the seam.
      {"2001:db8:0:2::/63", "2001:db8:0:1:ffff:ffff:ffff:ffff",
       "2001:db8:0:2::", "2001:db8:0:3:ffff:ffff:ffff:ffff", "2001:db8:0:4::"},
      {"2001:db8:0:1::/65", "2001:db8::ffff:ffff:ffff:ffff",
       "2001:db8:0:1::", "2001:db8:0:1:7fff:ffff:ffff:ffff", "2001:db8:0:1:8000::"},
      {"fe80::/10", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
       "fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::"},
      {"2001:db8::10/124", "2001:db8::f", "2001:db8::10", "2001:db8::1f", "2001:db8::20"},
      {"2001:db8::1/128", "2001:db8::", "2001:db8::1", "2001:db8::1", "2001:db8::2"},
      {"8000::/1", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
       "8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::"},
  };
  for (const Case& c : cases) {
    const CidrList l = list(c.block);
    EXPECT_FALSE(l.contains(ip(c.before))) << c.block << " " << c.before;
    EXPECT_TRUE(l.contains(ip(c.first))) << c.block << " " << c.first;
    EXPECT_TRUE(l.contains(ip(c.last))) << c.block << " " << c.last;
    EXPECT_FALSE(l.contains(ip(c.after))) << c.block << " " << c.after;
  }
}

TEST(CidrListContains, Ipv4BlocksMatchV4MappedAddresses) {
  const CidrList l = list("10.0.0.0/8, 192.168.1.5");
  EXPECT_TRUE(l.contains(ip("::ffff:10.1.2.3")));
  EXPECT_TRUE(l.contains(ip("::ffff:192.168.1.5")));
  const unsigned char from_socket[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 9, 8, 7};
  EXPECT_TRUE(l.contains(ipFromBytes(from_socket)));
  // The same low 32 bits in other IPv6 spellings are not IPv4.
  EXPECT_FALSE(l.contains(ip("::10.1.2.3")));
  EXPECT_FALSE(l.contains(ip("64:ff9b::10.1.2.3")));
  EXPECT_FALSE(l.contains(ip("::fffe:10.1.2.3")));
  EXPECT_FALSE(l.contains(ip("2001:db8::a01:203")));
}

TEST(CidrListContains, V4MappedIpv6BlockMatchesIpv4) {
  const CidrList l = list("::ffff:10.0.0.0/104");
  EXPECT_TRUE(l.contains(ip("10.0.0.1")));
  EXPECT_TRUE(l.contains(ip("10.255.255.255")));
  EXPECT_FALSE(l.contains(ip("11.0.0.0")));
  EXPECT_FALSE(l.contains(ip("::a00:1")));
}

TEST(CidrListContains, ZeroPrefixes) {
  const CidrList all_v4 = list("0.0.0.0/0");
  EXPECT_TRUE(all_v4.contains(ip("0.0.0.0")));
  EXPECT_TRUE(all_v4.contains(ip("255.255.255.255")));
  EXPECT_TRUE(all_v4.contains(ip("::ffff:1.2.3.4")));
  EXPECT_FALSE(all_v4.contains(ip("::1")));
  EXPECT_FALSE(all_v4.contains(ip("2001:db8::1")));
  EXPECT_FALSE(all_v4.contains(ip("::")));

  const CidrList everything = list("::/0");
  EXPECT_TRUE(everything.contains(ip("::")));
  EXPECT_TRUE(everything.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_TRUE(everything.contains(ip("2001:db8::1")));
  EXPECT_TRUE(everything.contains(ip("1.2.3.4")));
  EXPECT_TRUE(everything.contains(ip("::ffff:1.2.3.4")));
}

TEST(CidrListContains, EdgeAddresses) {
  const CidrList l =
      list("0.0.0.0/32, 255.255.255.255/32, ::/128, ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
  EXPECT_TRUE(l.contains(ip("0.0.0.0")));
  EXPECT_TRUE(l.contains(ip("255.255.255.255")));
  EXPECT_TRUE(l.contains(ip("::")));
  EXPECT_TRUE(l.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(l.contains(ip("0.0.0.1")));
  EXPECT_FALSE(l.contains(ip("255.255.255.254")));
  EXPECT_FALSE(l.contains(ip("::1")));
  EXPECT_FALSE(l.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")));
}

TEST(CidrListContains, EmptyListContainsNothing) {
  const CidrList l;
  EXPECT_TRUE(l.empty());
  EXPECT_FALSE(l.contains(IpAddress{}));
  EXPECT_FALSE(l.contains(ip("10.0.0.1")));
}

TEST(CidrListContains, MixedList) {
  const CidrList l =
      list("10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 127.0.0.1 ::1 fc00::/7 2001:db8:abcd::/48");
  EXPECT_EQ(l.size(), 7u);
  for (const char* inside :
       {"10.1.1.1", "172.20.0.1", "192.168.255.255", "127.0.0.1", "::ffff:127.0.0.1", "::1",
        "fd12:3456::1", "fc00::", "2001:db8:abcd:ffff::1"}) {
    EXPECT_TRUE(l.contains(ip(inside))) << inside;
  }
  for (const char* outside : {"8.8.8.8", "172.32.0.0", "127.0.0.2", "::2",
                              "fe00::", "2001:db8:abce::", "2001:4860:4860::8888"}) {
    EXPECT_FALSE(l.contains(ip(outside))) << outside;
  }
}

}  // namespace
}  // namespace phigate::pipeline

namespace phigate::pipeline {
namespace {

std::string subject(std::string_view text) {
  char buffer[kSubjectTextCapacity];
  return std::string(formatSubject(ip(text), buffer));
}

// Per-client state is kept per IPv4 address and per IPv6 /64.
TEST(Subject, Ipv4IsTheAddressIpv6IsItsSlash64) {
  EXPECT_EQ(subject("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(subject("::ffff:203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(subject("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(subject("2001:db8:1:2::1"), subject("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_NE(subject("2001:db8:1:2::1"), subject("2001:db8:1:3::1"));
  EXPECT_EQ(subject("::1"), "::/64");
  // The longest: eight full groups, then "/64" (fits the buffer with its NUL).
  EXPECT_EQ(subject("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "ffff:ffff:ffff:ffff::/64");
  // IPv4 behind NAT64 (64:ff9b::/96) stays one client per IPv4 address, not
  // one /64 shared by every IPv4 user of the translator.
  EXPECT_EQ(subject("64:ff9b::203.0.113.7"), "64:ff9b::cb00:7107");
  EXPECT_NE(subject("64:ff9b::203.0.113.7"), subject("64:ff9b::203.0.113.8"));
  EXPECT_TRUE(isNat64(ip("64:ff9b::1.2.3.4")));
  EXPECT_FALSE(isNat64(ip("64:ff9b:1::1.2.3.4")));
  EXPECT_EQ(subjectPrefix(ip("10.1.2.3")), ip("10.1.2.3"));
  EXPECT_EQ(subjectPrefix(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
}

}  // namespace
}  // namespace phigate::pipeline
