#include "delivery/provider_gate.h"

#include <algorithm>

namespace phigate::delivery {

using state::Lane;

uint32_t ProviderGate::cap(Lane lane, uint32_t total) const {
  if (lane == Lane::kPriority) return total;
  return std::max<uint32_t>(1, static_cast<uint32_t>(uint64_t{total} * o_.bulk_share_pct / 100));
}

// A token bucket holding one second's worth: bulk may take a token only
// while more than the priority reserve is left.
bool ProviderGate::tokenAvailable(Lane lane, int64_t now_ms) {
  if (o_.rate_per_s == 0) return true;
  const double burst = o_.rate_per_s;
  if (tokens_ < 0) {
    tokens_ = burst;
    refilled_ms_ = now_ms;
  }
  tokens_ = std::min(burst, tokens_ + (now_ms - refilled_ms_) * o_.rate_per_s / 1000.0);
  refilled_ms_ = now_ms;
  const double reserve = lane == Lane::kBulk ? burst * (100 - o_.bulk_share_pct) / 100.0 : 0;
  return tokens_ >= 1 + reserve;
}

bool ProviderGate::tryAcquire(Lane lane, int64_t now_ms) {
  if (circuit_ == Circuit::kOpen) {
    if (now_ms < open_until_ms_) return false;
    circuit_ = Circuit::kHalfOpen;
    probe_out_ = false;
  }
  if (circuit_ == Circuit::kHalfOpen && probe_out_) return false;
  if (in_flight_ >= o_.concurrency) return false;
  if (lane == Lane::kBulk && bulk_in_flight_ >= cap(lane, o_.concurrency)) return false;
  if (!tokenAvailable(lane, now_ms)) return false;
  if (o_.rate_per_s != 0) tokens_ -= 1;
  ++in_flight_;
  if (lane == Lane::kBulk) ++bulk_in_flight_;
  last_was_probe_ = circuit_ == Circuit::kHalfOpen;
  if (last_was_probe_) probe_out_ = true;
  return true;
}

void ProviderGate::giveBack(Lane lane, bool probe) {
  if (in_flight_ > 0) --in_flight_;
  if (lane == Lane::kBulk && bulk_in_flight_ > 0) --bulk_in_flight_;
  // Only the probe's own slot frees the probe: a call taken before the
  // circuit opened and given back now must not let a second probe out.
  if (probe && circuit_ == Circuit::kHalfOpen) probe_out_ = false;
}

void ProviderGate::release(Lane lane, bool healthy, int64_t now_ms) {
  if (in_flight_ > 0) --in_flight_;
  if (lane == Lane::kBulk && bulk_in_flight_ > 0) --bulk_in_flight_;
  if (healthy) {
    consecutive_failures_ = 0;
    circuit_ = Circuit::kClosed;
    return;
  }
  ++consecutive_failures_;
  if (circuit_ == Circuit::kHalfOpen || consecutive_failures_ >= o_.failures) {
    circuit_ = Circuit::kOpen;
    open_until_ms_ = now_ms + o_.open_ms;
    probe_out_ = false;
  }
}

int64_t ProviderGate::retryAtMs(int64_t now_ms) const {
  if (circuit_ == Circuit::kOpen) return open_until_ms_;
  if (o_.rate_per_s != 0 && tokens_ >= 0 && tokens_ < 1) {
    return now_ms + static_cast<int64_t>((1 - tokens_) * 1000 / o_.rate_per_s) + 1;
  }
  return 0;
}

}  // namespace phigate::delivery
