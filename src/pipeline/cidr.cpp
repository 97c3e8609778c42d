#include "pipeline/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace phigate::pipeline {

namespace {

// inet_pton needs a NUL-terminated string; the longest valid literal is 45
// characters, so anything that does not fit in this buffer is not an address.
constexpr size_t kParseBufferSize = 64;

// Longest CIDR entry we try to parse: an address that fits the parse buffer,
// '/', three digits. Longer is reported as "too long" rather than "not an address".
constexpr size_t kMaxEntryLength = kParseBufferSize - 1 + 4;

// The first 12 bytes of every IPv4-mapped IPv6 address.
constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

constexpr unsigned kV4MappedPrefixBits = 96;

bool isListSeparatorSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

uint64_t loadBigEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// The mask for the top `bits` bits of a 64-bit half (bits in 0..64); written
// out because a shift by 64 is undefined.
uint64_t halfMask(unsigned bits) {
  if (bits == 0) return 0;
  if (bits >= 64) return ~uint64_t{0};
  return ~uint64_t{0} << (64 - bits);
}

std::string entryError(size_t index, std::string_view reason) {
  std::string message = "entry " + std::to_string(index);
  message += reason;
  return message;
}

}  // namespace

bool IpAddress::isV4() const {
  return memcmp(bytes.data(), kV4MappedPrefix, sizeof kV4MappedPrefix) == 0;
}

bool parseIp(std::string_view text, IpAddress* out) {
  if (text.empty() || text.size() >= kParseBufferSize) return false;
  // inet_pton would stop at an embedded NUL and accept "1.2.3.4\0junk".
  if (memchr(text.data(), '\0', text.size()) != nullptr) return false;
  char buffer[kParseBufferSize];
  memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';

  IpAddress ip;
  if (text.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, buffer, ip.bytes.data()) != 1) return false;
  } else {
    memcpy(ip.bytes.data(), kV4MappedPrefix, sizeof kV4MappedPrefix);
    if (inet_pton(AF_INET, buffer, ip.bytes.data() + 12) != 1) return false;
  }
  *out = ip;
  return true;
}

IpAddress ipFromBytes(const unsigned char (&bytes)[16]) {
  IpAddress ip;
  memcpy(ip.bytes.data(), bytes, 16);
  return ip;
}

std::string_view formatIp(const IpAddress& ip, char (&out)[kIpTextCapacity]) {
  const char* written = ip.isV4() ? inet_ntop(AF_INET, ip.bytes.data() + 12, out, sizeof out)
                                  : inet_ntop(AF_INET6, ip.bytes.data(), out, sizeof out);
  if (written == nullptr) {  // cannot happen with a 46-byte buffer; stay defined anyway
    out[0] = '\0';
    return {};
  }
  return {out, strlen(out)};
}

bool isNat64(const IpAddress& ip) {
  static constexpr uint8_t kWellKnown[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  return memcmp(ip.bytes.data(), kWellKnown, sizeof kWellKnown) == 0;
}

IpAddress subjectPrefix(const IpAddress& ip) {
  if (ip.isV4() || isNat64(ip)) return ip;
  IpAddress prefix = ip;
  std::fill(prefix.bytes.begin() + 8, prefix.bytes.end(), uint8_t{0});
  return prefix;
}

std::string_view formatSubject(const IpAddress& ip, char (&out)[kSubjectTextCapacity]) {
  char text[kIpTextCapacity];
  const std::string_view addr = formatIp(subjectPrefix(ip), text);
  const std::string_view suffix = ip.isV4() || isNat64(ip) || addr.empty() ? "" : "/64";
  memcpy(out, addr.data(), addr.size());
  memcpy(out + addr.size(), suffix.data(), suffix.size());
  out[addr.size() + suffix.size()] = '\0';
  return {out, addr.size() + suffix.size()};
}

CidrList::Block CidrList::makeBlock(const IpAddress& ip, unsigned prefix) {
  Block block;
  block.prefix = static_cast<uint8_t>(prefix);
  block.mask_hi = halfMask(prefix >= 64 ? 64 : prefix);
  block.mask_lo = halfMask(prefix > 64 ? prefix - 64 : 0);
  block.net_hi = loadBigEndian64(ip.bytes.data()) & block.mask_hi;
  block.net_lo = loadBigEndian64(ip.bytes.data() + 8) & block.mask_lo;
  return block;
}

bool CidrList::covers(const Block& outer, const Block& inner) {
  return outer.prefix <= inner.prefix && (inner.net_hi & outer.mask_hi) == outer.net_hi &&
         (inner.net_lo & outer.mask_lo) == outer.net_lo;
}

bool CidrList::parse(std::string_view text, CidrList* out, std::string* error) {
  // Reports a malformed entry; the reason strings never contain entry text.
  auto fail = [error](size_t index, std::string_view reason) {
    if (error != nullptr) *error = entryError(index, reason);
    return false;
  };

  std::vector<Block> parsed;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n && isListSeparatorSpace(text[i])) ++i;

  for (size_t index = 1; i < n; ++index) {
    const size_t start = i;
    while (i < n && text[i] != ',' && !isListSeparatorSpace(text[i])) ++i;
    const std::string_view entry = text.substr(start, i - start);

    // Skip to the next entry: optional spaces, at most one comma, optional spaces.
    while (i < n && isListSeparatorSpace(text[i])) ++i;
    const bool comma = i < n && text[i] == ',';
    if (comma) {
      ++i;
      while (i < n && isListSeparatorSpace(text[i])) ++i;
    }

    if (entry.empty()) return fail(index, " is empty (two commas in a row, or a leading comma)");
    if (entry.size() > kMaxEntryLength)
      return fail(index, " is too long to be an address or CIDR block");
    if (entry.find('[') != std::string_view::npos || entry.find(']') != std::string_view::npos) {
      return fail(index, ": brackets are not allowed (write the bare address)");
    }
    if (entry.find('%') != std::string_view::npos) return fail(index, ": zone ids are not allowed");

    const size_t slash = entry.find('/');
    const std::string_view address_text = entry.substr(0, slash);
    const bool v6_text = address_text.find(':') != std::string_view::npos;
    IpAddress ip;
    if (!parseIp(address_text, &ip)) return fail(index, ": not a valid IPv4 or IPv6 address");

    const unsigned family_bits = v6_text ? 128 : 32;
    unsigned prefix = family_bits;
    if (slash != std::string_view::npos) {
      const std::string_view digits = entry.substr(slash + 1);
      if (digits.empty() || digits.size() > 3) {
        return fail(index, ": prefix length after '/' must be 1 to 3 decimal digits");
      }
      prefix = 0;
      for (char c : digits) {
        if (c < '0' || c > '9')
          return fail(index, ": prefix length after '/' must be 1 to 3 decimal digits");
        prefix = prefix * 10 + static_cast<unsigned>(c - '0');
      }
      if (prefix > family_bits) {
        return fail(index, v6_text ? ": IPv6 prefix length must be 0 to 128"
                                   : ": IPv4 prefix length must be 0 to 32");
      }
    }
    if (v6_text && ip.isV4() && prefix < kV4MappedPrefixBits) {
      return fail(index, ": an IPv4-mapped IPv6 block needs a prefix of at least 96 "
                         "(write the IPv4 block instead)");
    }
    parsed.push_back(makeBlock(ip, v6_text ? prefix : kV4MappedPrefixBits + prefix));

    // A trailing comma leaves nothing after it: that is an empty last entry.
    if (comma && i == n) return fail(index + 1, " is empty (trailing comma)");
  }

  // Drop blocks another block already covers (and exact duplicates, keeping the
  // first), so contains() scans as few blocks as the list really needs. Quadratic,
  // but it runs once at start-up on lists of a few dozen entries.
  std::vector<Block> kept;
  kept.reserve(parsed.size());
  for (size_t a = 0; a < parsed.size(); ++a) {
    bool redundant = false;
    for (size_t b = 0; b < parsed.size() && !redundant; ++b) {
      if (a == b || !covers(parsed[b], parsed[a])) continue;
      // Equal blocks cover each other; keep the earlier one.
      redundant = parsed[b].prefix < parsed[a].prefix || b < a;
    }
    if (!redundant) kept.push_back(parsed[a]);
  }

  out->blocks_ = std::move(kept);
  return true;
}

bool CidrList::contains(const IpAddress& ip) const {
  const uint64_t hi = loadBigEndian64(ip.bytes.data());
  const uint64_t lo = loadBigEndian64(ip.bytes.data() + 8);
  for (const Block& block : blocks_) {
    if ((hi & block.mask_hi) == block.net_hi && (lo & block.mask_lo) == block.net_lo) return true;
  }
  return false;
}

}  // namespace phigate::pipeline
