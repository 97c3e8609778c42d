// The provider gate on its own: concurrency cap and the bulk share, the rate
// cap's token bucket with the priority reserve, and the circuit breaker's
// closed -> open -> half-open -> closed/open cycle. Time is passed in.
#include "delivery/provider_gate.h"

#include <gtest/gtest.h>

namespace phigate::delivery {
namespace {

using state::Lane;

TEST(ProviderGate, BulkGetsItsShareOfTheSlotsAndPriorityTheRest) {
  ProviderGate g({.concurrency = 8, .rate_per_s = 0, .bulk_share_pct = 75});
  int bulk = 0;
  while (g.tryAcquire(Lane::kBulk, 0)) ++bulk;
  EXPECT_EQ(bulk, 6);
  EXPECT_TRUE(g.tryAcquire(Lane::kPriority, 0));
  EXPECT_TRUE(g.tryAcquire(Lane::kPriority, 0));
  EXPECT_FALSE(g.tryAcquire(Lane::kPriority, 0)) << "the cap holds for priority too";
  g.release(Lane::kBulk, true, 0);
  EXPECT_FALSE(g.tryAcquire(Lane::kBulk, 0) && g.tryAcquire(Lane::kBulk, 0));
  EXPECT_EQ(g.inFlight(), 8u);
}

TEST(ProviderGate, RateCapRefillsOverTimeAndKeepsAReserveForPriority) {
  ProviderGate g({.concurrency = 1000, .rate_per_s = 100, .bulk_share_pct = 75});
  int bulk = 0;
  while (g.tryAcquire(Lane::kBulk, 1000)) ++bulk;
  EXPECT_GE(bulk, 74);
  EXPECT_LE(bulk, 76);
  int priority = 0;
  while (g.tryAcquire(Lane::kPriority, 1000)) ++priority;
  EXPECT_EQ(bulk + priority, 100) << "one second's worth in all";
  EXPECT_GT(g.retryAtMs(1000), 1000);
  EXPECT_FALSE(g.tryAcquire(Lane::kPriority, 1000));
  EXPECT_TRUE(g.tryAcquire(Lane::kPriority, 1011)) << "10 ms refill one token at 100/s";
}

TEST(ProviderGate, CircuitOpensAfterConsecutiveFailuresThenOneProbeDecides) {
  ProviderGate g({.concurrency = 10, .failures = 3, .open_ms = 1000});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(g.tryAcquire(Lane::kPriority, 0));
    g.release(Lane::kPriority, false, 0);
  }
  EXPECT_EQ(g.circuit(), ProviderGate::Circuit::kOpen);
  EXPECT_FALSE(g.tryAcquire(Lane::kPriority, 999));
  EXPECT_EQ(g.retryAtMs(500), 1000);
  // Half-open: one probe at a time.
  ASSERT_TRUE(g.tryAcquire(Lane::kPriority, 1000));
  EXPECT_EQ(g.circuit(), ProviderGate::Circuit::kHalfOpen);
  EXPECT_FALSE(g.tryAcquire(Lane::kPriority, 1000));
  g.release(Lane::kPriority, false, 1000);  // the probe failed: open again
  EXPECT_EQ(g.circuit(), ProviderGate::Circuit::kOpen);
  EXPECT_FALSE(g.tryAcquire(Lane::kPriority, 1500));
  ASSERT_TRUE(g.tryAcquire(Lane::kPriority, 2000));
  g.release(Lane::kPriority, true, 2000);  // it succeeded: closed
  EXPECT_EQ(g.circuit(), ProviderGate::Circuit::kClosed);
  EXPECT_TRUE(g.tryAcquire(Lane::kPriority, 2000));
  EXPECT_TRUE(g.tryAcquire(Lane::kPriority, 2000));
}

TEST(ProviderGate, ASuccessResetsTheFailureCount) {
  ProviderGate g({.concurrency = 10, .failures = 3, .open_ms = 1000});
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(g.tryAcquire(Lane::kPriority, 0));
      g.release(Lane::kPriority, false, 0);
    }
    ASSERT_TRUE(g.tryAcquire(Lane::kPriority, 0));
    g.release(Lane::kPriority, true, 0);
  }
  EXPECT_EQ(g.circuit(), ProviderGate::Circuit::kClosed);
}

TEST(ProviderGate, OnlyTheProbeGivenBackLetsAnotherProbeOut) {
  ProviderGate g({.concurrency = 10, .failures = 2, .open_ms = 1000});
  ASSERT_TRUE(g.tryAcquire(Lane::kPriority, 0));  // taken while closed, still out
  EXPECT_FALSE(g.lastWasProbe());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(g.tryAcquire(Lane::kPriority, 0));
    g.release(Lane::kPriority, false, 0);
  }
  ASSERT_EQ(g.circuit(), ProviderGate::Circuit::kOpen);
  ASSERT_TRUE(g.tryAcquire(Lane::kPriority, 1000));
  EXPECT_TRUE(g.lastWasProbe());
  g.giveBack(Lane::kPriority, false);  // the old call, given back: not the probe
  EXPECT_FALSE(g.tryAcquire(Lane::kPriority, 1000)) << "a second probe went out";
  g.giveBack(Lane::kPriority, true);  // the probe itself
  EXPECT_TRUE(g.tryAcquire(Lane::kPriority, 1000));
}

TEST(ProviderGate, AGivenBackSlotIsNeitherSuccessNorFailure) {
  ProviderGate g({.concurrency = 1, .failures = 1, .open_ms = 1000});
  ASSERT_TRUE(g.tryAcquire(Lane::kPriority, 0));
  g.giveBack(Lane::kPriority);
  EXPECT_EQ(g.circuit(), ProviderGate::Circuit::kClosed);
  EXPECT_TRUE(g.tryAcquire(Lane::kPriority, 0));
}

}  // namespace
}  // namespace phigate::delivery
