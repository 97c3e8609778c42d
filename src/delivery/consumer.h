// The outbox consumer: the delivery engine of one channel in one worker,
// on its loop. A worker runs one for SMS (the priority and bulk lanes, the
// SMS provider) and one for email (its lane, SMTP): each has its own
// provider gate, so a slow or failing mail server never holds up an OTP.
//
//   read (batched, every key's lanes) -> open + parse -> hold per lane/key
//   -> dispatch through the provider gate (priority first, keys round robin)
//   -> begin (one call per key and loop turn: the record says `sending`)
//   -> provider call (adapter + HTTP client) or simulated delivery
//   -> finish (one call per key and loop turn: sent / retry / failed ...)
//
// Nothing accepted is dropped here: a message this worker cannot finish
// (it stops, it crashes, the store is away) stays pending in the outbox and
// is taken over by another consumer after the visibility timeout; a record
// that says `sending` tells that consumer an attempt was made. What that
// means per provider is in docs/DELIVERY.md.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "crypto/key_ring.h"
#include "delivery/email_sender.h"
#include "delivery/payload.h"
#include "delivery/provider_gate.h"
#include "delivery/sms_adapter.h"
#include "net/http_client.h"
#include "state/outbox.h"

namespace phigate::delivery {

/** What a consumer delivers: its lanes, payloads and provider. */
enum class Channel : uint8_t {
  kSms,    // lanes priority and bulk; an SmsAdapter
  kEmail,  // lane email; an EmailSender
};

struct DeliveryOptions {
  Channel channel = Channel::kSms;
  // The per-key upkeep every lane shares (promoting retries, trimming,
  // delivery reports): one consumer of a worker does it.
  bool upkeep = true;
  uint32_t read_batch = 64;           // per key and lane per read
  uint32_t held_limit = 1024;         // read but not yet dispatched, per lane
  uint32_t poll_ms = 20;              // how often an empty outbox is read again
  uint32_t visibility_ms = 60'000;    // another consumer's entry is taken over after this
  uint32_t otp_ttl_s = 600;           // OTP_TTL_S
  uint32_t deadline_s = 86'400;       // retries stop (dead letter) this long after admission
  uint32_t retry_min_ms = 1'000;
  uint32_t retry_max_ms = 600'000;
  uint32_t report_delay_ms = 10'000;  // a sent message's report is asked for after this
  uint32_t report_interval_ms = 5'000;
  uint32_t report_give_up_s = 3 * 86'400;  // a sent message is asked about this long at most
  net::HttpTimeouts timeouts;
  GateOptions gate;
};

class Consumer {
 public:
  struct Stats {
    uint64_t read = 0, sent = 0, delivered = 0, undelivered = 0, retried = 0, failed = 0,
             expired = 0, cancelled = 0, store_errors = 0;
  };

  /**
   * The channel's provider: `adapter` for SMS, `mailer` for email (the
   * other is unused); null: every message is simulated (SMS_PROVIDER=mock,
   * no SMTP_URL); test keys' messages are simulated always. `http` carries
   * the provider's requests; all outlive the consumer.
   */
  Consumer(uv_loop_t* loop, state::Outbox& outbox, const crypto::KeyRing& ring,
           std::vector<std::string> key_ids, DeliveryOptions opts, const SmsAdapter* adapter,
           const EmailSender* mailer, net::HttpClient* http);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  void start();
  /**
   * Stops reading and dispatching; `done(ctx)` runs once every begun
   * message is finished and recorded, or after `deadline_ms`, whichever is
   * first (then what is left is taken over by another consumer later).
   * Handles are closed before `done` runs... on a later loop turn.
   */
  void drain(uint32_t deadline_ms, void* ctx, void (*done)(void*));

  const Stats& stats() const { return stats_; }
  ProviderGate::Circuit circuit() const { return gate_.circuit(); }

 private:
  struct Job;
  struct BeginCall;
  struct FinishCall;
  struct ReportPoll;
  struct RequeueCall;
  enum class Phase : uint8_t { kDrained, kRunning, kDraining };

  // Reading.
  void scheduleRead(uint32_t delay_ms);
  void read();
  static void onRead(void* ctx, bool ok, std::span<const state::OutboxItem> items);
  static void onReclaimed(void* ctx, bool ok, std::span<const state::OutboxItem> items);
  bool accept(const state::OutboxItem& item);
  void readOwnPending();
  static void onOwnPending(void* ctx, bool ok, std::span<const state::OutboxItem> items);
  size_t keyIndex(std::string_view key_id) const;
  void route(Job* j);
  void recheckSettling();
  // Dispatch.
  void pump();
  Job* pick(state::Lane lane);
  bool expireIfDue(Job* j, int64_t now);
  void queueBegin(Job* j);
  void queueFinish(Job* j);
  void armFlush();
  static void onFlush(uv_timer_t* t);
  void flush();
  void scriptDone();
  static void onBegin(void* ctx, bool ok, std::span<const state::BeginStatus> statuses);
  void send(Job* j);
  void sendMail(Job* j);
  void cannotBuild(Job* j, std::string_view error_code);
  void notStarted(Job* j);
  bool hasProvider() const;
  std::string_view providerName(bool simulated) const;
  bool openPayload(Job* j, std::string_view plain);
  static void onHttp(void* ctx, const net::HttpResult& r);
  void verdict(Job* j, const SendVerdict& v);
  void retryOrGiveUp(Job* j, std::string_view error_code, int64_t now);
  static void onFinish(void* ctx, bool ok);
  // Delivery reports (providers that have them).
  void pollReports(int64_t now);
  static void onReportsDue(void* ctx, bool ok, std::span<const state::ReportWait> waits);
  void startReportPolls();
  static void onReportHttp(void* ctx, const net::HttpResult& r);
  void noteCircuit(ProviderGate::Circuit before);
  // Upkeep.
  static void onTick(uv_timer_t* t);
  void tick();
  static void onStoreDone(void* ctx, bool ok);
  void storeFailed();
  static void onRequeued(void* ctx, bool ok);
  void maybeDrained();
  // Jobs.
  Job* acquireJob();
  void recycle(Job* j);
  uint64_t jitteredDelay(uint32_t attempt);
  int64_t now() const;

  uv_loop_t* loop_;
  state::Outbox& outbox_;
  const crypto::KeyRing& ring_;
  std::vector<std::string> key_ids_;
  std::vector<std::string_view> key_views_;
  std::unordered_map<std::string_view, size_t> key_index_;
  DeliveryOptions opts_;
  const SmsAdapter* adapter_;
  const EmailSender* mailer_;
  net::HttpClient* http_;
  std::vector<state::Lane> lanes_;  // this channel's, in dispatch order
  ProviderGate gate_;
  PayloadParser parser_;
  std::string opened_;

  // Held jobs per lane: one queue per key, and a ring of the keys that have
  // some (round robin: one key's campaign cannot starve another key).
  std::vector<std::deque<Job*>> held_[state::kLaneCount];
  std::deque<size_t> turns_[state::kLaneCount];
  uint32_t held_count_[state::kLaneCount] = {};
  std::deque<Job*> settling_;  // their admitter may still cancel them
  // Every message id this consumer holds a job for: a re-read of its own
  // pending entries (after a lost reply) must not make a second job.
  std::unordered_set<std::string_view> live_ids_;
  bool recover_pending_ = false;  // the next reads walk our own pending entries again
  struct Recovery {
    size_t key;
    state::Lane lane;
    std::string after;  // the last entry id seen in this stream
  };
  std::deque<Recovery> recovery_;
  // Per key, waiting for this turn's begin / finish call.
  std::vector<std::vector<Job*>> begin_real_, begin_simulated_, finish_;
  std::vector<FinishCall*> failed_finishes_;
  std::vector<Job*> failed_begins_;

  std::vector<std::unique_ptr<Job>> jobs_;
  std::vector<Job*> free_jobs_;
  std::vector<std::unique_ptr<BeginCall>> begin_calls_;
  std::vector<BeginCall*> free_begin_calls_;
  std::vector<std::unique_ptr<FinishCall>> finish_calls_;
  std::vector<FinishCall*> free_finish_calls_;
  // Report polls: waiting for a slot, and in flight (a few at a time: they
  // share the provider with sends).
  std::deque<std::unique_ptr<ReportPoll>> report_queue_;
  uint32_t reports_in_flight_ = 0;
  uint32_t report_lists_pending_ = 0;
  int64_t next_report_ms_ = 0;

  uv_timer_t* read_timer_ = nullptr;   // heap: closing completes after we are gone
  uv_timer_t* flush_timer_ = nullptr;
  uv_timer_t* tick_timer_ = nullptr;
  bool read_in_flight_ = false;
  bool read_armed_ = false;
  bool flush_armed_ = false;
  uint32_t store_calls_ = 0;   // begin/finish/upkeep calls awaiting their answer
  uint32_t scripts_in_flight_ = 0;  // begin / finish calls among them
  uint32_t in_flight_ = 0;     // jobs between begin and a recorded finish
  int64_t next_promote_ms_ = 0, next_reclaim_ms_ = 0, next_trim_ms_ = 0;
  int64_t store_retry_ms_ = 0;  // after a store failure: not before
  uint64_t rng_;
  Phase phase_ = Phase::kDrained;
  void* drain_ctx_ = nullptr;
  void (*drain_done_)(void*) = nullptr;
  int64_t drain_deadline_ms_ = 0;
  Stats stats_;
};

}  // namespace phigate::delivery
