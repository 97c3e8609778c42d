// The state store: everything a request needs remembered across requests
// (replay nonces, the outbox, message records; rate limits and idempotency
// next). Two backends share this interface: in-process memory (the embedded
// default, one worker) and Redis (shared by workers and hosts).
//
// Calls are asynchronous: the callback may run before the call returns (the
// memory backend) or on a later loop turn (Redis). A caller that may go away
// in between (a closed connection) cancels with the returned ticket.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace phigate::state {

/** A message accepted for delivery; `sealed` is already encrypted. */
struct OutboxEntry {
  std::string_view message_id;  // 32 hex chars
  std::string_view channel;     // "sms" | "email"
  std::string_view sealed;      // KeyRing::seal output (binary)
  uint32_t segments = 0;        // SMS segments (0 for email)
};

/** The per-request state work, done atomically. */
struct AdmitRequest {
  std::string_view key_id;
  std::string_view nonce;       // empty: not a state-changing call
  uint32_t nonce_ttl_s = 0;
  std::span<const OutboxEntry> entries;
};

enum class AdmitStatus : uint8_t {
  kAdmitted,     // nonce recorded, entries appended
  kReplayed,     // the nonce was already used by this key: nothing was done
  kUnavailable,  // the store cannot decide (fail closed: 503)
  kFull,         // the outbox is at capacity (503)
};

/** What GET /v1/messages/{id} may show. */
struct MessageStatus {
  std::string_view status;      // "queued" (delivery states come with the consumer)
  std::string_view channel;
  int64_t created_unix_ms = 0;
  uint32_t segments = 0;
};

class StateStore {
 public:
  using AdmitDone = void (*)(void* ctx, AdmitStatus status);
  using FindDone = void (*)(void* ctx, const MessageStatus* status);  // nullptr: not found

  virtual ~StateStore() = default;
  virtual void admit(const AdmitRequest& req, void* ctx, AdmitDone done) = 0;
  /** Only a message created by `key_id` is found: other keys' ids look absent. */
  virtual void findMessage(std::string_view key_id, std::string_view message_id, void* ctx,
                           FindDone done) = 0;
  /** "memory" or "redis". */
  virtual std::string_view backend() const = 0;
  /** False while the backend cannot answer (for /health). */
  virtual bool healthy() const = 0;
};

}  // namespace phigate::state
