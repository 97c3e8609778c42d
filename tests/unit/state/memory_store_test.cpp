#include "state/memory_store.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace phigate::state {
namespace {

constexpr int64_t kStart = 1'700'000'000'000;  // fake clock, ms
constexpr uint32_t kTtl = 600;                 // s (2 x the 300 s replay window)

// Records every callback so a test can check it ran exactly once.
struct AdmitResult {
  int calls = 0;
  AdmitStatus status = AdmitStatus::kUnavailable;
};

void onAdmit(void* ctx, AdmitStatus status) {
  auto* r = static_cast<AdmitResult*>(ctx);
  ++r->calls;
  r->status = status;
}

struct FindResult {
  int calls = 0;
  bool found = false;
  std::string status, channel;
  int64_t created_unix_ms = 0;
  uint32_t segments = 0;
};

void onFind(void* ctx, const MessageStatus* st) {
  auto* r = static_cast<FindResult*>(ctx);
  ++r->calls;
  r->found = st != nullptr;
  if (st != nullptr) {
    r->status = std::string(st->status);
    r->channel = std::string(st->channel);
    r->created_unix_ms = st->created_unix_ms;
    r->segments = st->segments;
  }
}

std::string msgId(int n) {
  std::string id = std::to_string(n);
  return std::string(32 - id.size(), '0') + id;  // 32 hex-ish chars
}

class MemoryStoreTest : public ::testing::Test {
 protected:
  int64_t now_ = kStart;

  MemoryStore make(MemoryStoreLimits limits = {}) {
    return MemoryStore(limits, [this] { return now_; });
  }

  // Admits and checks the callback ran exactly once, synchronously.
  static AdmitStatus admit(MemoryStore& store, std::string_view key, std::string_view nonce,
                           std::span<const OutboxEntry> entries = {}, uint32_t ttl = kTtl) {
    AdmitRequest req;
    req.key_id = key;
    req.nonce = nonce;
    req.nonce_ttl_s = ttl;
    req.entries = entries;
    AdmitResult r;
    store.admit(req, &r, onAdmit);
    EXPECT_EQ(r.calls, 1) << "admit callback must run exactly once";
    return r.status;
  }

  static FindResult find(MemoryStore& store, std::string_view key, std::string_view id) {
    FindResult r;
    store.findMessage(key, id, &r, onFind);
    EXPECT_EQ(r.calls, 1) << "find callback must run exactly once";
    return r;
  }
};

constexpr std::string_view kKeyA = "clinic-app";
constexpr std::string_view kKeyB = "lab-app";
constexpr std::string_view kNonce1 = "test-nonce-0000000000000001";
constexpr std::string_view kNonce2 = "test-nonce-0000000000000002";

TEST_F(MemoryStoreTest, BackendAndHealth) {
  MemoryStore store = make();
  EXPECT_EQ(store.backend(), "memory");
  EXPECT_TRUE(store.healthy());
  EXPECT_EQ(store.nonceCount(), 0u);
  EXPECT_EQ(store.messageCount(), 0u);
}

TEST_F(MemoryStoreTest, AdmitWithNonceRecordsItAndAppendsEntries) {
  MemoryStore store = make();
  const std::string id = msgId(1);
  const std::string sealed("\x01sealed\0bytes", 13);
  const OutboxEntry e{id, "sms", sealed, 2};
  EXPECT_EQ(admit(store, kKeyA, kNonce1, {&e, 1}), AdmitStatus::kAdmitted);
  EXPECT_EQ(store.nonceCount(), 1u);
  EXPECT_EQ(store.messageCount(), 1u);
}

TEST_F(MemoryStoreTest, SameKeyAndNonceIsReplayedAndNothingIsAppended) {
  MemoryStore store = make();
  const std::string id1 = msgId(1), id2 = msgId(2);
  const OutboxEntry e1{id1, "sms", "sealed-1", 1};
  const OutboxEntry e2{id2, "sms", "sealed-2", 1};
  ASSERT_EQ(admit(store, kKeyA, kNonce1, {&e1, 1}), AdmitStatus::kAdmitted);
  EXPECT_EQ(admit(store, kKeyA, kNonce1, {&e2, 1}), AdmitStatus::kReplayed);
  EXPECT_EQ(store.messageCount(), 1u);
  EXPECT_EQ(store.nonceCount(), 1u);
  EXPECT_EQ(store.sealedPayload(id2), nullptr);
  EXPECT_FALSE(find(store, kKeyA, id2).found);
  // Still replayed just before the TTL runs out.
  now_ += int64_t{kTtl} * 1000 - 1;
  EXPECT_EQ(admit(store, kKeyA, kNonce1, {&e2, 1}), AdmitStatus::kReplayed);
  EXPECT_EQ(store.messageCount(), 1u);
}

TEST_F(MemoryStoreTest, SameNonceUnderAnotherKeyIsAdmitted) {
  MemoryStore store = make();
  ASSERT_EQ(admit(store, kKeyA, kNonce1), AdmitStatus::kAdmitted);
  EXPECT_EQ(admit(store, kKeyB, kNonce1), AdmitStatus::kAdmitted);
  EXPECT_EQ(store.nonceCount(), 2u);
  EXPECT_EQ(admit(store, kKeyA, kNonce2), AdmitStatus::kAdmitted);
  EXPECT_EQ(admit(store, kKeyB, kNonce1), AdmitStatus::kReplayed);
}

// Key id and nonce are joined with '\n' internally: a key id and nonce that
// concatenate to the same text must not collide.
TEST_F(MemoryStoreTest, KeyNonceJoinIsUnambiguous) {
  MemoryStore store = make();
  ASSERT_EQ(admit(store, "ab", "cdefghijklmnopqrst"), AdmitStatus::kAdmitted);
  EXPECT_EQ(admit(store, "abc", "defghijklmnopqrst"), AdmitStatus::kAdmitted);
}

TEST_F(MemoryStoreTest, NonceExpiresAfterItsTtl) {
  MemoryStore store = make();
  ASSERT_EQ(admit(store, kKeyA, kNonce1), AdmitStatus::kAdmitted);
  now_ += int64_t{kTtl} * 1000 - 1;
  EXPECT_EQ(admit(store, kKeyA, kNonce1), AdmitStatus::kReplayed);
  now_ += 1;  // exactly TTL later
  EXPECT_EQ(admit(store, kKeyA, kNonce1), AdmitStatus::kAdmitted);
  // ...and is then remembered afresh for another TTL.
  now_ += 1000;
  EXPECT_EQ(admit(store, kKeyA, kNonce1), AdmitStatus::kReplayed);
}

TEST_F(MemoryStoreTest, ExpiredNoncesArePruned) {
  MemoryStore store = make();
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(admit(store, kKeyA, "test-nonce-prune-" + std::to_string(100 + i)),
              AdmitStatus::kAdmitted);
  }
  EXPECT_EQ(store.nonceCount(), 10u);
  now_ += int64_t{kTtl} * 1000;
  ASSERT_EQ(admit(store, kKeyA, kNonce1), AdmitStatus::kAdmitted);
  EXPECT_EQ(store.nonceCount(), 1u);
}

TEST_F(MemoryStoreTest, NoNonceMeansNoReplayCheck) {
  MemoryStore store = make();
  const std::string id1 = msgId(1), id2 = msgId(2);
  const OutboxEntry e1{id1, "email", "sealed-1", 0};
  const OutboxEntry e2{id2, "email", "sealed-2", 0};
  EXPECT_EQ(admit(store, kKeyA, "", {&e1, 1}), AdmitStatus::kAdmitted);
  EXPECT_EQ(admit(store, kKeyA, "", {&e2, 1}), AdmitStatus::kAdmitted);
  EXPECT_EQ(store.nonceCount(), 0u);
  EXPECT_EQ(store.messageCount(), 2u);
}

TEST_F(MemoryStoreTest, FullIsAllOrNothingAndTheNonceIsNotRecorded) {
  MemoryStore store = make({.max_nonces = 100, .max_messages = 3});
  const std::string ids[] = {msgId(1), msgId(2), msgId(3), msgId(4), msgId(5)};
  const OutboxEntry first[] = {{ids[0], "sms", "s1", 1}, {ids[1], "sms", "s2", 1}};
  ASSERT_EQ(admit(store, kKeyA, kNonce1, first), AdmitStatus::kAdmitted);
  ASSERT_EQ(store.messageCount(), 2u);

  // Two more would make 4 > 3: nothing is appended and the nonce is not spent.
  const OutboxEntry bulk[] = {{ids[2], "sms", "s3", 1}, {ids[3], "sms", "s4", 1}};
  EXPECT_EQ(admit(store, kKeyA, kNonce2, bulk), AdmitStatus::kFull);
  EXPECT_EQ(store.messageCount(), 2u);
  EXPECT_EQ(store.nonceCount(), 1u);
  EXPECT_EQ(store.sealedPayload(ids[2]), nullptr);
  EXPECT_EQ(store.sealedPayload(ids[3]), nullptr);

  // The client retries the same request with the same nonce: still full, not replayed.
  EXPECT_EQ(admit(store, kKeyA, kNonce2, bulk), AdmitStatus::kFull);

  // Exactly at capacity is fine.
  const OutboxEntry one[] = {{ids[4], "sms", "s5", 1}};
  EXPECT_EQ(admit(store, kKeyA, "test-nonce-fits-exactly-01", one), AdmitStatus::kAdmitted);
  EXPECT_EQ(store.messageCount(), 3u);
}

TEST_F(MemoryStoreTest, RetryAfterSpaceFreesIsAdmitted) {
  // The in-memory outbox never drains in this module; a fresh store with more
  // room stands in for "space freed": the point is the nonce was not burned.
  MemoryStore store = make({.max_nonces = 100, .max_messages = 1});
  const std::string id1 = msgId(1), id2 = msgId(2);
  const OutboxEntry e1{id1, "sms", "s1", 1};
  const OutboxEntry e2{id2, "sms", "s2", 1};
  ASSERT_EQ(admit(store, kKeyA, kNonce1, {&e1, 1}), AdmitStatus::kAdmitted);
  ASSERT_EQ(admit(store, kKeyA, kNonce2, {&e2, 1}), AdmitStatus::kFull);
  EXPECT_EQ(store.nonceCount(), 1u);
  // A request without entries still fits, and kNonce2 is still unused.
  EXPECT_EQ(admit(store, kKeyA, kNonce2), AdmitStatus::kAdmitted);
  EXPECT_EQ(admit(store, kKeyA, kNonce2), AdmitStatus::kReplayed);
}

TEST_F(MemoryStoreTest, EmptyEntriesNeverFull) {
  MemoryStore store = make({.max_nonces = 100, .max_messages = 0});
  EXPECT_EQ(admit(store, kKeyA, kNonce1), AdmitStatus::kAdmitted);
  const std::string id = msgId(1);
  const OutboxEntry e{id, "sms", "s", 1};
  EXPECT_EQ(admit(store, kKeyA, kNonce2, {&e, 1}), AdmitStatus::kFull);
}

TEST_F(MemoryStoreTest, TooManyNoncesIsUnavailable) {
  MemoryStore store = make({.max_nonces = 2, .max_messages = 100});
  ASSERT_EQ(admit(store, kKeyA, "test-nonce-cap-000001"), AdmitStatus::kAdmitted);
  ASSERT_EQ(admit(store, kKeyA, "test-nonce-cap-000002"), AdmitStatus::kAdmitted);
  const std::string id = msgId(1);
  const OutboxEntry e{id, "sms", "s", 1};
  EXPECT_EQ(admit(store, kKeyA, "test-nonce-cap-000003", {&e, 1}), AdmitStatus::kUnavailable);
  EXPECT_EQ(store.nonceCount(), 2u);
  EXPECT_EQ(store.messageCount(), 0u);
  // A replay is still recognised as such at capacity.
  EXPECT_EQ(admit(store, kKeyA, "test-nonce-cap-000001"), AdmitStatus::kReplayed);
  // Once the old nonces expire there is room again.
  now_ += int64_t{kTtl} * 1000;
  EXPECT_EQ(admit(store, kKeyA, "test-nonce-cap-000003", {&e, 1}), AdmitStatus::kAdmitted);
  EXPECT_EQ(store.messageCount(), 1u);
}

TEST_F(MemoryStoreTest, FindMessageOnlyForTheCreatingKey) {
  MemoryStore store = make();
  const std::string id = msgId(42);
  const OutboxEntry e{id, "sms", "sealed", 3};
  ASSERT_EQ(admit(store, kKeyA, kNonce1, {&e, 1}), AdmitStatus::kAdmitted);

  const FindResult mine = find(store, kKeyA, id);
  ASSERT_TRUE(mine.found);
  EXPECT_EQ(mine.status, "queued");
  EXPECT_EQ(mine.channel, "sms");
  EXPECT_EQ(mine.segments, 3u);

  // BOLA: another key's message looks absent, exactly like an unknown id.
  EXPECT_FALSE(find(store, kKeyB, id).found);
  EXPECT_FALSE(find(store, "", id).found);
  EXPECT_FALSE(find(store, "clinic-ap", id).found);
  EXPECT_FALSE(find(store, "clinic-app2", id).found);
  EXPECT_FALSE(find(store, kKeyA, msgId(43)).found);
  EXPECT_FALSE(find(store, kKeyA, "").found);
}

TEST_F(MemoryStoreTest, BulkEntriesAllBelongToTheAdmittingKey) {
  MemoryStore store = make();
  const std::string ids[] = {msgId(1), msgId(2), msgId(3)};
  const OutboxEntry entries[] = {
      {ids[0], "sms", "s1", 1}, {ids[1], "sms", "s2", 2}, {ids[2], "sms", "s3", 3}};
  ASSERT_EQ(admit(store, kKeyB, kNonce1, entries), AdmitStatus::kAdmitted);
  EXPECT_EQ(store.messageCount(), 3u);
  for (int i = 0; i < 3; ++i) {
    const FindResult r = find(store, kKeyB, ids[i]);
    ASSERT_TRUE(r.found) << i;
    EXPECT_EQ(r.segments, static_cast<uint32_t>(i + 1));
    EXPECT_FALSE(find(store, kKeyA, ids[i]).found) << i;
  }
}

// created_unix_ms must come from the injected clock, like every other time in
// the store (otherwise tests and a skewed clock disagree about message ages).
TEST_F(MemoryStoreTest, CreatedTimeComesFromTheInjectedClock) {
  MemoryStore store = make();
  now_ = 1'234'567'890'123;
  const std::string id = msgId(7);
  const OutboxEntry e{id, "email", "sealed", 0};
  ASSERT_EQ(admit(store, kKeyA, kNonce1, {&e, 1}), AdmitStatus::kAdmitted);
  const FindResult r = find(store, kKeyA, id);
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.channel, "email");
  EXPECT_EQ(r.created_unix_ms, 1'234'567'890'123);
}

TEST_F(MemoryStoreTest, SealedPayloadReturnsTheStoredBytes) {
  MemoryStore store = make();
  std::string sealed;
  for (int i = 0; i < 256; ++i) sealed.push_back(static_cast<char>(i));
  const std::string id = msgId(9);
  {
    std::string transient_id = id;       // the store must copy, not keep views
    std::string transient_sealed = sealed;
    const OutboxEntry e{transient_id, "sms", transient_sealed, 1};
    ASSERT_EQ(admit(store, kKeyA, kNonce1, {&e, 1}), AdmitStatus::kAdmitted);
    transient_id.assign(32, 'x');
    transient_sealed.assign(256, 'x');
  }
  const std::string* p = store.sealedPayload(id);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, sealed);
  EXPECT_EQ(store.sealedPayload(msgId(10)), nullptr);
}

TEST_F(MemoryStoreTest, DefaultClockIsWallTime) {
  MemoryStore store;  // no injected clock
  AdmitRequest req;
  req.key_id = kKeyA;
  req.nonce = kNonce1;
  req.nonce_ttl_s = kTtl;
  AdmitResult r;
  store.admit(req, &r, onAdmit);
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(r.status, AdmitStatus::kAdmitted);
  AdmitResult again;
  store.admit(req, &again, onAdmit);
  EXPECT_EQ(again.calls, 1);
  EXPECT_EQ(again.status, AdmitStatus::kReplayed);
}

TEST_F(MemoryStoreTest, EveryCallbackRunsExactlyOnce) {
  // Each admit()/find() helper asserts calls == 1; run every outcome once.
  MemoryStore store = make({.max_nonces = 1, .max_messages = 0});
  EXPECT_EQ(admit(store, kKeyA, kNonce1), AdmitStatus::kAdmitted);
  EXPECT_EQ(admit(store, kKeyA, kNonce1), AdmitStatus::kReplayed);
  EXPECT_EQ(admit(store, kKeyA, kNonce2), AdmitStatus::kUnavailable);
  const std::string id = msgId(1);
  const OutboxEntry e{id, "sms", "s", 1};
  EXPECT_EQ(admit(store, kKeyA, "", {&e, 1}), AdmitStatus::kFull);
  find(store, kKeyA, id);
}

}  // namespace
}  // namespace phigate::state
