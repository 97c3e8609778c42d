#include "delivery/callbacks.h"

#include <sodium.h>

#include <algorithm>
#include <ctime>

#include "common/event_line.h"
#include "delivery/callback_signature.h"

namespace phigate::delivery {

CallbackTarget::~CallbackTarget() {
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
  if (!url.empty()) sodium_memzero(url.data(), url.size());
}


namespace {

// Never a callback's destination unless CALLBACK_ALLOWED_CIDRS says so:
// "this network", RFC 1918, CGNAT, loopback, link-local (the cloud metadata
// address 169.254.169.254 among them), IETF protocol assignments, benchmark,
// multicast, reserved, broadcast, Azure's platform address 168.63.129.16;
// in IPv6 unspecified, loopback, the deprecated IPv4-compatible block, the
// IPv4-translated block (::ffff:0:a.b.c.d), discard, local-use NAT64
// (64:ff9b:1::/48, RFC 8215: the translator is a local one), Teredo
// (2001::/32: tunnelled to an address it hides), 6to4 (2002::/16,
// deprecated, relayed by whoever announces it), documentation, ULA
// (fd00:ec2::254, the EC2 metadata address, among them), link-local,
// site-local, multicast. IPv4-mapped addresses match the IPv4 rows
// (CidrList keeps IPv4 mapped); well-known NAT64 (64:ff9b::/96) is judged by
// the IPv4 address it carries.
constexpr std::string_view kRefusedRanges =
    "0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 168.63.129.16/32, 169.254.0.0/16, "
    "172.16.0.0/12, 192.0.0.0/24, 192.0.2.0/24, 192.88.99.0/24, 192.168.0.0/16, 198.18.0.0/15, "
    "198.51.100.0/24, 203.0.113.0/24, 224.0.0.0/4, 240.0.0.0/4, 255.255.255.255/32, "
    "::/128, ::1/128, ::/96, ::ffff:0:0:0/96, 64:ff9b:1::/48, 100::/64, 2001::/32, 2001:db8::/32, "
    "2002::/16, fc00::/7, fe80::/10, fec0::/10, ff00::/8";

const pipeline::CidrList& refusedRanges() {
  static const pipeline::CidrList list = [] {
    pipeline::CidrList l;
    std::string error;
    if (!pipeline::CidrList::parse(kRefusedRanges, &l, &error)) std::abort();  // a constant
    return l;
  }();
  return list;
}

// 64:ff9b::a.b.c.d (NAT64) and 2002:AABB:CCDD::/48 (6to4) reach an IPv4
// address through a translator: judged by that address.
bool embeddedV4(const pipeline::IpAddress& ip, pipeline::IpAddress* v4) {
  const auto& b = ip.bytes;
  const uint8_t* src = nullptr;
  if (pipeline::isNat64(ip)) src = b.data() + 12;
  if (b[0] == 0x20 && b[1] == 0x02) src = b.data() + 2;
  if (src == nullptr) return false;
  *v4 = pipeline::IpAddress{};
  v4->bytes[10] = v4->bytes[11] = 0xff;
  std::copy(src, src + 4, v4->bytes.begin() + 12);
  return true;
}

bool success(long status) { return status >= 200 && status < 300; }

}  // namespace

bool callbackAddressAllowed(const uint8_t (&addr)[16], const pipeline::CidrList& allowed) {
  const pipeline::IpAddress ip = pipeline::ipFromBytes(reinterpret_cast<const unsigned char(&)[16]>(addr));
  if (allowed.contains(ip)) return true;
  if (refusedRanges().contains(ip)) return false;
  pipeline::IpAddress v4;
  if (embeddedV4(ip, &v4)) return allowed.contains(v4) || !refusedRanges().contains(v4);
  return true;
}

bool makeCallbackSetup(const config::Config& cfg, const pipeline::KeyRegistry& keys, CallbackSetup* out,
                       std::string* error) {
  const config::DeliveryPolicy& d = cfg.delivery;
  std::string cidr_error;
  if (!pipeline::CidrList::parse(d.callback_allowed_cidrs, &out->allowed, &cidr_error)) {
    *error = "CALLBACK_ALLOWED_CIDRS: " + cidr_error;
    return false;
  }
  out->allow_plain_http = !cfg.production();
  // Receivers are the hospital's applications, often on public CAs: their
  // own bundle (default: the system store), never the providers' private one.
  out->ca_file = d.callback_ca_file;
  out->options.retry_min_ms = d.callback_retry_min_ms;
  out->options.retry_max_ms = std::max(d.callback_retry_max_ms, d.callback_retry_min_ms);
  out->options.concurrency = d.callback_concurrency;
  // A quarter per key: a slow receiver (or two, or three) leaves the others room.
  out->options.per_key_in_flight = std::max<uint32_t>(1, d.callback_concurrency / 4);
  for (const pipeline::ApiKey& k : keys.keys()) {
    if (k.status_callback_url.empty()) continue;
    CallbackTarget& t = out->targets.emplace_back();
    t.key_id = k.id;
    t.url = k.status_callback_url;
    t.secret = k.callback_secret;
  }
  return true;
}

// One callback in flight: its copy of the event, its body and header, reused.
struct CallbackDispatcher::Slot {
  CallbackDispatcher* d = nullptr;
  KeyState* key = nullptr;
  std::string message_id, channel, status, provider_message_id, error_code, entry_id;
  uint32_t attempts = 0;
  int64_t updated_unix_ms = 0;
  uint32_t tries = 0;
  Buffer body;
  Buffer signature;

  state::CallbackEvent event() const;
};

struct CallbackDispatcher::KeyState {
  const CallbackTarget* target = nullptr;
  uint32_t in_flight = 0;
  std::vector<std::string> acks;  // done with, not yet acknowledged (one batch per key)
  uint32_t freed_since_read = 0;
};

namespace {
constexpr size_t kAckBatch = 64;
}  // namespace

state::CallbackEvent CallbackDispatcher::Slot::event() const {
  state::CallbackEvent e;
  e.key_id = key->target->key_id;
  e.message_id = message_id;
  e.channel = channel;
  e.status = status;
  e.attempts = attempts;
  e.provider_message_id = provider_message_id;
  e.error_code = error_code;
  e.updated_unix_ms = updated_unix_ms;
  e.tries = tries;
  e.entry_id = entry_id;
  return e;
}

CallbackDispatcher::CallbackDispatcher(uv_loop_t* loop, state::CallbackQueue& queue,
                                       const CallbackSetup& setup)
    : loop_(loop), queue_(queue), setup_(setup) {
  randombytes_buf(&rng_, sizeof rng_);
  rng_ |= 1;
  for (const CallbackTarget& t : setup_.targets) {
    auto k = std::make_unique<KeyState>();
    k->target = &t;
    keys_.push_back(std::move(k));
  }
  const uint32_t n = std::max<uint32_t>(1, setup_.options.concurrency);
  for (uint32_t i = 0; i < n; ++i) {
    auto s = std::make_unique<Slot>();
    s->d = this;
    free_.push_back(s.get());
    slots_.push_back(std::move(s));
  }
}

CallbackDispatcher::~CallbackDispatcher() { stop(); }

bool CallbackDispatcher::allowAddress(const void* ctx, const uint8_t (&addr)[16]) {
  return callbackAddressAllowed(addr, static_cast<const CallbackDispatcher*>(ctx)->setup_.allowed);
}

void CallbackDispatcher::start() {
  if (!stopped_ || keys_.empty()) return;
  stopped_ = false;
  net::HttpClientOptions o;
  o.allow_plain_http = setup_.allow_plain_http;
  o.ca_file = setup_.ca_file;
  o.max_response_bytes = setup_.options.max_response_bytes;
  o.max_host_connections = static_cast<long>(setup_.options.per_key_in_flight);
  o.max_total_connections = static_cast<long>(setup_.options.concurrency);
  o.address_policy = {.allow = &CallbackDispatcher::allowAddress, .ctx = this};
  // No proxy: the address policy must see the receiver's address.
  http_ = std::make_unique<net::HttpClient>(loop_, std::move(o));
  queue_.setDropListener(this, onStoreDropped);
  queue_.start(loop_);
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_timer_start(timer_, onTick, 0, setup_.options.poll_ms);
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
}

void CallbackDispatcher::stop() {
  if (stopped_) return;
  stopped_ = true;
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer_ = nullptr;
  http_.reset();  // in flight: kCancelled, left queued (taken over after reclaim_idle_ms)
  flushAcks();
  queue_.setDropListener(nullptr, nullptr);
  queue_.stop();
}

void CallbackDispatcher::onTick(uv_timer_t* t) { static_cast<CallbackDispatcher*>(t->data)->tick(); }

void CallbackDispatcher::tick() {
  if (stopped_ || !queue_.ready()) return;
  flushAcks();
  const uint64_t now = uv_now(loop_);
  if (now - last_promote_ms_ >= setup_.options.promote_ms || last_promote_ms_ == 0) {
    last_promote_ms_ = now;
    for (const auto& k : keys_) queue_.promote(k->target->key_id, 100, nullptr, onStored);
  }
  readMore();
}

// Never more events asked for than there are free slots: each read names
// only keys with room, and asks each for at most what fits.
void CallbackDispatcher::readMore() {
  if (reading_ || stopped_ || free_.empty()) return;
  read_keys_.clear();
  uint32_t min_room = setup_.options.per_key_in_flight;
  // Round robin: each read starts after the last key the previous one
  // looked at, so with fewer free slots than keys every key gets its turn.
  const size_t n = keys_.size();
  size_t looked = 0;
  for (; looked < n && read_keys_.size() < free_.size(); ++looked) {
    KeyState& k = *keys_[(cursor_ + looked) % n];
    if (k.in_flight >= setup_.options.per_key_in_flight) continue;
    read_keys_.push_back(k.target->key_id);
    k.freed_since_read = 0;
    min_room = std::min(min_room, setup_.options.per_key_in_flight - k.in_flight);
  }
  if (n != 0) cursor_ = (cursor_ + looked) % n;
  if (read_keys_.empty()) return;
  flushAcks();  // in the same write as the read
  const uint32_t per_key =
      std::max<uint32_t>(1, std::min<uint32_t>(min_room, static_cast<uint32_t>(free_.size() / read_keys_.size())));
  reading_ = true;
  queue_.read(read_keys_, per_key, setup_.options.reclaim_idle_ms, this, onRead);
}

void CallbackDispatcher::onRead(void* ctx, bool ok, std::span<const state::CallbackEvent> events) {
  auto* d = static_cast<CallbackDispatcher*>(ctx);
  d->reading_ = false;
  if (!ok || d->stopped_) return;
  for (const state::CallbackEvent& e : events) d->dispatch(e);
  // A full batch may mean more are waiting: read again on the next turn.
  if (!events.empty() && !d->stopped_ && d->timer_ != nullptr) uv_timer_start(d->timer_, onTick, 0, d->setup_.options.poll_ms);
}

CallbackDispatcher::KeyState* CallbackDispatcher::keyState(std::string_view key_id) {
  for (const auto& k : keys_) {
    if (k->target->key_id == key_id) return k.get();
  }
  return nullptr;
}

void CallbackDispatcher::dispatch(const state::CallbackEvent& e) {
  KeyState* k = keyState(e.key_id);
  if (k == nullptr || free_.empty()) {
    // Not ours (the key lost its URL since it was queued), or no slot (a
    // claim brought more than asked for): given back for later.
    if (k == nullptr) {
      const std::string_view one[] = {e.entry_id};
      queue_.ack(e.key_id, one, nullptr, onStored);
    } else {
      queue_.retry(e, e.tries, setup_.options.poll_ms, nullptr, onStored);
    }
    return;
  }
  Slot* s = free_.back();
  free_.pop_back();
  ++in_flight_;
  ++k->in_flight;
  s->key = k;
  s->message_id.assign(e.message_id);
  s->channel.assign(e.channel);
  s->status.assign(e.status);
  s->provider_message_id.assign(e.provider_message_id);
  s->error_code.assign(e.error_code);
  s->entry_id.assign(e.entry_id);
  s->attempts = e.attempts;
  s->updated_unix_ms = e.updated_unix_ms;
  s->tries = e.tries;
  s->body.clear();
  appendCallbackBody(s->body, e);
  s->signature.clear();
  appendSignatureHeader(s->signature, k->target->secret, static_cast<int64_t>(time(nullptr)), s->body.view());
  const std::string_view headers[] = {"Content-Type: application/json", "User-Agent: phigate-callbacks/1",
                                      s->signature.view()};
  http_->post(k->target->url, headers, s->body.view(), setup_.options.timeouts, onSent, s);
}

void CallbackDispatcher::onSent(void* ctx, const net::HttpResult& r) {
  auto* s = static_cast<Slot*>(ctx);
  if (r.error == net::HttpError::kCancelled) {
    // The dispatcher is stopping: left queued (pending) for whoever comes next.
    CallbackDispatcher* d = s->d;
    --s->key->in_flight;
    --d->in_flight_;
    d->free_.push_back(s);
    return;
  }
  s->d->settle(s, r);
}

// A 2xx is delivered, its body ignored (a body beyond the cap too: the
// status arrived). A refusal (address or URL) is dropped at once; anything
// else is tried again later, until max_tries.
void CallbackDispatcher::settle(Slot* s, const net::HttpResult& r) {
  const state::CallbackEvent e = s->event();
  const bool ok = (r.error == net::HttpError::kNone || r.error == net::HttpError::kTooLarge) && success(r.status);
  if (ok) {
    ++stats_.delivered;
    ack(s->key, e.entry_id);
  } else {
    ++stats_.failed;
    if (r.error == net::HttpError::kRefused) {
      ++stats_.refused;
      drop(s, "refused");
    } else if (e.tries + 1 >= setup_.options.max_tries) {
      drop(s, "retries-exhausted");
    } else {
      ++stats_.retried;
      queue_.retry(e, e.tries + 1, retryDelay(e.tries + 1), nullptr, onStored);
    }
  }
  KeyState* k = s->key;
  --k->in_flight;
  --in_flight_;
  free_.push_back(s);
  // Reads in batches: when half of the key's slots have come free since
  // its last read, not after every callback (the timer reads the rest).
  if (++k->freed_since_read >= std::max<uint32_t>(1, setup_.options.per_key_in_flight / 2)) readMore();
}

void CallbackDispatcher::ack(KeyState* k, std::string_view entry_id) {
  k->acks.emplace_back(entry_id);
  if (k->acks.size() >= kAckBatch) flushAcks();
}

// Each key's finished callbacks in one XACK + XDEL. A batch lost with a
// crash is sent again after the reclaim (at-least-once).
void CallbackDispatcher::flushAcks() {
  std::vector<std::string_view> ids;
  for (const auto& k : keys_) {
    if (k->acks.empty()) continue;
    ids.assign(k->acks.begin(), k->acks.end());
    queue_.ack(k->target->key_id, ids, nullptr, onStored);
    k->acks.clear();
  }
}

void CallbackDispatcher::drop(Slot* s, std::string_view reason) {
  ++stats_.dropped;
  ack(s->key, s->entry_id);
  EventLine("callback_dropped")
      .str("key_id", s->key->target->key_id)
      .str("reason", reason)
      .num("tries", s->tries + 1)
      .num("dropped_total", static_cast<int64_t>(stats_.dropped))
      .num("refused_total", static_cast<int64_t>(stats_.refused))
      .emit();
}

// min, 2·min, 4·min ... up to max, each plus up to half of it again at
// random (so callbacks that failed together spread out), never less than
// the step: with the defaults the 8 tries span at least an hour.
uint32_t callbackRetryDelay(const CallbackOptions& o, uint32_t tries, uint64_t* rng) {
  const uint64_t min = std::max<uint32_t>(o.retry_min_ms, 1);
  const uint64_t step = std::min<uint64_t>(o.retry_max_ms, min << std::min<uint32_t>(std::max<uint32_t>(tries, 1) - 1, 30));
  uint64_t& x = *rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return static_cast<uint32_t>(std::min<uint64_t>(step + x % (step / 2 + 1), UINT32_MAX));
}

uint32_t CallbackDispatcher::retryDelay(uint32_t tries) { return callbackRetryDelay(setup_.options, tries, &rng_); }

// The store found a key's queue full (kMaxCallbacksPerKey waiting) and
// counted the callbacks it did not add: said here, once per fresh count.
void CallbackDispatcher::onStoreDropped(void* ctx, std::string_view key_id, uint64_t fresh, uint64_t total) {
  auto* d = static_cast<CallbackDispatcher*>(ctx);
  d->stats_.dropped += fresh;
  EventLine("callback_dropped")
      .str("key_id", key_id)
      .str("reason", "queue-full")
      .num("count", static_cast<int64_t>(fresh))
      .num("key_dropped_total", static_cast<int64_t>(total))
      .emit();
}

void CallbackDispatcher::onStored(void*, bool) {
  // A lost acknowledgement or retry leaves the entry pending: it is taken
  // over after reclaim_idle_ms and sent again (at-least-once).
}

}  // namespace phigate::delivery
