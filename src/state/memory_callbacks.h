// The in-process store's callback queue (state/callback_queue.h): a queue
// per key, a retry schedule, and the callbacks handed out and not yet
// acknowledged. This process is its only consumer; nothing survives a
// restart (development only, as the rest of the in-process store).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "state/callback_queue.h"

namespace phigate::state {

class MemoryCallbackQueue final : public CallbackQueue {
 public:
  /** `now_ms`: the wall clock (ms), injectable for tests. */
  explicit MemoryCallbackQueue(std::function<int64_t()> now_ms);

  /** The producer side: a status change of one of enabled()'s keys. */
  void push(std::string_view key_id, std::string_view message_id, std::string_view channel,
            std::string_view status, uint32_t attempts, std::string_view provider_message_id,
            std::string_view error_code, int64_t updated_unix_ms);

  void read(std::span<const std::string_view> key_ids, uint32_t per_key, uint32_t idle_ms, void* ctx,
            ReadDone done) override;
  void ack(std::string_view key_id, std::span<const std::string_view> entry_ids, void* ctx,
           Done done) override;
  void retry(const CallbackEvent& event, uint32_t tries, uint32_t delay_ms, void* ctx,
             Done done) override;
  void promote(std::string_view key_id, uint32_t max, void* ctx, Done done) override;

  /** Callbacks held for `key_id` (queued, scheduled and handed out). */
  size_t size(std::string_view key_id) const;
  /** Callbacks dropped because a key had kMaxCallbacksPerKey waiting. */
  uint64_t dropped() const { return dropped_; }

 private:
  struct Item {
    std::string key_id, message_id, channel, status, provider_message_id, error_code;
    uint32_t attempts = 0;
    int64_t updated_unix_ms = 0;
    uint32_t tries = 0;
    std::string entry_id;
  };
  struct PerKey {
    std::deque<Item> queued;
    std::multimap<int64_t, Item> scheduled;         // due ms -> item
    std::map<std::string, Item> out;                // handed out: entry id -> item
    size_t size() const { return queued.size() + scheduled.size() + out.size(); }
  };
  bool room(PerKey& k);

  std::function<int64_t()> now_ms_;
  std::unordered_map<std::string, PerKey> keys_;
  uint64_t next_entry_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace phigate::state
