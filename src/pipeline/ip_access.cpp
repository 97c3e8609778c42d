#include "pipeline/ip_access.h"

#include <algorithm>
#include <charconv>
#include <chrono>

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

void BlockList::replace(std::span<const state::BlockEntry> entries) {
  set_.clear();
  prefixes_.clear();
  constexpr std::string_view kSlash64 = "/64";
  for (const state::BlockEntry& e : entries) {
    const std::string_view text = e.address;
    const int64_t expires = std::max<int64_t>(e.expires_unix_ms, 1);  // 0 means "not blocked"
    IpAddress ip;
    if (text.ends_with(kSlash64)) {
      if (parseIp(text.substr(0, text.size() - kSlash64.size()), &ip) && !ip.isV4() && !isNat64(ip)) {
        prefixes_[subjectPrefix(ip)] = expires;
      }
    } else if (parseIp(text, &ip)) {
      set_[ip] = expires;
    }
  }
}

namespace {
int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

// A temporary block says when to come back: its remaining time, rounded up
// (at least 1 s: the copy may lag the store by a refresh).
Verdict IpAccessStage::rejectBlocked(RequestContext& ctx, int64_t expires_ms) {
  const int64_t left_s = std::max<int64_t>((expires_ms - wallMs() + 999) / 1000, 1);
  const auto r = std::to_chars(ctx.header_text, ctx.header_text + sizeof ctx.header_text, left_s);
  ctx.headers[0] = {"Retry-After", std::string_view(ctx.header_text, static_cast<size_t>(r.ptr - ctx.header_text))};
  Rejection rej = blocked("blocked", kTemporarilyBlocked);
  rej.headers = std::span<const net::HeaderField>(ctx.headers.data(), 1);
  ctx.members[0] = net::ProblemMember::num("retry_after_s", left_s);
  rej.members = std::span<const net::ProblemMember>(ctx.members.data(), 1);
  return ctx.reject(rej);
}

Verdict IpAccessStage::run(RequestContext& ctx) {
  const IpAddress& ip = ctx.client.ip;
  if (cfg_.ip_denylist.contains(ip)) return ctx.reject(blocked("denylist", kDenied));
  if (!cfg_.ip_allowlist.empty() && !cfg_.ip_allowlist.contains(ip)) {
    return ctx.reject(blocked("not_in_allowlist", kNotAllowed));
  }
  if (const int64_t expires = blocks_.expiry(ip); expires != 0) return rejectBlocked(ctx, expires);
  return Verdict::kContinue;
}

Verdict KeyIpAccessStage::run(RequestContext& ctx) {
  if (ctx.key == nullptr || ctx.key->allow.empty()) return Verdict::kContinue;
  if (!ctx.key->allow.contains(ctx.client.ip)) {
    // The 403 tells whoever holds the token that it is valid, so repeated
    // use from outside its addresses counts toward containment like a bad token.
    Rejection r = blocked("not_in_key_allowlist", kNotAllowedForKey);
    r.counts_as_auth_failure = true;
    return ctx.reject(r);
  }
  return Verdict::kContinue;
}

}  // namespace phigate::pipeline
