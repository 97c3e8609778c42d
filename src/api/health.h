// Liveness and readiness.
#pragma once

#include "api/router.h"

namespace phigate::api {

/** GET /livez: the process is serving; no I/O, no dependencies. */
void handleLivez(net::Exchange& ex, const RouteMatch& m);

/** GET /health: JSON readiness; 503 while the worker drains. */
void handleHealth(net::Exchange& ex, const RouteMatch& m);

}  // namespace phigate::api
