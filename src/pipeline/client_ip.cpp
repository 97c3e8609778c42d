#include "pipeline/client_ip.h"

#include <algorithm>

namespace phigate::pipeline {

namespace {

bool isOptionalWhitespace(char c) { return c == ' ' || c == '\t'; }

std::string_view trimOptionalWhitespace(std::string_view s) {
  while (!s.empty() && isOptionalWhitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOptionalWhitespace(s.back())) s.remove_suffix(1);
  return s;
}

// One X-Forwarded-For entry: a bare IPv4/IPv6 literal, or an IPv6 literal in
// brackets. parseIp() does the NUL-terminated copy on its own 64-byte stack
// buffer and rejects anything longer, ports, zone ids and words like "unknown".
bool parseForwardedEntry(std::string_view entry, IpAddress* out) {
  entry = trimOptionalWhitespace(entry);
  if (!entry.empty() && entry.front() == '[') {
    // "[v6]" only: "[v6]:port" does not end in ']', and "[1.2.3.4]" is not IPv6 syntax.
    if (entry.size() < 2 || entry.back() != ']') return false;
    entry = entry.substr(1, entry.size() - 2);
    if (entry.find(':') == std::string_view::npos) return false;
  }
  return parseIp(entry, out);
}

}  // namespace

std::string_view clientIpSourceName(ClientIpSource source) {
  switch (source) {
    case ClientIpSource::kPeer:
      return "peer";
    case ClientIpSource::kForwardedFor:
      return "forwarded_for";
    case ClientIpSource::kLastTrustedHop:
      return "last_trusted_hop";
  }
  return "unknown";
}

ClientIp resolveClientIp(const IpAddress& peer,
                         std::span<const std::string_view> forwarded_for_values,
                         const CidrList& trusted) {
  if (!trusted.contains(peer)) return {peer, ClientIpSource::kPeer};

  // Walk right to left: the last header instance first, and within each, the
  // last entry first. A header boundary behaves exactly like a comma, so an
  // empty instance is an empty (unparseable) entry, as it would be if joined.
  IpAddress last_trusted = peer;
  for (size_t v = forwarded_for_values.size(); v-- > 0;) {
    std::string_view rest = forwarded_for_values[v];
    for (;;) {
      const size_t comma = rest.rfind(',');
      const std::string_view entry =
          comma == std::string_view::npos ? rest : rest.substr(comma + 1);
      IpAddress hop;
      if (!parseForwardedEntry(entry, &hop)) return {last_trusted, ClientIpSource::kLastTrustedHop};
      if (!trusted.contains(hop)) return {hop, ClientIpSource::kForwardedFor};
      last_trusted = hop;
      if (comma == std::string_view::npos) break;
      rest = rest.substr(0, comma);
    }
  }
  return {last_trusted, ClientIpSource::kLastTrustedHop};
}

}  // namespace phigate::pipeline

namespace phigate::pipeline {

namespace {
constexpr size_t kMaxForwardedHeaders = 16;
}  // namespace

Verdict ClientIpStage::run(RequestContext& ctx) {
  const IpAddress peer = ipFromBytes(ctx.ex->peerBytes());
  // X-Forwarded-For may come as several header lines; they read as one list.
  // Only the LAST kMaxForwardedHeaders lines are kept (a ring): the walk reads
  // from the right, where our trusted proxies write. Keeping the first ones
  // instead would let a client push a proxy's appended line (HAProxy adds a
  // new one) out of view with lines of its own, and pick its address.
  std::string_view values[kMaxForwardedHeaders];
  size_t seen = 0;
  if (!cfg_.trusted_proxies.empty()) {
    for (const net::Header& h : ctx.request().headers) {
      if (equalsLower(h.name, "x-forwarded-for")) values[seen++ % kMaxForwardedHeaders] = h.value;
    }
  }
  size_t n = seen;
  if (seen > kMaxForwardedHeaders) {
    // Oldest kept line first again.
    std::rotate(values, values + seen % kMaxForwardedHeaders, values + kMaxForwardedHeaders);
    n = kMaxForwardedHeaders;
  }
  ctx.client = resolveClientIp(peer, std::span(values, n), cfg_.trusted_proxies);
  formatIp(ctx.client.ip, ctx.client_text);
  return Verdict::kContinue;
}

}  // namespace phigate::pipeline
