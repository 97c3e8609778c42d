#include "pipeline/pipeline.h"

#include "net/problem.h"
#include "net/worker.h"

namespace phigate::pipeline {

Pipeline::Pipeline(const PolicyConfig& cfg, int64_t (*now_s)())
    : cfg_(cfg),
      client_ip_(cfg),
      ip_access_(cfg, blocks_),
      authn_(cfg.keys),
      replay_(cfg, now_s),
      validate_(*cfg.phone_region),
      head_{&client_ip_, &ip_access_, &authn_, &key_ip_access_, &rbac_, &replay_, &content_type_},
      body_{&signature_, &validate_} {}

Verdict Pipeline::runHead(RequestContext& ctx) { return runStages(head_, ctx); }

Verdict Pipeline::runBody(RequestContext& ctx) {
  rebindReplayToken(ctx.request(), &ctx.replay);
  return runStages(body_, ctx);
}

Verdict Pipeline::runStages(std::span<Stage* const> stages, RequestContext& ctx) {
  for (Stage* s : stages) {
    const Verdict v = s->run(ctx);
    // What the access/audit line says about the caller: the resolved client
    // address and the key id (never the token), as far as they are known.
    ctx.ex->client_ip = ctx.client_text;
    if (ctx.key != nullptr) ctx.ex->key_id = ctx.key->id;
    if (v == Verdict::kContinue) continue;
    // Containment counts it, per /64 for IPv6; never against a trusted
    // proxy (a request that resolves to one, as one without a usable
    // X-Forwarded-For does), which would lock out everyone behind it.
    const bool failure = ctx.rejection.event == obs::SecurityEvent::kAuthFailure ||
                         ctx.rejection.counts_as_auth_failure;
    if (v == Verdict::kReject && failure && hook_ != nullptr &&
        !cfg_.trusted_proxies.contains(ctx.client.ip)) {
      char subject[kSubjectTextCapacity];
      hook_(hook_ctx_, formatSubject(ctx.client.ip, subject));
    }
    return v;  // rejected: the caller answers
  }
  return Verdict::kContinue;
}

void Pipeline::respond(RequestContext& ctx) {
  const Rejection& r = ctx.rejection;
  net::Exchange& ex = *ctx.ex;
  ex.event = r.event;
  ex.reason = r.reason;
  Buffer& body = ex.worker().scratch();
  body.clear();
  net::Problem p{r.status, r.type, r.title, r.detail, r.code, r.members, r.errors};
  net::writeProblem(body, p, ex.ensureRequestId());
  static constexpr net::HeaderField kChallenge[] = {{"WWW-Authenticate", "Bearer realm=\"phigate\""}};
  ex.respond(r.status, net::kProblemType, body.view(),
             r.www_authenticate ? std::span<const net::HeaderField>(kChallenge) : r.headers);
}

}  // namespace phigate::pipeline
