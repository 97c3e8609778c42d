#include "delivery/consumer.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>

#include "common/event_line.h"
#include "crypto/random.h"
#include "delivery/simulator.h"

namespace phigate::delivery {

using state::BeginItem;
using state::BeginStatus;
using state::FinishItem;
using state::FinishKind;
using state::Lane;

namespace {

constexpr uint32_t kTickMs = 100;
constexpr uint32_t kPromoteEveryMs = 1'000;
constexpr uint32_t kTrimEveryMs = 60'000;
constexpr uint32_t kStoreRetryMs = 500;
constexpr uint32_t kMaxPromote = 256;
constexpr size_t kMaxBatch = 64;            // messages per begin / finish script run
constexpr uint32_t kMaxScriptsInFlight = 4;  // begin / finish runs queued in Redis at once
constexpr uint32_t kReportsPerKey = 64;      // report polls started per key and round
constexpr uint32_t kReportsInFlight = 16;    // report requests at once, this worker
constexpr uint32_t kReportEveryMs = 1'000;

size_t laneIndex(Lane l) { return static_cast<size_t>(l); }

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

uv_timer_t* newTimer(uv_loop_t* loop, void* data) {
  auto* t = new uv_timer_t;
  uv_timer_init(loop, t);
  t->data = data;
  return t;
}

// A call record from its free list, or a new one (they live as long as the
// consumer: no allocation per batch once warm).
template <typename Call, typename Owner>
Call* pooled(std::vector<std::unique_ptr<Call>>& all, std::vector<Call*>& free, Owner* owner) {
  if (free.empty()) {
    all.push_back(std::make_unique<Call>());
    all.back()->owner = owner;
    return all.back().get();
  }
  Call* c = free.back();
  free.pop_back();
  return c;
}

void closeTimer(uv_timer_t*& t) {
  if (t == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  t = nullptr;
}

}  // namespace

// One message on its way: copied out of the read (the store's views die
// with its callback), opened, and carried through begin, send and finish.
struct Consumer::Job {
  Consumer* owner = nullptr;
  size_t key = 0;
  std::string message_id;
  std::string entry_id;
  std::string sealed;
  Lane lane = Lane::kPriority;
  uint32_t attempts = 0;  // provider calls made, this one included once begun
  int64_t created_ms = 0;
  std::string admitted_by;
  int64_t admitted_store_ms = 0;
  // From the payload (PHI: wiped on recycle). Email: `text` is the plain
  // part; `mail` the built message while SMTP reads it.
  std::string to, text, template_id, sender_id;
  std::string subject, html, reply_to, mail;
  bool otp = false;
  bool simulated = false;
  TextEncoding encoding = TextEncoding::kGsm7;
  bool gate_taken = false;
  bool probe = false;  // its gate slot is the half-open circuit's probe
  // The outcome, for finish.
  FinishKind kind = FinishKind::kFailed;
  std::string provider_id;
  std::string_view error_code;  // static text
  std::string_view last_error;  // static text
  bool dead_letter = false;
  bool awaiting_report = false;
  bool from_report = false;  // a report's outcome (no stream entry, no provider call)
  bool stop_reports = false;
  state::FinishExpect expect = state::FinishExpect::kAny;
  int64_t retry_at_ms = 0;
  OutboundRequest request;
  std::vector<std::string_view> header_views;
};

// One delivery-report request for one sent message.
struct Consumer::ReportPoll {
  Consumer* owner = nullptr;
  size_t key = 0;
  std::string message_id;
  std::string provider_id;
  int64_t sent_ms = 0;
  OutboundRequest request;
  std::vector<std::string_view> header_views;
  std::vector<ReportItem> items;
};

struct Consumer::RequeueCall {
  Consumer* owner = nullptr;
  std::vector<Job*> jobs;
  std::vector<state::RequeueItem> items;
};

struct Consumer::BeginCall {
  Consumer* owner = nullptr;
  std::vector<Job*> jobs;
  std::vector<BeginItem> items;
};

struct Consumer::FinishCall {
  Consumer* owner = nullptr;
  size_t key = 0;
  std::vector<Job*> jobs;
  std::vector<FinishItem> items;
};

Consumer::Consumer(uv_loop_t* loop, state::Outbox& outbox, const crypto::KeyRing& ring,
                   std::vector<std::string> key_ids, DeliveryOptions opts, const SmsAdapter* adapter,
                   const EmailSender* mailer, net::HttpClient* http)
    : loop_(loop),
      outbox_(outbox),
      ring_(ring),
      key_ids_(std::move(key_ids)),
      opts_(opts),
      adapter_(opts.channel == Channel::kSms ? adapter : nullptr),
      mailer_(opts.channel == Channel::kEmail ? mailer : nullptr),
      http_(http),
      gate_(opts.gate) {
  if (opts_.channel == Channel::kSms) {
    lanes_ = {Lane::kPriority, Lane::kBulk};
  } else {
    lanes_ = {Lane::kEmail};
  }
  for (const std::string& k : key_ids_) key_views_.emplace_back(k);
  for (size_t i = 0; i < key_views_.size(); ++i) key_index_.emplace(key_views_[i], i);
  for (auto& h : held_) h.resize(key_ids_.size());
  begin_real_.resize(key_ids_.size());
  begin_simulated_.resize(key_ids_.size());
  finish_.resize(key_ids_.size());
  uint8_t seed[8];
  crypto::pooledRandomBytes(seed, sizeof seed);
  rng_ = 0;
  for (uint8_t b : seed) rng_ = rng_ << 8 | b;
  rng_ |= 1;
}

Consumer::~Consumer() {
  closeTimer(read_timer_);
  closeTimer(flush_timer_);
  closeTimer(tick_timer_);
  for (auto& j : jobs_) {
    wipe(j->to);
    wipe(j->text);
    wipe(j->subject);
    wipe(j->html);
    wipe(j->reply_to);
    wipe(j->mail);
    wipe(j->request.body);
  }
}

int64_t Consumer::now() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void Consumer::start() {
  if (phase_ != Phase::kDrained || key_ids_.empty()) return;
  phase_ = Phase::kRunning;
  read_timer_ = newTimer(loop_, this);
  flush_timer_ = newTimer(loop_, this);
  tick_timer_ = newTimer(loop_, this);
  // The consumer's timers do not keep a drained worker alive by themselves.
  uv_unref(reinterpret_cast<uv_handle_t*>(tick_timer_));
  uv_timer_start(tick_timer_, onTick, kTickMs, kTickMs);
  const int64_t t = now();
  next_promote_ms_ = t;
  next_reclaim_ms_ = t;  // a restarted host takes over what its last run left at once
  next_trim_ms_ = t + kTrimEveryMs;
  scheduleRead(0);
}

// ---------------------------------------------------------------- reading

void Consumer::scheduleRead(uint32_t delay_ms) {
  if (phase_ != Phase::kRunning || read_in_flight_ || read_armed_) return;
  read_armed_ = true;
  uv_timer_start(read_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Consumer*>(t->data);
    self->read_armed_ = false;
    self->read();
  }, delay_ms, 0);
}

void Consumer::read() {
  if (phase_ != Phase::kRunning || read_in_flight_) return;
  uint8_t lanes = 0;
  for (Lane lane : lanes_) {
    if (held_count_[laneIndex(lane)] < opts_.held_limit) lanes |= 1u << laneIndex(lane);
  }
  if (settling_.size() >= opts_.held_limit) lanes = 0;  // an admitter's mark is late: wait for it
  if (lanes == 0) return;  // pump() asks again when room appears
  read_in_flight_ = true;
  if (recover_pending_ || !recovery_.empty()) {
    readOwnPending();
    return;
  }
  outbox_.read(key_views_, lanes, opts_.read_batch, this, onRead);
}

// A reply was lost: entries Redis gave us may be in no job. Walk our own
// pending entries, stream by stream, a page at a time (what we hold is
// skipped), rather than wait for the visibility timeout.
void Consumer::readOwnPending() {
  if (recover_pending_) {
    recover_pending_ = false;
    recovery_.clear();
    for (size_t key = 0; key < key_ids_.size(); ++key) {
      for (Lane lane : lanes_) recovery_.push_back({key, lane, "0"});
    }
  }
  const Recovery& r = recovery_.front();
  outbox_.readPending(key_views_[r.key], r.lane, r.after, opts_.read_batch, this, onOwnPending);
}

void Consumer::onOwnPending(void* ctx, bool ok, std::span<const state::OutboxItem> items) {
  auto* self = static_cast<Consumer*>(ctx);
  self->read_in_flight_ = false;
  if (!ok) {
    self->storeFailed();  // starts over
  } else if (!self->recovery_.empty()) {
    if (items.size() < self->opts_.read_batch) {
      self->recovery_.pop_front();  // this stream is done
    } else {
      self->recovery_.front().after.assign(items.back().entry_id);
    }
  }
  size_t taken = 0;
  for (const state::OutboxItem& item : items) taken += self->accept(item);
  if (taken > 0) EventLine("delivery_recovered").num("messages", static_cast<int64_t>(taken)).emit();
  self->recheckSettling();
  self->pump();
  self->armFlush();
  self->scheduleRead(ok ? 0 : kStoreRetryMs);
}

void Consumer::onRead(void* ctx, bool ok, std::span<const state::OutboxItem> items) {
  auto* self = static_cast<Consumer*>(ctx);
  self->read_in_flight_ = false;
  if (!ok) self->storeFailed();
  for (const state::OutboxItem& item : items) self->accept(item);
  self->recheckSettling();
  self->pump();
  self->armFlush();
  // More may be waiting right behind a full batch; an empty outbox is asked
  // again after poll_ms; a failing store after a pause.
  self->scheduleRead(!ok ? kStoreRetryMs : items.empty() ? self->opts_.poll_ms : 0);
}

// Entries a dead consumer left (XAUTOCLAIM): the same path as a read.
void Consumer::onReclaimed(void* ctx, bool ok, std::span<const state::OutboxItem> items) {
  auto* self = static_cast<Consumer*>(ctx);
  --self->store_calls_;
  if (!ok) self->storeFailed();
  if (!items.empty()) {
    EventLine("delivery_reclaimed").num("messages", static_cast<int64_t>(items.size())).emit();
  }
  for (const state::OutboxItem& item : items) self->accept(item);
  self->pump();
  self->armFlush();
  self->maybeDrained();
}

size_t Consumer::keyIndex(std::string_view key_id) const {
  auto it = key_index_.find(key_id);
  return it == key_index_.end() ? SIZE_MAX : it->second;
}

// A read (or reclaimed) entry becomes a job: opened, parsed, then held for
// the provider, or sent to simulated delivery, or finished at once when it
// cannot be sent at all.
bool Consumer::accept(const state::OutboxItem& item) {
  const size_t key = keyIndex(item.key_id);
  if (key == SIZE_MAX || item.message_id.size() != 32) return false;  // not ours to judge: stays pending
  if (live_ids_.count(item.message_id) != 0) return false;            // held already (a re-read)
  ++stats_.read;
  Job* j = acquireJob();
  j->key = key;
  j->message_id.assign(item.message_id);
  live_ids_.insert(j->message_id);
  j->entry_id.assign(item.entry_id);
  j->sealed.assign(item.sealed);
  j->lane = item.lane;
  j->attempts = item.attempts;
  j->created_ms = item.created_unix_ms;
  j->admitted_by.assign(item.admitted_by);
  j->admitted_store_ms = item.admitted_store_ms;
  char ad[32 + 1 + 64];
  const std::string_view key_id = key_views_[key];
  std::copy(item.message_id.begin(), item.message_id.end(), ad);
  ad[32] = '\n';
  const size_t key_len = std::min(key_id.size(), sizeof ad - 33);
  std::copy(key_id.begin(), key_id.begin() + key_len, ad + 33);
  const bool opened = ring_.open(item.sealed, std::string_view(ad, 33 + key_len), &opened_) &&
                      openPayload(j, opened_);
  parser_.wipe();
  wipe(opened_);
  if (!opened) {
    // Sealed with a key this host does not have (ENCRYPTION_KEYS_OLD
    // incomplete?), or not a payload at all: it can never be sent.
    EventLine("delivery_unreadable_payload").str("reason", "cannot open or parse").emit();
    j->kind = FinishKind::kFailed;
    j->error_code = "payload-unreadable";
    ++in_flight_;
    queueFinish(j);
    return true;
  }
  route(j);
  return true;
}

// The payload's fields into the job, as this consumer's channel has them.
bool Consumer::openPayload(Job* j, std::string_view plain) {
  if (opts_.channel == Channel::kEmail) {
    EmailPayload p;
    if (!parser_.parse(plain, &p)) return false;
    j->to.assign(p.to);
    j->subject.assign(p.subject);
    j->text.assign(p.text);
    j->html.assign(p.html);
    j->reply_to.assign(p.reply_to);
    j->simulated = p.test || mailer_ == nullptr;
    return true;
  }
  SmsPayload p;
  if (!parser_.parse(plain, &p)) return false;
  j->to.assign(p.to);
  j->text.assign(p.text);
  j->template_id.assign(p.template_id);
  j->sender_id.assign(p.sender_id);
  j->otp = p.otp;
  j->encoding = p.encoding;
  j->simulated = p.test || adapter_ == nullptr;
  return true;
}

bool Consumer::hasProvider() const { return adapter_ != nullptr || mailer_ != nullptr; }

std::string_view Consumer::providerName(bool simulated) const {
  if (simulated || !hasProvider()) return kSimulatedProvider;
  return adapter_ != nullptr ? adapter_->name() : mailer_->name();
}

// An entry whose admitter may still cancel it waits (Outbox::settled), the
// rest go to simulated delivery or are held for the provider.
void Consumer::route(Job* j) {
  if (!outbox_.settled(j->admitted_by, j->admitted_store_ms)) {
    settling_.push_back(j);
    return;
  }
  if (j->simulated) {
    ++in_flight_;
    if (!expireIfDue(j, now())) queueBegin(j);
    return;
  }
  const size_t lane = laneIndex(j->lane);
  if (held_[lane][j->key].empty()) turns_[lane].push_back(j->key);
  held_[lane][j->key].push_back(j);
  ++held_count_[lane];
}

void Consumer::recheckSettling() {
  if (settling_.empty()) return;
  std::deque<Job*> waiting;
  waiting.swap(settling_);
  for (Job* j : waiting) route(j);
  armFlush();
  scheduleRead(0);  // reads pause while too many wait here
}

// ---------------------------------------------------------------- dispatch

Consumer::Job* Consumer::pick(Lane lane) {
  const size_t l = laneIndex(lane);
  if (turns_[l].empty()) return nullptr;
  const size_t key = turns_[l].front();
  turns_[l].pop_front();
  std::deque<Job*>& q = held_[l][key];
  Job* j = q.front();
  q.pop_front();
  if (!q.empty()) turns_[l].push_back(key);
  --held_count_[l];
  return j;
}

// Priority first; within a lane, keys in turn. The gate says how many calls
// may be in flight and how fast.
void Consumer::pump() {
  if (phase_ != Phase::kRunning) return;
  const int64_t t = now();
  bool room_made = false;
  for (;;) {
    Job* j = nullptr;
    for (Lane lane : lanes_) {
      if (held_count_[laneIndex(lane)] > 0 && gate_.tryAcquire(lane, t)) {
        j = pick(lane);
        break;
      }
    }
    if (j == nullptr) break;
    room_made = true;
    j->gate_taken = true;
    j->probe = gate_.lastWasProbe();
    ++in_flight_;
    if (!expireIfDue(j, t)) queueBegin(j);
  }
  if (room_made) {
    armFlush();
    scheduleRead(0);
  }
}

// OTPs are not delivered past OTP_TTL_S; nothing is tried past the deadline.
bool Consumer::expireIfDue(Job* j, int64_t t) {
  if (j->otp && t >= j->created_ms + int64_t{opts_.otp_ttl_s} * 1000) {
    j->kind = FinishKind::kExpired;
    j->error_code = j->last_error.empty() ? "otp-ttl" : j->last_error;
  } else if (t >= j->created_ms + int64_t{opts_.deadline_s} * 1000) {
    j->kind = FinishKind::kFailed;
    j->dead_letter = true;
    j->error_code = j->last_error.empty() ? "deadline" : j->last_error;
  } else {
    return false;
  }
  if (j->gate_taken) {
    gate_.giveBack(j->lane, j->probe);
    j->gate_taken = false;
  }
  queueFinish(j);
  return true;
}

void Consumer::queueBegin(Job* j) {
  (j->simulated ? begin_simulated_ : begin_real_)[j->key].push_back(j);
  armFlush();
}

void Consumer::queueFinish(Job* j) {
  finish_[j->key].push_back(j);
  armFlush();
}

void Consumer::armFlush() {
  if (flush_armed_ || flush_timer_ == nullptr) return;
  flush_armed_ = true;
  uv_timer_start(flush_timer_, onFlush, 0, 0);
}

void Consumer::onFlush(uv_timer_t* t) {
  auto* self = static_cast<Consumer*>(t->data);
  self->flush_armed_ = false;
  self->flush();
}

// Begin and finish calls for everything this loop turn produced, per key,
// of at most kMaxBatch messages each, and at most kMaxScriptsInFlight at a
// time: a script runs alone in Redis, so a long one, or many queued on the
// delivery connection, would hold up every admit behind them (the rest waits
// here for the next reply).
void Consumer::flush() {
  for (size_t key = 0; key < key_ids_.size(); ++key) {
    for (int simulated = 0; simulated < 2; ++simulated) {
      std::vector<Job*>& pending = (simulated ? begin_simulated_ : begin_real_)[key];
      while (!pending.empty() && scripts_in_flight_ < kMaxScriptsInFlight) {
        BeginCall* call = pooled(begin_calls_, free_begin_calls_, this);
        const size_t take = std::min(pending.size(), kMaxBatch);
        call->jobs.assign(pending.begin(), pending.begin() + take);
        pending.erase(pending.begin(), pending.begin() + take);
        call->items.clear();
        for (Job* j : call->jobs) {
          call->items.push_back(BeginItem{j->message_id, j->entry_id, j->lane, j->attempts + 1});
        }
        ++store_calls_;
        ++scripts_in_flight_;
        const std::string_view provider = providerName(simulated != 0);
        outbox_.begin(key_views_[key], call->items, provider, call, onBegin);
      }
    }
    std::vector<Job*>& done = finish_[key];
    while (!done.empty() && scripts_in_flight_ < kMaxScriptsInFlight) {
      FinishCall* call = pooled(finish_calls_, free_finish_calls_, this);
      call->key = key;
      const size_t take = std::min(done.size(), kMaxBatch);
      call->jobs.assign(done.begin(), done.begin() + take);
      done.erase(done.begin(), done.begin() + take);
      call->items.clear();
      for (Job* j : call->jobs) {
        FinishItem f;
        f.message_id = j->message_id;
        f.entry_id = j->entry_id;
        f.lane = j->lane;
        f.kind = j->kind;
        f.attempts = j->attempts;
        f.provider = j->attempts == 0 ? std::string_view() : providerName(j->simulated);
        f.provider_message_id = j->provider_id;
        f.error_code = j->error_code;
        f.dead_letter = j->dead_letter;
        f.awaiting_report = j->awaiting_report;
        f.stop_reports = j->stop_reports;
        f.expect = j->expect;
        f.retry_at_unix_ms = j->retry_at_ms;
        f.sealed = j->sealed;
        f.created_unix_ms = j->created_ms;
        call->items.push_back(f);
      }
      ++store_calls_;
      ++scripts_in_flight_;
      outbox_.finish(key_views_[key], call->items, call, onFinish);
    }
  }
}

// A begin or finish call came back: room for the next ones.
void Consumer::scriptDone() {
  --scripts_in_flight_;
  armFlush();
}

void Consumer::onBegin(void* ctx, bool ok, std::span<const BeginStatus> statuses) {
  auto* call = static_cast<BeginCall*>(ctx);
  Consumer* self = call->owner;
  --self->store_calls_;
  self->scriptDone();
  if (!ok) {
    // Unknown whether the records changed: try the same claim again soon
    // (it is repeatable: the same attempt number, the same owner check).
    self->storeFailed();
    for (Job* j : call->jobs) self->failed_begins_.push_back(j);
  } else {
    for (size_t i = 0; i < call->jobs.size(); ++i) {
      Job* j = call->jobs[i];
      const BeginStatus s = i < statuses.size() ? statuses[i] : BeginStatus::kGone;
      if (s == BeginStatus::kGo) {
        j->attempts += 1;
        j->expect = state::FinishExpect::kSending;
        self->send(j);
        continue;
      }
      if (s == BeginStatus::kCancelled) ++self->stats_.cancelled;
      if (j->gate_taken) self->gate_.giveBack(j->lane, j->probe);
      j->gate_taken = false;
      --self->in_flight_;
      self->recycle(j);
    }
  }
  call->jobs.clear();
  self->free_begin_calls_.push_back(call);
  self->pump();
  self->maybeDrained();
}

void Consumer::send(Job* j) {
  if (phase_ == Phase::kDrained) {
    // Past the drain deadline (the HTTP client is gone): the record says
    // `sending`, the entry stays pending for the next owner.
    --in_flight_;
    recycle(j);
    return;
  }
  if (j->simulated) {
    const SimulatedOutcome o = simulate(j->to, j->attempts);
    if (o.kind == FinishKind::kRetry) {
      retryOrGiveUp(j, o.error_code, now());
    } else {
      j->kind = o.kind;
      j->error_code = o.error_code;
      if (o.kind != FinishKind::kFailed) j->provider_id = "sim-" + j->message_id.substr(0, 16);
    }
    queueFinish(j);
    return;
  }
  if (mailer_ != nullptr) {
    sendMail(j);
    return;
  }
  SmsToSend m;
  m.message_id = j->message_id;
  m.to = j->to;
  m.text = j->text;
  m.template_id = j->template_id;
  m.sender_id = j->sender_id;
  m.kind = j->lane == Lane::kBulk ? SmsKind::kBulk : j->otp ? SmsKind::kOtp : SmsKind::kTransactional;
  m.encoding = j->encoding;
  m.attempt = j->attempts;
  std::string_view refused;
  if (!adapter_->build(m, &j->request, &refused)) {
    cannotBuild(j, refused);
    return;
  }
  j->header_views.assign(j->request.headers.begin(), j->request.headers.end());
  const net::HttpRequestSpec spec{j->request.method, j->request.url, j->header_views, j->request.body,
                                  opts_.timeouts};
  if (!http_->send(spec, onHttp, j)) notStarted(j);
}

// The provider can never take this message (the same input never builds):
// a permanent failure, without a call.
void Consumer::cannotBuild(Job* j, std::string_view error_code) {
  gate_.giveBack(j->lane, j->probe);
  j->gate_taken = false;
  j->kind = FinishKind::kFailed;
  j->error_code = error_code;
  queueFinish(j);
}

// The client is going away (shutdown): the attempt was never made; the
// record says `sending`, and the next owner tries again.
void Consumer::notStarted(Job* j) {
  gate_.giveBack(j->lane, j->probe);
  j->gate_taken = false;
  --in_flight_;
  recycle(j);
}

// Builds the message (a permanent failure when it cannot be built: the
// same input never builds) and hands it to SMTP; the job holds it until
// the reply, as curl reads it in place.
void Consumer::sendMail(Job* j) {
  EmailToSend m;
  m.message_id = j->message_id;
  m.to = j->to;
  m.subject = j->subject;
  m.text = j->text;
  m.html = j->html;
  m.reply_to = j->reply_to;
  m.date_unix_s = now() / 1000;
  std::string_view refused;
  if (!mailer_->build(m, &j->mail, &refused)) {
    cannotBuild(j, refused);
    return;
  }
  if (!http_->sendMail(mailer_->spec(j->to, j->mail, opts_.timeouts), onHttp, j)) notStarted(j);
}

void Consumer::onHttp(void* ctx, const net::HttpResult& r) {
  auto* j = static_cast<Job*>(ctx);
  Consumer* self = j->owner;
  wipe(j->request.body);
  wipe(j->mail);
  if (r.error == net::HttpError::kCancelled) {
    // Shutdown with the call in flight: the outcome is unknown; the record
    // says `sending` and the entry stays pending for the next owner.
    if (j->gate_taken) self->gate_.giveBack(j->lane, j->probe);
    j->gate_taken = false;
    --self->in_flight_;
    self->recycle(j);
    self->maybeDrained();
    return;
  }
  self->verdict(j, self->mailer_ != nullptr ? self->mailer_->classify(r) : self->adapter_->classify(r));
}

void Consumer::verdict(Job* j, const SendVerdict& v) {
  const int64_t t = now();
  const ProviderGate::Circuit before = gate_.circuit();
  if (j->gate_taken) gate_.release(j->lane, v.outcome != Outcome::kRetry, t);
  j->gate_taken = false;
  noteCircuit(before);
  switch (v.outcome) {
    case Outcome::kSent:
      j->kind = FinishKind::kSent;
      j->provider_id = v.provider_message_id;
      j->awaiting_report = adapter_ != nullptr && adapter_->hasReports();
      break;
    case Outcome::kPermanent:
      j->kind = FinishKind::kFailed;
      j->error_code = v.error_code;
      break;
    case Outcome::kRetry:
      retryOrGiveUp(j, v.error_code, t);
      break;
  }
  queueFinish(j);
  pump();
}

// Operators hear of every change of the circuit (no message data in it).
void Consumer::noteCircuit(ProviderGate::Circuit before) {
  const ProviderGate::Circuit now_state = gate_.circuit();
  if (now_state == before) return;
  const char* name = now_state == ProviderGate::Circuit::kOpen       ? "open"
                     : now_state == ProviderGate::Circuit::kHalfOpen ? "half-open"
                                                                     : "closed";
  EventLine("provider_circuit")
      .str("provider", providerName(false))
      .str("state", name)
      .emit();
}

void Consumer::retryOrGiveUp(Job* j, std::string_view error_code, int64_t t) {
  j->last_error = error_code;
  j->error_code = error_code;
  const int64_t at = t + static_cast<int64_t>(jitteredDelay(j->attempts));
  if (j->otp && at >= j->created_ms + int64_t{opts_.otp_ttl_s} * 1000) {
    j->kind = FinishKind::kExpired;
  } else if (at >= j->created_ms + int64_t{opts_.deadline_s} * 1000) {
    j->kind = FinishKind::kFailed;
    j->dead_letter = true;
  } else {
    j->kind = FinishKind::kRetry;
    j->retry_at_ms = at;
  }
}

// min, 2·min, 4·min ... max, each with "equal jitter" (half the step plus
// up to as much again), so messages that failed together spread out.
uint64_t Consumer::jitteredDelay(uint32_t attempt) {
  const uint32_t doublings = std::min<uint32_t>(attempt > 0 ? attempt - 1 : 0, 40);
  const uint64_t step = std::min<uint64_t>(opts_.retry_max_ms, uint64_t{opts_.retry_min_ms} << doublings);
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return step / 2 + rng_ % (step - step / 2 + 1);
}

void Consumer::onFinish(void* ctx, bool ok) {
  auto* call = static_cast<FinishCall*>(ctx);
  Consumer* self = call->owner;
  --self->store_calls_;
  self->scriptDone();
  if (!ok) {
    // Not known to be recorded: keep the outcome and write it again (the
    // finish is repeatable), rather than let the entry be taken over and
    // the message sent twice.
    self->storeFailed();
    self->failed_finishes_.push_back(call);
    return;
  }
  for (Job* j : call->jobs) {
    switch (j->from_report && j->kind == FinishKind::kSent ? FinishKind::kRetry : j->kind) {
      case FinishKind::kSent: ++self->stats_.sent; break;
      case FinishKind::kDelivered: ++self->stats_.delivered; break;
      case FinishKind::kUndelivered: ++self->stats_.undelivered; break;
      case FinishKind::kRetry: self->stats_.retried += !j->from_report; break;
      case FinishKind::kFailed: ++self->stats_.failed; break;
      case FinishKind::kExpired: ++self->stats_.expired; break;
      case FinishKind::kCancelled: ++self->stats_.cancelled; break;
    }
    --self->in_flight_;
    self->recycle(j);
  }
  call->jobs.clear();
  self->free_finish_calls_.push_back(call);
  self->maybeDrained();
}

// ---------------------------------------------------------------- reports

// Every second, each key's sent messages whose report is due (sent at least
// PHIGATE_REPORT_DELAY_MS ago) are asked about, a few requests at a time.
void Consumer::pollReports(int64_t t) {
  if (adapter_ == nullptr || !adapter_->hasReports() || t < next_report_ms_) return;
  if (report_lists_pending_ > 0 || !report_queue_.empty() || reports_in_flight_ > 0) return;
  next_report_ms_ = t + kReportEveryMs;
  for (size_t key = 0; key < key_views_.size(); ++key) {
    ++report_lists_pending_;
    ++store_calls_;
    auto* ctx = new std::pair<Consumer*, size_t>(this, key);  // once a second per key
    outbox_.reportsDue(key_views_[key], t - opts_.report_delay_ms, kReportsPerKey, ctx, onReportsDue);
  }
}

void Consumer::onReportsDue(void* p, bool ok, std::span<const state::ReportWait> waits) {
  std::unique_ptr<std::pair<Consumer*, size_t>> ctx(static_cast<std::pair<Consumer*, size_t>*>(p));
  Consumer* self = ctx->first;
  --self->report_lists_pending_;
  --self->store_calls_;
  if (!ok) ++self->stats_.store_errors;
  const int64_t give_up = self->now() - int64_t{self->opts_.report_give_up_s} * 1000;
  for (const state::ReportWait& w : waits) {
    if (w.message_id.size() != 32) continue;
    if (w.sent_unix_ms < give_up || w.provider_message_id.empty() || w.provider_message_id == "-") {
      // No report in all this time (or no id to ask with): `sent` stays its
      // last state, and it is no longer asked about.
      Job* j = self->acquireJob();
      j->key = ctx->second;
      j->message_id.assign(w.message_id);
      j->provider_id.assign(w.provider_message_id);
      j->from_report = true;
      j->kind = FinishKind::kSent;
      j->stop_reports = true;
      j->expect = state::FinishExpect::kSent;
      j->retry_at_ms = w.sent_unix_ms;
      ++self->in_flight_;
      self->queueFinish(j);
      continue;
    }
    auto poll = std::make_unique<ReportPoll>();
    poll->owner = self;
    poll->key = ctx->second;
    poll->message_id.assign(w.message_id);
    poll->provider_id.assign(w.provider_message_id);
    poll->sent_ms = w.sent_unix_ms;
    self->report_queue_.push_back(std::move(poll));
  }
  self->startReportPolls();
  self->maybeDrained();
}

void Consumer::startReportPolls() {
  while (!report_queue_.empty() && reports_in_flight_ < kReportsInFlight && phase_ == Phase::kRunning) {
    std::unique_ptr<ReportPoll> poll = std::move(report_queue_.front());
    report_queue_.pop_front();
    const std::string_view ids[] = {poll->provider_id};
    adapter_->buildReport(ids, &poll->request);
    poll->header_views.assign(poll->request.headers.begin(), poll->request.headers.end());
    const net::HttpRequestSpec spec{poll->request.method, poll->request.url, poll->header_views,
                                    poll->request.body, opts_.timeouts};
    ReportPoll* raw = poll.release();
    ++reports_in_flight_;
    if (!http_->send(spec, onReportHttp, raw)) {
      --reports_in_flight_;
      delete raw;
    }
  }
}

// A report: delivered / undelivered are recorded (the record and the
// awaiting list, no stream entry); pending moves the message to the back of
// the list, to be asked again after the delay; a failed request changes
// nothing (asked again next round).
void Consumer::onReportHttp(void* p, const net::HttpResult& r) {
  std::unique_ptr<ReportPoll> poll(static_cast<ReportPoll*>(p));
  Consumer* self = poll->owner;
  --self->reports_in_flight_;
  if (r.error != net::HttpError::kCancelled && self->adapter_->parseReport(r, &poll->items)) {
    ReportState state = ReportState::kPending;
    std::string_view code;
    for (const ReportItem& it : poll->items) {
      if (it.provider_message_id != poll->provider_id) continue;
      state = it.state;
      code = it.error_code;
    }
    Job* j = self->acquireJob();
    j->key = poll->key;
    j->message_id = poll->message_id;
    j->provider_id = poll->provider_id;
    j->from_report = true;
    j->attempts = 0;  // the record keeps its count
    j->expect = state::FinishExpect::kSent;
    j->retry_at_ms = poll->sent_ms;  // names the wait (its first send time)
    if (state == ReportState::kDelivered) {
      j->kind = FinishKind::kDelivered;
    } else if (state == ReportState::kUndelivered) {
      j->kind = FinishKind::kUndelivered;
      j->error_code = code.empty() ? "undelivered" : code;
    } else {
      j->kind = FinishKind::kSent;
      j->awaiting_report = true;
    }
    ++self->in_flight_;
    self->queueFinish(j);
  }
  self->startReportPolls();
  self->maybeDrained();
}

// ---------------------------------------------------------------- upkeep

void Consumer::onTick(uv_timer_t* t) { static_cast<Consumer*>(t->data)->tick(); }

void Consumer::tick() {
  const int64_t t = now();
  if (t >= store_retry_ms_) {
    // A store still away fails these at once, and they come back to
    // failed_finishes_: iterate over a copy.
    std::vector<FinishCall*> calls;
    calls.swap(failed_finishes_);
    for (FinishCall* call : calls) {
      ++store_calls_;
      ++scripts_in_flight_;
      outbox_.finish(key_views_[call->key], call->items, call, onFinish);
    }
    std::vector<Job*> again;
    again.swap(failed_begins_);
    for (Job* j : again) queueBegin(j);
  }
  if (phase_ != Phase::kRunning) {
    maybeDrained();
    return;
  }
  if (!settling_.empty()) outbox_.refreshSettling();
  recheckSettling();
  if (opts_.upkeep) pollReports(t);
  if (opts_.upkeep && t >= next_promote_ms_) {
    next_promote_ms_ = t + kPromoteEveryMs;
    for (std::string_view key : key_views_) {
      ++store_calls_;
      outbox_.promoteRetries(key, kMaxPromote, this, onStoreDone);
    }
  }
  if (t >= next_reclaim_ms_) {
    next_reclaim_ms_ = t + std::max<uint32_t>(1'000, opts_.visibility_ms / 4);
    for (std::string_view key : key_views_) {
      for (Lane lane : lanes_) {
        if (held_count_[laneIndex(lane)] >= opts_.held_limit) continue;
        ++store_calls_;
        outbox_.reclaim(key, lane, opts_.visibility_ms, opts_.read_batch, this, onReclaimed);
      }
    }
  }
  if (opts_.upkeep && t >= next_trim_ms_) {
    next_trim_ms_ = t + kTrimEveryMs;
    for (std::string_view key : key_views_) {
      ++store_calls_;
      outbox_.trim(key, this, onStoreDone);
    }
  }
  const ProviderGate::Circuit before = gate_.circuit();
  pump();
  if (gate_.circuit() != before) noteCircuit(before);
}

// Any failed store call may have lost a reply that gave us entries.
void Consumer::storeFailed() {
  ++stats_.store_errors;
  store_retry_ms_ = now() + kStoreRetryMs;
  recover_pending_ = true;
}

void Consumer::onStoreDone(void* ctx, bool ok) {
  auto* self = static_cast<Consumer*>(ctx);
  --self->store_calls_;
  if (!ok) self->storeFailed();
  self->maybeDrained();
}

void Consumer::drain(uint32_t deadline_ms, void* ctx, void (*done)(void*)) {
  if (phase_ != Phase::kRunning) {
    done(ctx);
    return;
  }
  phase_ = Phase::kDraining;
  drain_ctx_ = ctx;
  drain_done_ = done;
  drain_deadline_ms_ = now() + deadline_ms;
  // Keep ticking until drained. Before the requeue calls: a store that
  // answers at once (the in-process one, or Redis not connected) may finish
  // the drain inside them, closing the timers.
  uv_ref(reinterpret_cast<uv_handle_t*>(tick_timer_));
  uv_timer_stop(read_timer_);
  read_armed_ = false;
  // Held jobs were never begun: they go back to the outbox as new entries,
  // for any consumer at once (not after the visibility timeout). Settling
  // ones stay pending for the next owner (their admitter's cancel may still
  // come; a new entry would lose that).
  for (Job* j : settling_) recycle(j);
  settling_.clear();
  report_queue_.clear();
  std::vector<std::vector<Job*>> by_key(key_ids_.size());
  for (size_t l = 0; l < state::kLaneCount; ++l) {
    for (auto& q : held_[l]) {
      for (Job* j : q) by_key[j->key].push_back(j);
      q.clear();
    }
    turns_[l].clear();
    held_count_[l] = 0;
  }
  for (size_t key = 0; key < by_key.size(); ++key) {
    for (size_t from = 0; from < by_key[key].size(); from += kMaxBatch) {
      auto* call = new RequeueCall{this, {}, {}};
      const size_t to = std::min(by_key[key].size(), from + kMaxBatch);
      call->jobs.assign(by_key[key].begin() + from, by_key[key].begin() + to);
      for (Job* j : call->jobs) {
        call->items.push_back(
            state::RequeueItem{j->message_id, j->entry_id, j->lane, j->sealed, j->attempts, j->created_ms});
      }
      ++store_calls_;
      outbox_.requeue(key_views_[key], call->items, call, onRequeued);
    }
  }
  maybeDrained();
}

void Consumer::onRequeued(void* ctx, bool ok) {
  std::unique_ptr<RequeueCall> call(static_cast<RequeueCall*>(ctx));
  Consumer* self = call->owner;
  --self->store_calls_;
  if (!ok) ++self->stats_.store_errors;  // they stay pending: taken over later
  if (ok) EventLine("delivery_requeued").num("messages", static_cast<int64_t>(call->jobs.size())).emit();
  for (Job* j : call->jobs) self->recycle(j);
  self->maybeDrained();
}

void Consumer::maybeDrained() {
  if (phase_ != Phase::kDraining) return;
  const bool idle = in_flight_ == 0 && store_calls_ == 0 && failed_finishes_.empty() &&
                    reports_in_flight_ == 0;
  if (!idle && now() < drain_deadline_ms_) return;
  if (!idle) {
    EventLine("delivery_drain_timeout").num("in_flight", in_flight_).emit();
  }
  phase_ = Phase::kDrained;
  closeTimer(read_timer_);
  closeTimer(flush_timer_);
  closeTimer(tick_timer_);
  if (drain_done_ != nullptr) drain_done_(drain_ctx_);
}

// ---------------------------------------------------------------- jobs

Consumer::Job* Consumer::acquireJob() { return pooled(jobs_, free_jobs_, this); }

void Consumer::recycle(Job* j) {
  if (!j->from_report) live_ids_.erase(j->message_id);
  wipe(j->to);
  wipe(j->text);
  wipe(j->sealed);
  wipe(j->subject);
  wipe(j->html);
  wipe(j->reply_to);
  wipe(j->mail);
  wipe(j->request.body);
  j->template_id.clear();
  j->sender_id.clear();
  j->provider_id.clear();
  j->error_code = {};
  j->last_error = {};
  j->dead_letter = false;
  j->awaiting_report = false;
  j->from_report = false;
  j->stop_reports = false;
  j->expect = state::FinishExpect::kAny;
  j->entry_id.clear();
  j->lane = Lane::kPriority;
  j->attempts = 0;
  j->gate_taken = false;
  j->probe = false;
  j->simulated = false;
  j->otp = false;
  j->retry_at_ms = 0;
  j->request.clear();
  j->header_views.clear();
  free_jobs_.push_back(j);
}

}  // namespace phigate::delivery
