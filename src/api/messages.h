// GET /v1/messages/{id}: the status of a message the calling key created;
// DELETE /v1/messages/{id}: cancels it while it is still queued (409 with its
// status otherwise).
// Another key's id, a malformed id and an unknown id all answer the same 404,
// so ids cannot be probed across keys (BOLA).
#pragma once

#include "api/call.h"

namespace phigate::api {

void handleMessageStatus(Call& call);
void handleMessageCancel(Call& call);

}  // namespace phigate::api
