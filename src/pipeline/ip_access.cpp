#include "pipeline/ip_access.h"

namespace phigate::pipeline {

namespace {
// Which list refused is said (it tells a legitimate client whom to ask);
// the lists' contents never are.
Rejection blocked(std::string_view reason, std::string_view detail) {
  Rejection r;
  r.status = 403;
  r.type = "forbidden";
  r.title = "Forbidden";
  r.detail = detail;
  r.event = obs::SecurityEvent::kIpBlocked;
  r.reason = reason;
  r.code = reason;
  return r;
}

constexpr std::string_view kDenied = "Requests from this address are refused by the deny list (IP_DENYLIST).";
constexpr std::string_view kNotAllowed =
    "This address is not in the allow list (IP_ALLOWLIST); ask the operator to add it.";
constexpr std::string_view kNotAllowedForKey =
    "This key may only be used from its own addresses (allow_cidrs in the keys file); this "
    "address is not one of them.";
constexpr std::string_view kTemporarilyBlocked =
    "This address is temporarily blocked (repeated authentication failures, or an "
    "administrator's block); retry after the time in Retry-After.";
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
  if (cfg_.ip_denylist.contains(ip)) return ctx.reject(blocked("denylist", kDenied));
  if (!cfg_.ip_allowlist.empty() && !cfg_.ip_allowlist.contains(ip)) {
    return ctx.reject(blocked("not_in_allowlist", kNotAllowed));
  }
  if (blocks_.contains(ip)) return ctx.reject(blocked("blocked", kTemporarilyBlocked));
  return Verdict::kContinue;
}

Verdict KeyIpAccessStage::run(RequestContext& ctx) {
  if (ctx.key == nullptr || ctx.key->allow.empty()) return Verdict::kContinue;
  if (!ctx.key->allow.contains(ctx.client.ip)) return ctx.reject(blocked("not_in_key_allowlist", kNotAllowedForKey));
  return Verdict::kContinue;
}

}  // namespace phigate::pipeline
