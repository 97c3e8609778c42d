// Exponential backoff between attempts: min, 2·min, 4·min ... up to max; with
// a seed, "equal jitter" (half the step plus up to as much again at random),
// so processes that failed together do not retry in lockstep. Used for the
// master's worker restarts and the Redis client's reconnects, and meant for
// provider retries next.
#pragma once

#include <algorithm>
#include <cstdint>

namespace phigate {

class Backoff {
 public:
  /** `jitter_seed` 0: no jitter (the delays are exact). */
  Backoff(uint64_t min_ms, uint64_t max_ms, uint64_t jitter_seed = 0)
      : min_ms_(std::max<uint64_t>(min_ms, 1)),
        max_ms_(std::max(max_ms, min_ms_)),
        rng_(jitter_seed),
        jitter_(jitter_seed != 0) {}

  /** The delay before the next attempt; each call doubles the step, up to max. */
  uint64_t next() {
    const uint64_t step = std::min(max_ms_, min_ms_ << std::min<uint32_t>(attempts_, 40));
    ++attempts_;
    if (!jitter_) return step;
    rng_ ^= rng_ << 13;  // xorshift64: not secret, only spread
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return step / 2 + rng_ % (step - step / 2 + 1);
  }
  /** After a success: the next delay is min again. */
  void reset() { attempts_ = 0; }
  uint32_t attempts() const { return attempts_; }

 private:
  uint64_t min_ms_;
  uint64_t max_ms_;
  uint64_t rng_;
  uint32_t attempts_ = 0;
  bool jitter_;
};

}  // namespace phigate
