// "A 503 means not sent", across workers.
//
// An admit whose reply does not come back in time is answered 503, but the
// command may still run: it sat in a frozen Redis's socket buffer, say, and
// Redis runs it when it wakes (the admit script's deadline stops most such
// late runs; one that had started in time but whose reply was lost gets
// through). So the worker that answered 503 cancels those ids once Redis
// answers again: a marker per message (phigate:{T}:m:<id>:x) that the begin
// script checks before any provider call.
//
// The marker may arrive after another worker's consumer has read the entry.
// To close that race every worker publishes a watermark W (HSET
// phigate:{wm} <worker> "W|written at", Redis's clock): every admit it sent
// before W has either been answered, or had its cancel written. An entry
// carries its admitter ('w') and its admission time (the entry id); a
// consumer sends it only once the admitter's W has passed that time
// (Outbox::settled). W trails the admitter's clock by kClockSlackMs (the
// clock offset's error) and is written every kUpkeepMs while the worker
// admits, so an entry waits about 50 ms.
//
// A worker that stops writing W (it died) would hold its entries back for
// ever: past kDeadWorkerMs without a new W they are sent. The one case left
// open: a worker that answered 503 and died before Redis answered again —
// its cancels died with it (docs/DELIVERY.md).
#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "common/event_line.h"
#include "state/redis_keys.h"
#include "state/redis_outbox_scripts.h"
#include "state/redis_store.h"

namespace phigate::state {

namespace {

constexpr std::string_view kWatermarkKey = "phigate:{wm}";
constexpr int64_t kClockSlackMs = 20;
constexpr int64_t kDeadWorkerMs = 10'000;
constexpr int64_t kForgetWorkerMs = 86'400'000;
constexpr int64_t kWatermarkActiveMs = 1'000;  // keep writing W this long after the last admit
constexpr size_t kMaxCancels = 100'000;
constexpr size_t kCancelBatch = 64;



int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The tag of "phigate:{T}:m:<id>": T.
std::string_view tagOf(std::string_view key) {
  const size_t open = key.find('{'), close = key.find('}');
  return open == std::string_view::npos || close == std::string_view::npos ? key
                                                                           : key.substr(open, close - open);
}

}  // namespace

// Called by start() once the client exists.
void RedisStore::noteAdmitSent(Op* op, size_t entries) {
  op->admit_seq = 0;
  if (entries == 0) return;
  op->admit_seq = next_admit_seq_++;
  op->sent_ms = wallMs();
  last_entry_admit_ms_ = op->sent_ms;
  admit_sends_.emplace_back(op->admit_seq, op->sent_ms);
}

void RedisStore::noteAdmitReply(Op* op, const redisReply* reply) {
  if (op->admit_seq == 0) return;
  auto it = std::find_if(admit_sends_.begin(), admit_sends_.end(),
                         [op](const auto& s) { return s.first == op->admit_seq; });
  if (it != admit_sends_.end()) admit_sends_.erase(it);  // the front, replies being in order
  const bool known = reply != nullptr && reply->type == REDIS_REPLY_ARRAY;
  if (known) return;
  // No reply, or an error part-way: the entries may exist. Cancel them.
  for (size_t i = 0; i < op->keys.size() - 8; ++i) {
    if (cancels_.size() >= kMaxCancels) {
      EventLine("cancel_list_full").num("dropped", 1).emit();
      cancels_.pop_front();
    }
    cancels_.push_back(PendingCancel{std::string(op->keys[8 + i]), op->sent_ms, false});
  }
}

void RedisStore::onUpkeep(uv_timer_t* t) {
  auto* self = static_cast<RedisStore*>(t->data);
  if (!self->healthy()) return;
  self->flushCancels();
  self->writeWatermark();
}

// Markers go out in batches of one tag, oldest first; the watermark that
// follows in the same write cannot pass them (ownWatermarkMs).
void RedisStore::flushCancels() {
  std::vector<std::string_view> keys;
  size_t i = 0;
  while (i < cancels_.size() && cancels_in_flight_ < 8) {
    if (cancels_[i].in_flight) {
      ++i;
      continue;
    }
    const std::string_view tag = tagOf(cancels_[i].record_key);
    Op* op = acquire();
    op->texts.clear();
    size_t taken = 0;
    for (size_t j = i; j < cancels_.size() && taken < kCancelBatch; ++j) {
      if (cancels_[j].in_flight || tagOf(cancels_[j].record_key) != tag) continue;
      cancels_[j].in_flight = true;
      op->texts.push_back(cancels_[j].record_key);
      op->texts.push_back(cancels_[j].record_key + ":x");
      ++taken;
    }
    for (const std::string& k : op->texts) op->keys.emplace_back(k);
    op->key_text[0] = std::to_string(uint64_t{message_ttl_s_} * 1000);
    op->args.insert(op->args.end(), {op->key_text[0], retention_text_});
    ++cancels_in_flight_;
    client_->evalsha(cancel_script_, op->keys, op->args, op, onCancelReply);
  }
}

void RedisStore::onCancelReply(void* p, const redisReply* reply) {
  Op* op = static_cast<Op*>(p);
  RedisStore* self = op->store;
  --self->cancels_in_flight_;
  const bool ok = reply != nullptr && reply->type == REDIS_REPLY_INTEGER;
  // op->texts holds (record, marker) pairs in the order they were taken.
  for (size_t k = 0; k < op->texts.size(); k += 2) {
    auto it = std::find_if(self->cancels_.begin(), self->cancels_.end(), [&](const PendingCancel& c) {
      return c.in_flight && c.record_key == op->texts[k];
    });
    if (it == self->cancels_.end()) continue;
    if (ok) {
      self->cancels_.erase(it);
    } else {
      it->in_flight = false;  // the next upkeep tries again
    }
  }
  if (ok) EventLine("admit_cancelled").num("messages", static_cast<int64_t>(op->texts.size() / 2)).emit();
  self->release(op);
}

// Every admit sent before this moment has been answered or cancelled (on
// Redis's clock, minus the offset's error).
int64_t RedisStore::ownWatermarkMs() const {
  int64_t w = wallMs();
  if (!admit_sends_.empty()) w = std::min(w, admit_sends_.front().second);
  for (const PendingCancel& c : cancels_) w = std::min(w, c.sent_ms);
  return w + clock_offset_ms_ - kClockSlackMs;
}

void RedisStore::writeWatermark() {
  if (wallMs() - last_entry_admit_ms_ > kWatermarkActiveMs && cancels_.empty()) return;
  Op* op = acquire();
  op->texts.resize(1);
  op->texts[0] = std::to_string(ownWatermarkMs()) + "|" + std::to_string(wallMs() + clock_offset_ms_);
  op->args.insert(op->args.end(), {"HSET", kWatermarkKey, consumer_, op->texts[0]});
  client_->command(op->args, op, [](void* p, const redisReply*) {
    Op* o = static_cast<Op*>(p);
    o->store->release(o);  // the next upkeep writes a fresher one anyway
  });
}

// Stopping: no admit will follow. When every admit was answered and every
// cancel written, the mark covers everything this worker ever admitted;
// otherwise it stays where it is. The connection closes after its reply
// (or its deadline).
void RedisStore::writeFinalWatermark() {
  const bool all_resolved = admit_sends_.empty() && cancels_.empty();
  const int64_t mark = all_resolved ? int64_t{1} << 62 : ownWatermarkMs();
  Op* op = acquire();
  op->texts.resize(1);
  op->texts[0] = std::to_string(mark) + "|" + std::to_string(wallMs() + clock_offset_ms_);
  op->args.insert(op->args.end(), {"HSET", kWatermarkKey, consumer_, op->texts[0]});
  client_->command(op->args, op, [](void* p, const redisReply*) {
    Op* o = static_cast<Op*>(p);
    RedisStore* self = o->store;
    self->release(o);
    if (self->client_ != nullptr) self->client_->stop();  // null: the store is being destroyed
  });
}

void RedisStore::refreshWatermarks() {
  if (watermarks_pending_ || !outboxReady()) return;
  watermarks_pending_ = true;
  const std::string_view argv[] = {"HGETALL", kWatermarkKey};
  outbox_client_->command(argv, this, onWatermarksReply);
}

void RedisStore::onWatermarksReply(void* p, const redisReply* reply) {
  auto* self = static_cast<RedisStore*>(p);
  self->watermarks_pending_ = false;
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) return;
  // Ages are judged against this moment, not against "now": a copy that has
  // not been refreshed for a while must not make live workers look dead.
  self->watermarks_read_redis_ms_ = wallMs() + self->clock_offset_ms_;
  for (size_t i = 0; i + 1 < reply->elements; i += 2) {
    const std::string_view worker = redis_keys::stringAt(reply, i);
    const std::string_view value = redis_keys::stringAt(reply, i + 1);
    const size_t bar = value.find('|');
    if (worker.empty() || bar == std::string_view::npos) continue;
    int64_t mark = 0, written = 0;
    std::from_chars(value.data(), value.data() + bar, mark);
    std::from_chars(value.data() + bar + 1, value.data() + value.size(), written);
    if (self->watermarks_read_redis_ms_ - written > kForgetWorkerMs) {
      // A worker gone for a day: its mark is forgotten (each restart is a
      // new worker, so the hash would only grow).
      const std::string_view argv[] = {"HDEL", kWatermarkKey, worker};
      if (self->outbox_client_ != nullptr) {
        self->outbox_client_->command(argv, nullptr, [](void*, const redisReply*) {});
      }
      self->watermarks_.erase(std::string(worker));
      continue;
    }
    self->watermarks_[std::string(worker)] = {mark, written};
  }
}

bool RedisStore::settled(std::string_view admitted_by, int64_t admitted_store_ms) const {
  if (admitted_by.empty()) return true;  // a retry's entry, or one from before watermarks
  if (admitted_by == consumer_) return admitted_store_ms <= ownWatermarkMs();
  // "Gone": the copy, read at watermarks_read_redis_ms_, shows the admitter
  // silent for kDeadWorkerMs, and the entry that old.
  const int64_t read_at = watermarks_read_redis_ms_;
  auto it = watermarks_.find(std::string(admitted_by));
  if (it != watermarks_.end()) {
    if (admitted_store_ms <= it->second.first) return true;
    return read_at - it->second.second > kDeadWorkerMs && read_at - admitted_store_ms > kDeadWorkerMs;
  }
  return read_at - admitted_store_ms > kDeadWorkerMs;
}

}  // namespace phigate::state
