#include "api/health.h"

#include "net/worker.h"

namespace phigate::api {

void handleLivez(Call& call) {
  call.ex().respond(200, net::kJsonType, R"({"status":"ok"})");
}

// Readiness is what a load balancer needs to know: is this worker taking new
// work, and can it record what it accepts. Providers and the outbox consumer
// join as checks when delivery lands.
void handleHealth(Call& call) {
  net::Exchange& ex = call.ex();
  const bool draining = ex.worker().draining();
  const state::StateStore& store = call.services.store;
  const bool store_ok = store.healthy();
  net::Buffer& body = ex.worker().scratch();
  body.clear();
  body.append(draining ? R"({"status":"draining")" : store_ok ? R"({"status":"ok")" : R"({"status":"unavailable")");
  body.append(R"(,"checks":{"accepting":")");
  body.append(draining ? "draining" : "ok");
  body.append(R"(","store":{"backend":")");
  body.append(store.backend());
  body.append(R"(","status":")");
  body.append(store_ok ? "ok" : "down");
  body.append("\"}}}");
  ex.respond(draining || !store_ok ? 503 : 200, net::kJsonType, body.view());
}

}  // namespace phigate::api
