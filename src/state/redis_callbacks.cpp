#include "state/redis_callbacks.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <deque>

#include "crypto/random.h"
#include "state/redis_keys.h"

namespace phigate::state {

using redis_keys::makeKey;

namespace {

constexpr std::string_view kGroup = redis_keys::kCallbackGroup;
constexpr uint32_t kCallbackTimeoutMs = 2'000;
// Every this many reads, each key's stream is also asked for entries a dead
// consumer left (XAUTOCLAIM).
constexpr uint64_t kClaimEvery = 20;
constexpr size_t kMaxClaimed = 1000;  // per read, in all

// The stream and the retry set together hold at most kMaxCallbacksPerKey
// per key: the producers (finish and admit scripts) count a callback that
// does not fit in <stream>:dropped instead of adding it; retry and promote
// move one between the two (the sum stays), and retry counts one that no
// longer fits (a copy taken over twice) the same way.
//
// retry: KEYS 1 stream, 2 schedule, 3 dropped counter. ARGV 1 group,
// 2 entry id, 3 delay ms, 4 the member text, 5 the bound. 0 when dropped.
constexpr std::string_view kRetryScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  redis.call('INCR', KEYS[3])
  return 0
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4])
return 1
)lua";

// promote: KEYS 1 stream, 2 schedule, 3 dropped counter, 4 the counter's
// value last reported. ARGV 1 most to move. Returns {moved, dropped since
// last reported, dropped in all}: of several workers exactly one reports a
// given drop.
constexpr std::string_view kPromoteScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
  local f = {}
  for v in (m .. '|'):gmatch('([^|]*)|') do f[#f + 1] = v end
  if #f >= 8 then
    redis.call('XADD', KEYS[1], '*', 'id', f[2], 'ch', f[3], 'st', f[4],
               'a', f[5], 'p', f[6], 'e', f[7], 'u', f[8], 'n', f[1])
  end
  redis.call('ZREM', KEYS[2], m)
end
local total = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
local seen = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
if total ~= seen then redis.call('SET', KEYS[4], total) end
local fresh = total > seen and total - seen or 0
return {#due, fresh, total}
)lua";

std::string_view str(const redisReply* r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
  return {r->str, r->len};
}

uint64_t toUint(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// One stream entry [id, [field, value, ...]] into `e` (views into the reply).
bool parseEntry(const redisReply* entry, std::string_view key_id, CallbackEvent* e) {
  if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) return false;
  const redisReply* fields = entry->element[1];
  if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY) return false;
  *e = CallbackEvent{};
  e->key_id = key_id;
  e->entry_id = str(entry->element[0]);
  for (size_t i = 0; i + 1 < fields->elements; i += 2) {
    const std::string_view name = str(fields->element[i]);
    const std::string_view value = str(fields->element[i + 1]);
    if (name == "id") e->message_id = value;
    else if (name == "ch") e->channel = value;
    else if (name == "st") e->status = value;
    else if (name == "a") e->attempts = static_cast<uint32_t>(toUint(value));
    else if (name == "p") e->provider_message_id = value;
    else if (name == "e") e->error_code = value;
    else if (name == "u") e->updated_unix_ms = static_cast<int64_t>(toUint(value));
    else if (name == "n") e->tries = static_cast<uint32_t>(toUint(value));
  }
  return !e->entry_id.empty() && !e->message_id.empty() && !e->status.empty();
}

// NOGROUP: a stream lost its group (deleted, or flushed, while we ran).
bool noGroup(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with("NOGROUP");
}

// "phigate:{<key id>}:callbacks" -> key id.
std::string_view keyOfStream(std::string_view name) {
  const size_t open = name.find('{');
  const size_t close = name.find('}');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return {};
  return name.substr(open + 1, close - open - 1);
}

}  // namespace

struct RedisCallbackQueue::Op {
  RedisCallbackQueue* q = nullptr;
  void* ctx = nullptr;
  ReadDone read_done = nullptr;
  Done done = nullptr;
  std::vector<std::string> texts;
  std::vector<std::string_view> args;
  std::vector<std::string_view> keys;
  std::vector<CallbackEvent> events;
  std::deque<std::string> owned;  // claimed entries' bytes
  size_t claim_index = 0;
  int waiting = 0;   // replies still due (a read with claims)
  bool ok = true;
};

RedisCallbackQueue::RedisCallbackQueue(RedisOptions options) : options_(std::move(options)) {}

RedisCallbackQueue::~RedisCallbackQueue() { client_.reset(); }

std::string RedisCallbackQueue::streamName(std::string_view key_id) {
  std::string s;
  makeKey(&s, key_id, "callbacks", {});
  return s;
}

void RedisCallbackQueue::start(uv_loop_t* loop) {
  if (client_ || keys().empty()) return;
  RedisOptions o = options_;
  o.command_timeout_ms = std::max<uint32_t>(o.command_timeout_ms, kCallbackTimeoutMs);
  client_ = std::make_unique<RedisClient>(loop, o);
  retry_script_ = client_->registerScript(std::string(kRetryScript));
  promote_script_ = client_->registerScript(std::string(kPromoteScript));
  client_->setStateListener(this, [](void* p, bool) { static_cast<RedisCallbackQueue*>(p)->grouped_.clear(); });
  char host[64] = "host";
  gethostname(host, sizeof host - 1);
  consumer_ = std::string(host) + "-" + std::to_string(getpid()) + "-cb-" + crypto::randomHex(4);
  client_->start();
}

// What was just sent (the last acknowledgements) is answered first: the
// connection stops once no reply is due (each has a deadline).
void RedisCallbackQueue::stop() {
  stopping_ = true;
  if (client_ && free_.size() == ops_.size()) client_->stop();
}

bool RedisCallbackQueue::ready() const { return client_ && client_->connected() && !stopping_; }

RedisCallbackQueue::Op* RedisCallbackQueue::acquire() {
  if (free_.empty()) {
    ops_.push_back(std::make_unique<Op>());
    free_.push_back(ops_.back().get());
  }
  Op* op = free_.back();
  free_.pop_back();
  op->q = this;
  op->texts.clear();
  op->args.clear();
  op->keys.clear();
  op->events.clear();
  op->owned.clear();
  op->claim_index = 0;
  op->waiting = 0;
  op->ok = true;
  return op;
}

void RedisCallbackQueue::release(Op* op) {
  op->ctx = nullptr;
  free_.push_back(op);
  if (stopping_ && client_ && free_.size() == ops_.size()) client_->stop();
}

void RedisCallbackQueue::ensureGroups(std::span<const std::string_view> key_ids) {
  for (std::string_view key : key_ids) {
    std::string name = streamName(key);
    if (std::find(grouped_.begin(), grouped_.end(), name) != grouped_.end()) continue;
    const std::string_view argv[] = {"XGROUP", "CREATE", name, kGroup, "0", "MKSTREAM"};
    client_->command(argv, nullptr, [](void*, const redisReply*) {});  // BUSYGROUP is fine
    grouped_.push_back(std::move(name));
  }
}

void RedisCallbackQueue::read(std::span<const std::string_view> key_ids, uint32_t per_key, uint32_t idle_ms,
                              void* ctx, ReadDone done) {
  if (!ready()) return done(ctx, false, {});
  if (key_ids.empty() || per_key == 0) return done(ctx, true, {});
  ensureGroups(key_ids);
  Op* op = acquire();
  op->ctx = ctx;
  op->read_done = done;
  const bool claim = reads_++ % kClaimEvery == 0;
  // texts: [count, idle, stream names...]; reserved so views stay put.
  op->texts.reserve(2 + key_ids.size());
  op->texts.push_back(std::to_string(per_key));
  op->texts.push_back(std::to_string(idle_ms));
  for (std::string_view k : key_ids) op->texts.push_back(streamName(k));
  if (claim) {
    for (size_t i = 0; i < key_ids.size(); ++i) {
      const std::string_view argv[] = {"XAUTOCLAIM", op->texts[2 + i], kGroup, consumer_,
                                       op->texts[1], "0-0", "COUNT", op->texts[0]};
      ++op->waiting;
      client_->command(argv, op, onClaim);
    }
  }
  op->args.insert(op->args.end(), {"XREADGROUP", "GROUP", kGroup, consumer_, "COUNT", op->texts[0], "STREAMS"});
  for (size_t i = 0; i < key_ids.size(); ++i) op->args.push_back(op->texts[2 + i]);
  for (size_t i = 0; i < key_ids.size(); ++i) op->args.push_back(">");
  ++op->waiting;
  client_->command(op->args, op, onRead);
}

// XAUTOCLAIM: [next id, [entries...], (deleted ids)]. Runs before the read's
// reply (replies come in order); its events are kept in the op.
void RedisCallbackQueue::onClaim(void* p, const redisReply* reply) {
  auto* op = static_cast<Op*>(p);
  --op->waiting;
  if (noGroup(reply)) op->q->grouped_.clear();
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) return;
  // The events' views must outlive this reply: their bytes are copied into
  // the op (a deque: its strings never move).
  const redisReply* entries = reply->element[1];
  if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY) return;
  const std::string_view key = keyOfStream(op->texts[2 + op->claim_index++]);
  for (size_t i = 0; i < entries->elements && op->events.size() < kMaxClaimed; ++i) {
    CallbackEvent e;
    if (!parseEntry(entries->element[i], key, &e)) continue;
    auto keep = [op](std::string_view v) -> std::string_view { return op->owned.emplace_back(v); };
    e.key_id = keep(e.key_id);
    e.message_id = keep(e.message_id);
    e.channel = keep(e.channel);
    e.status = keep(e.status);
    e.provider_message_id = keep(e.provider_message_id);
    e.error_code = keep(e.error_code);
    e.entry_id = keep(e.entry_id);
    op->events.push_back(e);
  }
}

void RedisCallbackQueue::onRead(void* p, const redisReply* reply) {
  auto* op = static_cast<Op*>(p);
  --op->waiting;
  RedisCallbackQueue* q = op->q;
  std::vector<CallbackEvent>& events = op->events;
  // One stream without its group fails the whole multi-key read: every
  // group is made again (XGROUP CREATE ... MKSTREAM) before the next one.
  if (noGroup(reply)) q->grouped_.clear();
  bool ok = reply != nullptr && reply->type != REDIS_REPLY_ERROR;
  if (ok && reply->type == REDIS_REPLY_ARRAY) {
    for (size_t s = 0; s < reply->elements; ++s) {
      const redisReply* stream = reply->element[s];
      if (stream == nullptr || stream->type != REDIS_REPLY_ARRAY || stream->elements < 2) continue;
      const std::string_view key = keyOfStream(str(stream->element[0]));
      const redisReply* entries = stream->element[1];
      if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY) continue;
      for (size_t i = 0; i < entries->elements; ++i) {
        CallbackEvent e;
        if (parseEntry(entries->element[i], key, &e)) events.push_back(e);
      }
    }
  }
  void* ctx = op->ctx;
  ReadDone done = op->read_done;
  done(ctx, ok, events);
  q->release(op);
}

// One XACK and one XDEL for the batch, in the same write.
void RedisCallbackQueue::ack(std::string_view key_id, std::span<const std::string_view> entry_ids,
                             void* ctx, Done done) {
  if (!ready()) return done(ctx, false);
  if (entry_ids.empty()) return done(ctx, true);
  Op* op = acquire();
  op->ctx = ctx;
  op->done = done;
  op->texts.push_back(streamName(key_id));
  op->args.insert(op->args.end(), {"XACK", op->texts[0], kGroup});
  op->args.insert(op->args.end(), entry_ids.begin(), entry_ids.end());
  client_->command(op->args, nullptr, [](void*, const redisReply*) {});
  op->args.clear();
  op->args.insert(op->args.end(), {"XDEL", op->texts[0]});
  op->args.insert(op->args.end(), entry_ids.begin(), entry_ids.end());
  client_->command(op->args, op, onDone);
}

void RedisCallbackQueue::retry(const CallbackEvent& e, uint32_t tries, uint32_t delay_ms, void* ctx,
                               Done done) {
  if (!ready()) return done(ctx, false);
  Op* op = acquire();
  op->ctx = ctx;
  op->done = done;
  op->texts.reserve(7);
  op->texts.push_back(streamName(e.key_id));
  op->texts.push_back(op->texts[0] + ":r");
  op->texts.push_back(std::to_string(delay_ms));
  std::string member = std::to_string(tries);
  for (std::string_view f : {e.message_id, e.channel, e.status}) member.append(1, '|').append(f);
  member.append(1, '|').append(std::to_string(e.attempts));
  member.append(1, '|').append(e.provider_message_id).append(1, '|').append(e.error_code);
  member.append(1, '|').append(std::to_string(e.updated_unix_ms));
  op->texts.push_back(std::move(member));
  op->texts.push_back(std::string(e.entry_id));
  op->texts.push_back(op->texts[0] + ":dropped");
  op->texts.push_back(std::to_string(kMaxCallbacksPerKey));
  const std::string_view keys[] = {op->texts[0], op->texts[1], op->texts[5]};
  const std::string_view args[] = {kGroup, op->texts[4], op->texts[2], op->texts[3], op->texts[6]};
  client_->evalsha(retry_script_, keys, args, op, onDone);
}

void RedisCallbackQueue::promote(std::string_view key_id, uint32_t max, void* ctx, Done done) {
  if (!ready()) return done(ctx, false);
  Op* op = acquire();
  op->ctx = ctx;
  op->done = done;
  op->texts.reserve(4);
  op->texts.push_back(streamName(key_id));
  op->texts.push_back(op->texts[0] + ":r");
  op->texts.push_back(op->texts[0] + ":dropped");
  op->texts.push_back(op->texts[0] + ":dropped:reported");
  op->texts.push_back(std::to_string(max));
  const std::string_view keys[] = {op->texts[0], op->texts[1], op->texts[2], op->texts[3]};
  const std::string_view args[] = {op->texts[4]};
  client_->evalsha(promote_script_, keys, args, op, onPromoted);
}

// {moved, dropped since last reported, dropped in all}: a fresh drop goes
// to the listener (the dispatcher's event line).
void RedisCallbackQueue::onPromoted(void* p, const redisReply* reply) {
  auto* op = static_cast<Op*>(p);
  if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3 &&
      reply->element[1]->type == REDIS_REPLY_INTEGER && reply->element[1]->integer > 0 &&
      op->q->drop_listener_ != nullptr) {
    op->q->drop_listener_(op->q->drop_ctx_, keyOfStream(op->texts[0]),
                          static_cast<uint64_t>(reply->element[1]->integer),
                          static_cast<uint64_t>(std::max<long long>(0, reply->element[2]->integer)));
  }
  onDone(p, reply);
}

void RedisCallbackQueue::onDone(void* p, const redisReply* reply) {
  auto* op = static_cast<Op*>(p);
  if (noGroup(reply)) op->q->grouped_.clear();
  const bool ok = reply != nullptr && reply->type != REDIS_REPLY_ERROR;
  void* ctx = op->ctx;
  Done done = op->done;
  op->q->release(op);
  done(ctx, ok);
}

}  // namespace phigate::state
