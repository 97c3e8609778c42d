// The StateStore contract (src/state/store.h), as one suite run against every
// backend. A backend joins by writing one StoreFactory (see kFactories at the
// end): `make` returns a started, ready store on the test's loop, with a clean
// slate (the Redis factory flushes its database); `advance_ms` moves the
// backend's clock, or is nullptr when the clock is real.
//
// Tests that move time use short windows and TTLs (1 s) and call elapse():
// with an injectable clock that is instant, with a real one it waits (running
// the loop), so both kinds of backend are covered. Only checks that need
// millisecond boundaries or a whole day are skipped for a real clock.
//
// The last part covers what only the memory backend has: its bounds
// (MemoryStoreLimits: kFull, kUnavailable) and its accessors.
#include <gtest/gtest.h>
#include <signal.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "state/memory_store.h"
#include "state/redis_store.h"
#include "state/store.h"
#include "support/redis_server.h"

namespace phigate::state {

static const char* statusName(AdmitStatus s) {
  switch (s) {
    case AdmitStatus::kAdmitted: return "kAdmitted";
    case AdmitStatus::kRateLimited: return "kRateLimited";
    case AdmitStatus::kQuotaExceeded: return "kQuotaExceeded";
    case AdmitStatus::kReplayed: return "kReplayed";
    case AdmitStatus::kIdempotentReplay: return "kIdempotentReplay";
    case AdmitStatus::kIdempotencyMismatch: return "kIdempotencyMismatch";
    case AdmitStatus::kIdempotencyInFlight: return "kIdempotencyInFlight";
    case AdmitStatus::kUnavailable: return "kUnavailable";
    case AdmitStatus::kFull: return "kFull";
  }
  return "?";
}
// Found by ADL, so failures print names instead of bytes.
[[maybe_unused]] static void PrintTo(AdmitStatus s, std::ostream* os) { *os << statusName(s); }

namespace {

using Status = AdmitStatus;

// 2023-11-14T22:13:20Z: 6400 s before a UTC midnight (daily quota rollover).
constexpr int64_t kStart = 1'700'000'000'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kSecondsToMidnight = 6400;
static_assert((kStart / 1000) % 86'400 == 86'400 - kSecondsToMidnight);

int64_t monoMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// ---- the environment a backend runs in --------------------------------------------

/** A loop to drive asynchronous backends, and a clock for those that take one. */
struct TestEnv {
  TestEnv() {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &wake);
  }
  ~TestEnv() {
    uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
    // Whatever a backend left open (it was stopped and destroyed before).
    uv_walk(
        &loop,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  TestEnv(const TestEnv&) = delete;
  TestEnv& operator=(const TestEnv&) = delete;

  /** Runs the loop until `done()` or the timeout; true when done. */
  template <typename Pred>
  bool runUntil(Pred done, int timeout_ms) {
    const int64_t deadline = monoMs() + timeout_ms;
    while (!done()) {
      if (monoMs() >= deadline) return false;
      // A short timer so UV_RUN_ONCE comes back even when nothing happens.
      uv_timer_start(&wake, [](uv_timer_t*) {}, 5, 0);
      uv_run(&loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&wake);
    return true;
  }
  /** Runs the loop for `ms` (a real wait that keeps an async backend served). */
  void runFor(int64_t ms) {
    const int64_t until = monoMs() + ms;
    runUntil([&] { return monoMs() >= until; }, static_cast<int>(ms) + 1000);
  }

  uv_loop_t loop;
  uv_timer_t wake;
  int64_t now_ms = kStart;              // the memory backend's clock
};

/** How to build one backend for a test. */
struct StoreFactory {
  const char* name;
  /** A started, ready store with nothing in it (nullptr: failed, say why on stderr). */
  std::unique_ptr<StateStore> (*make)(TestEnv&);
  /** Moves the backend's clock; nullptr when it cannot be moved. */
  void (*advance_ms)(TestEnv&, int64_t);
  /** Callbacks run before the call returns (store.h: memory). */
  bool synchronous;
};
void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

// ---- owned copies of what callbacks see ---------------------------------------------

struct Message {
  std::string status, channel;
  int64_t created_unix_ms = 0;
  uint32_t segments = 0;
};

struct Outcome {
  int calls = 0;
  Status status = Status::kUnavailable;
  uint32_t limit = 0, remaining = 0, reset_s = 0, retry_after_s = 0;
  std::string stored_response;
  std::optional<Message> message;
};

struct DoneOutcome {
  int calls = 0;
  bool ok = false;
};

struct BlocksOutcome {
  int calls = 0;
  bool ok = false;
  std::set<std::string> ips;
  std::vector<int64_t> expiries;  // unix ms, in listing order
  size_t listed = 0;  // entries, to catch duplicates
};

/** One outbox entry as a test writes it. */
struct Entry {
  std::string id;
  std::string channel = "sms";
  std::string sealed = "sealed-bytes";
  uint32_t segments = 1;
};

/** An admit as a test writes it; the fixture turns it into an AdmitRequest. */
struct Req {
  std::string key_id = "clinic-app";
  std::string subject;  // empty: the key id
  std::string bucket = "sms";
  uint32_t limit = 0;
  uint32_t window_s = 60;
  uint32_t daily_quota = 0;
  std::string nonce;
  uint32_t nonce_ttl_s = 600;
  std::string idem_key;
  std::string fingerprint;
  std::string response;
  uint32_t idem_ttl_s = 86'400;
  std::vector<Entry> entries;
  std::string lookup;
};

/** 32 lower-case hex characters, distinct per n. */
std::string msgId(int n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int i = 31; i >= 0 && n > 0; --i, n /= 16) id[static_cast<size_t>(i)] = kHex[n % 16];
  id[0] = 'a';  // never all digits
  return id;
}

/** A valid X-Nonce (16-128 of [A-Za-z0-9_-]), distinct per tag. */
std::string nonce(const std::string& tag) { return "nonce-0000000000-" + tag; }

std::string fingerprint(char c) { return std::string(64, c); }

// ---- the fixture ------------------------------------------------------------------

class StoreTestBase : public ::testing::Test {
 protected:
  static constexpr int kCallTimeoutMs = 3000;

  void TearDown() override {
    if (store_) store_->stop();
    store_.reset();
  }

  // What the factory says about the backend (set by the subclass).
  void (*advance_)(TestEnv&, int64_t) = nullptr;
  bool synchronous_ = false;

  bool fakeTime() const { return advance_ != nullptr; }
  /** The backend's "now" in unix ms. */
  int64_t nowMs() const { return fakeTime() ? env_.now_ms : wallMs(); }
  /** Lets `ms` pass for the backend: instantly with a fake clock, else really. */
  void elapse(int64_t ms) {
    if (fakeTime()) {
      advance_(env_, ms);
    } else {
      env_.runFor(ms);
    }
  }

  /** Waits for a callback, then checks it ran exactly once (also a little later). */
  template <typename T>
  void settle(const T& out, const char* what) {
    if (synchronous_) {
      EXPECT_EQ(out.calls, 1) << what << ": the callback must run before the call returns";
    }
    const bool done = env_.runUntil([&] { return out.calls > 0; }, kCallTimeoutMs);
    EXPECT_TRUE(done) << what << ": no callback within " << kCallTimeoutMs << " ms";
    for (int i = 0; i < 3; ++i) uv_run(&env_.loop, UV_RUN_NOWAIT);
    EXPECT_EQ(out.calls, done ? 1 : 0) << what << ": the callback must run exactly once";
  }

  Outcome admit(const Req& q) {
    std::vector<OutboxEntry> entries;
    for (const Entry& e : q.entries) entries.push_back({e.id, e.channel, e.sealed, e.segments});
    const std::string member = "member-" + std::to_string(++members_);
    AdmitRequest req;
    req.key_id = q.key_id;
    req.member = member;
    req.rate = RateCharge{q.subject.empty() ? std::string_view(q.key_id) : std::string_view(q.subject),
                          q.bucket, q.limit, q.window_s, q.daily_quota};
    req.nonce = q.nonce;
    req.nonce_ttl_s = q.nonce.empty() ? 0 : q.nonce_ttl_s;
    req.idempotency = IdempotencyClaim{q.idem_key, q.fingerprint, q.response, q.idem_ttl_s};
    req.entries = entries;
    req.lookup_message_id = q.lookup;
    Outcome out;
    store_->admit(req, &out, [](void* ctx, const AdmitResult& r) {
      auto* o = static_cast<Outcome*>(ctx);
      ++o->calls;
      o->status = r.status;
      o->limit = r.limit;
      o->remaining = r.remaining;
      o->reset_s = r.reset_s;
      o->retry_after_s = r.retry_after_s;
      o->stored_response = std::string(r.stored_response);
      if (r.message != nullptr) {
        o->message = Message{std::string(r.message->status), std::string(r.message->channel),
                             r.message->created_unix_ms, r.message->segments};
      }
    });
    settle(out, "admit");
    return out;
  }
  Status status(const Req& q) { return admit(q).status; }

  /** Reads a message as `key_id` (an unlimited lookup). */
  std::optional<Message> lookup(const std::string& key_id, const std::string& id) {
    Outcome o = admit({.key_id = key_id, .bucket = "messages", .lookup = id});
    EXPECT_EQ(o.status, Status::kAdmitted);
    return o.message;
  }

  bool recordAuthFailure(const std::string& ip, ContainmentPolicy policy) {
    DoneOutcome out;
    store_->recordAuthFailure(ip, policy, &out, [](void* ctx, bool ok) {
      auto* o = static_cast<DoneOutcome*>(ctx);
      ++o->calls;
      o->ok = ok;
    });
    settle(out, "recordAuthFailure");
    return out.ok;
  }

  bool setBlock(const std::string& ip, uint32_t ttl_s) {
    DoneOutcome out;
    store_->setBlock(ip, ttl_s, &out, [](void* ctx, bool ok) {
      auto* o = static_cast<DoneOutcome*>(ctx);
      ++o->calls;
      o->ok = ok;
    });
    settle(out, "setBlock");
    return out.ok;
  }

  std::set<std::string> blocks() { return listBlocks().ips; }

  BlocksOutcome listBlocks() {
    BlocksOutcome out;
    store_->listBlocks(&out, [](void* ctx, bool ok, std::span<const BlockEntry> blocks) {
      auto* o = static_cast<BlocksOutcome*>(ctx);
      ++o->calls;
      o->ok = ok;
      o->listed = blocks.size();
      for (const BlockEntry& b : blocks) {
        o->ips.emplace(b.address);
        o->expiries.push_back(b.expires_unix_ms);
      }
    });
    settle(out, "listBlocks");
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.listed, out.ips.size()) << "an address is listed more than once";
    return out;
  }
  bool blocked(const std::string& ip) { return blocks().count(ip) != 0; }

  TestEnv env_;
  std::unique_ptr<StateStore> store_;
  int members_ = 0;
};

class StoreBehaviour : public StoreTestBase, public ::testing::WithParamInterface<StoreFactory> {
 protected:
  void SetUp() override {
    advance_ = GetParam().advance_ms;
    synchronous_ = GetParam().synchronous;
    store_ = GetParam().make(env_);
    ASSERT_NE(store_, nullptr) << GetParam().name << ": the factory could not make a store";
    ASSERT_TRUE(store_->healthy()) << GetParam().name << ": not ready";
  }
  /** For checks that need exact milliseconds or a whole day. */
  bool needFakeClock() const { return fakeTime(); }
};

#define SKIP_WITHOUT_FAKE_CLOCK()                                                  \
  do {                                                                             \
    if (!needFakeClock()) GTEST_SKIP() << "this backend's clock cannot be moved";  \
  } while (0)

// ---- basics -------------------------------------------------------------------------

TEST_P(StoreBehaviour, NamesItsBackendAndIsHealthy) {
  EXPECT_EQ(store_->backend(), GetParam().name);
  EXPECT_TRUE(store_->healthy());
}

TEST_P(StoreBehaviour, EmptyRequestIsAdmitted) {
  const Outcome o = admit({});
  EXPECT_EQ(o.status, Status::kAdmitted);
  EXPECT_EQ(o.limit, 0u);
  EXPECT_FALSE(o.message.has_value());
  EXPECT_TRUE(o.stored_response.empty());
}

// ---- the rate window ---------------------------------------------------------------

TEST_P(StoreBehaviour, RateWindowAdmitsExactlyTheLimit) {
  constexpr uint32_t kLimit = 5;
  for (uint32_t i = 1; i <= kLimit; ++i) {
    SCOPED_TRACE(i);
    const Outcome o = admit({.limit = kLimit, .window_s = 60});
    ASSERT_EQ(o.status, Status::kAdmitted);
    EXPECT_EQ(o.limit, kLimit);
    EXPECT_EQ(o.remaining, kLimit - i);
    EXPECT_GE(o.reset_s, 1u);
    EXPECT_LE(o.reset_s, 60u);
    if (needFakeClock()) {
      EXPECT_EQ(o.reset_s, 60u);  // the oldest entry is from now
    }
    EXPECT_EQ(o.retry_after_s, 0u);
  }
  const Outcome refused = admit({.limit = kLimit, .window_s = 60});
  EXPECT_EQ(refused.status, Status::kRateLimited);
  EXPECT_EQ(refused.limit, kLimit);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_GE(refused.retry_after_s, 1u);
  EXPECT_LE(refused.retry_after_s, 60u);
  EXPECT_GE(refused.reset_s, 1u);
  EXPECT_LE(refused.reset_s, 60u);
  // Refusals do not change the answer.
  const Outcome again = admit({.limit = kLimit, .window_s = 60});
  EXPECT_EQ(again.status, Status::kRateLimited);
  EXPECT_EQ(again.remaining, 0u);
}

TEST_P(StoreBehaviour, RateWindowSlides) {
  const Req r{.limit = 2, .window_s = 1};
  ASSERT_EQ(status(r), Status::kAdmitted);
  ASSERT_EQ(status(r), Status::kAdmitted);
  const Outcome refused = admit(r);
  ASSERT_EQ(refused.status, Status::kRateLimited);
  EXPECT_EQ(refused.retry_after_s, 1u);
  elapse(1100);
  const Outcome o = admit(r);
  EXPECT_EQ(o.status, Status::kAdmitted);
  EXPECT_EQ(o.remaining, 1u);
  EXPECT_EQ(status(r), Status::kAdmitted);
  EXPECT_EQ(status(r), Status::kRateLimited);
}

// An exact sliding window: an entry leaves exactly window_s after it was
// admitted, one at a time (not a fixed window that empties all at once).
TEST_P(StoreBehaviour, RateWindowIsExactToTheMillisecond) {
  SKIP_WITHOUT_FAKE_CLOCK();
  const Req r{.limit = 2, .window_s = 60};
  ASSERT_EQ(status(r), Status::kAdmitted);  // t = 0
  elapse(30'000);
  ASSERT_EQ(status(r), Status::kAdmitted);  // t = 30 s
  elapse(10'000);
  Outcome refused = admit(r);  // t = 40 s: the first entry leaves at 60 s
  ASSERT_EQ(refused.status, Status::kRateLimited);
  EXPECT_EQ(refused.retry_after_s, 20u);
  EXPECT_EQ(refused.reset_s, 20u);
  elapse(20'000 - 1);
  refused = admit(r);  // t = 59.999 s
  ASSERT_EQ(refused.status, Status::kRateLimited);
  EXPECT_EQ(refused.retry_after_s, 1u);  // rounded up, never 0
  elapse(1);
  const Outcome o = admit(r);  // t = 60 s: one slot is free again
  ASSERT_EQ(o.status, Status::kAdmitted);
  EXPECT_EQ(o.remaining, 0u);
  EXPECT_EQ(o.reset_s, 30u);  // until the 30 s entry leaves
  refused = admit(r);          // the 30 s entry is still in
  EXPECT_EQ(refused.status, Status::kRateLimited);
  EXPECT_EQ(refused.retry_after_s, 30u);
}

TEST_P(StoreBehaviour, RefusedRequestsDoNotTakeRoomInTheWindow) {
  const Req r{.limit = 1, .window_s = 1};
  ASSERT_EQ(status(r), Status::kAdmitted);  // t = 0
  elapse(600);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(status(r), Status::kRateLimited);  // t = 0.6 s
  elapse(500);
  // t = 1.1 s: had the refusals been recorded, the window would still be full.
  EXPECT_EQ(status(r), Status::kAdmitted);
}

TEST_P(StoreBehaviour, BucketsAndSubjectsHaveTheirOwnWindows) {
  ASSERT_EQ(status({.key_id = "a", .bucket = "sms", .limit = 1}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "a", .bucket = "sms", .limit = 1}), Status::kRateLimited);
  EXPECT_EQ(status({.key_id = "a", .bucket = "email", .limit = 1}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "b", .bucket = "sms", .limit = 1}), Status::kAdmitted);
  // Per-address subjects (unauthenticated routes: no key id).
  EXPECT_EQ(status({.key_id = "", .subject = "ip:203.0.113.7", .bucket = "health", .limit = 1}),
            Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "", .subject = "ip:203.0.113.7", .bucket = "health", .limit = 1}),
            Status::kRateLimited);
  EXPECT_EQ(status({.key_id = "", .subject = "ip:203.0.113.8", .bucket = "health", .limit = 1}),
            Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "", .subject = "ip:2001:db8::1", .bucket = "health", .limit = 1}),
            Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "", .subject = "ip:2001:db8::1", .bucket = "health", .limit = 1}),
            Status::kRateLimited);
  // Subject and bucket never run together.
  EXPECT_EQ(status({.key_id = "ab", .bucket = "c", .limit = 1}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "a", .bucket = "bc", .limit = 1}), Status::kAdmitted);
}

TEST_P(StoreBehaviour, LimitZeroIsNotLimited) {
  for (int i = 0; i < 50; ++i) {
    const Outcome o = admit({.limit = 0});
    ASSERT_EQ(o.status, Status::kAdmitted) << i;
    EXPECT_EQ(o.limit, 0u);
  }
  // ...and charged nothing: a limited request after them has the whole window.
  const Outcome o = admit({.limit = 2});
  EXPECT_EQ(o.status, Status::kAdmitted);
  EXPECT_EQ(o.remaining, 1u);
}

// The window counts admissions; the limit is the caller's (a per-key override
// that changes applies at once).
TEST_P(StoreBehaviour, TheLimitIsTheCallersEachTime) {
  ASSERT_EQ(status({.limit = 5}), Status::kAdmitted);
  ASSERT_EQ(status({.limit = 5}), Status::kAdmitted);
  EXPECT_EQ(status({.limit = 2}), Status::kRateLimited);
  const Outcome o = admit({.limit = 10});
  EXPECT_EQ(o.status, Status::kAdmitted);
  EXPECT_EQ(o.remaining, 7u);
}

// ---- the daily quota ----------------------------------------------------------------

TEST_P(StoreBehaviour, DailyQuotaIsItsOwnRefusal) {
  const Req r{.limit = 100, .daily_quota = 3};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(status(r), Status::kAdmitted) << i;
  const Outcome refused = admit(r);
  EXPECT_EQ(refused.status, Status::kQuotaExceeded);
  EXPECT_GE(refused.retry_after_s, 1u);
  EXPECT_LE(refused.retry_after_s, 86'400u);
  if (needFakeClock()) {
    EXPECT_EQ(refused.retry_after_s, kSecondsToMidnight);  // until 00:00 UTC
  }
  // The rate headers stay meaningful: nothing is left until the quota renews.
  EXPECT_EQ(refused.limit, 100u);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.reset_s, refused.retry_after_s);
  EXPECT_EQ(status(r), Status::kQuotaExceeded);
}

TEST_P(StoreBehaviour, DailyQuotaIsPerSubjectAndBucket) {
  ASSERT_EQ(status({.key_id = "a", .bucket = "sms", .daily_quota = 1}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "a", .bucket = "sms", .daily_quota = 1}), Status::kQuotaExceeded);
  EXPECT_EQ(status({.key_id = "b", .bucket = "sms", .daily_quota = 1}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "a", .bucket = "email", .daily_quota = 1}), Status::kAdmitted);
}

// The quota counts messages, not requests: a bulk request with three
// recipients uses three, and one that would cross the quota is refused whole.
TEST_P(StoreBehaviour, DailyQuotaCountsEveryMessageOfABulkRequest) {
  const Req bulk3{.limit = 100, .daily_quota = 4,
                  .entries = {{.id = msgId(11)}, {.id = msgId(12)}, {.id = msgId(13)}}};
  ASSERT_EQ(status(bulk3), Status::kAdmitted);
  const Req bulk2{.limit = 100, .daily_quota = 4, .entries = {{.id = msgId(14)}, {.id = msgId(15)}}};
  EXPECT_EQ(status(bulk2), Status::kQuotaExceeded);
  EXPECT_FALSE(lookup("clinic-app", msgId(14)).has_value());
  const Req one{.limit = 100, .daily_quota = 4, .entries = {{.id = msgId(16)}}};
  EXPECT_EQ(status(one), Status::kAdmitted);
  EXPECT_EQ(status(one), Status::kQuotaExceeded);
}

// Order of checks: the window before the quota (store.h, the Redis script).
TEST_P(StoreBehaviour, FullWindowIsReportedBeforeAnExhaustedQuota) {
  const Req r{.limit = 1, .daily_quota = 1};
  ASSERT_EQ(status(r), Status::kAdmitted);
  EXPECT_EQ(status(r), Status::kRateLimited);
}

TEST_P(StoreBehaviour, QuotaRefusalChargesNothing) {
  ASSERT_EQ(status({.limit = 3, .daily_quota = 1}), Status::kAdmitted);
  ASSERT_EQ(status({.limit = 3, .daily_quota = 1, .nonce = nonce("q1"),
                    .entries = {{.id = msgId(1)}}}),
            Status::kQuotaExceeded);
  // The window holds one entry (not two), the nonce is unused, no message.
  const Outcome o = admit({.limit = 3, .nonce = nonce("q1")});
  EXPECT_EQ(o.status, Status::kAdmitted);
  EXPECT_EQ(o.remaining, 1u);
  EXPECT_FALSE(lookup("clinic-app", msgId(1)).has_value());
}

TEST_P(StoreBehaviour, DailyQuotaRenewsAtUtcMidnight) {
  SKIP_WITHOUT_FAKE_CLOCK();
  const Req r{.daily_quota = 1};
  ASSERT_EQ(status(r), Status::kAdmitted);
  elapse(kSecondsToMidnight * 1000 - 1);  // 23:59:59.999
  const Outcome refused = admit(r);
  ASSERT_EQ(refused.status, Status::kQuotaExceeded);
  EXPECT_EQ(refused.retry_after_s, 1u);
  elapse(1);  // 00:00:00.000
  EXPECT_EQ(status(r), Status::kAdmitted);
  EXPECT_EQ(status(r), Status::kQuotaExceeded);
  elapse(kDayMs);
  EXPECT_EQ(status(r), Status::kAdmitted);
}

// ---- nonces -------------------------------------------------------------------------

TEST_P(StoreBehaviour, NonceReuseIsReplayedOnlyForTheSameKey) {
  const std::string n1 = nonce("1"), n2 = nonce("2");
  ASSERT_EQ(status({.key_id = "a", .nonce = n1}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "a", .nonce = n1}), Status::kReplayed);
  EXPECT_EQ(status({.key_id = "b", .nonce = n1}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "b", .nonce = n1}), Status::kReplayed);
  EXPECT_EQ(status({.key_id = "a", .nonce = n2}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "a", .nonce = n1}), Status::kReplayed);
}

// Key id and nonce are stored together: ids and nonces that concatenate to
// the same text must not collide.
TEST_P(StoreBehaviour, KeyAndNonceNeverRunTogether) {
  ASSERT_EQ(status({.key_id = "ab", .nonce = "cdefghijklmnopqrst"}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "abc", .nonce = "defghijklmnopqrst"}), Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "ab", .nonce = "cdefghijklmnopqrst"}), Status::kReplayed);
}

TEST_P(StoreBehaviour, ReplayedRequestRecordsNothing) {
  const std::string n = nonce("r");
  ASSERT_EQ(status({.limit = 3, .nonce = n, .entries = {{.id = msgId(1)}}}), Status::kAdmitted);
  const Outcome replay = admit({.limit = 3, .nonce = n, .entries = {{.id = msgId(2)}}});
  EXPECT_EQ(replay.status, Status::kReplayed);
  EXPECT_TRUE(lookup("clinic-app", msgId(1)).has_value());
  EXPECT_FALSE(lookup("clinic-app", msgId(2)).has_value());
  const Outcome o = admit({.limit = 3});
  EXPECT_EQ(o.status, Status::kAdmitted);
  EXPECT_EQ(o.remaining, 1u) << "the replay took room in the window";
}

TEST_P(StoreBehaviour, NoNonceMeansNoReplayCheck) {
  EXPECT_EQ(status({.entries = {{.id = msgId(1)}}}), Status::kAdmitted);
  EXPECT_EQ(status({.entries = {{.id = msgId(2)}}}), Status::kAdmitted);
  EXPECT_TRUE(lookup("clinic-app", msgId(2)).has_value());
}

TEST_P(StoreBehaviour, NonceIsForgottenAfterItsTtl) {
  const std::string n = nonce("ttl");
  ASSERT_EQ(status({.nonce = n, .nonce_ttl_s = 1}), Status::kAdmitted);
  EXPECT_EQ(status({.nonce = n, .nonce_ttl_s = 1}), Status::kReplayed);
  elapse(1100);
  EXPECT_EQ(status({.nonce = n, .nonce_ttl_s = 1}), Status::kAdmitted);
  // ...and then remembered afresh.
  EXPECT_EQ(status({.nonce = n, .nonce_ttl_s = 1}), Status::kReplayed);
}

TEST_P(StoreBehaviour, NonceTtlIsExact) {
  SKIP_WITHOUT_FAKE_CLOCK();
  const std::string n = nonce("exact");
  ASSERT_EQ(status({.nonce = n, .nonce_ttl_s = 600}), Status::kAdmitted);
  elapse(600'000 - 1);
  EXPECT_EQ(status({.nonce = n, .nonce_ttl_s = 600}), Status::kReplayed);
  elapse(1);
  EXPECT_EQ(status({.nonce = n, .nonce_ttl_s = 600}), Status::kAdmitted);
}

// Each nonce keeps its own TTL, whatever was stored before it.
TEST_P(StoreBehaviour, ShortLivedNonceExpiresBehindALongLivedOne) {
  ASSERT_EQ(status({.nonce = nonce("long"), .nonce_ttl_s = 600}), Status::kAdmitted);
  ASSERT_EQ(status({.nonce = nonce("short"), .nonce_ttl_s = 1}), Status::kAdmitted);
  elapse(1100);
  EXPECT_EQ(status({.nonce = nonce("short"), .nonce_ttl_s = 1}), Status::kAdmitted);
  EXPECT_EQ(status({.nonce = nonce("long"), .nonce_ttl_s = 600}), Status::kReplayed);
}

// ---- all or nothing -----------------------------------------------------------------

TEST_P(StoreBehaviour, RateLimitedRequestRecordsNothing) {
  ASSERT_EQ(status({.limit = 1, .nonce = nonce("first")}), Status::kAdmitted);
  const Outcome refused = admit({.limit = 1, .nonce = nonce("refused"), .idem_key = "idem-refused",
                                 .fingerprint = fingerprint('a'), .response = "R1",
                                 .entries = {{.id = msgId(7)}, {.id = msgId(8)}}});
  ASSERT_EQ(refused.status, Status::kRateLimited);
  // No message...
  EXPECT_FALSE(lookup("clinic-app", msgId(7)).has_value());
  EXPECT_FALSE(lookup("clinic-app", msgId(8)).has_value());
  // ...the nonce can be used later (here in an unlimited bucket)...
  EXPECT_EQ(status({.bucket = "email", .nonce = nonce("refused")}), Status::kAdmitted);
  // ...and the idempotency key was not claimed: another payload is admitted.
  const Outcome o = admit({.bucket = "email", .idem_key = "idem-refused", .fingerprint = fingerprint('b'),
                           .response = "R2"});
  EXPECT_EQ(o.status, Status::kAdmitted);
}

TEST_P(StoreBehaviour, QuotaExceededRequestRecordsNothing) {
  ASSERT_EQ(status({.daily_quota = 1}), Status::kAdmitted);
  ASSERT_EQ(status({.daily_quota = 1, .nonce = nonce("q"), .idem_key = "idem-q",
                    .fingerprint = fingerprint('a'), .response = "R1", .entries = {{.id = msgId(9)}}}),
            Status::kQuotaExceeded);
  EXPECT_FALSE(lookup("clinic-app", msgId(9)).has_value());
  EXPECT_EQ(status({.nonce = nonce("q")}), Status::kAdmitted);
  EXPECT_EQ(status({.idem_key = "idem-q", .fingerprint = fingerprint('b'), .response = "R2"}),
            Status::kAdmitted);
}

// ---- idempotency --------------------------------------------------------------------

TEST_P(StoreBehaviour, SameIdempotencyKeyAndPayloadReplaysTheStoredResponse) {
  // Sealed responses are binary: every byte value must come back as it was.
  std::string sealed;
  for (int i = 0; i < 256; ++i) sealed.push_back(static_cast<char>(i));
  sealed += std::string("\0\r\n$-1\r\n", 8);
  const Req first{.limit = 3, .nonce = nonce("i1"), .idem_key = "order-42", .fingerprint = fingerprint('a'),
                  .response = sealed, .entries = {{.id = msgId(1)}}};
  const Outcome o1 = admit(first);
  ASSERT_EQ(o1.status, Status::kAdmitted);
  ASSERT_EQ(o1.remaining, 2u);

  // A retry: new nonce, new message id and response, same key and payload.
  const Outcome o2 = admit({.limit = 3, .nonce = nonce("i2"), .idem_key = "order-42",
                            .fingerprint = fingerprint('a'), .response = "another response",
                            .entries = {{.id = msgId(2)}}});
  ASSERT_EQ(o2.status, Status::kIdempotentReplay);
  EXPECT_EQ(o2.stored_response, sealed);
  EXPECT_FALSE(o2.message.has_value());

  // The retry charged nothing and stored nothing.
  EXPECT_TRUE(lookup("clinic-app", msgId(1)).has_value());
  EXPECT_FALSE(lookup("clinic-app", msgId(2)).has_value());
  EXPECT_EQ(status({.bucket = "email", .nonce = nonce("i2")}), Status::kAdmitted);
  const Outcome o3 = admit({.limit = 3});
  EXPECT_EQ(o3.status, Status::kAdmitted);
  EXPECT_EQ(o3.remaining, 1u) << "the replay took room in the window";
  // The record is unchanged by the replay.
  EXPECT_EQ(admit({.idem_key = "order-42", .fingerprint = fingerprint('a')}).stored_response, sealed);
}

// A retry of a request that went through gets its answer even when the window
// is full now (idempotency is checked first).
TEST_P(StoreBehaviour, IdempotentReplayIsAnsweredWhenTheWindowIsFull) {
  const Req r{.limit = 1, .idem_key = "k", .fingerprint = fingerprint('a'), .response = "R"};
  ASSERT_EQ(status(r), Status::kAdmitted);
  ASSERT_EQ(status({.limit = 1}), Status::kRateLimited);
  for (int i = 0; i < 3; ++i) {
    const Outcome o = admit(r);
    EXPECT_EQ(o.status, Status::kIdempotentReplay);
    EXPECT_EQ(o.stored_response, "R");
  }
}

TEST_P(StoreBehaviour, SameIdempotencyKeyOtherPayloadIsAMismatch) {
  ASSERT_EQ(status({.limit = 5, .idem_key = "k", .fingerprint = fingerprint('a'), .response = "R1",
                    .entries = {{.id = msgId(1)}}}),
            Status::kAdmitted);
  const Outcome o = admit({.limit = 5, .nonce = nonce("m"), .idem_key = "k", .fingerprint = fingerprint('b'),
                           .response = "R2", .entries = {{.id = msgId(2)}}});
  EXPECT_EQ(o.status, Status::kIdempotencyMismatch);
  EXPECT_TRUE(o.stored_response.empty());
  // Nothing recorded, and the original record still answers.
  EXPECT_FALSE(lookup("clinic-app", msgId(2)).has_value());
  EXPECT_EQ(status({.nonce = nonce("m")}), Status::kAdmitted);
  EXPECT_EQ(admit({.limit = 5}).remaining, 3u);
  EXPECT_EQ(admit({.idem_key = "k", .fingerprint = fingerprint('a')}).stored_response, "R1");
}

TEST_P(StoreBehaviour, IdempotencyKeysBelongToTheirApiKey) {
  ASSERT_EQ(status({.key_id = "a", .idem_key = "k", .fingerprint = fingerprint('a'), .response = "A"}),
            Status::kAdmitted);
  // The same Idempotency-Key under another API key is another record.
  EXPECT_EQ(status({.key_id = "b", .idem_key = "k", .fingerprint = fingerprint('b'), .response = "B"}),
            Status::kAdmitted);
  Outcome o = admit({.key_id = "b", .idem_key = "k", .fingerprint = fingerprint('b')});
  EXPECT_EQ(o.status, Status::kIdempotentReplay);
  EXPECT_EQ(o.stored_response, "B");
  o = admit({.key_id = "a", .idem_key = "k", .fingerprint = fingerprint('a')});
  EXPECT_EQ(o.status, Status::kIdempotentReplay);
  EXPECT_EQ(o.stored_response, "A");
  EXPECT_EQ(status({.key_id = "b", .idem_key = "k", .fingerprint = fingerprint('a')}),
            Status::kIdempotencyMismatch);
  // Key id and Idempotency-Key never run together.
  EXPECT_EQ(status({.key_id = "a", .idem_key = "kk", .fingerprint = fingerprint('c'), .response = "C"}),
            Status::kAdmitted);
  EXPECT_EQ(status({.key_id = "ak", .idem_key = "k", .fingerprint = fingerprint('d'), .response = "D"}),
            Status::kAdmitted);
}

// An exact retry (same nonce too) gets the replay, not a 409: the idempotency
// record is checked before the nonce.
TEST_P(StoreBehaviour, IdempotencyIsCheckedBeforeTheNonce) {
  const Req r{.nonce = nonce("exact"), .idem_key = "k", .fingerprint = fingerprint('a'), .response = "R"};
  ASSERT_EQ(status(r), Status::kAdmitted);
  const Outcome o = admit(r);
  EXPECT_EQ(o.status, Status::kIdempotentReplay);
  EXPECT_EQ(o.stored_response, "R");
  // Same nonce, same key, other payload: the mismatch is what the client needs to know.
  EXPECT_EQ(status({.nonce = nonce("exact"), .idem_key = "k", .fingerprint = fingerprint('b')}),
            Status::kIdempotencyMismatch);
  // Same nonce under another Idempotency-Key (or none) is a replay.
  EXPECT_EQ(status({.nonce = nonce("exact"), .idem_key = "k2", .fingerprint = fingerprint('a')}),
            Status::kReplayed);
  EXPECT_EQ(status({.nonce = nonce("exact")}), Status::kReplayed);
}

TEST_P(StoreBehaviour, NoIdempotencyKeyNeverReplays) {
  const Req r{.fingerprint = fingerprint('a'), .response = "R"};
  EXPECT_EQ(status(r), Status::kAdmitted);
  EXPECT_EQ(status(r), Status::kAdmitted);
}

TEST_P(StoreBehaviour, IdempotencyRecordExpiresAfterItsTtl) {
  ASSERT_EQ(status({.idem_key = "k", .fingerprint = fingerprint('a'), .response = "R1", .idem_ttl_s = 1}),
            Status::kAdmitted);
  ASSERT_EQ(status({.idem_key = "k", .fingerprint = fingerprint('a')}), Status::kIdempotentReplay);
  elapse(1100);
  const Outcome o =
      admit({.idem_key = "k", .fingerprint = fingerprint('b'), .response = "R2", .idem_ttl_s = 60});
  EXPECT_EQ(o.status, Status::kAdmitted);
  const Outcome again = admit({.idem_key = "k", .fingerprint = fingerprint('b')});
  EXPECT_EQ(again.status, Status::kIdempotentReplay);
  EXPECT_EQ(again.stored_response, "R2");
}

// ---- messages -----------------------------------------------------------------------

TEST_P(StoreBehaviour, MessageIsVisibleOnlyToTheKeyThatCreatedIt) {
  const int64_t before = nowMs();
  ASSERT_EQ(status({.key_id = "clinic-app", .entries = {{.id = msgId(42), .channel = "sms", .segments = 3}}}),
            Status::kAdmitted);
  const int64_t after = nowMs();

  const std::optional<Message> mine = lookup("clinic-app", msgId(42));
  ASSERT_TRUE(mine.has_value());
  EXPECT_EQ(mine->status, "queued");
  EXPECT_EQ(mine->channel, "sms");
  EXPECT_EQ(mine->segments, 3u);
  if (needFakeClock()) {
    EXPECT_EQ(mine->created_unix_ms, kStart);  // the backend's clock
  } else {
    EXPECT_GE(mine->created_unix_ms, before - 1000);
    EXPECT_LE(mine->created_unix_ms, after + 1000);
  }

  // BOLA: another key's message looks exactly like an unknown one.
  EXPECT_FALSE(lookup("lab-app", msgId(42)).has_value());
  EXPECT_FALSE(lookup("", msgId(42)).has_value());
  EXPECT_FALSE(lookup("clinic-ap", msgId(42)).has_value());
  EXPECT_FALSE(lookup("clinic-app2", msgId(42)).has_value());
  EXPECT_FALSE(lookup("clinic-app", msgId(43)).has_value());
}

TEST_P(StoreBehaviour, BulkEntriesAllBelongToTheAdmittingKey) {
  ASSERT_EQ(status({.key_id = "lab-app",
                    .entries = {{.id = msgId(1), .segments = 1},
                                {.id = msgId(2), .segments = 2},
                                {.id = msgId(3), .segments = 3}}}),
            Status::kAdmitted);
  for (int i = 1; i <= 3; ++i) {
    const std::optional<Message> m = lookup("lab-app", msgId(i));
    ASSERT_TRUE(m.has_value()) << i;
    EXPECT_EQ(m->segments, static_cast<uint32_t>(i));
    EXPECT_FALSE(lookup("clinic-app", msgId(i)).has_value()) << i;
  }
}

TEST_P(StoreBehaviour, EmailMessagesHaveNoSegments) {
  ASSERT_EQ(status({.entries = {{.id = msgId(5), .channel = "email", .segments = 0}}}), Status::kAdmitted);
  const std::optional<Message> m = lookup("clinic-app", msgId(5));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->channel, "email");
  EXPECT_EQ(m->segments, 0u);
  EXPECT_EQ(m->status, "queued");
}

TEST_P(StoreBehaviour, LookupsAreChargedToTheirWindow) {
  ASSERT_EQ(status({.entries = {{.id = msgId(1)}}}), Status::kAdmitted);
  const Req read{.bucket = "messages", .limit = 2, .lookup = msgId(1)};
  Outcome o = admit(read);
  ASSERT_EQ(o.status, Status::kAdmitted);
  EXPECT_TRUE(o.message.has_value());
  EXPECT_EQ(o.remaining, 1u);
  // A miss is charged too (no free probing of ids).
  o = admit({.bucket = "messages", .limit = 2, .lookup = msgId(99)});
  ASSERT_EQ(o.status, Status::kAdmitted);
  EXPECT_FALSE(o.message.has_value());
  o = admit(read);
  EXPECT_EQ(o.status, Status::kRateLimited);
  EXPECT_FALSE(o.message.has_value()) << "a refused lookup must not answer";
}

// ---- containment and blocks ---------------------------------------------------------

TEST_P(StoreBehaviour, ThresholdFailuresWithinTheWindowBlockTheAddress) {
  const ContainmentPolicy policy{.threshold = 3, .window_s = 60, .block_s = 900};
  EXPECT_TRUE(blocks().empty());
  ASSERT_TRUE(recordAuthFailure("203.0.113.7", policy));
  ASSERT_TRUE(recordAuthFailure("203.0.113.7", policy));
  ASSERT_TRUE(recordAuthFailure("203.0.113.8", policy));
  EXPECT_TRUE(blocks().empty()) << "below the threshold";
  ASSERT_TRUE(recordAuthFailure("203.0.113.7", policy));
  EXPECT_EQ(blocks(), std::set<std::string>{"203.0.113.7"});
  // Others are counted on their own.
  ASSERT_TRUE(recordAuthFailure("203.0.113.8", policy));
  EXPECT_FALSE(blocked("203.0.113.8"));
  ASSERT_TRUE(recordAuthFailure("2001:db8::7", policy));
  ASSERT_TRUE(recordAuthFailure("2001:db8::7", policy));
  ASSERT_TRUE(recordAuthFailure("2001:db8::7", policy));
  EXPECT_EQ(blocks(), (std::set<std::string>{"203.0.113.7", "2001:db8::7"}));
}

// A block comes with its expiry on this host's clock (Redis's clock offset
// applied), so a blocked client can be told when to come back.
TEST_P(StoreBehaviour, BlocksAreListedWithTheirExpiry) {
  ASSERT_TRUE(setBlock("198.51.100.9", 120));
  const int64_t now = nowMs();
  const BlocksOutcome listed = listBlocks();
  ASSERT_EQ(listed.expiries.size(), 1u);
  EXPECT_GE(listed.expiries[0], now + 118'000);
  EXPECT_LE(listed.expiries[0], now + 121'000);
  const ContainmentPolicy policy{.threshold = 1, .window_s = 60, .block_s = 900};
  ASSERT_TRUE(recordAuthFailure("198.51.100.10", policy));
  for (int64_t e : listBlocks().expiries) EXPECT_GE(e, now + 118'000);
}

TEST_P(StoreBehaviour, FailuresSpreadBeyondTheWindowDoNotBlock) {
  const ContainmentPolicy policy{.threshold = 3, .window_s = 1, .block_s = 900};
  ASSERT_TRUE(recordAuthFailure("203.0.113.9", policy));
  ASSERT_TRUE(recordAuthFailure("203.0.113.9", policy));
  elapse(1100);
  ASSERT_TRUE(recordAuthFailure("203.0.113.9", policy));
  EXPECT_FALSE(blocked("203.0.113.9")) << "only one failure is within the window";
  ASSERT_TRUE(recordAuthFailure("203.0.113.9", policy));
  ASSERT_TRUE(recordAuthFailure("203.0.113.9", policy));
  EXPECT_TRUE(blocked("203.0.113.9"));
}

TEST_P(StoreBehaviour, AutomaticBlockExpires) {
  const ContainmentPolicy policy{.threshold = 1, .window_s = 60, .block_s = 1};
  ASSERT_TRUE(recordAuthFailure("198.51.100.1", policy));
  ASSERT_TRUE(blocked("198.51.100.1"));
  elapse(1100);
  EXPECT_FALSE(blocked("198.51.100.1"));
}

TEST_P(StoreBehaviour, SetBlockAndUnblock) {
  ASSERT_TRUE(setBlock("198.51.100.2", 600));
  ASSERT_TRUE(setBlock("2001:db8::2", 600));
  ASSERT_TRUE(setBlock("198.51.100.2", 600));  // again: still listed once
  EXPECT_EQ(blocks(), (std::set<std::string>{"198.51.100.2", "2001:db8::2"}));
  ASSERT_TRUE(setBlock("198.51.100.2", 0));
  EXPECT_EQ(blocks(), std::set<std::string>{"2001:db8::2"});
  // Unblocking an address that is not blocked is fine.
  EXPECT_TRUE(setBlock("198.51.100.3", 0));
  EXPECT_EQ(blocks(), std::set<std::string>{"2001:db8::2"});
}

TEST_P(StoreBehaviour, SetBlockExpiresAndCanBeExtended) {
  ASSERT_TRUE(setBlock("198.51.100.4", 1));
  ASSERT_TRUE(setBlock("198.51.100.5", 1));
  ASSERT_TRUE(setBlock("198.51.100.5", 600));  // the last TTL wins
  ASSERT_EQ(blocks().size(), 2u);
  elapse(1100);
  EXPECT_EQ(blocks(), std::set<std::string>{"198.51.100.5"});
}

// An administrator can lift an automatic block.
TEST_P(StoreBehaviour, AutomaticBlockCanBeLifted) {
  const ContainmentPolicy policy{.threshold = 1, .window_s = 60, .block_s = 900};
  ASSERT_TRUE(recordAuthFailure("198.51.100.6", policy));
  ASSERT_TRUE(blocked("198.51.100.6"));
  ASSERT_TRUE(setBlock("198.51.100.6", 0));
  EXPECT_FALSE(blocked("198.51.100.6"));
}

// ---- callbacks ----------------------------------------------------------------------

// Every helper checks "exactly once" (and "before returning" for synchronous
// backends); this runs every outcome a backend can produce without bounds.
TEST_P(StoreBehaviour, EveryOutcomeCallsBackExactlyOnce) {
  EXPECT_EQ(status({.limit = 1, .daily_quota = 5, .nonce = nonce("1"), .idem_key = "k",
                    .fingerprint = fingerprint('a'), .response = "R", .entries = {{.id = msgId(1)}}}),
            Status::kAdmitted);
  EXPECT_EQ(status({.limit = 1}), Status::kRateLimited);
  EXPECT_EQ(status({.bucket = "email", .daily_quota = 1}), Status::kAdmitted);
  EXPECT_EQ(status({.bucket = "email", .daily_quota = 1}), Status::kQuotaExceeded);
  EXPECT_EQ(status({.bucket = "x", .nonce = nonce("1")}), Status::kReplayed);
  EXPECT_EQ(status({.idem_key = "k", .fingerprint = fingerprint('a')}), Status::kIdempotentReplay);
  EXPECT_EQ(status({.idem_key = "k", .fingerprint = fingerprint('b')}), Status::kIdempotencyMismatch);
  EXPECT_TRUE(lookup("clinic-app", msgId(1)).has_value());
  EXPECT_TRUE(recordAuthFailure("192.0.2.1", {.threshold = 2}));
  EXPECT_TRUE(setBlock("192.0.2.2", 60));
  EXPECT_EQ(blocks().size(), 1u);
}

// ---- backends -----------------------------------------------------------------------

std::unique_ptr<StateStore> makeMemory(TestEnv& env) {
  auto store = std::make_unique<MemoryStore>(MemoryStoreLimits{}, [&env] { return env.now_ms; });
  store->start(&env.loop);
  return store;
}
void advanceMemory(TestEnv& env, int64_t ms) { env.now_ms += ms; }

// One redis-server for the whole binary, emptied for every test. Its clock
// is real: elapse() waits.
test::RedisServer& sharedRedis() {
  static test::RedisServer instance;  // stopped at exit
  return instance;
}

std::unique_ptr<StateStore> makeRedis(TestEnv& env) {
  signal(SIGPIPE, SIG_IGN);  // hiredis writes with write(2), as phigate's main() knows
  test::RedisServer* server = &sharedRedis();
  if (!server->ready()) {
    fprintf(stderr, "redis-server: %s\n", server->error().c_str());
    return nullptr;
  }
  if (!server->flushAll()) return nullptr;
  RedisOptions opts;
  opts.endpoint.host = "127.0.0.1";
  opts.endpoint.port = server->port();
  opts.command_timeout_ms = 2000;  // generous: a loaded CI machine is not a failure
  crypto::Pseudonymizer names;
  std::string error;
  if (!crypto::Pseudonymizer::create(std::string(64, 'a'), false, &names, &error)) return nullptr;
  auto store = std::make_unique<RedisStore>(std::move(opts), std::move(names));
  store->start(&env.loop);
  if (!env.runUntil([&] { return store->healthy(); }, 5000)) {
    fprintf(stderr, "RedisStore did not connect to %s\n", server->uri().c_str());
    store->stop();
    return nullptr;
  }
  return store;
}

const StoreFactory kFactories[] = {
    {"memory", makeMemory, advanceMemory, true},
    {"redis", makeRedis, nullptr, false},
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreBehaviour, ::testing::ValuesIn(kFactories),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) {
                           return std::string(info.param.name);
                         });

// ---- the outbox (state/outbox.h) ------------------------------------------------

/** What an outbox read gave (copied: the views die with the callback). */
struct ReadOutcome {
  int calls = 0;
  bool ok = false;
  std::vector<std::string> ids, entries, sealed;
};

class OutboxBehaviour : public StoreBehaviour {
 protected:
  Outbox& box() { return store_->outbox(); }

  static void onRead(void* ctx, bool ok, std::span<const OutboxItem> items) {
    auto* o = static_cast<ReadOutcome*>(ctx);
    ++o->calls;
    o->ok = ok;
    for (const OutboxItem& it : items) {
      o->ids.emplace_back(it.message_id);
      o->entries.emplace_back(it.entry_id);
      o->sealed.emplace_back(it.sealed);
    }
  }

  /** Reads the key's priority lane; the delivery connection opens on first use, so retry a while. */
  ReadOutcome read() {
    const std::string_view keys[] = {"clinic-app"};
    for (int attempt = 0;; ++attempt) {
      ReadOutcome out;
      box().read(keys, 1, 64, &out, onRead);
      env_.runUntil([&] { return out.calls > 0; }, kCallTimeoutMs);
      if (out.ok || attempt == 100) return out;
      env_.runFor(20);
    }
  }

  ReadOutcome readPending() {
    ReadOutcome out;
    box().readPending("clinic-app", Lane::kPriority, "0", 64, &out, onRead);
    env_.runUntil([&] { return out.calls > 0; }, kCallTimeoutMs);
    return out;
  }

  std::vector<BeginStatus> begin(const ReadOutcome& r, uint32_t attempt) {
    std::vector<BeginItem> items;
    for (size_t i = 0; i < r.ids.size(); ++i) items.push_back({r.ids[i], r.entries[i], Lane::kPriority, attempt});
    struct Out {
      int calls = 0;
      std::vector<BeginStatus> s;
    } out;
    box().begin("clinic-app", items, "test", &out, [](void* ctx, bool ok, std::span<const BeginStatus> s) {
      auto* o = static_cast<Out*>(ctx);
      ++o->calls;
      if (ok) o->s.assign(s.begin(), s.end());
    });
    env_.runUntil([&] { return out.calls > 0; }, kCallTimeoutMs);
    return out.s;
  }

  bool finish(const FinishItem& f) {
    DoneOutcome out;
    box().finish("clinic-app", {&f, 1}, &out, [](void* ctx, bool ok) {
      auto* o = static_cast<DoneOutcome*>(ctx);
      ++o->calls;
      o->ok = ok;
    });
    env_.runUntil([&] { return out.calls > 0; }, kCallTimeoutMs);
    return out.ok;
  }

  bool trim() {
    DoneOutcome out;
    box().trim("clinic-app", &out, [](void* ctx, bool ok) {
      auto* o = static_cast<DoneOutcome*>(ctx);
      ++o->calls;
      o->ok = ok;
    });
    env_.runUntil([&] { return out.calls > 0; }, kCallTimeoutMs);
    return out.ok;
  }
};

TEST_P(OutboxBehaviour, ReadBeginFinishIsTheLifecycle) {
  ASSERT_EQ(status({.entries = {{.id = msgId(1), .sealed = "payload-1"}}}), Status::kAdmitted);
  const ReadOutcome r = read();
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.ids, std::vector<std::string>{msgId(1)});
  EXPECT_EQ(r.sealed[0], "payload-1");
  EXPECT_EQ(read().ids.size(), 0u) << "an entry is given to one consumer once";
  ASSERT_EQ(begin(r, 1), std::vector<BeginStatus>{BeginStatus::kGo});
  EXPECT_EQ(lookup("clinic-app", msgId(1))->status, "sending");
  const std::string id = msgId(1);  // FinishItem holds views
  FinishItem f{.message_id = id, .entry_id = r.entries[0], .kind = FinishKind::kSent, .attempts = 1,
               .provider = "test", .provider_message_id = "p-1", .expect = FinishExpect::kSending};
  ASSERT_TRUE(finish(f));
  EXPECT_EQ(lookup("clinic-app", msgId(1))->status, "sent");
  EXPECT_EQ(readPending().ids.size(), 0u) << "acknowledged";
}

// Compare and set: a finish for another attempt (a late one, after a
// take-over) changes nothing.
TEST_P(OutboxBehaviour, FinishForAnotherAttemptChangesNothing) {
  ASSERT_EQ(status({.entries = {{.id = msgId(2)}}}), Status::kAdmitted);
  const ReadOutcome r = read();
  ASSERT_EQ(r.ids.size(), 1u);
  ASSERT_EQ(begin(r, 1), std::vector<BeginStatus>{BeginStatus::kGo});
  const std::string id = msgId(2);  // FinishItem holds views
  FinishItem late{.message_id = id, .entry_id = r.entries[0], .kind = FinishKind::kFailed, .attempts = 2,
                  .error_code = "x", .expect = FinishExpect::kSending};
  ASSERT_TRUE(finish(late));
  EXPECT_EQ(lookup("clinic-app", msgId(2))->status, "sending");
  FinishItem ours = late;
  ours.attempts = 1;
  ASSERT_TRUE(finish(ours));
  EXPECT_EQ(lookup("clinic-app", msgId(2))->status, "failed");
  ASSERT_TRUE(finish(ours));  // repeated (a lost reply): still failed, nothing else
  EXPECT_EQ(lookup("clinic-app", msgId(2))->status, "failed");
}

TEST_P(OutboxBehaviour, CancelledWhileQueuedIsNeverBegun) {
  ASSERT_EQ(status({.entries = {{.id = msgId(3)}}}), Status::kAdmitted);
  AdmitRequest req;
  req.key_id = "clinic-app";
  req.member = "cancel-member";
  req.rate = RateCharge{"clinic-app", "messages", 0, 60, 0};
  const std::string id = msgId(3);
  req.lookup_message_id = id;
  req.cancel = true;
  Outcome out;
  store_->admit(req, &out, [](void* ctx, const AdmitResult&) { ++static_cast<Outcome*>(ctx)->calls; });
  settle(out, "cancel");
  EXPECT_EQ(lookup("clinic-app", id)->status, "cancelled");
  const ReadOutcome r = read();
  if (!r.ids.empty()) {  // the memory queue skips it; Redis gives it and begin says so
    EXPECT_EQ(begin(r, 1), std::vector<BeginStatus>{BeginStatus::kCancelled});
  }
}

// The trim's safe point keeps what is pending: a lone pending entry (the
// newest read) survives with its payload.
TEST_P(OutboxBehaviour, TrimKeepsPendingEntries) {
  if (std::string(GetParam().name) == "memory") GTEST_SKIP() << "no stream to trim";
  ASSERT_EQ(status({.entries = {{.id = msgId(4), .sealed = "payload-4"}}}), Status::kAdmitted);
  const ReadOutcome r = read();
  ASSERT_EQ(r.ids.size(), 1u);
  // The key's callback stream, with a live consumer: the trim prunes only
  // consumers idle for a day, so this one stays (and the script runs with it).
  const std::string cb = "phigate:{clinic-app}:callbacks";
  ASSERT_TRUE(sharedRedis().cli("XGROUP", "CREATE", cb, "phigate-cb", "0", "MKSTREAM"));
  ASSERT_TRUE(sharedRedis().cli("XGROUP", "CREATECONSUMER", cb, "phigate-cb", "live-worker"));
  ASSERT_TRUE(trim());
  const auto consumers = sharedRedis().cli("XINFO", "CONSUMERS", cb, "phigate-cb");
  ASSERT_TRUE(consumers && consumers->type == test::RedisReply::Type::kArray);
  EXPECT_EQ(consumers->elements.size(), 1u) << "a live callback consumer was pruned";
  const ReadOutcome again = readPending();
  ASSERT_TRUE(again.ok);
  ASSERT_EQ(again.ids, std::vector<std::string>{msgId(4)});
  EXPECT_EQ(again.sealed[0], "payload-4") << "the pending entry was trimmed";
}

INSTANTIATE_TEST_SUITE_P(Backends, OutboxBehaviour, ::testing::ValuesIn(kFactories),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) {
                           return std::string(info.param.name);
                         });

// ---- the memory backend's own bounds and accessors ----------------------------------

class MemoryStoreTest : public StoreTestBase {
 protected:
  void SetUp() override {
    advance_ = advanceMemory;
    synchronous_ = true;
  }
  MemoryStore& make(MemoryStoreLimits limits = {}) {
    auto store = std::make_unique<MemoryStore>(limits, [this] { return env_.now_ms; });
    MemoryStore& ref = *store;
    store_ = std::move(store);
    return ref;
  }
};

TEST_F(MemoryStoreTest, FullOutboxIsAllOrNothing) {
  MemoryStore& store = make({.max_messages = 3});
  ASSERT_EQ(status({.nonce = nonce("1"), .entries = {{.id = msgId(1)}, {.id = msgId(2)}}}),
            Status::kAdmitted);
  ASSERT_EQ(store.messageCount(), 2u);
  // Two more would make 4 > 3: nothing is appended, the nonce is not spent,
  // the window is not charged.
  const Req bulk{.limit = 2, .nonce = nonce("2"), .entries = {{.id = msgId(3)}, {.id = msgId(4)}}};
  EXPECT_EQ(status(bulk), Status::kFull);
  EXPECT_EQ(store.messageCount(), 2u);
  EXPECT_EQ(store.nonceCount(), 1u);
  EXPECT_EQ(store.sealedPayload(msgId(3)), nullptr);
  // The client retries the same request with the same nonce: still full, not replayed.
  EXPECT_EQ(status(bulk), Status::kFull);
  // Exactly at capacity is fine.
  const Outcome o = admit({.limit = 2, .nonce = nonce("2"), .entries = {{.id = msgId(5)}}});
  EXPECT_EQ(o.status, Status::kAdmitted);
  EXPECT_EQ(o.remaining, 1u);
  EXPECT_EQ(store.messageCount(), 3u);
}

TEST_F(MemoryStoreTest, RequestsWithoutEntriesAreNeverFull) {
  make({.max_messages = 0});
  EXPECT_EQ(status({.nonce = nonce("1")}), Status::kAdmitted);
  EXPECT_EQ(status({.lookup = msgId(1)}), Status::kAdmitted);
  EXPECT_EQ(status({.entries = {{.id = msgId(1)}}}), Status::kFull);
}

// A full table is not "try again soon" (kUnavailable, a 503): it is kFull,
// its own answer, and the store says it is full until there is room again.
TEST_F(MemoryStoreTest, TooManyNoncesIsFull) {
  MemoryStore& store = make({.max_nonces = 2});
  ASSERT_EQ(status({.nonce = nonce("cap-1")}), Status::kAdmitted);
  EXPECT_FALSE(store.full());
  ASSERT_EQ(status({.nonce = nonce("cap-2")}), Status::kAdmitted);
  EXPECT_EQ(status({.nonce = nonce("cap-3"), .entries = {{.id = msgId(1)}}}), Status::kFull);
  EXPECT_TRUE(store.full());
  EXPECT_EQ(store.nonceCount(), 2u);
  EXPECT_EQ(store.messageCount(), 0u);
  // A replay is still recognised as such at capacity.
  EXPECT_EQ(status({.nonce = nonce("cap-1")}), Status::kReplayed);
  // Requests that store no nonce (reads, /health) are not refused.
  EXPECT_EQ(status({.lookup = msgId(1)}), Status::kAdmitted);
  EXPECT_EQ(status({.bucket = "health", .limit = 5}), Status::kAdmitted);
  // Once the old nonces expire there is room again.
  elapse(600'000);
  EXPECT_EQ(status({.nonce = nonce("cap-3"), .entries = {{.id = msgId(1)}}}), Status::kAdmitted);
  EXPECT_EQ(store.nonceCount(), 1u);
  EXPECT_FALSE(store.full());
}

TEST_F(MemoryStoreTest, TooManyIdempotencyRecordsIsFull) {
  MemoryStore& store = make({.max_idempotency_records = 1});
  ASSERT_EQ(status({.idem_key = "k1", .fingerprint = fingerprint('a'), .response = "R"}), Status::kAdmitted);
  EXPECT_EQ(status({.idem_key = "k2", .fingerprint = fingerprint('a'), .response = "R"}),
            Status::kFull);
  EXPECT_TRUE(store.full());
  EXPECT_EQ(status({.idem_key = "k1", .fingerprint = fingerprint('a')}), Status::kIdempotentReplay);
  EXPECT_EQ(status({}), Status::kAdmitted);
}

// Rate windows are bounded by subject count; windows that have emptied make
// room for new subjects, live ones keep working at the bound.
TEST_F(MemoryStoreTest, RateSubjectBoundKeepsLiveWindowsWorking) {
  make({.max_rate_subjects = 2});
  ASSERT_EQ(status({.key_id = "a", .limit = 10}), Status::kAdmitted);
  ASSERT_EQ(status({.key_id = "b", .limit = 10}), Status::kAdmitted);
  // At the bound, known subjects still get their answers.
  EXPECT_EQ(admit({.key_id = "a", .limit = 10}).remaining, 8u);
  EXPECT_EQ(admit({.key_id = "b", .limit = 10}).remaining, 8u);
  // A third subject while both windows hold entries: the window queued longest
  // ago ("a") is forgotten rather than everyone being refused.
  EXPECT_EQ(admit({.key_id = "c", .limit = 10}).remaining, 9u);
  EXPECT_EQ(admit({.key_id = "b", .limit = 10}).remaining, 7u);
  EXPECT_EQ(admit({.key_id = "a", .limit = 10}).remaining, 9u);  // starts afresh
  // Unlimited requests need no window.
  EXPECT_EQ(status({.key_id = "c", .limit = 0}), Status::kAdmitted);
  // Once a window has emptied, its place is free.
  elapse(60'000);
  EXPECT_EQ(admit({.key_id = "d", .limit = 10}).remaining, 9u);
  EXPECT_EQ(admit({.key_id = "d", .limit = 10}).remaining, 8u);
}

// A flood of new subjects (addresses on /health) neither refuses known ones
// nor costs a scan per request: pruning is incremental.
TEST_F(MemoryStoreTest, FloodOfSubjectsNeverLocksOutAKey) {
  make({.max_rate_subjects = 1000});
  ASSERT_EQ(status({.key_id = "clinic", .limit = 100000}), Status::kAdmitted);
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(status({.key_id = "ip:" + std::to_string(i), .limit = 5}), Status::kAdmitted) << i;
  }
  EXPECT_EQ(status({.key_id = "clinic", .limit = 100000}), Status::kAdmitted);
}

TEST_F(MemoryStoreTest, ExpiredNoncesArePruned) {
  MemoryStore& store = make();
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(status({.nonce = nonce("prune-" + std::to_string(i))}), Status::kAdmitted);
  }
  EXPECT_EQ(store.nonceCount(), 10u);
  elapse(600'000);
  ASSERT_EQ(status({.nonce = nonce("after")}), Status::kAdmitted);
  EXPECT_EQ(store.nonceCount(), 1u);
}

TEST_F(MemoryStoreTest, SealedPayloadIsACopyOfTheStoredBytes) {
  MemoryStore& store = make();
  std::string sealed;
  for (int i = 0; i < 256; ++i) sealed.push_back(static_cast<char>(i));
  // The request (and its strings) is gone once admit() returns.
  ASSERT_EQ(status({.entries = {{.id = msgId(9), .sealed = sealed}}}), Status::kAdmitted);
  const std::string* p = store.sealedPayload(msgId(9));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, sealed);
  EXPECT_EQ(store.sealedPayload(msgId(10)), nullptr);
}

TEST_F(MemoryStoreTest, DefaultClockIsWallTime) {
  store_ = std::make_unique<MemoryStore>();
  advance_ = nullptr;  // real time
  const int64_t before = wallMs();
  ASSERT_EQ(status({.entries = {{.id = msgId(1)}}}), Status::kAdmitted);
  const std::optional<Message> m = lookup("clinic-app", msgId(1));
  ASSERT_TRUE(m.has_value());
  EXPECT_GE(m->created_unix_ms, before);
  EXPECT_LE(m->created_unix_ms, wallMs());
  EXPECT_EQ(store_->backend(), "memory");
  EXPECT_TRUE(store_->healthy());
}

TEST_F(MemoryStoreTest, BoundedOutcomesCallBackExactlyOnce) {
  make({.max_nonces = 1, .max_messages = 0});
  EXPECT_EQ(status({.nonce = nonce("1")}), Status::kAdmitted);
  EXPECT_EQ(status({.nonce = nonce("2")}), Status::kFull);
  EXPECT_EQ(status({.entries = {{.id = msgId(1)}}}), Status::kFull);
}

}  // namespace
}  // namespace phigate::state
