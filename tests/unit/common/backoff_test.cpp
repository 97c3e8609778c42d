#include "common/backoff.h"

#include <gtest/gtest.h>

namespace phigate {
namespace {

TEST(Backoff, DoublesUpToTheCapAndResets) {
  Backoff b(100, 5000);
  for (uint64_t want : {100, 200, 400, 800, 1600, 3200, 5000, 5000}) EXPECT_EQ(b.next(), want);
  EXPECT_EQ(b.attempts(), 8u);
  b.reset();
  EXPECT_EQ(b.next(), 100u);
}

// Equal jitter: each delay lies in [step/2, step], and two seeds disagree.
TEST(Backoff, JitterStaysWithinHalfTheStepAndTheStep) {
  Backoff a(50, 2000, 1), b(50, 2000, 2);
  bool differ = false;
  uint64_t step = 50;
  for (int i = 0; i < 12; ++i) {
    const uint64_t x = a.next(), y = b.next();
    EXPECT_GE(x, step / 2);
    EXPECT_LE(x, step);
    EXPECT_GE(y, step / 2);
    EXPECT_LE(y, step);
    differ = differ || x != y;
    step = std::min<uint64_t>(step * 2, 2000);
  }
  EXPECT_TRUE(differ);
}

TEST(Backoff, ZeroMinimumIsOneAndHugeAttemptCountsDoNotOverflow) {
  Backoff b(0, 10);
  EXPECT_EQ(b.next(), 1u);
  for (int i = 0; i < 100; ++i) EXPECT_LE(b.next(), 10u);
}

}  // namespace
}  // namespace phigate
