// GET /v1/messages/{id}: the status of a message the calling key created.
// Another key's id, a malformed id and an unknown id all answer the same 404,
// so ids cannot be probed across keys (BOLA).
#pragma once

#include "api/call.h"

namespace phigate::api {

void handleMessageStatus(Call& call);

}  // namespace phigate::api
