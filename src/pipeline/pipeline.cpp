#include "pipeline/pipeline.h"

#include "net/problem.h"
#include "net/worker.h"

namespace phigate::pipeline {

namespace {
// ,"allowed":["to","message",...]: the names an object with an unknown field
// accepts, so the client can fix its request without seeing its own key.
void appendAllowed(net::Buffer& body, std::span<const std::string_view> allowed) {
  if (allowed.empty()) return;
  body.append(",\"allowed\":[");
  for (size_t i = 0; i < allowed.size(); ++i) {
    if (i > 0) body.append(',');
    net::appendJsonString(body, allowed[i]);
  }
  body.append(']');
}
}  // namespace

Pipeline::Pipeline(const PolicyConfig& cfg, int64_t (*now_s)())
    : cfg_(cfg),
      client_ip_(cfg),
      ip_access_(cfg, blocks_),
      authn_(cfg.keys),
      replay_(cfg, now_s),
      validate_(*cfg.phone_region),
      head_{&client_ip_, &ip_access_},
      body_{&authn_, &key_ip_access_, &rbac_, &replay_, &validate_} {}

bool Pipeline::runHead(RequestContext& ctx) { return runStages(head_, ctx); }

bool Pipeline::runBody(RequestContext& ctx) { return runStages(body_, ctx); }

bool Pipeline::runStages(std::span<Stage* const> stages, RequestContext& ctx) {
  for (Stage* s : stages) {
    const Verdict v = s->run(ctx);
    // What the access/audit line says about the caller: the resolved client
    // address and the key id (never the token), as far as they are known.
    ctx.ex->client_ip = ctx.client_text;
    if (ctx.key != nullptr) ctx.ex->key_id = ctx.key->id;
    if (v == Verdict::kContinue) continue;
    if (v == Verdict::kReject) {
      // Containment counts it, per /64 for IPv6; never against a trusted
      // proxy (a request that resolves to one, as one without a usable
      // X-Forwarded-For does), which would lock out everyone behind it.
      if (ctx.rejection.event == obs::SecurityEvent::kAuthFailure && hook_ != nullptr &&
          !cfg_.trusted_proxies.contains(ctx.client.ip)) {
        char subject[kSubjectTextCapacity];
        hook_(hook_ctx_, formatSubject(ctx.client.ip, subject));
      }
      respond(ctx);
    }
    return false;  // rejected, or suspended (the stage resumes the request itself)
  }
  return true;
}

void Pipeline::respond(RequestContext& ctx) {
  const Rejection& r = ctx.rejection;
  net::Exchange& ex = *ctx.ex;
  ex.event = r.event;
  ex.reason = r.reason;
  net::Buffer& body = ex.worker().scratch();
  body.clear();
  net::writeProblem(body, net::Problem{r.status, r.type, r.title, r.detail}, ex.ensureRequestId());
  if (!r.errors.empty()) {
    // Re-open the object to add the errors list: {..., "errors":[{field, code}]}
    body.truncate(body.size() - 1);  // drop the closing brace
    body.append(",\"errors\":[");
    for (size_t i = 0; i < r.errors.size(); ++i) {
      if (i > 0) body.append(',');
      body.append("{\"field\":");
      net::appendJsonString(body, r.errors[i].field);
      body.append(",\"code\":");
      net::appendJsonString(body, r.errors[i].code);
      appendAllowed(body, r.errors[i].allowed);
      body.append('}');
    }
    body.append("]}");
  }
  static constexpr net::HeaderField kChallenge[] = {{"WWW-Authenticate", "Bearer realm=\"phigate\""}};
  ex.respond(r.status, net::kProblemType, body.view(),
             r.www_authenticate ? std::span<const net::HeaderField>(kChallenge)
                                : std::span<const net::HeaderField>());
}

}  // namespace phigate::pipeline
