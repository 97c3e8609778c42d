// The outbox as the delivery consumer sees it: read accepted messages, claim
// one before its provider call, record what came of it. Both backends
// implement it: Redis (streams with a consumer group, one per key and lane;
// every worker of every host consumes) and the in-process store (a queue per
// key and lane; development only, lost on a restart).
//
// Calls are asynchronous like the rest of the store: the callback runs
// exactly once, before the call returns (memory) or on a later loop turn
// (Redis). Views in a callback are valid only during it. A batch call covers
// the messages of one key (one Redis hash tag: one script run per key and
// loop turn, however many messages).
//
// Lifecycle (the record GET /v1/messages/{id} shows):
//   queued -> sending -> sent -> delivered | undelivered
//   queued | sending -> failed | expired | cancelled
//   sending -> queued (a temporary failure: waits for its retry time)
// A record says `sending` with its attempt number before the provider is
// called: a consumer that dies then leaves the entry pending, and the next
// owner (after the visibility timeout) sees the attempt and carries on.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace phigate::state {

/**
 * One stream per key and lane. OTP and transactional SMS never wait behind
 * bulk ones; email has a lane (and a consumer, with its own provider gate)
 * of its own, so a slow mail server never holds up an SMS.
 */
enum class Lane : uint8_t { kPriority = 0, kBulk = 1, kEmail = 2 };
inline constexpr size_t kLaneCount = 3;
inline constexpr Lane kLanes[kLaneCount] = {Lane::kPriority, Lane::kBulk, Lane::kEmail};

/** A message read for delivery. */
struct OutboxItem {
  std::string_view key_id;
  std::string_view message_id;  // isMessageIdText
  std::string_view sealed;      // as admitted (KeyRing::seal, AD = id "\n" key id)
  std::string_view entry_id;    // the backend's handle of this copy (a stream entry id)
  Lane lane = Lane::kPriority;
  uint32_t attempts = 0;        // provider calls made before this read
  int64_t created_unix_ms = 0;  // when it was admitted (this host's clock)
  std::string_view admitted_by; // the admitting worker (Outbox::settled); may be empty
  int64_t admitted_store_ms = 0;  // when, on the store's clock
};

/** One message to claim before its provider call. */
struct BeginItem {
  std::string_view message_id;
  std::string_view entry_id;
  Lane lane = Lane::kPriority;
  uint32_t attempt = 1;         // the attempt about to be made
};

enum class BeginStatus : uint8_t {
  kGo,         // marked `sending`: call the provider
  kCancelled,  // cancelled (DELETE, or an admit answered 503): dropped from the outbox
  kGone,       // final already, or another consumer owns it now: forget this copy
};

/** What became of a message (FinishItem::kind). */
enum class FinishKind : uint8_t {
  kSent,         // the provider accepted it
  kDelivered,    // ... and it is known delivered (simulated delivery, or a report)
  kUndelivered,  // a report said it was not delivered
  kRetry,        // temporary failure: back to `queued` until retry_at
  kFailed,       // permanent failure, or the deadline passed (dead letter)
  kExpired,      // an OTP past OTP_TTL_S
  kCancelled,
};

/** What the record must say for a finish to apply (compare and set). */
enum class FinishExpect : uint8_t {
  kAny,      // any status not final (a message finished without a provider call)
  kSending,  // `sending` with exactly `attempts`: this consumer's attempt
  kSent,     // `sent` (a delivery report)
};

/** The record's status a FinishKind writes (a retry goes back to "queued"). */
inline std::string_view statusName(FinishKind k) {
  switch (k) {
    case FinishKind::kSent: return "sent";
    case FinishKind::kDelivered: return "delivered";
    case FinishKind::kUndelivered: return "undelivered";
    case FinishKind::kRetry: return "queued";
    case FinishKind::kFailed: return "failed";
    case FinishKind::kExpired: return "expired";
    case FinishKind::kCancelled: return "cancelled";
  }
  return "failed";
}

struct FinishItem {
  std::string_view message_id;
  std::string_view entry_id;
  Lane lane = Lane::kPriority;
  FinishKind kind = FinishKind::kSent;
  uint32_t attempts = 0;                 // provider calls made so far
  std::string_view provider;             // "cdac", "http", "simulated"
  std::string_view provider_message_id;  // kSent / kDelivered
  std::string_view error_code;           // fixed text; kRetry / kFailed / kUndelivered
  bool dead_letter = false;              // kFailed because retries ran out
  bool awaiting_report = false;          // kSent: the provider reports delivery later
  bool stop_reports = false;             // no longer awaiting a report (given up, or it came)
  // Applied only if the record still says so; otherwise nothing is written
  // and the entry is not acknowledged (a late or repeated finish, or one for
  // an entry another consumer took over, changes nothing).
  FinishExpect expect = FinishExpect::kAny;
  int64_t retry_at_unix_ms = 0;          // kRetry
  std::string_view sealed;               // kRetry: kept until the retry reads it again
  int64_t created_unix_ms = 0;           // kRetry: the message's admission time
};

/** A message read but never begun, handed back to the outbox (a stopping consumer). */
struct RequeueItem {
  std::string_view message_id;
  std::string_view entry_id;
  Lane lane = Lane::kPriority;
  std::string_view sealed;
  uint32_t attempts = 0;
  int64_t created_unix_ms = 0;
};

/** A sent message whose delivery report is still due. */
struct ReportWait {
  std::string_view message_id;
  std::string_view provider_message_id;
  int64_t sent_unix_ms = 0;  // when it was sent (for giving up), not when it was last asked about
};

struct OutboxOptions {
  uint32_t retention_s = 7 * 86'400;        // MESSAGE_RETENTION_S: final records stay this long
  uint32_t report_give_up_s = 3 * 86'400;   // a sent message's report is awaited this long
};

class Outbox {
 public:
  using ReadDone = void (*)(void* ctx, bool ok, std::span<const OutboxItem> items);
  using BeginDone = void (*)(void* ctx, bool ok, std::span<const BeginStatus> statuses);
  using Done = void (*)(void* ctx, bool ok);
  using ReportsDone = void (*)(void* ctx, bool ok, std::span<const ReportWait> waits);

  virtual ~Outbox() = default;

  /** Reads up to `per_key` new messages of each of `key_ids` from each lane in `lanes` (bit 1 << lane). */
  virtual void read(std::span<const std::string_view> key_ids, uint8_t lanes, uint32_t per_key,
                    void* ctx, ReadDone done) = 0;
  /**
   * A page of the messages this consumer was given before and has not
   * finished, in one stream, after `after_entry_id` ("0": from the start). A
   * read whose reply was lost gave it some; the caller skips those it holds.
   */
  virtual void readPending(std::string_view key_id, Lane lane, std::string_view after_entry_id,
                           uint32_t max, void* ctx, ReadDone done) = 0;
  /** Takes over up to `max` of `key_id`'s messages in `lane` that another consumer has held
   *  longer than `idle_ms` (a dead one's); the memory backend has no other consumer. */
  virtual void reclaim(std::string_view key_id, Lane lane, uint32_t idle_ms, uint32_t max, void* ctx,
                       ReadDone done) = 0;
  /**
   * Whether a message admitted by worker `admitted_by` at `admitted_store_ms`
   * may be sent: false while that worker may still be about to cancel it
   * (it answered 503 to an admit whose reply it never saw, and the admit ran
   * all the same: see redis_settle.cpp). Synchronous, from what the last
   * read() learnt; the memory backend has no such case.
   */
  virtual bool settled(std::string_view admitted_by, int64_t admitted_store_ms) const {
    (void)admitted_by;
    (void)admitted_store_ms;
    return true;
  }
  /** The settled() answers may be stale: learn the admitters' progress again (a cheap read). */
  virtual void refreshSettling() {}
  /** Claims `items` of `key_id` for their provider call; statuses in the same order. */
  virtual void begin(std::string_view key_id, std::span<const BeginItem> items, std::string_view provider,
                     void* ctx, BeginDone done) = 0;
  /** Records outcomes of `key_id`'s messages; a final one's payload is deleted. */
  virtual void finish(std::string_view key_id, std::span<const FinishItem> items, void* ctx,
                      Done done) = 0;
  /**
   * Gives messages this consumer read but never began back to their lane,
   * as new entries any consumer reads at once (instead of waiting for the
   * visibility timeout after this consumer is gone). Atomic per message.
   */
  virtual void requeue(std::string_view key_id, std::span<const RequeueItem> items, void* ctx,
                       Done done) = 0;
  /** Moves `key_id`'s messages whose retry time has come back into their lane. */
  virtual void promoteRetries(std::string_view key_id, uint32_t max, void* ctx, Done done) = 0;
  /** Up to `max` of `key_id`'s messages sent before `sent_before_unix_ms` whose report is due. */
  virtual void reportsDue(std::string_view key_id, int64_t sent_before_unix_ms, uint32_t max,
                          void* ctx, ReportsDone done) = 0;
  /** Upkeep: trims what final messages left behind (streams, lists past retention). */
  virtual void trim(std::string_view key_id, void* ctx, Done done) = 0;
};

}  // namespace phigate::state
