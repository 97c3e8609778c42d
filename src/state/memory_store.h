// The in-process state store: the embedded default for development and a
// single worker. Not shared between processes and not durable across a crash
// (the README says so); bounded, and fail-closed when a bound is reached. Its
// semantics are the Redis script's, checked by the same behaviour tests.
#pragma once

#include <cstdint>
#include <deque>
#include <array>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "state/memory_callbacks.h"
#include "state/store.h"

namespace phigate::state {

struct MemoryStoreLimits {
  size_t max_nonces = 2'000'000;
  size_t max_messages = 200'000;
  size_t max_idempotency_records = 200'000;
  size_t max_rate_subjects = 200'000;
};

class MemoryStore : public StateStore, public Outbox {
 public:
  using Done = StateStore::Done;  // the same type in both bases
  /** `now_ms` (wall clock, ms) is injectable so tests can move time. */
  explicit MemoryStore(MemoryStoreLimits limits = {}, std::function<int64_t()> now_ms = {});

  void admit(const AdmitRequest& req, void* ctx, AdmitDone done) override;
  void recordAuthFailure(std::string_view ip, const ContainmentPolicy& policy, void* ctx,
                         Done done) override;
  void setBlock(std::string_view ip, uint32_t ttl_s, void* ctx, Done done) override;
  void listBlocks(void* ctx, BlocksDone done) override;
  std::string_view backend() const override { return "memory"; }
  bool healthy() const override { return true; }
  bool full() const override;

  // The outbox (memory_outbox.cpp): a queue per key and lane; this process
  // is its only consumer.
  void setOutboxOptions(const OutboxOptions& o) { outbox_opts_ = o; }
  Outbox& outbox() override { return *this; }
  CallbackQueue* callbacks() override { return &callbacks_; }
  MemoryCallbackQueue& callbackQueue() { return callbacks_; }
  void read(std::span<const std::string_view> key_ids, uint8_t lanes, uint32_t per_key, void* ctx,
            ReadDone done) override;
  void readPending(std::string_view key_id, Lane lane, std::string_view after_entry_id, uint32_t max,
                   void* ctx, ReadDone done) override;
  void reclaim(std::string_view key_id, Lane lane, uint32_t idle_ms, uint32_t max, void* ctx,
               ReadDone done) override;
  void begin(std::string_view key_id, std::span<const BeginItem> items, std::string_view provider,
             void* ctx, BeginDone done) override;
  void finish(std::string_view key_id, std::span<const FinishItem> items, void* ctx,
              Done done) override;
  void promoteRetries(std::string_view key_id, uint32_t max, void* ctx, Done done) override;
  void requeue(std::string_view key_id, std::span<const RequeueItem> items, void* ctx,
               Done done) override;
  void reportsDue(std::string_view key_id, int64_t sent_before_unix_ms, uint32_t max, void* ctx,
                  ReportsDone done) override;
  void trim(std::string_view key_id, void* ctx, Done done) override;

  size_t nonceCount() const { return nonces_.size(); }
  /** Messages not final yet (what PHIGATE_MEMORY_MAX_MESSAGES bounds). */
  size_t messageCount() const { return live_messages_; }
  /** The sealed payload of a message; empty once it is final. */
  const std::string* sealedPayload(std::string_view message_id) const;

 private:
  struct Message {
    std::string key_id;
    std::string channel;
    std::string sealed;
    int64_t created_unix_ms = 0;
    uint32_t segments = 0;
    Lane lane = Lane::kPriority;
    std::string_view status = "queued";  // canonicalStatus(): static text
    uint32_t attempts = 0;
    int64_t updated_unix_ms = 0;
    std::string provider;
    std::string provider_message_id;
    std::string error_code;
  };
  MessageStatus statusOf(const Message& m) const;
  /** A status change: queued as a callback when the key has a callback URL (memory_callbacks.h). */
  void noteCallback(const std::string& id, const Message& m) {
    if (callbacks_.enabled(m.key_id)) {
      callbacks_.push(m.key_id, id, m.channel, m.status, m.attempts, m.provider_message_id,
                      m.error_code, m.updated_unix_ms);
    }
  }
  /** A message became final: its payload goes, its record stays for the retention. */
  void finalize(const std::string& id, Message& m, int64_t now);
  /** Forgets final records past the retention, or the oldest ones when `need` more must fit. */
  void dropFinal(int64_t now, size_t need);
  struct IdempotencyRecord {
    std::string fingerprint;
    std::string response;
    int64_t expires_ms;
  };
  /** Answers kFull, saying so on stderr when the store becomes full. */
  void refuseFull(void* ctx, AdmitDone done, AdmitResult& r);
  bool reported_full_ = false;
  /** Entries that expire in insertion order (one TTL per kind). */
  template <typename Map>
  static void expire(Map& map, std::deque<std::pair<int64_t, std::string>>& order, int64_t now);
  /** One subject's rate window: admission times, oldest first. */
  struct Window {
    int64_t window_ms = 0;
    std::deque<int64_t> times;
  };
  bool windowHasRoom(const std::string& window_key, const RateCharge& rc, int64_t now, AdmitResult* r);
  void charge(const std::string& window_key, const RateCharge& rc, int64_t now, AdmitResult* r);
  /** Drops windows whose every entry has slid out (subjects come and go). */
  void pruneWindows(int64_t now);
  void evictOldestWindow();

  MemoryStoreLimits limits_;
  std::function<int64_t()> now_ms_;
  std::unordered_map<std::string, int64_t> nonces_;  // key id \n nonce -> expiry
  std::deque<std::pair<int64_t, std::string>> nonce_order_;
  std::unordered_map<std::string, IdempotencyRecord> idempotency_;  // key id \n idem key
  std::deque<std::pair<int64_t, std::string>> idempotency_order_;
  std::unordered_map<std::string, Window> windows_;  // subject \n bucket
  std::deque<std::pair<int64_t, std::string>> window_order_;  // (slides out at, key)
  std::unordered_map<std::string, uint32_t> daily_;  // subject \n bucket \n day -> count
  int64_t daily_day_ = -1;
  std::unordered_map<std::string, Message> messages_;
  size_t live_messages_ = 0;                                    // not final
  OutboxOptions outbox_opts_;
  using LaneQueues = std::array<std::deque<std::string>, kLaneCount>;
  std::unordered_map<std::string, LaneQueues> queues_;          // key id -> new message ids
  std::multimap<int64_t, std::string> retries_;                 // due -> message id
  struct ReportWaitTimes {
    int64_t sent = 0;       // first sent (for giving up)
    int64_t ask_after = 0;  // last asked (or sent)
  };
  std::unordered_map<std::string, std::map<std::string, ReportWaitTimes>> reports_;  // key -> id
  std::deque<std::pair<int64_t, std::string>> final_order_;     // (forget at, id)
  std::unordered_map<std::string, int64_t> blocks_;  // ip -> expiry
  std::unordered_map<std::string, std::deque<int64_t>> auth_failures_;  // ip -> times
  MemoryCallbackQueue callbacks_;  // after now_ms_ (it copies the clock)
};

}  // namespace phigate::state
