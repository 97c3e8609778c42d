#include "api/health.h"

#include "net/worker.h"

namespace phigate::api {

void handleLivez(net::Exchange& ex, const RouteMatch&) {
  ex.respond(200, net::kJsonType, R"({"status":"ok"})");
}

// Readiness is what a load balancer needs to know: is this worker taking new
// work. Later stages add their dependencies (state store, providers, outbox)
// as further checks.
void handleHealth(net::Exchange& ex, const RouteMatch&) {
  if (ex.worker().draining()) {
    ex.respond(503, net::kJsonType, R"({"status":"draining","checks":{"accepting":"draining"}})");
    return;
  }
  ex.respond(200, net::kJsonType, R"({"status":"ok","checks":{"accepting":"ok"}})");
}

}  // namespace phigate::api
