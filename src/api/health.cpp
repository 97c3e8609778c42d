#include "api/health.h"

#include <iterator>

#include "api/admission.h"
#include "net/worker.h"

namespace phigate::api {

void handleLivez(Call& call) {
  call.ex().respond(200, net::kJsonType, R"({"status":"ok"})");
}

namespace {

// The store is "ok", "down" (cannot answer), or "full" (answers, but refuses
// new messages: the embedded store at capacity).
void writeHealth(Buffer& body, bool draining, const state::StateStore& store, bool store_ok) {
  const bool full = store_ok && store.full();
  body.clear();
  body.append(draining              ? R"({"status":"draining")"
              : store_ok && !full ? R"({"status":"ok")"
                                  : R"({"status":"unavailable")");
  body.append(R"(,"checks":{"accepting":")");
  body.append(draining ? "draining" : "ok");
  body.append(R"(","store":{"backend":")");
  body.append(store.backend());
  body.append(R"(","status":")");
  body.append(!store_ok ? "down" : full ? "full" : "ok");
  body.append("\"}}}");
}

// 200 ready; 503 + Retry-After while draining or the store is down (both
// pass: another worker, a reconnect); 507 while the in-process store is full,
// which retrying soon does not change (the sends answer 507 too).
void respondHealth(net::Exchange& ex, const state::StateStore& store, bool draining, bool store_ok,
                   const Buffer& body, std::span<const net::HeaderField> headers) {
  if (draining || !store_ok) {
    net::HeaderField with_retry[5];
    size_t n = 0;
    for (const net::HeaderField& h : headers) {
      if (n < std::size(with_retry) - 1) with_retry[n++] = h;
    }
    with_retry[n++] = {"Retry-After", "1"};
    ex.respond(503, net::kJsonType, body.view(), {with_retry, n});
    return;
  }
  ex.respond(store.full() ? 507 : 200, net::kJsonType, body.view(), headers);
}

// The worker may have begun draining while the store answered.
void answer(CallState& st, bool store_ok) {
  net::Exchange& ex = *st.ctx.ex;
  const bool draining = ex.worker().draining();
  Buffer& body = ex.worker().scratch();
  writeHealth(body, draining, st.services->store, store_ok);
  respondHealth(ex, st.services->store, draining, store_ok, body, st.headers());
}

void healthy(CallState& st, const state::AdmitResult&) { answer(st, true); }

// The store did not answer the readiness check's own admit (timed out, lost
// the connection, refused): that is the answer, in the health document.
void storeDown(CallState& st, const state::AdmitResult&) { answer(st, false); }

}  // namespace

// Readiness is what a load balancer needs to know: is this worker taking new
// work, and can it record what it accepts. A ready answer goes through the
// store like any request (it is rate-limited per client address, and proves
// the store answers); a worker that is draining or whose store is down says
// so without asking, and a store that fails the check is reported down.
// Providers and the outbox consumer join as checks when delivery lands.
void handleHealth(Call& call) {
  net::Exchange& ex = call.ex();
  const bool draining = ex.worker().draining();
  if (draining || !call.services.store.healthy()) {
    Buffer& body = ex.worker().scratch();
    writeHealth(body, draining, call.services.store, call.services.store.healthy());
    respondHealth(ex, call.services.store, draining, call.services.store.healthy(), body, {});
    return;
  }
  state::AdmitRequest req;
  call.state.on_unavailable = storeDown;
  admitCall(call, req, healthy);
}

}  // namespace phigate::api
