// IP access: the global IP_DENYLIST / IP_ALLOWLIST (before authentication)
// and a key's own allow_cidrs (after it). 403 either way. Dynamic blocks
// (admins, automatic containment) join through the state store later.
#pragma once

#include <span>
#include <string_view>
#include <unordered_map>

#include "pipeline/stage.h"
#include "state/store.h"

namespace phigate::pipeline {

/**
 * Dynamic blocks (set by admins, or by automatic containment after repeated
 * authentication failures), kept in the state store and copied into each
 * worker by a periodic refresh, so the check per request is a local lookup.
 */
class BlockList {
 public:
  /**
   * When the block on `ip` (the address itself, or its IPv6 /64) lapses, in
   * unix ms on this host's clock; 0 when it is not blocked.
   */
  int64_t expiry(const IpAddress& ip) const {
    if (!set_.empty()) {
      if (auto it = set_.find(ip); it != set_.end()) return it->second;
    }
    if (prefixes_.empty() || ip.isV4() || isNat64(ip)) return 0;
    auto it = prefixes_.find(subjectPrefix(ip));
    return it != prefixes_.end() ? it->second : 0;
  }
  bool contains(const IpAddress& ip) const { return expiry(ip) != 0; }
  /**
   * Replaces the list with `entries`: addresses ("203.0.113.7", "2001:db8::1")
   * and IPv6 /64s as formatSubject() writes them ("2001:db8:1:2::/64").
   * Anything else is skipped.
   */
  void replace(std::span<const state::BlockEntry> entries);
  size_t size() const { return set_.size() + prefixes_.size(); }

 private:
  struct Hash {
    size_t operator()(const IpAddress& ip) const;
  };
  std::unordered_map<IpAddress, int64_t, Hash> set_;
  std::unordered_map<IpAddress, int64_t, Hash> prefixes_;  // IPv6 /64s, low bits cleared
};

/** Dynamic blocks and global lists, checked before anything else about the caller. */
class IpAccessStage : public Stage {
 public:
  IpAccessStage(const PolicyConfig& cfg, const BlockList& blocks) : cfg_(cfg), blocks_(blocks) {}
  Verdict run(RequestContext& ctx) override;

 private:
  static Verdict rejectBlocked(RequestContext& ctx, int64_t expires_ms);

  const PolicyConfig& cfg_;
  const BlockList& blocks_;
};

/** The authenticated key's allow_cidrs. */
class KeyIpAccessStage : public Stage {
 public:
  Verdict run(RequestContext& ctx) override;
};

}  // namespace phigate::pipeline
