// The Redis store's callback queue (state/callback_queue.h). Per key:
//
//   phigate:{<key id>}:callbacks     stream; the delivery scripts (finish,
//                                    and the admit script's DELETE cancel)
//                                    append one entry per status change, in
//                                    the same script run that changes the
//                                    record; consumer group "phigate-cb"
//   phigate:{<key id>}:callbacks:r   ZSET: retries, "tries|id|channel|
//                                    status|attempts|provider id|error|
//                                    updated ms" -> due (Redis clock, ms)
//   phigate:{<key id>}:callbacks:dropped
//                                    counter: callbacks not queued because
//                                    the stream and the retry set held
//                                    kMaxCallbacksPerKey together
//   phigate:{<key id>}:callbacks:dropped:reported
//                                    the counter's value last reported
//                                    (an event line per fresh drop)
//
// Fields of an entry: id, ch, st, a, p, e, u (updated ms), n (tries before).
// Its own connection, so callback traffic never queues in front of the
// consumer's or the API's commands.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "state/callback_queue.h"
#include "state/redis_client.h"

namespace phigate::state {

/** The Lua tail the delivery scripts share: append one callback (see redis_outbox_scripts.h). */
inline constexpr std::string_view kCallbackMarker = "+callbacks";

class RedisCallbackQueue final : public CallbackQueue {
 public:
  explicit RedisCallbackQueue(RedisOptions options);
  ~RedisCallbackQueue() override;

  void start(uv_loop_t* loop) override;
  void stop() override;
  bool ready() const override;

  void read(std::span<const std::string_view> key_ids, uint32_t per_key, uint32_t idle_ms, void* ctx,
            ReadDone done) override;
  void ack(std::string_view key_id, std::span<const std::string_view> entry_ids, void* ctx,
           Done done) override;
  void retry(const CallbackEvent& event, uint32_t tries, uint32_t delay_ms, void* ctx,
             Done done) override;
  void promote(std::string_view key_id, uint32_t max, void* ctx, Done done) override;

  /** "phigate:{<key id>}:callbacks". */
  static std::string streamName(std::string_view key_id);

 private:
  struct Op;
  static void onRead(void* p, const redisReply* reply);
  static void onClaim(void* p, const redisReply* reply);
  static void onDone(void* p, const redisReply* reply);
  static void onPromoted(void* p, const redisReply* reply);
  void ensureGroups(std::span<const std::string_view> key_ids);
  Op* acquire();
  void release(Op* op);

  RedisOptions options_;
  std::unique_ptr<RedisClient> client_;
  std::string consumer_;
  int retry_script_ = -1;
  int promote_script_ = -1;
  std::vector<std::string> grouped_;  // streams whose group exists (this connection)
  std::vector<std::unique_ptr<Op>> ops_;  // recycled
  std::vector<Op*> free_;
  uint64_t reads_ = 0;
  bool stopping_ = false;
};

}  // namespace phigate::state
