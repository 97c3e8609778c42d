#include "state/redis_client.h"
#include "net/http_request.h"  // equalsLower


#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <initializer_list>

namespace phigate::state {

namespace {

// Handshake steps that are not a script (Pending::script >= 0 is SCRIPT LOAD).
constexpr int kStepAuth = -1;
constexpr int kStepSelect = -2;
constexpr int kStepPing = -3;
// A Pending keeps its EVALSHA encoding for reuse; a huge one is not kept.
constexpr size_t kMaxKeptResp = 64 * 1024;
constexpr size_t kSha1Hex = 40;

// RESP encoding, length-prefixed: user bytes never meet a format string.
void appendCount(std::string* out, char type, size_t n) {
  char num[24];
  const auto r = std::to_chars(num, num + sizeof num, n);
  out->push_back(type);
  out->append(num, r.ptr);
  out->append("\r\n");
}

void appendBulk(std::string* out, std::string_view s) {
  appendCount(out, '$', s.size());
  out->append(s);
  out->append("\r\n");
}

void encode(std::string* out, std::span<const std::string_view> argv) {
  out->clear();
  appendCount(out, '*', argv.size());
  for (std::string_view a : argv) appendBulk(out, a);
}


// One connection is shared by every caller, its commands interleaved, so a
// command may not change what the connection means for the others: no
// transactions (other callers' commands would land inside them: use a
// script), no AUTH / SELECT / RESET / QUIT. And hiredis 0.14 keeps one
// callback per command except for (un)subscribe and monitor, whose callbacks
// live on (and it asserts on the unsolicited replies of the sharded variants
// it does not know); CLIENT REPLY makes the server skip replies; HELLO 3
// switches to RESP3, which 0.14 cannot parse.
bool refused(std::span<const std::string_view> argv) {
  static constexpr std::string_view kRefused[] = {
      "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
      "monitor", "hello", "reset", "auth", "select", "quit", "multi", "exec", "discard",
      "watch", "unwatch"};
  if (argv.empty()) return true;
  for (std::string_view r : kRefused) {
    if (net::equalsLower(argv[0], r)) return true;
  }
  return argv.size() > 1 && net::equalsLower(argv[0], "client") && net::equalsLower(argv[1], "reply");
}

bool isNoScript(const redisReply* r) {
  return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

// The error's code ("WRONGPASS", "NOAUTH", "ERR"): the rest of an error
// message can quote what was sent.
std::string_view errorCode(const redisReply* r) {
  std::string_view s(r->str, r->len);
  size_t n = 0;
  while (n < s.size() && n < 24 && s[n] >= 'A' && s[n] <= 'Z') ++n;
  return n == 0 ? std::string_view("error") : s.substr(0, n);
}

const char* stepName(int step) {
  switch (step) {
    case kStepAuth: return "AUTH";
    case kStepSelect: return "SELECT";
    case kStepPing: return "PING";
    default: return "SCRIPT LOAD";
  }
}

// An idle connection to a host that died without a RST would look healthy
// until the next command's deadline; keepalive probes find it within ~30 s.
// Best effort: a failure here changes nothing else.
void setKeepAlive(int fd) {
  int on = 1;
  int idle = 15;
  int interval = 5;
  int count = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

}  // namespace

/** The handles libuv may still use after the client is gone. */
struct RedisClient::Handles {
  uv_timer_t timer;
  uv_check_t flush;  // writes the turn's commands once the turn's callbacks are done
  uv_idle_t nudge;   // keeps the next poll from blocking while a flush is due
  RedisClient* owner = nullptr;
  int open = 0;  // the timer, the check + watchers not yet closed
  bool timer_closing = false;

  static void onTimerClosed(uv_handle_t* h) { static_cast<Handles*>(h->data)->closedOne(); }

  void closeOwnHandles() {
    if (timer_closing) return;
    timer_closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), onTimerClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&flush), onTimerClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&nudge), onTimerClosed);
  }

  void closedOne() {
    if (--open > 0) return;
    if (owner == nullptr) {
      delete this;
    } else if (owner->closed_fn_ != nullptr) {
      ClosedFn fn = owner->closed_fn_;
      owner->closed_fn_ = nullptr;
      fn(owner->closed_ctx_);
    }
  }
};

/** hiredis's event hooks drive this poll watcher; hiredis's cleanup hook closes it. */
struct RedisClient::Watcher {
  uv_poll_t poll;
  redisAsyncContext* ac = nullptr;  // nullptr once hiredis has let go of it
  RedisClient* client = nullptr;
  Handles* handles = nullptr;
  int events = 0;

  static void onClosed(uv_handle_t* h) {
    auto* w = static_cast<Watcher*>(h->data);
    Handles* handles = w->handles;
    delete w;
    handles->closedOne();
  }

  void update(int want) {
    if (ac == nullptr || want == events) return;
    events = want;
    const int rc = want == 0 ? uv_poll_stop(&poll) : uv_poll_start(&poll, want, onPoll);
    if (rc != 0 && client != nullptr) client->drop("cannot poll the socket");
  }
};

RedisClient::RedisClient(uv_loop_t* loop, RedisOptions opts)
    : loop_(loop), opts_(std::move(opts)), handles_(new Handles) {
  handles_->owner = this;
  uv_timer_init(loop_, &handles_->timer);
  handles_->timer.data = handles_;
  uv_check_init(loop_, &handles_->flush);
  handles_->flush.data = handles_;
  uv_idle_init(loop_, &handles_->nudge);
  handles_->nudge.data = handles_;
  handles_->open = 3;
  rng_ = uv_hrtime() ^ reinterpret_cast<uintptr_t>(this) ^ (static_cast<uint64_t>(getpid()) << 32);
  if (rng_ == 0) rng_ = 0x9e3779b97f4a7c15ull;
}

RedisClient::~RedisClient() {
  assert(busy_ == 0 && "RedisClient destroyed from inside its own callback");
  destroying_ = true;
  stopping_ = true;
  drop(nullptr);  // pending callbacks get nullptr
  state_ = State::kStopped;
  closed_fn_ = nullptr;
  handles_->closeOwnHandles();
  handles_->owner = nullptr;
  if (handles_->open == 0) delete handles_;
}

// ---- public API -------------------------------------------------------------

void RedisClient::start() {
  if (state_ != State::kIdle || stopping_) return;
  if (!opts_.endpoint.unix_socket && !isIpLiteral(opts_.endpoint.host)) {
    // redisAsyncConnect would resolve the name with a blocking getaddrinfo.
    report("redis_unavailable", "the host is not an IP address (resolve it at start-up)");
    return;
  }
  connect();
}

void RedisClient::stop(void* ctx, ClosedFn on_closed) {
  if (stopping_) return;
  stopping_ = true;
  closed_ctx_ = ctx;
  closed_fn_ = on_closed;
  if (ac_ != nullptr) {
    drop(nullptr);  // disconnected() finishes the stop, now or after the hiredis call
  } else {
    finishStop();
  }
}

void RedisClient::command(std::span<const std::string_view> argv, void* ctx, Callback cb) {
  if (refused(argv) || !connected() || dying_ || stopping_ || drop_requested_) {
    cb(ctx, nullptr);
    return;
  }
  encode(&scratch_, argv);
  Pending* p = acquire();
  p->kind = Kind::kUser;
  p->ctx = ctx;
  p->cb = cb;
  p->deadline = uv_now(loop_) + opts_.command_timeout_ms;
  if (!send(p, scratch_)) {
    release(p);
    cb(ctx, nullptr);
  }
  settle();
}

int RedisClient::registerScript(std::string lua) {
  if (state_ != State::kIdle) return -1;
  scripts_.push_back(Script{std::move(lua), {}});
  return static_cast<int>(scripts_.size() - 1);
}

void RedisClient::evalsha(int script, std::span<const std::string_view> keys,
                          std::span<const std::string_view> args, void* ctx, Callback cb) {
  if (script < 0 || static_cast<size_t>(script) >= scripts_.size() || !connected() || dying_ ||
      stopping_ || drop_requested_) {
    cb(ctx, nullptr);
    return;
  }
  Pending* p = acquire();
  p->kind = Kind::kEval;
  p->script = script;
  p->ctx = ctx;
  p->cb = cb;
  p->deadline = uv_now(loop_) + opts_.command_timeout_ms;
  char num[24];
  const auto nk = std::to_chars(num, num + sizeof num, keys.size());
  p->resp.clear();
  appendCount(&p->resp, '*', 3 + keys.size() + args.size());
  appendBulk(&p->resp, "EVALSHA");
  appendBulk(&p->resp, scripts_[static_cast<size_t>(script)].sha);
  appendBulk(&p->resp, std::string_view(num, static_cast<size_t>(nk.ptr - num)));
  for (std::string_view k : keys) appendBulk(&p->resp, k);
  for (std::string_view a : args) appendBulk(&p->resp, a);
  if (!send(p, p->resp)) {
    release(p);
    cb(ctx, nullptr);
  }
  settle();
}

// ---- connection life --------------------------------------------------------

void RedisClient::connect() {
  state_ = State::kConnecting;
  last_error_[0] = '\0';
  const RedisEndpoint& ep = opts_.endpoint;
  // Nonblocking: an IP literal needs no lookup, a unix socket connects at once.
  redisAsyncContext* ac = ep.unix_socket ? redisAsyncConnectUnix(ep.path.c_str())
                                         : redisAsyncConnect(ep.host.c_str(), ep.port);
  const char* failure = nullptr;
  if (ac == nullptr) {
    failure = "out of memory";
  } else if (ac->err != 0) {
    snprintf(last_error_, sizeof last_error_, "connect: %s", ac->errstr);
    failure = last_error_;
  } else if (!attach(ac)) {
    failure = "cannot watch the socket";
  }
  if (failure != nullptr) {
    if (ac != nullptr) redisAsyncFree(ac);  // no callbacks yet, adapter not attached
    disconnected(failure);
    return;
  }
  ac_ = ac;
  connect_deadline_ = uv_now(loop_) + opts_.connect_timeout_ms;
  armTimer(opts_.connect_timeout_ms);
  if (!sendHandshake()) drop("cannot queue the handshake");
  settle();
}

// Our adapter, in place of adapters/libuv.h: one uv_poll_t per connection,
// its own heap block so it can outlive the context (uv_close is asynchronous).
bool RedisClient::attach(redisAsyncContext* ac) {
  auto* w = new Watcher;
  if (uv_poll_init(loop_, &w->poll, ac->c.fd) != 0) {
    delete w;  // uv_poll_init registers nothing when it fails
    return false;
  }
  // hiredis 0.14 opens its sockets without close-on-exec.
  fcntl(ac->c.fd, F_SETFD, fcntl(ac->c.fd, F_GETFD) | FD_CLOEXEC);
  if (!opts_.endpoint.unix_socket) setKeepAlive(ac->c.fd);
  w->poll.data = w;
  w->ac = ac;
  w->client = this;
  w->handles = handles_;
  ++handles_->open;
  watcher_ = w;
  ac->data = this;
  ac->ev.data = w;
  ac->ev.addRead = evAddRead;
  ac->ev.delRead = evDelRead;
  ac->ev.addWrite = evAddWrite;
  ac->ev.delWrite = evDelWrite;
  ac->ev.cleanup = evCleanup;
  return true;
}

// AUTH, SELECT and SCRIPT LOADs are queued before the TCP connect completes,
// so they leave in the connection's first write; PING stands in when there is
// nothing else, so that "ready" always means "the server answered".
bool RedisClient::sendHandshake() {
  handshake_left_ = 0;
  auto queue = [this](int step, std::initializer_list<std::string_view> argv) {
    encode(&scratch_, std::span<const std::string_view>(argv.begin(), argv.size()));
    Pending* p = acquire();
    p->kind = Kind::kHandshake;
    p->script = step;
    p->deadline = connect_deadline_;
    if (!send(p, scratch_)) {
      release(p);
      return false;
    }
    ++handshake_left_;
    return true;
  };
  const RedisEndpoint& ep = opts_.endpoint;
  if (!ep.password.empty()) {
    const bool ok = ep.user.empty() ? queue(kStepAuth, {"AUTH", ep.password})
                                    : queue(kStepAuth, {"AUTH", ep.user, ep.password});
    if (!ok) return false;
  }
  if (ep.db != 0) {
    char num[16];
    const auto r = std::to_chars(num, num + sizeof num, ep.db);
    if (!queue(kStepSelect, {"SELECT", std::string_view(num, static_cast<size_t>(r.ptr - num))})) {
      return false;
    }
  }
  for (size_t i = 0; i < scripts_.size(); ++i) {
    if (!queue(static_cast<int>(i), {"SCRIPT", "LOAD", scripts_[i].lua})) return false;
  }
  if (handshake_left_ == 0 && !queue(kStepPing, {"PING"})) return false;
  return true;
}

void RedisClient::becomeReady() {
  state_ = State::kReady;
  attempts_ = 0;
  uv_timer_stop(&handles_->timer);
  timer_armed_ = false;
  down_reported_ = false;
  report("redis_connected", nullptr);
  if (state_fn_ != nullptr) state_fn_(state_ctx_, true);
}

// Drops the connection: every pending callback gets nullptr (hiredis runs
// them, in order, from redisAsyncFree), then backoff or stop. From inside a
// hiredis call this only takes note; settle() does it once the call returns.
void RedisClient::drop(const char* reason) {
  if (ac_ == nullptr) return;
  if (busy_ > 0) {
    if (!drop_requested_) drop_reason_ = reason;
    drop_requested_ = true;
    return;
  }
  dying_ = true;
  ++busy_;
  redisAsyncFree(ac_);  // runs evCleanup, which clears ac_
  --busy_;
  disconnected(reason);
}

// The context is gone (we freed it, hiredis freed it, or it never was).
void RedisClient::disconnected(const char* reason) {
  assert(head_ == nullptr);
  const bool was_ready = state_ == State::kReady;
  ac_ = nullptr;
  watcher_ = nullptr;
  dying_ = gone_ = drop_requested_ = false;
  drop_reason_ = nullptr;
  if (timer_armed_) {
    uv_timer_stop(&handles_->timer);
    timer_armed_ = false;
  }
  if (destroying_) {
    state_ = State::kStopped;
    return;
  }
  if (stopping_) {
    finishStop();
  } else {
    if (reason == nullptr) reason = last_error_[0] != '\0' ? last_error_ : "connection closed";
    // Once per outage, not once per attempt.
    if (was_ready || !down_reported_) report("redis_unavailable", reason);
    down_reported_ = true;
    state_ = State::kBackoff;
    armTimer(backoffDelay());
    ++attempts_;
  }
  if (was_ready && state_fn_ != nullptr) state_fn_(state_ctx_, false);
}

void RedisClient::finishStop() {
  state_ = State::kStopped;
  timer_armed_ = false;
  handles_->closeOwnHandles();
}

// Equal jitter: half the exponential step, plus up to as much again at random,
// so workers that lost Redis together do not come back in lockstep.
uint64_t RedisClient::backoffDelay() {
  const uint64_t lo = std::max<uint32_t>(opts_.backoff_min_ms, 1);
  const uint64_t hi = std::max<uint64_t>(opts_.backoff_max_ms, lo);
  const uint64_t step = std::min<uint64_t>(hi, lo << std::min<uint32_t>(attempts_, 20));
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return step / 2 + rng_ % (step - step / 2 + 1);
}

void RedisClient::armTimer(uint64_t delay_ms) {
  timer_armed_ = true;
  uv_timer_start(&handles_->timer, onTimer, delay_ms, 0);
}

uint64_t RedisClient::msUntilOldestDeadline() const {
  if (head_ == nullptr) return opts_.command_timeout_ms;
  const uint64_t now = uv_now(loop_);
  return head_->deadline > now ? head_->deadline - now : 0;
}

void RedisClient::onTimer(uv_timer_t* t) {
  RedisClient* self = static_cast<Handles*>(t->data)->owner;
  if (self != nullptr) self->timerFired();
}

// One timer serves every state: the backoff, the connect deadline, and the
// oldest outstanding command's deadline. Replies come back in order, so only
// the head of the queue can be the first to expire; later commands have later
// deadlines (they were issued later, with the same timeout).
void RedisClient::timerFired() {
  timer_armed_ = false;
  const uint64_t now = uv_now(loop_);
  switch (state_) {
    case State::kBackoff:
      connect();
      return;
    case State::kConnecting:
      if (now >= connect_deadline_) {
        drop("connect timeout");
      } else {
        armTimer(connect_deadline_ - now);
      }
      return;
    case State::kReady:
      if (head_ == nullptr) return;
      if (head_->deadline <= now && ac_ != nullptr) {
        // libuv runs timers before it polls for I/O: after a stall of our
        // own loop, the reply may already be in the socket. Read what is
        // there before calling a command late, or a request Redis admitted
        // would be answered 503.
        ++busy_;
        redisAsyncHandleRead(ac_);
        --busy_;
        settle();
        if (state_ != State::kReady || head_ == nullptr) return;
      }
      if (head_->deadline <= now) {
        drop("command timeout");
      } else {
        armTimer(head_->deadline - now);
      }
      return;
    default:
      return;
  }
}

// After a hiredis call returns: carry out what was requested inside it.
void RedisClient::settle() {
  if (busy_ > 0) return;
  if (gone_) {
    disconnected(drop_reason_);
  } else if (drop_requested_) {
    drop_requested_ = false;
    drop(drop_reason_);
  }
}

void RedisClient::report(const char* event, const char* reason) {
  if (destroying_) return;
  if (reason == nullptr) {
    fprintf(stderr, "{\"event\":\"%s\"}\n", event);
    return;
  }
  // Reasons come from us, strerror or hiredis's errstr: never from commands.
  char clean[sizeof last_error_];
  size_t n = 0;
  for (const char* s = reason; *s != '\0' && n + 1 < sizeof clean; ++s) {
    const auto c = static_cast<unsigned char>(*s);
    clean[n++] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : static_cast<char>(c);
  }
  clean[n] = '\0';
  fprintf(stderr, "{\"event\":\"%s\",\"reason\":\"%s\"}\n", event, clean);
}

// ---- commands and replies ---------------------------------------------------

bool RedisClient::send(Pending* p, std::string_view resp) {
  if (ac_ == nullptr || dying_) return false;
  ++busy_;
  const int rc = redisAsyncFormattedCommand(ac_, onReply, p, resp.data(), resp.size());
  --busy_;
  if (rc != REDIS_OK) return false;
  ++commands_sent_;
  p->next = nullptr;
  if (tail_ != nullptr) {
    tail_->next = p;
  } else {
    head_ = p;
  }
  tail_ = p;
  if (state_ == State::kReady && !timer_armed_) {
    const uint64_t now = uv_now(loop_);
    armTimer(p->deadline > now ? p->deadline - now : 0);
  }
  return true;
}

void RedisClient::onReply(redisAsyncContext* ac, void* reply, void* privdata) {
  static_cast<RedisClient*>(ac->data)
      ->replied(static_cast<Pending*>(privdata), static_cast<const redisReply*>(reply));
}

// hiredis calls back once per command, in order: with its reply, or with
// NULL while the context is being freed.
void RedisClient::replied(Pending* p, const redisReply* reply) {
  assert(p == head_);
  head_ = p->next;
  if (head_ == nullptr) tail_ = nullptr;
  if (reply == nullptr) dying_ = true;
  switch (p->kind) {
    case Kind::kHandshake:
      handshakeReplied(p, reply);
      return;
    case Kind::kReload:
      // Its outcome shows in the retried EVALSHA that follows it.
      release(p);
      return;
    case Kind::kEval:
      if (reply != nullptr && !p->retried && isNoScript(reply) && retryNoScript(p)) return;
      [[fallthrough]];
    case Kind::kUser: {
      // Recycled before the callback runs: the callback may issue commands.
      const Callback cb = p->cb;
      void* ctx = p->ctx;
      release(p);
      cb(ctx, reply);
      return;
    }
  }
}

void RedisClient::handshakeReplied(Pending* p, const redisReply* reply) {
  const int step = p->script;
  release(p);
  // NULL: the context is being freed, and whoever freed it takes over.
  if (reply == nullptr || state_ != State::kConnecting || drop_requested_) return;
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view code = errorCode(reply);
    snprintf(last_error_, sizeof last_error_, "%s failed: %.*s", stepName(step),
             static_cast<int>(code.size()), code.data());
    drop(last_error_);
    return;
  }
  if (step >= 0) {
    if (reply->type != REDIS_REPLY_STRING || reply->len != kSha1Hex) {
      drop("unexpected SCRIPT LOAD reply");
      return;
    }
    scripts_[static_cast<size_t>(step)].sha.assign(reply->str, reply->len);
  }
  if (--handshake_left_ == 0) becomeReady();
}

// NOSCRIPT: the server lost its script cache (SCRIPT FLUSH, a restart behind
// a proxy, a failover). SCRIPT LOAD then the same EVALSHA again, pipelined in
// one write. Returns false to hand the NOSCRIPT reply to the caller instead.
bool RedisClient::retryNoScript(Pending* p) {
  if (state_ != State::kReady || dying_ || stopping_ || drop_requested_) return false;
  const uint64_t deadline = uv_now(loop_) + opts_.command_timeout_ms;
  const std::string_view load[] = {"SCRIPT", "LOAD", scripts_[static_cast<size_t>(p->script)].lua};
  encode(&scratch_, load);
  Pending* reload = acquire();
  reload->kind = Kind::kReload;
  reload->script = p->script;
  reload->deadline = deadline;
  if (!send(reload, scratch_)) {
    release(reload);
    return false;
  }
  p->retried = true;
  p->deadline = deadline;
  if (!send(p, p->resp)) {
    const Callback cb = p->cb;
    void* ctx = p->ctx;
    release(p);
    cb(ctx, nullptr);
  }
  return true;
}

RedisClient::Pending* RedisClient::acquire() {
  Pending* p = free_;
  if (p != nullptr) {
    free_ = p->next;
  } else {
    p = &pool_.emplace_back();
  }
  p->next = nullptr;
  p->ctx = nullptr;
  p->cb = nullptr;
  p->script = -1;
  p->retried = false;
  return p;
}

void RedisClient::release(Pending* p) {
  if (p->resp.capacity() > kMaxKeptResp) std::string().swap(p->resp);
  p->next = free_;
  free_ = p;
}

// ---- the hiredis event adapter ---------------------------------------------

void RedisClient::evAddRead(void* privdata) {
  auto* w = static_cast<Watcher*>(privdata);
  w->update(w->events | UV_READABLE);
}

void RedisClient::evDelRead(void* privdata) {
  auto* w = static_cast<Watcher*>(privdata);
  w->update(w->events & ~UV_READABLE);
}

// hiredis asks to write whenever a command is appended. On an established
// connection the socket is almost always writable, so rather than asking
// epoll (two epoll_ctl calls and a loop turn per batch) the commands of a
// turn are written at its end, by the check handle, in one write(). Only
// while connecting (hiredis learns of the connect through writability) or
// when the socket buffer is full (hiredis asks again from inside that write)
// is writability polled.
void RedisClient::evAddWrite(void* privdata) {
  auto* w = static_cast<Watcher*>(privdata);
  RedisClient* self = w->client;
  if (self != nullptr && !self->flushing_ && w->ac != nullptr &&
      (w->ac->c.flags & REDIS_CONNECTED) != 0 && (w->events & UV_WRITABLE) == 0) {
    if (!self->flush_scheduled_ && !self->handles_->timer_closing) {
      self->flush_scheduled_ = true;
      uv_check_start(&self->handles_->flush, onFlush);
      // A command issued after this turn's check phase ran (from a later
      // check or a close callback) is written in the next turn's: the idle
      // handle makes that turn's poll return at once instead of waiting.
      uv_idle_start(&self->handles_->nudge, [](uv_idle_t*) {});
    }
    if (self->flush_scheduled_) return;
  }
  w->update(w->events | UV_WRITABLE);
}

void RedisClient::onFlush(uv_check_t* h) {
  auto* handles = static_cast<Handles*>(h->data);
  uv_check_stop(h);
  uv_idle_stop(&handles->nudge);
  RedisClient* self = handles->owner;
  if (self == nullptr) return;
  self->flush_scheduled_ = false;
  if (self->ac_ == nullptr || self->dying_ || self->drop_requested_ || self->gone_) return;
  ++self->busy_;
  self->flushing_ = true;
  redisAsyncHandleWrite(self->ac_);
  self->flushing_ = false;
  --self->busy_;
  self->settle();
}

void RedisClient::evDelWrite(void* privdata) {
  auto* w = static_cast<Watcher*>(privdata);
  w->update(w->events & ~UV_WRITABLE);
}

// Called by hiredis from __redisAsyncFree, after the pending callbacks and
// before the fd is closed (so the epoll registration goes first).
void RedisClient::evCleanup(void* privdata) {
  auto* w = static_cast<Watcher*>(privdata);
  if (w->ac == nullptr) return;
  RedisClient* self = w->client;
  if (self != nullptr && w->ac->err != 0 && self->last_error_[0] == '\0') {
    snprintf(self->last_error_, sizeof self->last_error_, "%s", w->ac->errstr);
  }
  w->ac = nullptr;
  w->client = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), Watcher::onClosed);
  if (self != nullptr) {
    self->ac_ = nullptr;
    self->watcher_ = nullptr;
    self->gone_ = true;
  }
}

void RedisClient::onPoll(uv_poll_t* h, int status, int events) {
  auto* w = static_cast<Watcher*>(h->data);
  RedisClient* self = w->client;
  if (w->ac == nullptr || self == nullptr) return;
  if (status < 0) {
    // libuv reports EPOLLERR (refused connect, RST) as a status and has
    // already stopped the handle: hiredis would never hear of it, and every
    // pending command would wait for its deadline. Drop now.
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(w->ac->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
      snprintf(self->last_error_, sizeof self->last_error_, "socket error: %s", strerror(err));
    } else {
      snprintf(self->last_error_, sizeof self->last_error_, "poll error: %s", uv_strerror(status));
    }
    self->drop(self->last_error_);
    return;
  }
  ++self->busy_;
  if (events & UV_READABLE) redisAsyncHandleRead(w->ac);
  // Writes what every command of this loop turn appended: one write().
  if ((events & UV_WRITABLE) && w->ac != nullptr && !self->drop_requested_) {
    redisAsyncHandleWrite(w->ac);
  }
  --self->busy_;
  self->settle();
}

}  // namespace phigate::state
