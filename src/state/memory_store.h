// The in-process state store: the embedded default for development and a
// single worker. Not shared between processes and not durable across a crash
// (the README says so); bounded, and fail-closed when a bound is reached. Its
// semantics are the Redis script's, checked by the same behaviour tests.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>

#include "state/store.h"

namespace phigate::state {

struct MemoryStoreLimits {
  size_t max_nonces = 2'000'000;
  size_t max_messages = 200'000;
  size_t max_idempotency_records = 200'000;
  size_t max_rate_subjects = 200'000;
};

class MemoryStore : public StateStore {
 public:
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

  size_t nonceCount() const { return nonces_.size(); }
  size_t messageCount() const { return messages_.size(); }
  /** The sealed payload of a message (the delivery consumer's read path). */
  const std::string* sealedPayload(std::string_view message_id) const;

 private:
  struct Message {
    std::string key_id;
    std::string channel;
    std::string sealed;
    int64_t created_unix_ms;
    uint32_t segments;
  };
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
  std::unordered_map<std::string, int64_t> blocks_;  // ip -> expiry
  std::unordered_map<std::string, std::deque<int64_t>> auth_failures_;  // ip -> times
};

}  // namespace phigate::state
