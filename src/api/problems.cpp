#include "api/problems.h"

#include "net/problem.h"
#include "net/worker.h"

namespace phigate::api {

void respondProblem(net::Exchange& ex, int status, std::string_view type, std::string_view title,
                    std::string_view detail, std::span<const net::HeaderField> extra) {
  Buffer& body = ex.worker().scratch();
  body.clear();
  net::writeProblem(body, net::Problem{status, type, title, detail}, ex.ensureRequestId());
  ex.respond(status, net::kProblemType, body.view(), extra);
}

void respondReplayed(pipeline::RequestContext& ctx) {
  ctx.ex->event = obs::SecurityEvent::kReplay;
  ctx.ex->reason = "nonce_reused";
  respondProblem(*ctx.ex, 409, "replayed", "Replayed request",
                 "This X-Nonce was already used with this key.");
}

void respondStoreUnavailable(net::Exchange& ex) {
  static constexpr net::HeaderField kRetry[] = {{"Retry-After", "1"}};
  respondProblem(ex, 503, "store-unavailable", "Service Unavailable",
                 "The state store did not confirm this request. Retry later; send an "
                 "Idempotency-Key to make the retry safe.", kRetry);
}

void respondNotFound(net::Exchange& ex) {
  respondProblem(ex, 404, "not-found", "Not Found", "No such resource.");
}

}  // namespace phigate::api
