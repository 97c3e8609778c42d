#include "state/memory_store.h"

#include <chrono>

namespace phigate::state {

namespace {
int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

MemoryStore::MemoryStore(MemoryStoreLimits limits, std::function<int64_t()> now_ms)
    : limits_(limits), now_ms_(now_ms ? std::move(now_ms) : wallMs) {}

void MemoryStore::expireNonces(int64_t now) {
  while (!expiry_order_.empty() && expiry_order_.front().first <= now) {
    auto it = nonces_.find(expiry_order_.front().second);
    if (it != nonces_.end() && it->second <= now) nonces_.erase(it);
    expiry_order_.pop_front();
  }
}

// All-or-nothing, like the Redis script: nothing is recorded unless
// everything is.
void MemoryStore::admit(const AdmitRequest& req, void* ctx, AdmitDone done) {
  const int64_t now = now_ms_();
  expireNonces(now);
  std::string nonce_key;
  if (!req.nonce.empty()) {
    nonce_key.reserve(req.key_id.size() + 1 + req.nonce.size());
    nonce_key.append(req.key_id).append(1, '\n').append(req.nonce);
    auto it = nonces_.find(nonce_key);
    if (it != nonces_.end() && it->second > now) {
      done(ctx, AdmitStatus::kReplayed);
      return;
    }
    if (nonces_.size() >= limits_.max_nonces) {
      done(ctx, AdmitStatus::kUnavailable);
      return;
    }
  }
  if (messages_.size() + req.entries.size() > limits_.max_messages) {
    done(ctx, AdmitStatus::kFull);
    return;
  }
  if (!req.nonce.empty()) {
    const int64_t expiry = now + int64_t{req.nonce_ttl_s} * 1000;
    nonces_[nonce_key] = expiry;
    expiry_order_.emplace_back(expiry, std::move(nonce_key));
  }
  for (const OutboxEntry& e : req.entries) {
    messages_.emplace(std::string(e.message_id),
                      Message{std::string(req.key_id), std::string(e.channel), std::string(e.sealed),
                              now, e.segments});
  }
  done(ctx, AdmitStatus::kAdmitted);
}

void MemoryStore::findMessage(std::string_view key_id, std::string_view message_id, void* ctx,
                              FindDone done) {
  auto it = messages_.find(std::string(message_id));
  if (it == messages_.end() || it->second.key_id != key_id) {
    done(ctx, nullptr);
    return;
  }
  const Message& m = it->second;
  const MessageStatus st{"queued", m.channel, m.created_unix_ms, m.segments};
  done(ctx, &st);
}

const std::string* MemoryStore::sealedPayload(std::string_view message_id) const {
  auto it = messages_.find(std::string(message_id));
  return it == messages_.end() ? nullptr : &it->second.sealed;
}

}  // namespace phigate::state
