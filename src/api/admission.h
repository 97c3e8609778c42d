// The one store round trip of a call: rate window, daily quota, nonce,
// idempotency and the outbox, in one atomic admit; and the answers to every
// outcome but success (429 with Retry-After, 409, 422, 503), so handlers only
// write their success path. Answers on which the store charged or refused the
// rate window carry RateLimit-Policy and RateLimit (IETF httpapi draft
// syntax); a replayed nonce or idempotent replay never reached the window.
#pragma once

#include "api/call.h"

namespace phigate::api {

/**
 * Completes `req` (key, member, rate charge, nonce, Idempotency-Key) from the
 * call and its route, and admits it. `st.response` must hold the success body
 * when the request may carry an Idempotency-Key. Success goes to `admitted`.
 */
void admitCall(Call& call, state::AdmitRequest& req, Admitted admitted);

/**
 * Checks the Idempotency-Key header of a state-changing request at head time
 * (1-255 printable ASCII characters; a repeated header never gets here, the
 * HTTP parser refuses it). False with `out` set to the 400 to answer.
 */
bool checkIdempotencyHeader(const net::HttpRequest& req, pipeline::Rejection* out);

/** Fills the rate charge for the call's route (used by admitCall and /health). */
void fillRateCharge(CallState& st, const Services& services, state::RateCharge* rate);

/** Adds RateLimit-Policy / RateLimit for a result (no-op when not limited). */
void addRateHeaders(CallState& st, const state::AdmitResult& r);

}  // namespace phigate::api
