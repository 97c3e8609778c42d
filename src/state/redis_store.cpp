#include "state/redis_store.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/event_line.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "state/message_record.h"
#include "state/redis_keys.h"
#include "state/redis_outbox_scripts.h"
#include "state/redis_scripts.h"

namespace phigate::state {

// Key names. Everything after "phigate:" is visible to anyone who can run
// SCAN or MONITOR, read an RDB/AOF file or a replica, for as long as the key
// lives (idempotency records: 24 h). So a name holds only what the operator
// configured, what phigate minted, or a keyed pseudonym P(kind, value)
// (crypto/pseudonym.h) of what the client chose or what identifies it:
//
//   phigate:{T}:w:<bucket>:<S>     rate window (ZSET)
//   phigate:{T}:d:<bucket>:<day>   daily counter
//   phigate:{T}:n:<P(n, nonce)>    replay nonce
//   phigate:{T}:i:<P(i, key)>      idempotency record (HASH, sealed answer)
//   phigate:{T}:outbox             SMS outbox, priority lane (stream, sealed
//                                  messages; consumer group "phigate")
//   phigate:{T}:outbox:bulk        SMS outbox, bulk lane
//   phigate:{T}:outbox:email       email outbox
//   phigate:{T}:m:<message id>     message record (message_record.h); the id
//                                  is phigate's (isMessageIdText, also for a
//                                  lookup)
//   phigate:{T}:m:<message id>:x   cancel marker of an admit answered 503
//   phigate:{T}:retry              retry schedule (ZSET "<lane><id>" -> due)
//   phigate:{T}:retry:p            sealed payloads waiting for a retry (HASH)
//   phigate:{T}:reports            sent messages awaiting a delivery report
//                                  (ZSET "<id>|<provider id>" -> sent ms)
//   phigate:{T}:dead               dead letters (ZSET id -> ms), for operators
//   phigate:{blocks}:f:<P(a, subject)>  authentication failures (ZSET)
//   phigate:{blocks}               the block list: addresses as members,
//                                  because operators list them
//
// S is the rate subject: an API key id (from the keys file or the env keys)
// as is, a client subject (an IPv4 address or an IPv6 /64) as
// "ip:<P(a, subject)>". T, the hash tag, is the key id, else S: one
// request's keys share one Redis Cluster slot. (Values are another matter:
// the failure script gets the address in ARGV to put it on the block list.)

using redis_keys::integerAt;
using redis_keys::makeKey;
using redis_keys::number;
using redis_keys::stringAt;

namespace {

constexpr std::string_view kBlocksKey = "phigate:{blocks}";
constexpr int64_t kDayMs = 86'400'000;

int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

uint32_t ceilSeconds(long long ms) { return ms <= 0 ? 0 : static_cast<uint32_t>((ms + 999) / 1000); }

}  // namespace

RedisStore::RedisStore(RedisOptions opts, crypto::Pseudonymizer names, uint32_t message_ttl_s)
    : opts_(std::move(opts)),
      names_(std::move(names)),
      message_ttl_s_(message_ttl_s),
      callbacks_(std::make_unique<RedisCallbackQueue>(opts_)) {}

// A key id is the operator's and stays readable (operators find a key's
// state by it); a client subject becomes "ip:<pseudonym>".
std::string_view RedisStore::subjectName(std::string_view subject, SubjectName& buf) const {
  if (!subject.starts_with(kClientSubjectPrefix)) return subject;
  subject.remove_prefix(kClientSubjectPrefix.size());
  memcpy(buf, kClientSubjectPrefix.data(), kClientSubjectPrefix.size());
  names_.text(crypto::Pseudonymizer::Kind::kClientAddress, subject, buf + kClientSubjectPrefix.size());
  return {buf, sizeof buf};
}

// The client goes first, while everything its pending callbacks touch (the
// op pool, the cancel list) still exists; they see client_ null.
RedisStore::~RedisStore() {
  outbox_client_.reset();
  client_.reset();
}

void RedisStore::start(uv_loop_t* loop) {
  loop_ = loop;
  client_ = std::make_unique<RedisClient>(loop, opts_);
  admit_script_ = client_->registerScript(std::string(kAdmitScript));
  auth_failure_script_ = client_->registerScript(std::string(kAuthFailureScript));
  set_block_script_ = client_->registerScript(std::string(kSetBlockScript));
  list_blocks_script_ = client_->registerScript(std::string(kListBlocksScript));
  cancel_script_ = client_->registerScript(std::string(kCancelScript));
  upkeep_timer_ = new uv_timer_t;
  uv_timer_init(loop, upkeep_timer_);
  upkeep_timer_->data = this;
  uv_timer_start(upkeep_timer_, onUpkeep, kUpkeepMs, kUpkeepMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(upkeep_timer_));
  // This worker's name in the consumer groups: host and pid, plus random
  // bits so a restarted worker that gets an old pid is a new consumer.
  char host[64] = "host";
  gethostname(host, sizeof host - 1);
  uint8_t raw[4];
  crypto::pooledRandomBytes(raw, sizeof raw);
  char hex[8];
  crypto::toHex(raw, hex);
  consumer_ = std::string(host) + "-" + std::to_string(getpid()) + "-" + std::string(hex, sizeof hex);
  client_->setStateListener(this, onClientState);
  client_->start();
}

// A command we time out on is still in Redis's input buffer and may run when
// Redis catches up (after a pause, say). The admit script compares Redis's
// TIME with a deadline we pass, and does nothing past it, so a 503 we answered
// never turns into an admitted message. The deadline is on Redis's clock:
// ours plus the offset measured at connect, with a margin for the reply's
// way back.
void RedisStore::onClientState(void* p, bool connected) {
  auto* self = static_cast<RedisStore*>(p);
  self->clock_synced_ = false;
  self->grouped_streams_.clear();  // a new connection may reach a Redis that lost them
  if (connected) self->resyncClock();
}

void RedisStore::resyncClock() {
  if (time_pending_ || client_ == nullptr || !client_->connected()) return;
  time_pending_ = true;
  time_sent_ms_ = wallMs();
  const std::string_view argv[] = {"TIME"};
  client_->command(argv, this, onTimeReply);
}

void RedisStore::onTimeReply(void* p, const redisReply* reply) {
  auto* self = static_cast<RedisStore*>(p);
  self->time_pending_ = false;
  // No answer: the block-list refresh measures again within 500 ms.
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return;
  const int64_t redis_ms = integerAt(reply, 0) * 1000 + integerAt(reply, 1) / 1000;
  const int64_t now = wallMs();
  self->clock_offset_ms_ = redis_ms - (self->time_sent_ms_ + now) / 2;
  self->markSynced();
}

// Admits need the clock offset (their deadline is on Redis's clock), so the
// store is ready one TIME round trip after the connection is: say so, for
// operators and for tests that must not race that round trip.
void RedisStore::markSynced() {
  if (clock_synced_) return;
  clock_synced_ = true;
  EventLine("store_ready").str("backend", "redis").emit();
}

// A command fails when its own deadline passes, or earlier, when an older
// command's deadline drops the connection: whichever comes first bounds when
// the script may still act.
int64_t RedisStore::scriptDeadlineMs() const {
  const int64_t timeout = opts_.command_timeout_ms;
  const int64_t margin = std::min<int64_t>(10, timeout / 4);
  const int64_t budget = std::min<int64_t>(timeout, static_cast<int64_t>(client_->msUntilOldestDeadline()));
  return wallMs() + clock_offset_ms_ + budget - margin;
}

void RedisStore::stop() {
  if (upkeep_timer_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(upkeep_timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    upkeep_timer_ = nullptr;
  }
  stopped_ = true;
  if (outbox_client_ != nullptr) outbox_client_->stop();  // the consumer has drained before this
  if (client_ == nullptr) return;
  if (!healthy()) {
    client_->stop();
    return;
  }
  // Last words (redis_settle.cpp): cancels not yet written, then a final
  // watermark, so consumers elsewhere need not wait the dead-worker delay
  // for what this worker admitted last; then the connection closes.
  flushCancels();
  writeFinalWatermark();
}

RedisStore::Op* RedisStore::acquire() {
  if (free_ops_.empty()) {
    ops_.push_back(std::make_unique<Op>());
    ops_.back()->store = this;
    ops_.back()->keys.reserve(8);
    ops_.back()->args.reserve(16);
    return ops_.back().get();
  }
  Op* op = free_ops_.back();
  free_ops_.pop_back();
  return op;
}

void RedisStore::release(Op* op) {
  op->ctx = nullptr;
  op->admit_done = nullptr;
  op->done = nullptr;
  op->blocks_done = nullptr;
  op->keys.clear();
  op->args.clear();
  free_ops_.push_back(op);
}

void RedisStore::admit(const AdmitRequest& req, void* ctx, AdmitDone done) {
  if (!healthy()) {
    AdmitResult r;  // kUnavailable: fail closed, at once
    done(ctx, r);
    return;
  }
  // Entry ids are minted by phigate; one that is not would put foreign
  // bytes into a key name: refuse the request rather than store it.
  for (const OutboxEntry& e : req.entries) {
    if (!isMessageIdText(e.message_id)) {
      AdmitResult r;
      done(ctx, r);
      return;
    }
  }
  Op* op = acquire();
  op->ctx = ctx;
  op->admit_done = done;
  buildAdmitKeys(req, op);
  auto& n = op->numbers;
  const bool idem = !req.idempotency.key.empty();
  const bool lookup = isMessageIdText(req.lookup_message_id);
  const std::string_view lookup_mode = !lookup ? "0" : req.cancel ? "2" : "1";
  op->args.insert(op->args.end(),
                  {number(n[0], req.rate.limit), number(n[1], uint64_t{req.rate.window_s} * 1000),
                   number(n[2], req.rate.daily_quota), req.member,
                   number(n[3], req.nonce.empty() ? 0 : uint64_t{req.nonce_ttl_s} * 1000),
                   idem ? "1" : "0", req.idempotency.fingerprint, req.idempotency.response,
                   number(n[4], uint64_t{req.idempotency.ttl_s} * 1000),
                   lookup_mode,
                   number(n[5], uint64_t{message_ttl_s_} * 1000), number(n[6], req.entries.size()),
                   number(n[7], static_cast<uint64_t>(scriptDeadlineMs())),
                   retentionText(), consumer_});
  if (op->segment_text.size() < req.entries.size()) op->segment_text.resize(req.entries.size());
  for (size_t i = 0; i < req.entries.size(); ++i) {
    const OutboxEntry& e = req.entries[i];
    auto& text = op->segment_text[i];
    const auto r = std::to_chars(text.data(), text.data() + text.size(), e.segments);
    op->args.insert(op->args.end(), {e.message_id, e.channel, e.sealed,
                                     std::string_view(text.data(), static_cast<size_t>(r.ptr - text.data()))});
  }
  // DELETE of a key with a status callback URL: its stream last in KEYS, the
  // marker last in ARGV (a cancel is a status change too).
  std::string callbacks;
  if (lookup && req.cancel && callbacks_->enabled(req.key_id)) {
    callbacks = RedisCallbackQueue::streamName(req.key_id);
    op->keys.emplace_back(callbacks);
    op->args.emplace_back(kCallbackMarker);
  }
  noteAdmitSent(op, req.entries.size());
  client_->evalsha(admit_script_, op->keys, op->args, op, onAdmitReply);
}

// The admit script's KEYS (redis_scripts.h), named as the table at the top
// says. Unused slots ("-": no nonce, no Idempotency-Key, no lookup) are
// passed all the same, so the script's KEYS positions never move.
void RedisStore::buildAdmitKeys(const AdmitRequest& req, Op* op) const {
  using Kind = crypto::Pseudonymizer::Kind;
  SubjectName subject_buf;
  const std::string_view subject = subjectName(req.rate.subject, subject_buf);
  const std::string_view tag = !req.key_id.empty() ? req.key_id : subject;
  char day_text[24];
  const auto day = static_cast<uint64_t>(wallMs() / kDayMs);
  char nonce_name[crypto::Pseudonymizer::kTextChars];
  char idem_name[crypto::Pseudonymizer::kTextChars];
  std::string_view nonce = "-", idem = "-", lookup = "-";
  if (!req.nonce.empty()) {
    names_.text(Kind::kNonce, req.nonce, nonce_name);
    nonce = {nonce_name, sizeof nonce_name};
  }
  if (!req.idempotency.key.empty()) {
    names_.text(Kind::kIdempotencyKey, req.idempotency.key, idem_name);
    idem = {idem_name, sizeof idem_name};
  }
  if (isMessageIdText(req.lookup_message_id)) lookup = req.lookup_message_id;
  makeKey(&op->key_text[0], tag, "w", req.rate.bucket, subject);
  makeKey(&op->key_text[1], tag, "d", req.rate.bucket, number(day_text, day));
  makeKey(&op->key_text[2], tag, "n", nonce);
  makeKey(&op->key_text[3], tag, "i", idem);
  const bool email = !req.entries.empty() && req.entries[0].channel == "email";
  const bool bulk = !req.entries.empty() && req.entries[0].lane == Lane::kBulk;
  makeKey(&op->key_text[4], tag, "outbox", email ? "email" : bulk ? "bulk" : "");
  makeKey(&op->key_text[5], tag, "m", lookup);
  makeKey(&op->key_text[6], tag, "retry", {});
  makeKey(&op->key_text[7], tag, "retry", "p");
  for (const std::string& k : op->key_text) op->keys.emplace_back(k);
  if (op->message_keys.size() < req.entries.size()) op->message_keys.resize(req.entries.size());
  for (size_t i = 0; i < req.entries.size(); ++i) {
    makeKey(&op->message_keys[i], tag, "m", req.entries[i].message_id);
    op->keys.emplace_back(op->message_keys[i]);
  }
}

void RedisStore::onAdmitReply(void* p, const redisReply* reply) {
  Op* op = static_cast<Op*>(p);
  RedisStore* self = op->store;
  AdmitResult r;
  if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 5) {
    const auto status = static_cast<AdmitReply>(integerAt(reply, 0));
    r.limit = static_cast<uint32_t>(integerAt(reply, 1));
    r.remaining = static_cast<uint32_t>(integerAt(reply, 2));
    r.reset_s = ceilSeconds(integerAt(reply, 3));
    r.retry_after_s = ceilSeconds(integerAt(reply, 4));
    switch (status) {
      case AdmitReply::kAdmitted:
        r.status = AdmitStatus::kAdmitted;
        if (reply->elements >= 6 && parseMessageRecord(stringAt(reply, 5), &op->message)) {
          r.message = &op->message;
          r.cancelled = integerAt(reply, 6) == 1;
        }
        break;
      case AdmitReply::kRateLimited: r.status = AdmitStatus::kRateLimited; break;
      case AdmitReply::kQuotaExceeded: {
        // The script only knows the day's counter is full; the day ends at
        // 00:00 UTC.
        r.status = AdmitStatus::kQuotaExceeded;
        const int64_t now = wallMs();
        r.retry_after_s = ceilSeconds((now / kDayMs + 1) * kDayMs - now);
        r.remaining = 0;
        r.reset_s = r.retry_after_s;  // nothing is left until then, window or not
        break;
      }
      case AdmitReply::kReplayed: r.status = AdmitStatus::kReplayed; break;
      case AdmitReply::kIdempotentReplay:
        r.status = AdmitStatus::kIdempotentReplay;
        r.stored_response = stringAt(reply, 5);
        break;
      case AdmitReply::kIdempotencyMismatch: r.status = AdmitStatus::kIdempotencyMismatch; break;
      case AdmitReply::kExpired:
        // Expired: the script ran past the deadline we gave it and did
        // nothing. Either Redis caught up late, or the clocks moved apart:
        // measure the offset again.
        r.status = AdmitStatus::kUnavailable;
        self->resyncClock();
        break;
      default: r.status = AdmitStatus::kUnavailable; break;
    }
  }
  // Anything else (no reply: timeout or lost connection; an error reply such
  // as OOM) leaves kUnavailable: nothing is known to have happened, so the
  // entries, if any, are cancelled (redis_settle.cpp).
  self->noteAdmitReply(op, reply);
  void* ctx = op->ctx;
  AdmitDone done = op->admit_done;
  done(ctx, r);
  self->release(op);
}

void RedisStore::recordAuthFailure(std::string_view ip, const ContainmentPolicy& policy, void* ctx,
                                   Done done) {
  if (!healthy()) {
    done(ctx, false);
    return;
  }
  Op* op = acquire();
  op->ctx = ctx;
  op->done = done;
  char ip_name[crypto::Pseudonymizer::kTextChars];
  names_.text(crypto::Pseudonymizer::Kind::kClientAddress, ip, ip_name);
  makeKey(&op->key_text[0], "blocks", "f", std::string_view(ip_name, sizeof ip_name));
  op->keys.emplace_back(op->key_text[0]);
  op->keys.emplace_back(kBlocksKey);
  uint8_t raw[8];
  crypto::pooledRandomBytes(raw, sizeof raw);
  crypto::toHex(raw, op->numbers[4]);  // 16 of its 24 bytes: the failure's member
  auto& n = op->numbers;
  op->args.insert(op->args.end(),
                  {ip, number(n[0], policy.threshold), number(n[1], uint64_t{policy.window_s} * 1000),
                   number(n[2], uint64_t{policy.block_s} * 1000),
                   std::string_view(n[4], 2 * sizeof raw)});
  client_->evalsha(auth_failure_script_, op->keys, op->args, op, onDoneReply);
}

void RedisStore::setBlock(std::string_view ip, uint32_t ttl_s, void* ctx, Done done) {
  if (!healthy()) {
    done(ctx, false);
    return;
  }
  Op* op = acquire();
  op->ctx = ctx;
  op->done = done;
  op->keys.emplace_back(kBlocksKey);
  op->args.insert(op->args.end(), {ip, number(op->numbers[0], uint64_t{ttl_s} * 1000)});
  client_->evalsha(set_block_script_, op->keys, op->args, op, onDoneReply);
}

void RedisStore::onDoneReply(void* p, const redisReply* reply) {
  Op* op = static_cast<Op*>(p);
  const bool ok = reply != nullptr && reply->type != REDIS_REPLY_ERROR;
  void* ctx = op->ctx;
  Done done = op->done;
  op->store->release(op);
  done(ctx, ok);
}

void RedisStore::listBlocks(void* ctx, BlocksDone done) {
  // Connected is enough: this call also (re)measures the clock offset.
  if (client_ == nullptr || !client_->connected()) {
    done(ctx, false, {});
    return;
  }
  Op* op = acquire();
  op->ctx = ctx;
  op->blocks_done = done;
  op->sent_ms = wallMs();
  op->keys.emplace_back(kBlocksKey);
  client_->evalsha(list_blocks_script_, op->keys, op->args, op, onBlocksReply);
}

void RedisStore::onBlocksReply(void* p, const redisReply* reply) {
  Op* op = static_cast<Op*>(p);
  void* ctx = op->ctx;
  BlocksDone done = op->blocks_done;
  RedisStore* self = op->store;
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
    self->release(op);
    done(ctx, false, {});
    return;
  }
  // The first element is Redis's clock: re-measure the offset every refresh
  // (a clock step on either side must not leave every admit expired).
  if (reply->elements >= 1 && reply->element[0]->type == REDIS_REPLY_INTEGER) {
    self->clock_offset_ms_ = reply->element[0]->integer - (op->sent_ms + wallMs()) / 2;
    self->markSynced();
  }
  std::vector<BlockEntry> blocks;  // every 500 ms, not per request
  blocks.reserve(reply->elements / 2);
  for (size_t i = 1; i + 1 < reply->elements; i += 2) {
    const std::string_view ip = stringAt(reply, i);
    // Redis's clock to ours (the score is a double in RESP2: its text).
    const int64_t expires = integerAt(reply, i + 1) - self->clock_offset_ms_;
    if (!ip.empty()) blocks.push_back({ip, expires});
  }
  done(ctx, true, blocks);
  self->release(op);
}

}  // namespace phigate::state
