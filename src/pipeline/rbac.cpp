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
  r.detail = "This key is not allowed to use this resource.";
  r.event = obs::SecurityEvent::kRbacViolation;
  r.reason = permissionName(needed);
  return ctx.reject(r);
}

}  // namespace phigate::pipeline
