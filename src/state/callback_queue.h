// Status callbacks as the store keeps them (docs/CALLBACKS.md): each status
// change of a message whose key has a status_callback_url is queued in the
// same atomic step that changes the record (the Redis scripts append to the
// key's stream phigate:{<key id>}:callbacks; the in-process store to its
// queue), and delivery::CallbackDispatcher reads, sends, acknowledges or
// schedules a retry. Keys without a callback URL cost nothing: the
// producers ask enabled() first.
//
// Calls are asynchronous like the outbox's: the callback runs exactly once,
// before the call returns (memory) or on a later loop turn (Redis). Views in
// a callback are valid only during it.
#pragma once

#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace phigate::state {

/** One queued callback: what the record said right after the change. */
struct CallbackEvent {
  std::string_view key_id;
  std::string_view message_id;
  std::string_view channel;              // "sms", "email"
  std::string_view status;               // the record's new status
  uint32_t attempts = 0;                 // provider calls made so far
  std::string_view provider_message_id;  // may be empty
  std::string_view error_code;           // fixed text; may be empty
  int64_t updated_unix_ms = 0;           // when the record changed (the store's clock)
  uint32_t tries = 0;                    // deliveries of this callback tried before (and failed)
  std::string_view entry_id;             // the backend's handle of this copy
};

/** The most callbacks one key may have waiting (older ones are dropped beyond it, counted). */
inline constexpr size_t kMaxCallbacksPerKey = 100'000;

class CallbackQueue {
 public:
  using ReadDone = void (*)(void* ctx, bool ok, std::span<const CallbackEvent> events);
  using Done = void (*)(void* ctx, bool ok);

  virtual ~CallbackQueue() = default;

  /** The keys whose status changes are queued (set once, before the first admit). */
  void setKeys(std::vector<std::string> key_ids) {
    keys_ = std::move(key_ids);
    std::sort(keys_.begin(), keys_.end());
  }
  bool enabled(std::string_view key_id) const {
    return !keys_.empty() && std::binary_search(keys_.begin(), keys_.end(), key_id);
  }
  const std::vector<std::string>& keys() const { return keys_; }

  /** Background work on the worker's loop (the Redis connection); stop() for a drain. */
  virtual void start(uv_loop_t* loop) { (void)loop; }
  virtual void stop() {}
  /** False while calls would fail at once (not connected yet). */
  virtual bool ready() const { return true; }

  /**
   * Up to `per_key` callbacks of each of `key_ids` not yet handed out, and
   * those a consumer took more than `idle_ms` ago without acknowledging or
   * rescheduling them (a dead worker's).
   */
  virtual void read(std::span<const std::string_view> key_ids, uint32_t per_key, uint32_t idle_ms,
                    void* ctx, ReadDone done) = 0;
  /** Done with these (delivered, or given up on): one call per key for a batch. */
  virtual void ack(std::string_view key_id, std::span<const std::string_view> entry_ids, void* ctx,
                   Done done) = 0;
  /**
   * Tries it again in `delay_ms` (the store's clock), with `tries` counting
   * this failure: removes this copy and schedules a new one, atomically.
   */
  virtual void retry(const CallbackEvent& event, uint32_t tries, uint32_t delay_ms, void* ctx,
                     Done done) = 0;
  /**
   * Moves up to `max` of `key_id`'s retries whose time has come back into
   * its queue; reports callbacks the store dropped since (the key's queue
   * was full) to the drop listener.
   */
  virtual void promote(std::string_view key_id, uint32_t max, void* ctx, Done done) = 0;

  /** Told of callbacks dropped because a key's queue was full: `fresh` new ones, `total` ever. */
  using DropListener = void (*)(void* ctx, std::string_view key_id, uint64_t fresh, uint64_t total);
  void setDropListener(void* ctx, DropListener listener) {
    drop_ctx_ = ctx;
    drop_listener_ = listener;
  }

 protected:
  void* drop_ctx_ = nullptr;
  DropListener drop_listener_ = nullptr;

 private:
  std::vector<std::string> keys_;  // sorted
};

}  // namespace phigate::state
