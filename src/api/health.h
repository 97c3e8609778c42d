// Liveness and readiness.
#pragma once

#include "api/call.h"

namespace phigate::api {

/** GET /livez: the process is serving; no I/O, no dependencies. */
void handleLivez(Call& call);

/** GET /health: JSON readiness; 503 while the worker drains. */
void handleHealth(Call& call);

}  // namespace phigate::api
