// What a handler works with: the exchange, the pipeline's findings, and the
// long-lived services. A CallState lives from dispatch until the response
// (or until the connection goes away), so asynchronous store calls can carry
// it as their context; states are pooled per worker, not allocated per request.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "config/config.h"
#include "crypto/hash.h"
#include "crypto/key_ring.h"
#include "common/buffer.h"
#include "net/exchange.h"
#include "pipeline/stage.h"
#include "state/store.h"

namespace phigate::upstream {
class EhospitalProxy;
}

namespace phigate::api {

struct Route;
struct CallState;

/** Called when the store admitted the call (every other outcome is answered for you). */
using Admitted = void (*)(CallState& st, const state::AdmitResult& result);

/** Long-lived, per-worker services handlers use. */
struct Services {
  const config::Config& cfg;
  const pipeline::PolicyConfig& policy;
  const crypto::KeyRing& key_ring;
  state::StateStore& store;
  // Keys the idempotency fingerprint (derived from SECRET_KEY): the record
  // sits in the store for a day, and an unkeyed hash of a short, guessable
  // body (an OTP to a known number) would give the body away.
  crypto::Sha256 fingerprint_key{};
  // The eHospital pass-through on this worker's loop; null when not
  // configured (or before the worker started).
  upstream::EhospitalProxy* ehospital = nullptr;
};

/** A message id: 128 random bits as 32 lower-case hex characters. */
using MessageId = std::array<char, 32>;

/** Per-exchange state, pooled. */
struct CallState {
  static constexpr size_t kMaxMessages = 200;

  CallState() {
    ids.reserve(kMaxMessages);
    entries.reserve(kMaxMessages);
  }
  void reset(net::Exchange* exchange, const Route* r) {
    ctx = pipeline::RequestContext{};
    ctx.ex = exchange;
    route = r;
    aborted = false;
    in_call = false;
    head_rejected = false;
    ids.clear();
    entries.clear();
    plain.clear();
    sealed.clear();
    response.clear();
    sealed_response.clear();
    header_count = 0;
    on_admitted = nullptr;
    on_unavailable = nullptr;
  }

  /** Extra response headers gathered so far (rate limit, Retry-After, ...). */
  std::span<const net::HeaderField> headers() const { return {header_fields.data(), header_count}; }
  void addHeader(std::string_view name, std::string_view value) {
    if (header_count < header_fields.size()) header_fields[header_count++] = {name, value};
  }

  pipeline::RequestContext ctx;
  const Route* route = nullptr;
  class CallPool* pool = nullptr;         // where this state returns
  bool aborted = false;                   // the connection went away mid-call
  bool in_call = false;                   // a store call holds this state until it answers
  bool head_rejected = false;             // ctx.rejection is the answer, given at onRequest
  std::vector<MessageId> ids;
  std::vector<state::OutboxEntry> entries;
  Buffer plain;                      // plaintext payloads, back to back
  Buffer sealed;                     // their sealed forms
  Buffer response;                   // the success body, built before admission
  Buffer sealed_response;            // ... sealed for the idempotency record
  Services* services = nullptr;
  Admitted on_admitted = nullptr;
  Admitted on_unavailable = nullptr;     // null: the generic 503 problem
  // Storage for header values and the store request's strings.
  std::array<net::HeaderField, 4> header_fields{};
  size_t header_count = 0;
  char rate_policy_value[64] = {};
  char rate_value[64] = {};
  char retry_after_value[16] = {};
  char subject[64] = {};                  // "ip:<address>" for per-address limits
  char member[32] = {};                   // unique id of this request in a rate window
  char fingerprint[64] = {};              // hex SHA-256 for the idempotency record
};

/** A free list of CallStates (grows to the peak number of calls in flight). */
class CallPool {
 public:
  CallState* acquire() {
    if (free_.empty()) {
      all_.push_back(std::make_unique<CallState>());
      all_.back()->pool = this;
      return all_.back().get();
    }
    CallState* s = free_.back();
    free_.pop_back();
    return s;
  }
  void release(CallState* s) { free_.push_back(s); }

 private:
  std::vector<std::unique_ptr<CallState>> all_;
  std::vector<CallState*> free_;
};

/**
 * An async callback found its connection gone: nothing to answer, just give
 * the state back (the exchange released it to us when it was aborted).
 */
inline void finishAborted(CallState& st) { st.pool->release(&st); }

/** The argument of every handler. */
struct Call {
  CallState& state;
  Services& services;
  std::span<const std::string_view> params;  // route parameters, valid during the call only

  net::Exchange& ex() const { return *state.ctx.ex; }
  pipeline::RequestContext& ctx() const { return state.ctx; }
};

}  // namespace phigate::api
