// What one worker may ask of one provider right now: a concurrency cap, a
// rate cap (provider accounts have a TPS limit; the host's limit is shared
// out between its workers) and a circuit breaker. Bulk may use only part of
// both, so an OTP never waits for a slot behind a campaign.
//
// Circuit breaker: `failures` provider failures in a row (no answer, or an
// answer that says "try later") open the circuit for `open_ms`; then one
// probe is let through (half-open): its success closes the circuit, its
// failure opens it again. While open nothing is sent: messages wait in the
// outbox (the API keeps accepting; its latency does not depend on this).
#pragma once

#include <cstdint>

#include "state/outbox.h"

namespace phigate::delivery {

struct GateOptions {
  uint32_t concurrency = 256;     // provider calls in flight, this worker
  uint32_t rate_per_s = 0;        // calls per second, this worker; 0: no cap
  uint32_t bulk_share_pct = 75;   // of each, what bulk may use
  uint32_t failures = 20;         // consecutive failures that open the circuit
  uint32_t open_ms = 30'000;      // how long it stays open before a probe
};

class ProviderGate {
 public:
  enum class Circuit : uint8_t { kClosed, kOpen, kHalfOpen };

  explicit ProviderGate(GateOptions o) : o_(o) {}

  /** Takes a slot (and a token) for a call in `lane`; false: not now. */
  bool tryAcquire(state::Lane lane, int64_t now_ms);
  /** Whether the last successful tryAcquire took the half-open circuit's one probe. */
  bool lastWasProbe() const { return last_was_probe_; }
  /** The call ended: `healthy` false when the provider failed (no answer, 5xx, "try later"). */
  void release(state::Lane lane, bool healthy, int64_t now_ms);
  /** A slot taken but no call made (cancelled, or given back): neither success nor failure;
   *  `probe`: it was the probe (lastWasProbe()), which another call may now be. */
  void giveBack(state::Lane lane, bool probe = false);

  /** When it is worth asking again after tryAcquire said no (0: when a call ends). */
  int64_t retryAtMs(int64_t now_ms) const;
  Circuit circuit() const { return circuit_; }
  uint32_t inFlight() const { return in_flight_; }

 private:
  bool tokenAvailable(state::Lane lane, int64_t now_ms);
  uint32_t cap(state::Lane lane, uint32_t total) const;

  GateOptions o_;
  uint32_t in_flight_ = 0;
  uint32_t bulk_in_flight_ = 0;
  double tokens_ = -1;  // -1: not started (full bucket)
  int64_t refilled_ms_ = 0;
  Circuit circuit_ = Circuit::kClosed;
  uint32_t consecutive_failures_ = 0;
  int64_t open_until_ms_ = 0;
  bool probe_out_ = false;
  bool last_was_probe_ = false;
};

}  // namespace phigate::delivery
