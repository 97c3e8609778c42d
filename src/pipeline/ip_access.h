// IP access: the global IP_DENYLIST / IP_ALLOWLIST (before authentication)
// and a key's own allow_cidrs (after it). 403 either way. Dynamic blocks
// (admins, automatic containment) join through the state store later.
#pragma once

#include "pipeline/stage.h"

namespace phigate::pipeline {

/** Global lists, checked before anything else about the caller. */
class IpAccessStage : public Stage {
 public:
  explicit IpAccessStage(const PolicyConfig& cfg) : cfg_(cfg) {}
  Verdict run(RequestContext& ctx) override;

 private:
  const PolicyConfig& cfg_;
};

/** The authenticated key's allow_cidrs. */
class KeyIpAccessStage : public Stage {
 public:
  Verdict run(RequestContext& ctx) override;
};

}  // namespace phigate::pipeline
