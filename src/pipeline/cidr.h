// IP addresses and precompiled CIDR lists for the client-ip and ip-access
// stages (DESIGN §4 "Client IP", "IP access").
//
// Everything is kept as 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d),
// so one comparison path serves both families and a dual-stack socket's
// v4-mapped peer matches the same rules as a plain IPv4 one. Parsing happens
// at start-up (config); contains() is the hot path and does no allocation and
// no string work.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace phigate::pipeline {

/** Longest IP literal formatIp() can write, plus its NUL (INET6_ADDRSTRLEN). */
inline constexpr size_t kIpTextCapacity = 46;

/** An IP address; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) so v4 and v6 share one form. */
struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  bool operator==(const IpAddress&) const = default;

  /** True for ::ffff:0:0/96, i.e. an IPv4 address (however it was spelled). */
  bool isV4() const;
};

/**
 * Parses an IPv4 ("10.0.0.1"), IPv6 ("2001:db8::1", "::1") or IPv4-mapped IPv6
 * ("::ffff:10.0.0.1") literal; no brackets, ports, zone ids or surrounding
 * whitespace. IPv4 must be a strict dotted quad (glibc inet_pton: no octal
 * leading zeros, no short forms like "10.1"). Text of 64 bytes or more, or with
 * an embedded NUL, is rejected. On failure *out is unchanged.
 */
bool parseIp(std::string_view text, IpAddress* out);

/** Builds from the 16 bytes a socket peer gives (already v4-mapped for v4). */
IpAddress ipFromBytes(const unsigned char (&bytes)[16]);

/** Writes the textual form (dotted quad for v4/v4-mapped) into out; returns a view of it. */
std::string_view formatIp(const IpAddress& ip, char (&out)[kIpTextCapacity]);

/** Room for the longest client subject (an IPv6 /64 with its "/64"), plus its NUL. */
inline constexpr size_t kSubjectTextCapacity = kIpTextCapacity + 3;

/** True for 64:ff9b::/96, the NAT64 well-known prefix: an IPv4 client seen through a translator. */
bool isNat64(const IpAddress& ip);

/**
 * The /64 an IPv6 address belongs to (its low 64 bits cleared). IPv4, and
 * IPv4 behind NAT64 (64:ff9b::/96), are unchanged: each embedded IPv4
 * address is its own client, not one /64 shared by every IPv4 user.
 */
IpAddress subjectPrefix(const IpAddress& ip);

/**
 * The name under which per-client state is kept (per-address rate limits,
 * authentication-failure counts, automatic blocks): an IPv4 address as
 * itself ("203.0.113.7", also behind NAT64: "64:ff9b::cb00:7107"), an IPv6
 * address as its /64 ("2001:db8:1:2::/64"),
 * the smallest block one subscriber is normally given, so that a client
 * cannot step past a block or a limit by rotating addresses inside it.
 */
std::string_view formatSubject(const IpAddress& ip, char (&out)[kSubjectTextCapacity]);

/**
 * A precompiled list of CIDR blocks ("10.0.0.0/8", "2001:db8::/32",
 * "192.168.1.5" = /32, "::1" = /128). An IPv4 block is stored as the
 * corresponding ::ffff:0:0/96 block, so it also matches the same addresses
 * arriving v4-mapped; "0.0.0.0/0" therefore means "every IPv4 address" and
 * never matches native IPv6 ("::/0" matches everything).
 */
class CidrList {
 public:
  /**
   * Parses a comma- and/or whitespace-separated list; empty (or all-whitespace)
   * text is an empty list. On error returns false, leaves *out unchanged and
   * (if error is non-null) sets *error to a message naming the entry by
   * position ("entry 3: ...") and the reason, never echoing the entry text
   * (config values can be pasted secrets or PHI by mistake).
   *
   * Host bits set beyond the prefix ("10.1.2.3/8") are accepted and masked off
   * (it is the same network). Rejected: prefix > 32 for IPv4 or > 128 for IPv6,
   * a prefix that is not 1-3 decimal digits, empty entries (",,", a leading or
   * trailing comma), brackets, zone ids, and an IPv4-mapped IPv6 block with a
   * prefix below 96 ("::ffff:10.0.0.0/8" would silently widen to ::/8, which
   * covers every IPv4 address; write "10.0.0.0/8" instead).
   *
   * Blocks wholly covered by another block in the list (including duplicates)
   * are dropped, so size() counts distinct, non-overlapping-by-inclusion blocks.
   */
  static bool parse(std::string_view text, CidrList* out, std::string* error);

  /** True when ip is inside any block. No allocation, no string work. */
  bool contains(const IpAddress& ip) const;

  bool empty() const { return blocks_.empty(); }
  size_t size() const { return blocks_.size(); }

 private:
  /** One block as two 64-bit halves; net_* is already masked. */
  struct Block {
    uint64_t net_hi;
    uint64_t net_lo;
    uint64_t mask_hi;
    uint64_t mask_lo;
    uint8_t prefix;  // 0-128, in IPv6 terms (IPv4 /n is 96 + n)
  };

  static Block makeBlock(const IpAddress& ip, unsigned prefix);
  static bool covers(const Block& outer, const Block& inner);

  std::vector<Block> blocks_;
};

/** How resolveClientIp() (client_ip.h) found its answer (for tests and the audit log). */
enum class ClientIpSource {
  kPeer,            // the peer is not a trusted proxy; X-Forwarded-For was ignored
  kForwardedFor,    // the right-most X-Forwarded-For entry that is not a trusted proxy
  kLastTrustedHop,  // the peer is trusted but the chain ended on a trusted address: no
                    // (usable) header, every entry trusted, or an unparseable entry
};

/** The resolved client address and how it was found. */
struct ClientIp {
  IpAddress ip;
  ClientIpSource source;
};

}  // namespace phigate::pipeline
