// The Redis state store: shared by every worker and host. Each admit is one
// EVALSHA of the admit script (rate window, quota, nonce, idempotency, outbox
// append, message lookup: atomic, one round trip); commands issued in one
// loop turn leave in one write. Fails closed: while Redis is unreachable,
// slow (past the per-command deadline) or answering errors, every call
// answers kUnavailable and the client reconnects in the background.
//
// Keys: phigate:{<tag>}:<kind>:..., the tag being the API key id (or
// "ip:<pseudonym>" for per-address limits), so one request's keys share a
// Redis Cluster slot; the block list lives under {blocks}. No key name holds
// a value the client chose or one that identifies it: nonces,
// Idempotency-Keys and client addresses appear only as keyed pseudonyms
// (crypto/pseudonym.h, from SECRET_KEY); key ids come from the operator's
// configuration, message ids are minted by phigate. The full list is in
// redis_store.cpp.
#pragma once

#include <uv.h>

#include <array>
#include <deque>
#include <memory>
#include <unordered_map>
#include <string>
#include <vector>

#include "crypto/pseudonym.h"
#include "state/redis_callbacks.h"
#include "state/redis_client.h"
#include "state/store.h"

namespace phigate::state {

class RedisStore : public StateStore, public Outbox {
 public:
  using Done = StateStore::Done;  // the same type in both bases
  /** `names` (ready) turns client values into key-name parts; every process sharing the Redis needs the same. */
  RedisStore(RedisOptions opts, crypto::Pseudonymizer names, uint32_t message_ttl_s = 30 * 86'400);
  ~RedisStore() override;

  /** Before start(): how long final records stay, and the like. */
  void setOutboxOptions(const OutboxOptions& o);
  Outbox& outbox() override { return *this; }
  CallbackQueue* callbacks() override { return callbacks_.get(); }
  void read(std::span<const std::string_view> key_ids, uint8_t lanes, uint32_t per_key, void* ctx,
            ReadDone done) override;
  void readPending(std::string_view key_id, Lane lane, std::string_view after_entry_id, uint32_t max,
                   void* ctx, ReadDone done) override;
  void reclaim(std::string_view key_id, Lane lane, uint32_t idle_ms, uint32_t max, void* ctx,
               ReadDone done) override;
  void begin(std::string_view key_id, std::span<const BeginItem> items, std::string_view provider,
             void* ctx, BeginDone done) override;
  void finish(std::string_view key_id, std::span<const FinishItem> items, void* ctx,
              Done done) override;
  void promoteRetries(std::string_view key_id, uint32_t max, void* ctx, Done done) override;
  void requeue(std::string_view key_id, std::span<const RequeueItem> items, void* ctx,
               Done done) override;
  void reportsDue(std::string_view key_id, int64_t sent_before_unix_ms, uint32_t max, void* ctx,
                  ReportsDone done) override;
  void trim(std::string_view key_id, void* ctx, Done done) override;
  bool settled(std::string_view admitted_by, int64_t admitted_store_ms) const override;
  void refreshSettling() override { refreshWatermarks(); }
  /** Ids of admits answered 503 whose cancel marker is not written yet. */
  size_t pendingCancels() const { return cancels_.size(); }
  /** This worker's consumer name in the groups (set by start()). */
  const std::string& consumerName() const { return consumer_; }

  void admit(const AdmitRequest& req, void* ctx, AdmitDone done) override;
  void recordAuthFailure(std::string_view ip, const ContainmentPolicy& policy, void* ctx,
                         Done done) override;
  void setBlock(std::string_view ip, uint32_t ttl_s, void* ctx, Done done) override;
  void listBlocks(void* ctx, BlocksDone done) override;
  std::string_view backend() const override { return "redis"; }
  bool healthy() const override {
    return client_ != nullptr && client_->connected() && clock_synced_;
  }
  void start(uv_loop_t* loop) override;
  void stop() override;

  /** Commands sent so far (EVALSHA and internal ones), for tests and metrics. */
  uint64_t commandsSent() const { return client_ ? client_->commandsSent() : 0; }

 private:
  /** One call in flight; pooled so a request allocates nothing once warm. */
  struct Op {
    RedisStore* store = nullptr;
    void* ctx = nullptr;
    AdmitDone admit_done = nullptr;
    Done done = nullptr;
    BlocksDone blocks_done = nullptr;
    std::array<std::string, 8> key_text;
    std::vector<std::string> message_keys;
    std::array<char[24], 8> numbers{};
    std::vector<std::array<char, 12>> segment_text;
    std::vector<std::string_view> keys;
    std::vector<std::string_view> args;
    MessageStatus message;
    int64_t sent_ms = 0;
    uint64_t admit_seq = 0;  // admits with entries: their place in admit_sends_
    // The outbox calls (redis_outbox.cpp).
    Outbox::ReadDone read_done = nullptr;
    Outbox::BeginDone begin_done = nullptr;
    Outbox::ReportsDone reports_done = nullptr;
    std::vector<std::string> texts;  // key names and numbers of a batch
    std::vector<OutboxItem> items;
    std::vector<BeginStatus> statuses;
    std::vector<ReportWait> waits;
  };
  /** Text of one rate subject as a key name may hold it (see redis_store.cpp). */
  using SubjectName = char[kClientSubjectPrefix.size() + crypto::Pseudonymizer::kTextChars];
  std::string_view subjectName(std::string_view subject, SubjectName& buf) const;
  void buildAdmitKeys(const AdmitRequest& req, Op* op) const;
  Op* acquire();
  void release(Op* op);
  static void onAdmitReply(void* ctx, const redisReply* reply);
  static void onDoneReply(void* ctx, const redisReply* reply);
  static void onBlocksReply(void* ctx, const redisReply* reply);
  static void onClientState(void* ctx, bool connected);
  static void onTimeReply(void* ctx, const redisReply* reply);
  static void onReadReply(void* ctx, const redisReply* reply);
  static void onReclaimReply(void* ctx, const redisReply* reply);
  static void onBeginReply(void* ctx, const redisReply* reply);
  static void onReportsReply(void* ctx, const redisReply* reply);
  static void onGroupReply(void* ctx, const redisReply* reply);
  // The 503 guarantee (redis_settle.cpp).
  void noteAdmitSent(Op* op, size_t entries);
  void noteAdmitReply(Op* op, const redisReply* reply);
  static void onUpkeep(uv_timer_t* t);
  void flushCancels();
  void writeWatermark();
  void writeFinalWatermark();
  void refreshWatermarks();
  int64_t ownWatermarkMs() const;
  static void onCancelReply(void* ctx, const redisReply* reply);
  static void onWatermarksReply(void* ctx, const redisReply* reply);
  /** Creates the consumer groups of `key_ids`' streams once per connection. */
  void ensureGroups(std::span<const std::string_view> key_ids);
  /** The delivery connection is up (opened on first use). */
  bool outboxReady();
  /** Appends one stream entry's item (XREADGROUP / XAUTOCLAIM shape) to op->items. */
  void addItem(Op* op, std::string_view key_id, Lane lane, const redisReply* entry) const;
  std::string_view retentionText() const { return retention_text_; }
  void resyncClock();
  /** The admit script's deadline on Redis's clock. */
  int64_t scriptDeadlineMs() const;
  void markSynced();

  RedisOptions opts_;
  crypto::Pseudonymizer names_;
  uint32_t message_ttl_s_;
  std::unique_ptr<RedisClient> client_;         // admits, blocks, cancels, watermarks
  std::unique_ptr<RedisClient> outbox_client_;  // delivery (redis_outbox.cpp)
  std::unique_ptr<RedisCallbackQueue> callbacks_;  // status callbacks (its own connection)
  uv_loop_t* loop_ = nullptr;
  bool stopped_ = false;
  int admit_script_ = -1;
  int auth_failure_script_ = -1;
  int set_block_script_ = -1;
  int list_blocks_script_ = -1;
  int begin_script_ = -1;
  int finish_script_ = -1;
  int promote_script_ = -1;
  int trim_script_ = -1;
  int requeue_script_ = -1;
  OutboxOptions outbox_opts_;
  std::string consumer_;
  std::string retention_text_ = "604800000";
  std::string give_up_text_ = "259200000";
  // Streams whose group exists on this connection (XGROUP CREATE is sent
  // once per connection, before the first read: a restarted Redis without
  // its data has no groups).
  std::vector<std::string> grouped_streams_;
  std::unordered_map<std::string, std::string> reclaim_cursors_;  // stream -> XAUTOCLAIM cursor
  // Admits with entries not yet answered, oldest first (replies come in
  // order): (sequence, local send ms).
  std::deque<std::pair<uint64_t, int64_t>> admit_sends_;
  uint64_t next_admit_seq_ = 1;
  int64_t last_entry_admit_ms_ = 0;
  // Records of messages whose admit was answered 503 without a reply:
  // their cancel markers are written when Redis answers again.
  struct PendingCancel {
    std::string record_key;
    int64_t sent_ms = 0;      // the admit's send time: the watermark stays behind it
    bool in_flight = false;
  };
  std::deque<PendingCancel> cancels_;
  size_t cancels_in_flight_ = 0;
  // Other workers' watermarks (HGETALL phigate:{wm}): worker -> (mark,
  // written at), both on Redis's clock.
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> watermarks_;
  bool watermarks_pending_ = false;
  int64_t watermarks_read_redis_ms_ = 0;  // when the copy was read, Redis's clock
  int cancel_script_ = -1;
  uv_timer_t* upkeep_timer_ = nullptr;  // heap: closing completes after stop()
  // Redis clock minus ours, measured with TIME on every (re)connect: the
  // admit script refuses to act past the moment we stopped waiting for it.
  int64_t clock_offset_ms_ = 0;
  int64_t time_sent_ms_ = 0;
  bool clock_synced_ = false;
  bool time_pending_ = false;
  std::vector<std::unique_ptr<Op>> ops_;
  std::vector<Op*> free_ops_;
};

}  // namespace phigate::state
