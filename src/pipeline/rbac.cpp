#include "pipeline/rbac.h"

namespace phigate::pipeline {

Verdict RbacStage::run(RequestContext& ctx) {
  const Permission needed = ctx.policy->permission;
  if (needed == Permission::kNone) return Verdict::kContinue;
  if (ctx.key != nullptr && allows(ctx.key->permissions, needed)) return Verdict::kContinue;
  Rejection r;
  r.status = 403;
  r.type = "forbidden";
  r.title = "Forbidden";
  // Naming the permission tells the integrator which role to ask for; the
  // route's requirement is public (README), the key's roles are not echoed.
  net::DetailText d(ctx.detail_text, sizeof ctx.detail_text);
  d << "This key lacks the permission " << permissionName(needed)
    << "; ask an administrator for a key with a role that grants it.";
  r.detail = d.view();
  ctx.members[0] = net::ProblemMember::str("missing_permission", permissionName(needed));
  r.members = std::span<const net::ProblemMember>(ctx.members.data(), 1);
  r.event = obs::SecurityEvent::kRbacViolation;
  r.reason = permissionName(needed);
  return ctx.reject(r);
}

}  // namespace phigate::pipeline
