// The send endpoints: POST /v1/sms, /v1/sms/bulk, /v1/email. A validated
// request becomes one sealed outbox entry per message, handed to the state
// store together with the request's nonce in one atomic admit; 202 means the
// store has it.
#pragma once

#include "api/call.h"

namespace phigate::api {

void handleSms(Call& call);
void handleSmsBulk(Call& call);
void handleEmail(Call& call);

}  // namespace phigate::api
