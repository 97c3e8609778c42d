#include "pipeline/ip_access.h"

namespace phigate::pipeline {

namespace {
Rejection blocked(std::string_view reason) {
  Rejection r;
  r.status = 403;
  r.type = "forbidden";
  r.title = "Forbidden";
  r.detail = "Access from this address is not allowed.";
  r.event = obs::SecurityEvent::kIpBlocked;
  r.reason = reason;
  return r;
}
}  // namespace

Verdict IpAccessStage::run(RequestContext& ctx) {
  const IpAddress& ip = ctx.client.ip;
  if (cfg_.ip_denylist.contains(ip)) return ctx.reject(blocked("denylist"));
  if (!cfg_.ip_allowlist.empty() && !cfg_.ip_allowlist.contains(ip)) {
    return ctx.reject(blocked("not_in_allowlist"));
  }
  return Verdict::kContinue;
}

Verdict KeyIpAccessStage::run(RequestContext& ctx) {
  if (ctx.key == nullptr || ctx.key->allow.empty()) return Verdict::kContinue;
  if (!ctx.key->allow.contains(ctx.client.ip)) return ctx.reject(blocked("not_in_key_allowlist"));
  return Verdict::kContinue;
}

}  // namespace phigate::pipeline
