// The in-process state store: the embedded default for development and a
// single worker. Not shared between processes and not durable across a crash
// (the README says so); bounded, and fail-closed when a bound is reached.
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
};

class MemoryStore : public StateStore {
 public:
  /** `now_ms` is injectable so tests can move time. */
  explicit MemoryStore(MemoryStoreLimits limits = {}, std::function<int64_t()> now_ms = {});

  void admit(const AdmitRequest& req, void* ctx, AdmitDone done) override;
  void findMessage(std::string_view key_id, std::string_view message_id, void* ctx,
                   FindDone done) override;
  std::string_view backend() const override { return "memory"; }
  bool healthy() const override { return true; }

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
  void expireNonces(int64_t now);

  MemoryStoreLimits limits_;
  std::function<int64_t()> now_ms_;
  // key id + '\n' + nonce -> expiry; expiry_order_ is in insertion order, and
  // with one TTL that is also expiry order, so pruning pops from the front.
  std::unordered_map<std::string, int64_t> nonces_;
  std::deque<std::pair<int64_t, std::string>> expiry_order_;
  std::unordered_map<std::string, Message> messages_;
};

}  // namespace phigate::state
