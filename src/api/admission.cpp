#include "api/admission.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

#include "api/problems.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "net/problem.h"
#include "net/worker.h"

namespace phigate::api {

namespace {

constexpr size_t kMaxIdempotencyKey = 255;

// 1-255 printable ASCII characters (IETF draft: an sf-string).
bool isValidIdempotencyKey(std::string_view k) {
  if (k.empty() || k.size() > kMaxIdempotencyKey) return false;
  for (char c : k) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// The per-key override for a class ("limits": {"sms": 1000} = per window).
uint32_t keyLimit(const pipeline::ApiKey* key, std::string_view cls, uint32_t fallback) {
  if (key == nullptr) return fallback;
  for (const auto& [name, value] : key->limits) {
    if (name == cls) return value;
  }
  return fallback;
}

void idempotencyAd(const CallState& st, std::string_view idem_key, std::string* ad) {
  ad->assign("idempotency\n").append(st.ctx.key->id).append(1, '\n').append(idem_key);
}

// `"<class>";<a>=<x>;<b>=<y>` into `out`, truncated if it must be: the
// RateLimit-Policy and RateLimit values, built per request without printf.
std::string_view rateField(char (&out)[64], std::string_view cls, char a, uint32_t x, char b,
                           uint32_t y) {
  char* p = out;
  char* const end = out + sizeof out;
  auto put = [&](std::string_view s) {
    const size_t n = std::min(s.size(), static_cast<size_t>(end - p));
    memcpy(p, s.data(), n);
    p += n;
  };
  auto num = [&](uint32_t v) {
    const auto r = std::to_chars(p, end, v);
    if (r.ec == std::errc()) p = r.ptr;
  };
  put("\"");
  put(cls);
  put("\";");
  put(std::string_view(&a, 1));
  put("=");
  num(x);
  put(";");
  put(std::string_view(&b, 1));
  put("=");
  num(y);
  return {out, static_cast<size_t>(p - out)};
}

void respondLimited(CallState& st, const state::AdmitResult& r, bool quota) {
  net::Exchange& ex = *st.ctx.ex;
  ex.event = obs::SecurityEvent::kRateLimited;
  ex.reason = quota ? "daily_quota" : "rate_window";
  snprintf(st.retry_after_value, sizeof st.retry_after_value, "%u",
           r.retry_after_s == 0 ? 1u : r.retry_after_s);
  st.addHeader("Retry-After", st.retry_after_value);
  if (quota) {
    respondProblem(ex, 429, "quota-exceeded", "Daily quota exceeded",
                   "This key has used its daily quota; it renews at 00:00 UTC.", st.headers());
  } else {
    respondProblem(ex, 429, "rate-limited", "Too Many Requests",
                   "The rate limit for this route is exhausted; retry later.", st.headers());
  }
}

void respondReplayedResponse(CallState& st, const state::AdmitResult& r) {
  std::string ad, body;
  idempotencyAd(st, st.ctx.request().header("idempotency-key"), &ad);
  if (!st.services->key_ring.open(r.stored_response, ad, &body)) {
    // A record we cannot open (its key left the ring: retired, or an
    // ephemeral development key lost in a restart; or tampered): never
    // guess, and never call it transient -- retrying gives the same answer.
    net::Exchange& ex = *st.ctx.ex;
    ex.event = obs::SecurityEvent::kIdempotencyUnreadable;
    ex.reason = "key_not_in_ring";
    respondProblem(ex, 409, "idempotency-record-unreadable", "Idempotency record unreadable",
                   "A request with this Idempotency-Key was accepted before, but its stored answer "
                   "can no longer be decrypted (the ENCRYPTION_KEY that sealed it is not in "
                   "ENCRYPTION_KEY or ENCRYPTION_KEYS_OLD any more). Nothing was queued again. "
                   "Send with a new Idempotency-Key only if the message must go again.");
    return;
  }
  st.addHeader("Idempotent-Replayed", "true");
  st.ctx.ex->respond(202, net::kJsonType, body, st.headers());
}

void onAdmit(void* p, const state::AdmitResult& r) {
  auto& st = *static_cast<CallState*>(p);
  st.in_call = false;
  if (st.aborted) return finishAborted(st);
  addRateHeaders(st, r);
  net::Exchange& ex = *st.ctx.ex;
  switch (r.status) {
    case state::AdmitStatus::kAdmitted: st.on_admitted(st, r); return;
    case state::AdmitStatus::kRateLimited: respondLimited(st, r, false); return;
    case state::AdmitStatus::kQuotaExceeded: respondLimited(st, r, true); return;
    case state::AdmitStatus::kReplayed: respondReplayed(st.ctx); return;
    case state::AdmitStatus::kIdempotentReplay: respondReplayedResponse(st, r); return;
    case state::AdmitStatus::kIdempotencyMismatch:
      respondProblem(ex, 422, "idempotency-mismatch", "Idempotency key reused",
                     "This Idempotency-Key was used with a different request.");
      return;
    case state::AdmitStatus::kIdempotencyInFlight:
      respondProblem(ex, 409, "idempotency-conflict", "Request in progress",
                     "A request with this Idempotency-Key is still being processed.");
      return;
    case state::AdmitStatus::kUnavailable:
      if (st.on_unavailable != nullptr) return st.on_unavailable(st, r);
      respondStoreUnavailable(ex);
      return;
    case state::AdmitStatus::kFull:
      // Not "retry soon" (503): the embedded store clears only as its
      // entries expire or are delivered.
      ex.event = obs::SecurityEvent::kStoreFull;
      ex.reason = "memory_store_full";
      respondProblem(ex, 507, "store-full", "Store full",
                     "The embedded in-process store is at capacity and is not taking new requests "
                     "until entries expire or are delivered; this does not clear by retrying soon. "
                     "The operator should configure RATELIMIT_STORAGE_URI (Redis).");
      return;
  }
}

}  // namespace

bool checkIdempotencyHeader(const net::HttpRequest& req, pipeline::Rejection* out) {
  for (const net::Header& h : req.headers) {
    if (!equalsLower(h.name, "idempotency-key") || isValidIdempotencyKey(h.value)) continue;
    *out = pipeline::Rejection{};
    out->status = 400;
    out->type = "invalid-idempotency-key";
    out->title = "Invalid Idempotency-Key";
    out->detail = "Idempotency-Key must be 1-255 printable ASCII characters.";
    out->event = obs::SecurityEvent::kValidationFailure;
    out->reason = "idempotency_key";
    return false;
  }
  return true;
}

void fillRateCharge(CallState& st, const Services& services, state::RateCharge* rate) {
  const pipeline::RoutePolicy& policy = *st.ctx.policy;
  if (policy.rate_class.empty()) return;
  const config::RateRule* rule = services.cfg.state.rule(policy.rate_class);
  if (rule == nullptr) return;
  rate->bucket = policy.rate_class;
  rate->window_s = rule->window_s;
  if (policy.rate_per_ip || st.ctx.key == nullptr) {
    char who[pipeline::kSubjectTextCapacity];  // an IPv6 client is limited per /64
    const std::string_view subject = pipeline::formatSubject(st.ctx.client.ip, who);
    const int n = snprintf(st.subject, sizeof st.subject, "%.*s%.*s",
                           static_cast<int>(state::kClientSubjectPrefix.size()),
                           state::kClientSubjectPrefix.data(), static_cast<int>(subject.size()),
                           subject.data());
    rate->subject = std::string_view(st.subject, static_cast<size_t>(n));
    rate->limit = rule->limit;
    return;
  }
  rate->subject = st.ctx.key->id;
  rate->limit = keyLimit(st.ctx.key, policy.rate_class, rule->limit);
  // The daily quota counts messages sent, per send route; reads are not sends.
  if (policy.state_changing && !policy.upstream_answers) {
    rate->daily_quota = keyLimit(st.ctx.key, "daily", services.cfg.state.daily_quota);
  }
}

void addRateHeaders(CallState& st, const state::AdmitResult& r) {
  const std::string_view cls = st.ctx.policy->rate_class;
  if (r.limit == 0 || cls.empty()) return;
  const config::RateRule* rule = st.services->cfg.state.rule(cls);
  st.addHeader("RateLimit-Policy",
               rateField(st.rate_policy_value, cls, 'q', r.limit, 'w', rule ? rule->window_s : 60));
  st.addHeader("RateLimit", rateField(st.rate_value, cls, 'r', r.remaining, 't', r.reset_s));
}

void admitCall(Call& call, state::AdmitRequest& req, Admitted admitted) {
  CallState& st = call.state;
  st.services = &call.services;
  st.on_admitted = admitted;
  const net::HttpRequest& http = st.ctx.request();
  req.key_id = st.ctx.key != nullptr ? std::string_view(st.ctx.key->id) : std::string_view();
  uint8_t raw[8];
  crypto::pooledRandomBytes(raw, sizeof raw);
  crypto::toHex(raw, st.member);
  req.member = std::string_view(st.member, 16);
  fillRateCharge(st, call.services, &req.rate);
  if (st.ctx.policy->state_changing) {
    req.nonce = st.ctx.replay.nonce;
    // A timestamp may be up to the window ahead of us, so a nonce must be
    // remembered for twice the window to be refused for as long as it is fresh.
    req.nonce_ttl_s = 2 * call.services.policy.replay_window_s;
    // Validated at head time (checkIdempotencyHeader); only one can be present.
    const net::Header* idem_header = nullptr;
    for (const net::Header& h : http.headers) {
      if (equalsLower(h.name, "idempotency-key")) idem_header = &h;
    }
    // An upstream's answer is not phigate's to keep and replay.
    if (idem_header != nullptr && !st.ctx.policy->upstream_answers) {
      const std::string_view idem = idem_header->value;
      // The payload fingerprint: what the request asks for, not how it is
      // framed; keyed, since the store keeps it beside the record for a day.
      const crypto::Sha256 fp = crypto::hmacSha256(call.services.fingerprint_key,
                                                   {http.method_text, "\n", http.path, "\n", http.body});
      crypto::toHex(fp, st.fingerprint);
      std::string ad;
      idempotencyAd(st, idem, &ad);
      const size_t n = crypto::KeyRing::sealedSize(st.response.size());
      call.services.key_ring.seal(st.response.view(), ad,
                                  reinterpret_cast<uint8_t*>(st.sealed_response.prepare(n)));
      st.sealed_response.commit(n);
      req.idempotency.key = idem;
      req.idempotency.fingerprint = std::string_view(st.fingerprint, sizeof st.fingerprint);
      req.idempotency.response = st.sealed_response.view();
      req.idempotency.ttl_s = call.services.cfg.state.idempotency_ttl_s;
    }
  }
  st.in_call = true;
  call.services.store.admit(req, &st, onAdmit);
}

}  // namespace phigate::api
