#include "state/memory_callbacks.h"

#include <vector>

#include "common/event_line.h"

namespace phigate::state {

MemoryCallbackQueue::MemoryCallbackQueue(std::function<int64_t()> now_ms) : now_ms_(std::move(now_ms)) {}

// Bounded per key: beyond it the oldest waiting callback goes (a receiver
// down for long loses the oldest news first), counted and said once per
// hundred on stderr (key id and counts only).
bool MemoryCallbackQueue::room(PerKey& k) {
  if (k.size() < kMaxCallbacksPerKey) return true;
  if (k.queued.empty() && k.scheduled.empty()) return false;  // all handed out: refuse the new one
  if (!k.scheduled.empty()) {
    k.scheduled.erase(k.scheduled.begin());
  } else {
    k.queued.pop_front();
  }
  if (dropped_++ % 100 == 0) {
    EventLine("callback_dropped").str("reason", "queue-full").num("dropped_total", int64_t(dropped_)).emit();
  }
  return true;
}

void MemoryCallbackQueue::push(std::string_view key_id, std::string_view message_id,
                               std::string_view channel, std::string_view status, uint32_t attempts,
                               std::string_view provider_message_id, std::string_view error_code,
                               int64_t updated_unix_ms) {
  if (!enabled(key_id)) return;
  PerKey& k = keys_[std::string(key_id)];
  if (!room(k)) {
    ++dropped_;
    return;
  }
  Item it;
  it.key_id = key_id;
  it.message_id = message_id;
  it.channel = channel;
  it.status = status;
  it.attempts = attempts;
  it.provider_message_id = provider_message_id;
  it.error_code = error_code;
  it.updated_unix_ms = updated_unix_ms;
  k.queued.push_back(std::move(it));
}

namespace {
CallbackEvent view(const std::string& entry_id, const auto& it) {
  CallbackEvent e;
  e.key_id = it.key_id;
  e.message_id = it.message_id;
  e.channel = it.channel;
  e.status = it.status;
  e.attempts = it.attempts;
  e.provider_message_id = it.provider_message_id;
  e.error_code = it.error_code;
  e.updated_unix_ms = it.updated_unix_ms;
  e.tries = it.tries;
  e.entry_id = entry_id;
  return e;
}
}  // namespace

void MemoryCallbackQueue::read(std::span<const std::string_view> key_ids, uint32_t per_key, uint32_t,
                               void* ctx, ReadDone done) {
  std::vector<CallbackEvent> events;  // per read, not per callback
  for (std::string_view key : key_ids) {
    auto k = keys_.find(std::string(key));
    if (k == keys_.end()) continue;
    for (uint32_t n = 0; n < per_key && !k->second.queued.empty(); ++n) {
      Item it = std::move(k->second.queued.front());
      k->second.queued.pop_front();
      it.entry_id = std::to_string(++next_entry_);
      auto [pos, fresh] = k->second.out.emplace(it.entry_id, std::move(it));
      (void)fresh;
      events.push_back(view(pos->first, pos->second));
    }
  }
  done(ctx, true, events);
}

void MemoryCallbackQueue::ack(std::string_view key_id, std::span<const std::string_view> entry_ids,
                              void* ctx, Done done) {
  auto k = keys_.find(std::string(key_id));
  if (k != keys_.end()) {
    for (std::string_view id : entry_ids) k->second.out.erase(std::string(id));
  }
  done(ctx, true);
}

void MemoryCallbackQueue::retry(const CallbackEvent& event, uint32_t tries, uint32_t delay_ms, void* ctx,
                                Done done) {
  auto k = keys_.find(std::string(event.key_id));
  if (k != keys_.end()) {
    auto o = k->second.out.find(std::string(event.entry_id));
    if (o != k->second.out.end()) {
      Item it = std::move(o->second);
      k->second.out.erase(o);
      it.tries = tries;
      it.entry_id.clear();
      k->second.scheduled.emplace(now_ms_() + delay_ms, std::move(it));
    }
  }
  done(ctx, true);
}

void MemoryCallbackQueue::promote(std::string_view key_id, uint32_t max, void* ctx, Done done) {
  auto k = keys_.find(std::string(key_id));
  if (k != keys_.end()) {
    const int64_t now = now_ms_();
    auto& s = k->second.scheduled;
    for (uint32_t n = 0; n < max && !s.empty() && s.begin()->first <= now; ++n) {
      k->second.queued.push_back(std::move(s.begin()->second));
      s.erase(s.begin());
    }
  }
  done(ctx, true);
}

size_t MemoryCallbackQueue::size(std::string_view key_id) const {
  auto k = keys_.find(std::string(key_id));
  return k == keys_.end() ? 0 : k->second.size();
}

}  // namespace phigate::state
