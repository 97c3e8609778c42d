// Which address a request comes from (DESIGN §4 "Client IP").
//
// Closes the Flask guide's known limitation 3 (X-Forwarded-For spoofing): the
// header is believed only when the socket peer is a configured trusted proxy,
// and then only as far as a chain of trusted proxies vouches for it, read from
// the right. Entries left of the first untrusted one were written by whoever
// that client is and are never looked at.
#pragma once

#include <span>
#include <string_view>

#include "pipeline/cidr.h"
#include "pipeline/stage.h"

namespace phigate::pipeline {

/** A stable lower-case name for logs and metrics labels ("peer", "forwarded_for",
 * "last_trusted_hop"). */
std::string_view clientIpSourceName(ClientIpSource source);


/**
 * The client address of a request.
 *
 * When `peer` is NOT in `trusted`, the answer is `peer` (kPeer) and
 * X-Forwarded-For is ignored entirely. When it is, the X-Forwarded-For entries
 * are walked from right to left (all header instances, in order, as if joined
 * with ","): entries that are themselves trusted proxies are skipped and the
 * first untrusted one is the client (kForwardedFor). If an entry cannot be
 * parsed (garbage, empty, "unknown", a port, a zone id, over 63 bytes...), the
 * walk stops and the answer is the last address known good: the trusted entry
 * to its right, or the peer (kLastTrustedHop). Nothing left of garbage is
 * trusted. If every entry is trusted the answer is the left-most (kLastTrustedHop).
 *
 * Entries may carry spaces or tabs around commas; IPv6 may be bracketed
 * ("[2001:db8::1]") but never with a port. No heap allocation.
 */
ClientIp resolveClientIp(const IpAddress& peer,
                         std::span<const std::string_view> forwarded_for_values,
                         const CidrList& trusted);

}  // namespace phigate::pipeline

namespace phigate::pipeline {

/** Resolves ctx.client (and its text) from the peer and X-Forwarded-For. */
class ClientIpStage : public Stage {
 public:
  explicit ClientIpStage(const PolicyConfig& cfg) : cfg_(cfg) {}
  Verdict run(RequestContext& ctx) override;

 private:
  const PolicyConfig& cfg_;
};

}  // namespace phigate::pipeline
