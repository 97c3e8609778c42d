#include "state/memory_store.h"

#include <chrono>
#include <vector>

#include "common/event_line.h"

namespace phigate::state {

namespace {

int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string join(std::string_view a, std::string_view b) {
  std::string s;
  s.reserve(a.size() + 1 + b.size());
  s.append(a).append(1, '\n').append(b);
  return s;
}

uint32_t ceilSeconds(int64_t ms) { return ms <= 0 ? 0 : static_cast<uint32_t>((ms + 999) / 1000); }

constexpr int64_t kDayMs = 86'400'000;

}  // namespace

MemoryStore::MemoryStore(MemoryStoreLimits limits, std::function<int64_t()> now_ms)
    : limits_(limits), now_ms_(now_ms ? std::move(now_ms) : wallMs), callbacks_(now_ms_) {}

template <typename Map>
void MemoryStore::expire(Map& map, std::deque<std::pair<int64_t, std::string>>& order, int64_t now) {
  while (!order.empty() && order.front().first <= now) {
    auto it = map.find(order.front().second);
    if (it != map.end()) {
      int64_t expiry;
      if constexpr (std::is_same_v<typename Map::mapped_type, int64_t>) {
        expiry = it->second;
      } else {
        expiry = it->second.expires_ms;
      }
      if (expiry <= now) map.erase(it);
    }
    order.pop_front();
  }
}

// Drops window entries that have slid out; says whether one more fits.
bool MemoryStore::windowHasRoom(const std::string& window_key, const RateCharge& rc, int64_t now,
                                AdmitResult* r) {
  r->limit = rc.limit;
  if (rc.limit == 0) return true;
  auto it = windows_.find(window_key);
  if (it == windows_.end()) return true;  // a new subject: an empty window
  std::deque<int64_t>& times = it->second.times;
  const int64_t window_ms = int64_t{rc.window_s} * 1000;
  while (!times.empty() && times.front() <= now - window_ms) times.pop_front();
  if (times.size() < rc.limit) return true;
  r->remaining = 0;
  r->retry_after_s = ceilSeconds(times.front() + window_ms - now);
  r->reset_s = r->retry_after_s;
  return false;
}

void MemoryStore::charge(const std::string& window_key, const RateCharge& rc, int64_t now,
                         AdmitResult* r) {
  if (rc.limit == 0) return;
  auto [it, created] = windows_.try_emplace(window_key);
  Window& w = it->second;
  w.window_ms = int64_t{rc.window_s} * 1000;
  if (created) window_order_.emplace_back(now + w.window_ms, window_key);
  w.times.push_back(now);
  r->remaining = rc.limit - static_cast<uint32_t>(w.times.size());
  r->reset_s = ceilSeconds(w.times.front() + w.window_ms - now);
}

// Incremental: each window is queued once, with the time its newest entry
// slides out; a window found still in use is queued again with its new time.
// Amortised O(1) per request, however many subjects come and go.
void MemoryStore::pruneWindows(int64_t now) {
  while (!window_order_.empty() && window_order_.front().first <= now) {
    std::string key = std::move(window_order_.front().second);
    window_order_.pop_front();
    auto it = windows_.find(key);
    if (it == windows_.end()) continue;
    Window& w = it->second;
    while (!w.times.empty() && w.times.front() <= now - w.window_ms) w.times.pop_front();
    if (w.times.empty()) {
      windows_.erase(it);
    } else {
      window_order_.emplace_back(w.times.back() + w.window_ms, std::move(key));
    }
  }
}

// At capacity with every window still in use (a flood of client addresses on
// /health): forget the window queued longest ago rather than refuse everyone.
// That subject may be admitted a little early once; the alternative is a
// store that an unauthenticated flood can make answer 503 to every key.
void MemoryStore::evictOldestWindow() {
  while (!window_order_.empty()) {
    const std::string key = std::move(window_order_.front().second);
    window_order_.pop_front();
    if (windows_.erase(key) != 0) return;
  }
}

// The order of checks is the Redis script's: an idempotent replay first (a
// retry of a request that went through gets its answer, whatever its nonce or
// the rate window say now), then the nonce, the rate window, the daily quota,
// capacity; then, and only then, every effect at once.
void MemoryStore::admit(const AdmitRequest& req, void* ctx, AdmitDone done) {
  const int64_t now = now_ms_();
  expire(nonces_, nonce_order_, now);
  expire(idempotency_, idempotency_order_, now);
  AdmitResult r;

  std::string idem_key;
  if (!req.idempotency.key.empty()) {
    idem_key = join(req.key_id, req.idempotency.key);
    auto it = idempotency_.find(idem_key);
    if (it != idempotency_.end() && it->second.expires_ms > now) {
      if (it->second.fingerprint != req.idempotency.fingerprint) {
        r.status = AdmitStatus::kIdempotencyMismatch;
      } else {
        r.status = AdmitStatus::kIdempotentReplay;
        r.stored_response = it->second.response;
      }
      done(ctx, r);
      return;
    }
  }
  std::string nonce_key;
  if (!req.nonce.empty()) {
    nonce_key = join(req.key_id, req.nonce);
    // Expired ones may linger behind a longer-lived nonce in nonce_order_.
    auto it = nonces_.find(nonce_key);
    if (it != nonces_.end() && it->second > now) {
      r.status = AdmitStatus::kReplayed;
      done(ctx, r);
      return;
    }
  }
  const std::string window_key = join(req.rate.subject, req.rate.bucket);
  pruneWindows(now);
  const bool new_window = req.rate.limit != 0 && windows_.count(window_key) == 0;
  if (new_window && windows_.size() >= limits_.max_rate_subjects) evictOldestWindow();
  if (!windowHasRoom(window_key, req.rate, now, &r)) {
    r.status = AdmitStatus::kRateLimited;
    done(ctx, r);
    return;
  }
  const int64_t day = now / kDayMs;
  if (day != daily_day_) {
    daily_.clear();
    daily_day_ = day;
  }
  // The daily quota counts messages: a bulk request uses one per recipient.
  const uint32_t cost = req.entries.empty() ? 1 : static_cast<uint32_t>(req.entries.size());
  if (req.rate.daily_quota != 0 && uint64_t{daily_[window_key]} + cost > req.rate.daily_quota) {
    r.status = AdmitStatus::kQuotaExceeded;
    r.retry_after_s = ceilSeconds((day + 1) * kDayMs - now);
    // Nothing is left until the quota renews, whatever the window says.
    r.remaining = 0;
    r.reset_s = r.retry_after_s;
    done(ctx, r);
    return;
  }
  // A full table is not a transient failure (503): it clears only as
  // entries expire or are delivered, so it has its own answer.
  if ((!nonce_key.empty() && nonces_.size() >= limits_.max_nonces) ||
      (!idem_key.empty() && idempotency_.size() >= limits_.max_idempotency_records) ||
      live_messages_ + req.entries.size() > limits_.max_messages) {
    refuseFull(ctx, done, r);
    return;
  }
  reported_full_ = false;

  charge(window_key, req.rate, now, &r);
  if (req.rate.daily_quota != 0) daily_[window_key] += cost;
  if (!nonce_key.empty()) {
    const int64_t expiry = now + int64_t{req.nonce_ttl_s} * 1000;
    nonces_[nonce_key] = expiry;
    nonce_order_.emplace_back(expiry, std::move(nonce_key));
  }
  dropFinal(now, req.entries.size());
  for (const OutboxEntry& e : req.entries) {
    Message m;
    m.key_id = req.key_id;
    m.channel = e.channel;
    m.sealed = e.sealed;
    m.created_unix_ms = m.updated_unix_ms = now;
    m.segments = e.segments;
    m.lane = e.lane;
    auto [it, fresh] = messages_.emplace(std::string(e.message_id), std::move(m));
    if (!fresh) continue;  // 128 random bits: not a real case
    ++live_messages_;
    queues_[it->second.key_id][static_cast<size_t>(e.lane)].push_back(it->first);
  }
  if (!idem_key.empty()) {
    const int64_t expiry = now + int64_t{req.idempotency.ttl_s} * 1000;
    idempotency_[idem_key] = IdempotencyRecord{std::string(req.idempotency.fingerprint),
                                               std::string(req.idempotency.response), expiry};
    idempotency_order_.emplace_back(expiry, std::move(idem_key));
  }
  MessageStatus found;
  if (!req.lookup_message_id.empty()) {
    auto it = messages_.find(std::string(req.lookup_message_id));
    if (it != messages_.end() && it->second.key_id == req.key_id) {
      Message& m = it->second;
      if (req.cancel && m.status == "queued") {
        m.status = "cancelled";
        m.updated_unix_ms = now;
        finalize(it->first, m, now);
        r.cancelled = true;
        noteCallback(it->first, m);
      }
      found = statusOf(m);
      r.message = &found;
    }
  }
  r.status = AdmitStatus::kAdmitted;
  done(ctx, r);
}

void MemoryStore::recordAuthFailure(std::string_view ip, const ContainmentPolicy& policy, void* ctx,
                                    Done done) {
  const int64_t now = now_ms_();
  std::deque<int64_t>& times = auth_failures_[std::string(ip)];
  const int64_t window_ms = int64_t{policy.window_s} * 1000;
  while (!times.empty() && times.front() <= now - window_ms) times.pop_front();
  times.push_back(now);
  if (times.size() >= policy.threshold) {
    blocks_[std::string(ip)] = now + int64_t{policy.block_s} * 1000;
    times.clear();
  }
  // A flood of failing addresses: forget the counts (containment restarts
  // counting) rather than grow without bound or scan on every failure.
  if (auth_failures_.size() > limits_.max_rate_subjects) auth_failures_.clear();
  done(ctx, true);
}

void MemoryStore::setBlock(std::string_view ip, uint32_t ttl_s, void* ctx, Done done) {
  if (ttl_s == 0) {
    blocks_.erase(std::string(ip));
  } else {
    blocks_[std::string(ip)] = now_ms_() + int64_t{ttl_s} * 1000;
  }
  done(ctx, true);
}

void MemoryStore::listBlocks(void* ctx, BlocksDone done) {
  const int64_t now = now_ms_();
  std::vector<BlockEntry> live;
  for (auto it = blocks_.begin(); it != blocks_.end();) {
    if (it->second <= now) {
      it = blocks_.erase(it);
    } else {
      live.push_back({it->first, it->second});
      ++it;
    }
  }
  done(ctx, true, live);
}

void MemoryStore::refuseFull(void* ctx, AdmitDone done, AdmitResult& r) {
  if (!reported_full_) {
    reported_full_ = true;
    EventLine("store_full")
        .str("backend", "memory")
        .num("messages", static_cast<int64_t>(live_messages_))
        .num("nonces", static_cast<int64_t>(nonces_.size()))
        .num("idempotency_records", static_cast<int64_t>(idempotency_.size()))
        .emit();
  }
  r.status = AdmitStatus::kFull;
  done(ctx, r);
}

bool MemoryStore::full() const {
  return live_messages_ >= limits_.max_messages || nonces_.size() >= limits_.max_nonces ||
         idempotency_.size() >= limits_.max_idempotency_records;
}

const std::string* MemoryStore::sealedPayload(std::string_view message_id) const {
  auto it = messages_.find(std::string(message_id));
  return it == messages_.end() ? nullptr : &it->second.sealed;
}

}  // namespace phigate::state
