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

size_t BlockList::Hash::operator()(const IpAddress& ip) const {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(ip.bytes.data()), ip.bytes.size()));
}

void BlockList::replace(std::span<const std::string_view> entries) {
  set_.clear();
  prefixes_.clear();
  constexpr std::string_view kSlash64 = "/64";
  for (std::string_view text : entries) {
    IpAddress ip;
    if (text.ends_with(kSlash64)) {
      if (parseIp(text.substr(0, text.size() - kSlash64.size()), &ip) && !ip.isV4() && !isNat64(ip)) {
        prefixes_.insert(subjectPrefix(ip));
      }
    } else if (parseIp(text, &ip)) {
      set_.insert(ip);
    }
  }
}

Verdict IpAccessStage::run(RequestContext& ctx) {
  const IpAddress& ip = ctx.client.ip;
  if (blocks_.contains(ip)) return ctx.reject(blocked("blocked"));
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
