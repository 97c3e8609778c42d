// The state store: everything a request needs remembered across requests and
// workers: rate-limit windows and daily quotas, replay nonces, idempotency
// records, the outbox and message records, and dynamic IP blocks. Two
// backends share this interface: in-process memory (the embedded default, one
// worker) and Redis (shared by workers and hosts; one EVALSHA per request).
//
// Calls are asynchronous: the callback runs exactly once, before the call
// returns (memory) or on a later loop turn (Redis). Views in a result are
// valid only during the callback. A store that cannot decide answers
// kUnavailable: callers fail closed (503), never skip a check.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "state/callback_queue.h"
#include "state/outbox.h"

namespace phigate::state {

/** Prefix of a rate subject that is a client address ("ip:<subject>"); key ids never contain ':'. */
inline constexpr std::string_view kClientSubjectPrefix = "ip:";

/**
 * The server's message-id format: 32 lower-case hex characters (128 random
 * bits, minted by phigate). An id from a request path is checked against it
 * before the store may use it, e.g. in a Redis key name.
 */
inline bool isMessageIdText(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

/** A message accepted for delivery; `sealed` is already encrypted. */
struct OutboxEntry {
  std::string_view message_id;  // phigate's (isMessageIdText); the Redis store refuses others
  std::string_view channel;     // "sms" | "email"
  std::string_view sealed;      // KeyRing::seal output (binary)
  uint32_t segments = 0;        // SMS segments (0 for email)
  Lane lane = Lane::kPriority;  // SMS only: bulk requests go to the bulk lane
};

/**
 * A rate limit to charge: at most `limit` admissions in any `window_s`
 * seconds (an exact sliding window), and at most `daily_quota` per UTC day.
 * The subject is the API key id, or "ip:<address>" (kClientSubjectPrefix)
 * for per-address limits; `bucket` is the route class ("sms", "bulk",
 * "health", ...).
 */
struct RateCharge {
  std::string_view subject;
  std::string_view bucket;
  uint32_t limit = 0;           // 0: not limited
  uint32_t window_s = 60;
  uint32_t daily_quota = 0;     // 0: no quota
};

/** IETF draft semantics: same key + same fingerprint replays the response. */
struct IdempotencyClaim {
  std::string_view key;          // the client's Idempotency-Key; empty: none
  std::string_view fingerprint;  // hex SHA-256 of method, path and body
  std::string_view response;     // sealed response to keep if this admits
  uint32_t ttl_s = 86'400;
};

/** The per-request state work, done atomically (all or nothing). */
struct AdmitRequest {
  std::string_view key_id;       // owner of nonces, idempotency keys, messages
  std::string_view member;       // unique id of this request (rate-window entry)
  RateCharge rate;
  std::string_view nonce;        // empty: not a state-changing call
  uint32_t nonce_ttl_s = 0;
  IdempotencyClaim idempotency;
  std::span<const OutboxEntry> entries;
  std::string_view lookup_message_id;  // GET /v1/messages/{id}: read it (same key only);
                                       // not isMessageIdText(): never found
  bool cancel = false;                 // DELETE: cancel lookup_message_id if still queued
};

enum class AdmitStatus : uint8_t {
  kAdmitted,              // charged; nonce, entries, idempotency record stored
  kRateLimited,           // window full: nothing was done (429)
  kQuotaExceeded,         // daily quota used up (429, distinct type)
  kReplayed,              // nonce already used by this key (409)
  kIdempotentReplay,      // same key + payload seen: `stored_response` is the answer
  kIdempotencyMismatch,   // same key, other payload (422)
  kIdempotencyInFlight,   // same key, the first request not finished (409)
  kUnavailable,           // the store cannot decide (503, fail closed): transient
  kFull,                  // a bounded table is at capacity (507): not transient
};

/** What GET /v1/messages/{id} may show: no recipient, no text. */
struct MessageStatus {
  std::string_view status;      // queued, sending, sent, delivered, undelivered, failed,
                                // expired, cancelled (outbox.h)
  std::string_view channel;
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;
  uint32_t segments = 0;
  uint32_t attempts = 0;
  std::string_view provider;             // empty until the first attempt
  std::string_view provider_message_id;  // empty until sent
  std::string_view error_code;           // the last error, if any
};

/** The record's statuses that never change again (the payload is gone). */
inline bool isFinalStatus(std::string_view s) {
  return s == "delivered" || s == "undelivered" || s == "failed" || s == "expired" ||
         s == "cancelled";
}

/** The store's decision. */
struct AdmitResult {
  AdmitStatus status = AdmitStatus::kUnavailable;
  // The rate window after this request (when rate.limit > 0).
  uint32_t limit = 0;
  uint32_t remaining = 0;
  uint32_t reset_s = 0;          // until the window has room for `limit` again
  uint32_t retry_after_s = 0;    // kRateLimited / kQuotaExceeded
  std::string_view stored_response;   // kIdempotentReplay (sealed)
  const MessageStatus* message = nullptr;  // lookup result; nullptr: not found
  // cancel: true when this call cancelled it; false with `message` set: it
  // was no longer queued (message->status says what it is).
  bool cancelled = false;
};

/** Automatic containment: `threshold` auth failures from one address within
 *  `window_s` block it for `block_s`. */
struct ContainmentPolicy {
  uint32_t threshold = 20;
  uint32_t window_s = 60;
  uint32_t block_s = 900;
};

/** A dynamic block: an address (or IPv6 "<prefix>::/64") and when it lapses. */
struct BlockEntry {
  std::string_view address;
  int64_t expires_unix_ms = 0;  // on this host's wall clock
};

class StateStore {
 public:
  using AdmitDone = void (*)(void* ctx, const AdmitResult& result);
  using Done = void (*)(void* ctx, bool ok);
  using BlocksDone = void (*)(void* ctx, bool ok, std::span<const BlockEntry> blocks);

  virtual ~StateStore() = default;

  virtual void admit(const AdmitRequest& req, void* ctx, AdmitDone done) = 0;

  /**
   * Counts a failed authentication from `ip` (a client subject:
   * pipeline::formatSubject(), an IPv6 client's /64); may block it.
   */
  virtual void recordAuthFailure(std::string_view ip, const ContainmentPolicy& policy, void* ctx,
                                 Done done) = 0;
  /** Blocks `ip` (an address, or an IPv6 "<prefix>::/64") for `ttl_s` seconds (0 unblocks). */
  virtual void setBlock(std::string_view ip, uint32_t ttl_s, void* ctx, Done done) = 0;
  /** The blocks in force now, with their expiries (each worker polls this to refresh its copy). */
  virtual void listBlocks(void* ctx, BlocksDone done) = 0;

  /** The delivery side of the store. */
  virtual Outbox& outbox() = 0;
  /** The status callbacks' queue (state/callback_queue.h); nullptr: none. */
  virtual CallbackQueue* callbacks() { return nullptr; }

  /** "memory" or "redis". */
  virtual std::string_view backend() const = 0;
  /** False while the backend cannot answer (for /health). */
  virtual bool healthy() const = 0;
  /** True while a bounded table refuses new entries (for /health; memory backend). */
  virtual bool full() const { return false; }
  /** Starts background work (connections, timers) on the worker's loop. */
  virtual void start(struct uv_loop_s* loop) { (void)loop; }
  /** Stops it for a drain; pending calls fail with kUnavailable. */
  virtual void stop() {}
};

}  // namespace phigate::state
