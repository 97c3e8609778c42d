// The Redis store's outbox side (state/outbox.h): the streams the admit
// script appends to, read by the consumer group "phigate" (every worker of
// every host is one consumer), and the delivery scripts of
// redis_outbox_scripts.h. Key names: redis_store.cpp.
//
// Reads take every configured key's streams in one XREADGROUP (COUNT is per
// stream, so one read serves the keys fairly). That command names keys of
// many hash tags: on Redis Cluster it would have to be split per slot; the
// scripts already run there unchanged.
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/event_line.h"
#include "crypto/random.h"
#include "state/redis_callbacks.h"
#include "state/redis_keys.h"
#include "state/redis_outbox_scripts.h"
#include "state/redis_store.h"

namespace phigate::state {

using redis_keys::integerAt;
using redis_keys::makeKey;
using redis_keys::stringAt;

namespace {

constexpr std::string_view kGroup = "phigate";
constexpr std::string_view kStreamPrefix = "phigate:{";
constexpr uint32_t kOutboxTimeoutMs = 2'000;  // delivery's per-command deadline (at least)

std::string_view laneSuffix(Lane lane) {
  return lane == Lane::kBulk ? "bulk" : lane == Lane::kEmail ? "email" : "";
}
std::string_view laneDigit(Lane lane) {
  return lane == Lane::kBulk ? "1" : lane == Lane::kEmail ? "2" : "0";
}

// The streams every delivery script gets as KEYS[1..kLaneCount], the lane
// digit indexing them: out[0] priority, out[1] bulk, out[2] email.
void laneStreams(std::string_view key_id, std::string* out) {
  for (Lane lane : kLanes) makeKey(&out[static_cast<size_t>(lane)], key_id, "outbox", laneSuffix(lane));
}

// "phigate:{<key id>}:outbox[:bulk|:email]" -> key id and lane.
bool parseStreamName(std::string_view name, std::string_view* key_id, Lane* lane) {
  if (!name.starts_with(kStreamPrefix)) return false;
  name.remove_prefix(kStreamPrefix.size());
  const size_t close = name.find('}');
  if (close == std::string_view::npos) return false;
  *key_id = name.substr(0, close);
  const std::string_view rest = name.substr(close + 1);
  if (rest == ":outbox") {
    *lane = Lane::kPriority;
  } else if (rest == ":outbox:bulk") {
    *lane = Lane::kBulk;
  } else if (rest == ":outbox:email") {
    *lane = Lane::kEmail;
  } else {
    return false;
  }
  return true;
}

void setNumber(std::string* out, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->assign(buf, static_cast<size_t>(r.ptr - buf));
}

bool isError(const redisReply* r) { return r == nullptr || r->type == REDIS_REPLY_ERROR; }

}  // namespace

// Delivery has a connection of its own: its batches and their replies never
// queue in front of an admit on the API's connection, and a slow delivery
// command (its deadline is longer) never drops the API's connection and
// turns admits into 503s. Opened on the first outbox call, so a host that
// only accepts never opens it.
bool RedisStore::outboxReady() {
  if (outbox_client_ == nullptr) {
    if (loop_ == nullptr || stopped_) return false;
    RedisOptions o = opts_;
    o.command_timeout_ms = std::max<uint32_t>(o.command_timeout_ms, kOutboxTimeoutMs);
    outbox_client_ = std::make_unique<RedisClient>(loop_, o);
    begin_script_ = outbox_client_->registerScript(std::string(kBeginScript));
    finish_script_ = outbox_client_->registerScript(std::string(kFinishScript));
    promote_script_ = outbox_client_->registerScript(std::string(kPromoteScript));
    trim_script_ = outbox_client_->registerScript(std::string(kTrimScript));
    requeue_script_ = outbox_client_->registerScript(std::string(kRequeueScript));
    outbox_client_->setStateListener(this, [](void* p, bool) {
      static_cast<RedisStore*>(p)->grouped_streams_.clear();  // a new connection: groups again
    });
    outbox_client_->start();
    return false;  // connecting: the consumer asks again shortly
  }
  return outbox_client_->connected() && clock_synced_;
}

void RedisStore::setOutboxOptions(const OutboxOptions& o) {
  outbox_opts_ = o;
  setNumber(&retention_text_, int64_t{o.retention_s} * 1000);
  setNumber(&give_up_text_, int64_t{o.report_give_up_s} * 1000);
}

void RedisStore::ensureGroups(std::span<const std::string_view> key_ids) {
  for (std::string_view key : key_ids) {
    for (Lane lane : kLanes) {
      std::string name;
      makeKey(&name, key, "outbox", laneSuffix(lane));
      if (std::find(grouped_streams_.begin(), grouped_streams_.end(), name) != grouped_streams_.end()) {
        continue;
      }
      // From the stream's first entry ("0"), so messages admitted before any
      // consumer ran are delivered too. BUSYGROUP (it exists) is fine.
      const std::string_view argv[] = {"XGROUP", "CREATE", name, kGroup, "0", "MKSTREAM"};
      outbox_client_->command(argv, nullptr, onGroupReply);
      grouped_streams_.push_back(std::move(name));
    }
  }
}

void RedisStore::onGroupReply(void*, const redisReply*) {}

void RedisStore::read(std::span<const std::string_view> key_ids, uint8_t lanes, uint32_t per_key,
                      void* ctx, ReadDone done) {
  if (!outboxReady()) return done(ctx, false, {});
  if (key_ids.empty() || lanes == 0 || per_key == 0) return done(ctx, true, {});
  ensureGroups(key_ids);
  refreshWatermarks();  // in the same write, answered first
  Op* op = acquire();
  op->ctx = ctx;
  op->read_done = done;
  op->items.clear();
  size_t streams = 0;
  for (Lane lane : kLanes) {
    if (lanes & (1u << static_cast<unsigned>(lane))) streams += key_ids.size();
  }
  op->texts.resize(streams + 1);
  setNumber(&op->texts[streams], per_key);
  op->args.insert(op->args.end(),
                  {"XREADGROUP", "GROUP", kGroup, consumer_, "COUNT", op->texts[streams], "STREAMS"});
  size_t i = 0;
  for (Lane lane : kLanes) {
    if (!(lanes & (1u << static_cast<unsigned>(lane)))) continue;
    for (std::string_view key : key_ids) {
      makeKey(&op->texts[i], key, "outbox", laneSuffix(lane));
      op->args.emplace_back(op->texts[i++]);
    }
  }
  for (size_t s = 0; s < streams; ++s) op->args.emplace_back(">");  // entries nobody was given yet
  outbox_client_->command(op->args, op, onReadReply);
}

// One entry: [entry id, [field, value, ...]] (the fields are nil for an
// entry deleted while pending).
void RedisStore::addItem(Op* op, std::string_view key_id, Lane lane, const redisReply* entry) const {
  if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) return;
  const redisReply* fields = entry->element[1];
  if (fields->type != REDIS_REPLY_ARRAY) return;
  OutboxItem item;
  item.key_id = key_id;
  item.lane = lane;
  item.entry_id = redis_keys::text(entry->element[0]);
  int64_t created = 0;
  std::from_chars(item.entry_id.data(), item.entry_id.data() + item.entry_id.size(), created);
  for (size_t f = 0; f + 1 < fields->elements; f += 2) {
    const std::string_view name = stringAt(fields, f), value = stringAt(fields, f + 1);
    if (name == "id") {
      item.message_id = value;
    } else if (name == "payload") {
      item.sealed = value;
    } else if (name == "c") {
      std::from_chars(value.data(), value.data() + value.size(), created);
    } else if (name == "a") {
      std::from_chars(value.data(), value.data() + value.size(), item.attempts);
    } else if (name == "w") {
      item.admitted_by = value;
    }
  }
  std::from_chars(item.entry_id.data(), item.entry_id.data() + item.entry_id.size(), item.admitted_store_ms);
  item.created_unix_ms = created - clock_offset_ms_;
  op->items.push_back(item);
}

void RedisStore::onReadReply(void* p, const redisReply* reply) {
  Op* op = static_cast<Op*>(p);
  RedisStore* self = op->store;
  const bool ok = !isError(reply);
  if (!ok && reply != nullptr && std::string_view(reply->str, reply->len).starts_with("NOGROUP")) {
    self->grouped_streams_.clear();  // Redis lost its data: create the groups again
  }
  if (ok && reply->type == REDIS_REPLY_ARRAY) {
    for (size_t s = 0; s < reply->elements; ++s) {
      const redisReply* stream = reply->element[s];
      if (stream->type != REDIS_REPLY_ARRAY || stream->elements < 2) continue;
      std::string_view key_id;
      Lane lane;
      if (!parseStreamName(stringAt(stream, 0), &key_id, &lane)) continue;
      const redisReply* entries = stream->element[1];
      for (size_t e = 0; entries->type == REDIS_REPLY_ARRAY && e < entries->elements; ++e) {
        self->addItem(op, key_id, lane, entries->element[e]);
      }
    }
  }
  void* ctx = op->ctx;
  Outbox::ReadDone done = op->read_done;
  done(ctx, ok, op->items);
  self->release(op);
}

// XREADGROUP with an id instead of ">" answers this consumer's own pending
// entries after that id (its history), oldest first.
void RedisStore::readPending(std::string_view key_id, Lane lane, std::string_view after_entry_id, uint32_t max,
                             void* ctx, ReadDone done) {
  if (!outboxReady()) return done(ctx, false, {});
  Op* op = acquire();
  op->ctx = ctx;
  op->read_done = done;
  op->items.clear();
  op->texts.resize(3);
  makeKey(&op->texts[0], key_id, "outbox", laneSuffix(lane));
  setNumber(&op->texts[1], max);
  op->texts[2].assign(after_entry_id.empty() ? std::string_view("0") : after_entry_id);
  op->args.insert(op->args.end(), {"XREADGROUP", "GROUP", kGroup, consumer_, "COUNT", op->texts[1], "STREAMS",
                                   op->texts[0], op->texts[2]});
  outbox_client_->command(op->args, op, onReadReply);
}

void RedisStore::reclaim(std::string_view key_id, Lane lane, uint32_t idle_ms, uint32_t max, void* ctx,
                         ReadDone done) {
  if (!outboxReady()) return done(ctx, false, {});
  const std::string_view ids[] = {key_id};
  ensureGroups(ids);
  Op* op = acquire();
  op->ctx = ctx;
  op->read_done = done;
  op->items.clear();
  op->texts.resize(4);
  makeKey(&op->texts[0], key_id, "outbox", laneSuffix(lane));
  setNumber(&op->texts[1], idle_ms);
  setNumber(&op->texts[2], max);
  op->texts[3].assign(key_id);
  // Each stream's scan goes on where the last one stopped (Redis scans ten
  // times COUNT entries per call): a long pending list is walked, not its
  // first pages over and over.
  const auto cursor = reclaim_cursors_.find(op->texts[0]);
  op->texts.push_back(cursor == reclaim_cursors_.end() ? "0-0" : cursor->second);
  op->args.insert(op->args.end(), {"XAUTOCLAIM", op->texts[0], kGroup, consumer_, op->texts[1], op->texts[4],
                                   "COUNT", op->texts[2]});
  op->numbers[0][0] = static_cast<char>(lane);
  outbox_client_->command(op->args, op, onReclaimReply);
}

// [next cursor, [entries...], [deleted ids...]]: deleted ones left the
// pending list with this call.
void RedisStore::onReclaimReply(void* p, const redisReply* reply) {
  Op* op = static_cast<Op*>(p);
  RedisStore* self = op->store;
  const bool ok = !isError(reply) && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2;
  if (ok) {
    self->reclaim_cursors_[op->texts[0]] = std::string(redis_keys::text(reply->element[0]));
    // Pending entries whose stream entry is gone: only a final message's
    // entry is ever deleted, so these were finished; say so if it happens.
    if (reply->elements >= 3 && reply->element[2]->type == REDIS_REPLY_ARRAY && reply->element[2]->elements > 0) {
      EventLine("delivery_reclaim_deleted").num("entries", static_cast<int64_t>(reply->element[2]->elements)).emit();
    }
    const Lane lane = static_cast<Lane>(op->numbers[0][0]);
    const redisReply* entries = reply->element[1];
    for (size_t e = 0; entries->type == REDIS_REPLY_ARRAY && e < entries->elements; ++e) {
      self->addItem(op, op->texts[3], lane, entries->element[e]);
    }
  }
  void* ctx = op->ctx;
  Outbox::ReadDone done = op->read_done;
  done(ctx, ok, op->items);
  self->release(op);
}

void RedisStore::begin(std::string_view key_id, std::span<const BeginItem> items, std::string_view provider,
                       void* ctx, BeginDone done) {
  if (!outboxReady()) return done(ctx, false, {});
  if (items.empty()) return done(ctx, true, {});
  Op* op = acquire();
  op->ctx = ctx;
  op->begin_done = done;
  const size_t n = items.size();
  // texts: the lane streams, 2 keys per item, ttl, count, one attempt per item.
  constexpr size_t L = kLaneCount;
  op->texts.resize(L + 2 * n + 2 + n);
  laneStreams(key_id, op->texts.data());
  for (size_t i = 0; i < n; ++i) {
    makeKey(&op->texts[L + 2 * i], key_id, "m", items[i].message_id);
    makeKey(&op->texts[L + 1 + 2 * i], key_id, "m", items[i].message_id, "x");
  }
  const size_t nums = L + 2 * n;
  setNumber(&op->texts[nums], int64_t{message_ttl_s_} * 1000);
  setNumber(&op->texts[nums + 1], static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) setNumber(&op->texts[nums + 2 + i], items[i].attempt);
  for (size_t i = 0; i < L + 2 * n; ++i) op->keys.emplace_back(op->texts[i]);
  op->args.insert(op->args.end(), {kGroup, consumer_, provider, op->texts[nums], op->texts[nums + 1]});
  for (size_t i = 0; i < n; ++i) {
    op->args.insert(op->args.end(), {items[i].message_id, items[i].entry_id, laneDigit(items[i].lane),
                                     op->texts[nums + 2 + i]});
  }
  op->statuses.assign(n, BeginStatus::kGone);
  outbox_client_->evalsha(begin_script_, op->keys, op->args, op, onBeginReply);
}

void RedisStore::onBeginReply(void* p, const redisReply* reply) {
  Op* op = static_cast<Op*>(p);
  RedisStore* self = op->store;
  const bool ok = !isError(reply) && reply->type == REDIS_REPLY_ARRAY && reply->elements == op->statuses.size();
  if (ok) {
    for (size_t i = 0; i < reply->elements; ++i) {
      const long long code = integerAt(reply, i);
      op->statuses[i] = code == 0 ? BeginStatus::kGo : code == 1 ? BeginStatus::kCancelled : BeginStatus::kGone;
    }
  }
  void* ctx = op->ctx;
  Outbox::BeginDone done = op->begin_done;
  done(ctx, ok, ok ? std::span<const BeginStatus>(op->statuses) : std::span<const BeginStatus>());
  self->release(op);
}

void RedisStore::finish(std::string_view key_id, std::span<const FinishItem> items, void* ctx, Done done) {
  if (!outboxReady()) return done(ctx, false);
  if (items.empty()) return done(ctx, true);
  Op* op = acquire();
  op->ctx = ctx;
  op->done = done;
  const size_t n = items.size();
  // texts: the lane streams and 4 more fixed keys, a record per item, ttl,
  // count, then per item attempts, retry at, created, flags, expectation.
  constexpr size_t kPer = 5;
  constexpr size_t F = kLaneCount + 4;
  op->texts.resize(F + n + 2 + kPer * n);
  laneStreams(key_id, op->texts.data());
  makeKey(&op->texts[kLaneCount], key_id, "retry", "");
  makeKey(&op->texts[kLaneCount + 1], key_id, "retry", "p");
  makeKey(&op->texts[kLaneCount + 2], key_id, "reports", "");
  makeKey(&op->texts[kLaneCount + 3], key_id, "dead", "");
  for (size_t i = 0; i < n; ++i) makeKey(&op->texts[F + i], key_id, "m", items[i].message_id);
  const size_t nums = F + n;
  setNumber(&op->texts[nums], int64_t{message_ttl_s_} * 1000);
  setNumber(&op->texts[nums + 1], static_cast<int64_t>(n));
  for (size_t i = 0; i < F + n; ++i) op->keys.emplace_back(op->texts[i]);
  op->args.insert(op->args.end(), {kGroup, retention_text_, op->texts[nums], op->texts[nums + 1]});
  auto redisMs = [this](int64_t local_ms) { return local_ms == 0 ? 0 : local_ms + clock_offset_ms_; };
  for (size_t i = 0; i < n; ++i) {
    const FinishItem& it = items[i];
    std::string* t = &op->texts[nums + 2 + kPer * i];
    setNumber(&t[0], it.attempts);
    setNumber(&t[1], redisMs(it.retry_at_unix_ms));
    setNumber(&t[2], redisMs(it.created_unix_ms));
    t[3].clear();
    if (it.dead_letter) t[3] += 'd';
    if (it.kind == FinishKind::kSent && it.awaiting_report) t[3] += 'r';
    if (it.stop_reports || it.kind == FinishKind::kDelivered || it.kind == FinishKind::kUndelivered) {
      t[3] += 'u';
    }
    switch (it.expect) {
      case FinishExpect::kAny: t[4] = "*"; break;
      case FinishExpect::kSent: t[4] = "sent"; break;
      case FinishExpect::kSending:
        t[4] = "sending:";
        t[4] += std::to_string(it.attempts);
        break;
    }
    op->args.insert(op->args.end(), {it.entry_id, laneDigit(it.lane), statusName(it.kind), t[0],
                                     it.provider, it.provider_message_id, it.error_code, t[3], t[1],
                                     it.kind == FinishKind::kRetry ? it.sealed : std::string_view(), t[2],
                                     t[4]});
  }
  // A key with a status callback URL: its stream, last in KEYS, and the
  // marker, last in ARGV (the script appends one entry per change).
  std::string callbacks;
  if (callbacks_ && callbacks_->enabled(key_id)) {
    callbacks = RedisCallbackQueue::streamName(key_id);
    op->keys.emplace_back(callbacks);
    op->args.emplace_back(kCallbackMarker);
  }
  outbox_client_->evalsha(finish_script_, op->keys, op->args, op, onDoneReply);
}

void RedisStore::requeue(std::string_view key_id, std::span<const RequeueItem> items, void* ctx, Done done) {
  if (!outboxReady()) return done(ctx, false);
  if (items.empty()) return done(ctx, true);
  Op* op = acquire();
  op->ctx = ctx;
  op->done = done;
  const size_t n = items.size();
  constexpr size_t L = kLaneCount;
  op->texts.resize(L + 1 + 2 * n);
  laneStreams(key_id, op->texts.data());
  setNumber(&op->texts[L], static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    setNumber(&op->texts[L + 1 + 2 * i], items[i].created_unix_ms + clock_offset_ms_);
    setNumber(&op->texts[L + 2 + 2 * i], items[i].attempts);
  }
  for (size_t i = 0; i < L; ++i) op->keys.emplace_back(op->texts[i]);
  op->args.insert(op->args.end(), {kGroup, consumer_, op->texts[L]});
  for (size_t i = 0; i < n; ++i) {
    const RequeueItem& it = items[i];
    op->args.insert(op->args.end(), {it.entry_id, laneDigit(it.lane), it.message_id, it.sealed,
                                     op->texts[L + 1 + 2 * i], op->texts[L + 2 + 2 * i]});
  }
  outbox_client_->evalsha(requeue_script_, op->keys, op->args, op, onDoneReply);
}

void RedisStore::promoteRetries(std::string_view key_id, uint32_t max, void* ctx, Done done) {
  if (!outboxReady()) return done(ctx, false);
  Op* op = acquire();
  op->ctx = ctx;
  op->done = done;
  constexpr size_t L = kLaneCount;
  op->texts.resize(L + 3);
  laneStreams(key_id, op->texts.data());
  makeKey(&op->texts[L], key_id, "retry", "");
  makeKey(&op->texts[L + 1], key_id, "retry", "p");
  setNumber(&op->texts[L + 2], max);
  for (size_t i = 0; i < L + 2; ++i) op->keys.emplace_back(op->texts[i]);
  op->args.emplace_back(op->texts[L + 2]);
  outbox_client_->evalsha(promote_script_, op->keys, op->args, op, onDoneReply);
}

void RedisStore::reportsDue(std::string_view key_id, int64_t sent_before_unix_ms, uint32_t max, void* ctx,
                            ReportsDone done) {
  if (!outboxReady()) return done(ctx, false, {});
  Op* op = acquire();
  op->ctx = ctx;
  op->reports_done = done;
  op->texts.resize(3);
  makeKey(&op->texts[0], key_id, "reports", "");
  setNumber(&op->texts[1], sent_before_unix_ms + clock_offset_ms_);
  setNumber(&op->texts[2], max);
  op->args.insert(op->args.end(), {"ZRANGEBYSCORE", op->texts[0], "-inf", op->texts[1], "WITHSCORES",
                                   "LIMIT", "0", op->texts[2]});
  outbox_client_->command(op->args, op, onReportsReply);
}

// [member, score, ...], members "<id>|<provider id>|<first sent ms>".
void RedisStore::onReportsReply(void* p, const redisReply* reply) {
  Op* op = static_cast<Op*>(p);
  RedisStore* self = op->store;
  const bool ok = !isError(reply) && reply->type == REDIS_REPLY_ARRAY;
  op->waits.clear();
  for (size_t i = 0; ok && i + 1 < reply->elements; i += 2) {
    const std::string_view member = stringAt(reply, i);
    const size_t bar = member.find('|'), last = member.rfind('|');
    if (bar == std::string_view::npos || last == bar) continue;
    ReportWait w;
    w.message_id = member.substr(0, bar);
    w.provider_message_id = member.substr(bar + 1, last - bar - 1);
    int64_t sent = 0;
    std::from_chars(member.data() + last + 1, member.data() + member.size(), sent);
    w.sent_unix_ms = sent - self->clock_offset_ms_;
    op->waits.push_back(w);
  }
  void* ctx = op->ctx;
  Outbox::ReportsDone done = op->reports_done;
  done(ctx, ok, op->waits);
  self->release(op);
}

void RedisStore::trim(std::string_view key_id, void* ctx, Done done) {
  if (!outboxReady()) return done(ctx, false);
  Op* op = acquire();
  op->ctx = ctx;
  op->done = done;
  constexpr size_t L = kLaneCount;
  op->texts.resize(L + 3);
  laneStreams(key_id, op->texts.data());
  makeKey(&op->texts[L], key_id, "reports", "");
  makeKey(&op->texts[L + 1], key_id, "dead", "");
  makeKey(&op->texts[L + 2], key_id, "callbacks", "");
  for (size_t i = 0; i < L + 3; ++i) op->keys.emplace_back(op->texts[i]);
  op->args.insert(op->args.end(), {kGroup, retention_text_, give_up_text_, redis_keys::kCallbackGroup});
  outbox_client_->evalsha(trim_script_, op->keys, op->args, op, onDoneReply);
}

}  // namespace phigate::state
