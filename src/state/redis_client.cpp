#include "common/event_line.h"
#include "state/redis_client.h"

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

#include "state/redis_resp.h"

namespace phigate::state {

namespace {

// Handshake steps that are not a script (Pending::script >= 0 is SCRIPT LOAD).
constexpr int kStepAuth = -1;
constexpr int kStepSelect = -2;
constexpr int kStepPing = -3;
// A Pending keeps its EVALSHA encoding for reuse; a huge one is not kept.
constexpr size_t kMaxKeptResp = 64 * 1024;

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

uv_handle_t* asHandle(auto* h) { return reinterpret_cast<uv_handle_t*>(h); }

}  // namespace

/** The handles libuv may still use after the client is gone. */
struct RedisClient::Handles {
  uv_timer_t timer;  // connect deadline, oldest command's deadline, or backoff
  uv_check_t flush;  // writes the turn's commands once the turn's callbacks are done
  uv_idle_t nudge;   // keeps the next poll from blocking while a flush is due
  RedisClient* owner = nullptr;
  int open = 0;  // the timer, the check, the idle + adapters not yet closed
  bool timer_closing = false;

  static void onClosed(uv_handle_t* h) { static_cast<Handles*>(h->data)->closedOne(); }
  static void onAdapterClosed(void* ctx) { static_cast<Handles*>(ctx)->closedOne(); }

  void closeOwnHandles() {
    if (timer_closing) return;
    timer_closing = true;
    uv_close(asHandle(&timer), onClosed);
    uv_close(asHandle(&flush), onClosed);
    uv_close(asHandle(&nudge), onClosed);
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
  // Jittered, seeded per process and client, so workers that lost Redis
  // together do not come back in lockstep.
  uint64_t seed = uv_hrtime() ^ reinterpret_cast<uintptr_t>(this) ^ (static_cast<uint64_t>(getpid()) << 32);
  if (seed == 0) seed = 0x9e3779b97f4a7c15ull;
  backoff_ = Backoff(opts_.backoff_min_ms, opts_.backoff_max_ms, seed);
}

// A stop() whose listener and on_closed are never called: busy_ is 0, so the
// pending callbacks get nullptr now, inside stop().
RedisClient::~RedisClient() {
  assert(busy_ == 0 && "RedisClient destroyed from inside its own callback");
  state_fn_ = nullptr;
  closed_fn_ = nullptr;  // also that of an earlier stop() still closing
  stop();
  assert(state_ == State::kStopped);
  handles_->closeOwnHandles();
  handles_->owner = nullptr;
  if (handles_->open == 0) delete handles_;
}

// ---- public API -------------------------------------------------------------

void RedisClient::start() {
  if (state_ != State::kNew) return;
  if (!opts_.endpoint.unix_socket && !isIpLiteral(opts_.endpoint.host)) {
    // redisAsyncConnect would resolve the name with a blocking getaddrinfo.
    report("redis_unavailable", "the host is not an IP address (resolve it at start-up)");
    return;
  }
  connect();
}

void RedisClient::stop(void* ctx, ClosedFn on_closed) {
  if (state_ == State::kStopping || state_ == State::kStopped) return;
  closed_ctx_ = ctx;
  closed_fn_ = on_closed;
  switch (state_) {
    case State::kConnecting:
    case State::kReady:
    case State::kDropping:
      enter(State::kStopping);
      drop(nullptr);  // disconnected() finishes the stop, now or after the hiredis call
      return;
    default:
      finishStop();  // no connection to take down
      return;
  }
}

void RedisClient::command(std::span<const std::string_view> argv, void* ctx, Callback cb) {
  if (resp::refusedOnSharedConnection(argv) || state_ != State::kReady) {
    cb(ctx, nullptr);
    return;
  }
  resp::encodeCommand(&scratch_, argv);
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
  if (state_ != State::kNew) return -1;
  scripts_.push_back(Script{std::move(lua), {}});
  return static_cast<int>(scripts_.size() - 1);
}

void RedisClient::evalsha(int script, std::span<const std::string_view> keys,
                          std::span<const std::string_view> args, void* ctx, Callback cb) {
  if (script < 0 || static_cast<size_t>(script) >= scripts_.size() || state_ != State::kReady) {
    cb(ctx, nullptr);
    return;
  }
  Pending* p = acquire();
  p->kind = Kind::kEval;
  p->script = script;
  p->ctx = ctx;
  p->cb = cb;
  p->deadline = uv_now(loop_) + opts_.command_timeout_ms;
  resp::encodeEvalsha(&p->resp, scripts_[static_cast<size_t>(script)].sha, keys, args);
  if (!send(p, p->resp)) {
    release(p);
    cb(ctx, nullptr);
  }
  settle();
}

uint64_t RedisClient::msUntilOldestDeadline() const {
  if (head_ == nullptr) return opts_.command_timeout_ms;
  const uint64_t now = uv_now(loop_);
  return head_->deadline > now ? head_->deadline - now : 0;
}

// ---- connection life --------------------------------------------------------

void RedisClient::enter(State next) {
  assert(transitionAllowed(state_, next) && "a RedisClient state transition not in the table");
  state_ = next;
}

void RedisClient::connect() {
  enter(State::kConnecting);
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

bool RedisClient::attach(redisAsyncContext* ac) {
  if (!RedisUvAdapter::attach(loop_, ac, this, handles_, Handles::onAdapterClosed)) return false;
  ++handles_->open;
  // hiredis 0.14 opens its sockets without close-on-exec.
  fcntl(ac->c.fd, F_SETFD, fcntl(ac->c.fd, F_GETFD) | FD_CLOEXEC);
  if (!opts_.endpoint.unix_socket) setKeepAlive(ac->c.fd);
  ac->data = this;
  return true;
}

// AUTH, SELECT and SCRIPT LOADs are queued before the TCP connect completes,
// so they leave in the connection's first write; PING stands in when there is
// nothing else, so that "ready" always means "the server answered".
bool RedisClient::sendHandshake() {
  handshake_left_ = 0;
  auto queue = [this](int step, std::initializer_list<std::string_view> argv) {
    resp::encodeCommand(&scratch_, std::span<const std::string_view>(argv.begin(), argv.size()));
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
  enter(State::kReady);
  backoff_.reset();
  uv_timer_stop(&handles_->timer);
  announced_ = Announced::kUp;
  report("redis_connected", nullptr);
  if (state_fn_ != nullptr) state_fn_(state_ctx_, true);
}

// hiredis is running the pending callbacks with NULL: we are freeing the
// context, or it is (EOF, a read error) from inside one of its calls.
void RedisClient::contextDying() {
  if (!tearingDown()) enter(State::kDropping);
}

// Drops the connection: every pending callback gets nullptr (hiredis runs
// them, in order, from redisAsyncFree), then backoff or stop. From inside a
// hiredis call this only takes note; settle() does it once the call returns.
// The first reason stands.
void RedisClient::drop(const char* reason) {
  if (ac_ == nullptr) return;
  if (!tearingDown()) {
    drop_reason_ = reason;
    enter(State::kDropping);
  }
  settle();
}

// After a hiredis call returns (and from drop()): once no hiredis call is on
// the stack, carry out a teardown asked for inside one.
void RedisClient::settle() {
  if (busy_ > 0 || !tearingDown()) return;
  if (ac_ != nullptr) {
    ++busy_;
    redisAsyncFree(ac_);  // fails the pending callbacks, then onDetached() clears ac_
    --busy_;
  }
  disconnected(drop_reason_);
}

// The context is gone (we freed it, hiredis freed it, or it never was).
void RedisClient::disconnected(const char* reason) {
  assert(head_ == nullptr);
  ac_ = nullptr;
  drop_reason_ = nullptr;
  uv_timer_stop(&handles_->timer);
  const Announced before = announced_;
  if (state_ == State::kStopping) {
    announced_ = Announced::kNothing;  // a stop is not an outage
    finishStop();
  } else {
    if (reason == nullptr) reason = last_error_[0] != '\0' ? last_error_ : "connection closed";
    // Once per outage, not once per attempt.
    if (before != Announced::kDown) report("redis_unavailable", reason);
    announced_ = Announced::kDown;
    enter(State::kBackoff);
    armTimer(backoff_.next());
  }
  if (before == Announced::kUp && state_fn_ != nullptr) state_fn_(state_ctx_, false);
}

void RedisClient::finishStop() {
  enter(State::kStopped);
  handles_->closeOwnHandles();
}

// A one-shot timer is inactive again once it has fired or been stopped (and
// once it is closing), so libuv's own flag is the "armed" flag.
bool RedisClient::timerArmed() const { return uv_is_active(asHandle(&handles_->timer)) != 0; }

void RedisClient::armTimer(uint64_t delay_ms) {
  uv_timer_start(&handles_->timer, onTimer, delay_ms, 0);
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

void RedisClient::report(const char* event, const char* reason) {
  EventLine line(event);
  // Reasons come from us, strerror or hiredis's errstr: never from commands;
  // still, only printable ASCII reaches the log.
  if (reason != nullptr) {
    char clean[sizeof last_error_];
    size_t n = 0;
    for (const char* s = reason; *s != '\0' && n < sizeof clean; ++s) {
      const auto c = static_cast<unsigned char>(*s);
      clean[n++] = (c < 0x20 || c >= 0x7f) ? '?' : static_cast<char>(c);
    }
    line.str("reason", std::string_view(clean, n));
  }
  line.emit();
}

// ---- the socket, through RedisUvAdapter -------------------------------------

void RedisClient::onSocketReady(int events) {
  ++busy_;
  if (events & UV_READABLE) redisAsyncHandleRead(ac_);
  // Writes what every command of this loop turn appended: one write().
  if ((events & UV_WRITABLE) && ac_ != nullptr && !tearingDown()) redisAsyncHandleWrite(ac_);
  --busy_;
  settle();
}

void RedisClient::onSocketError(const char* reason) {
  if (tearingDown()) return;  // the first reason stands
  snprintf(last_error_, sizeof last_error_, "%s", reason);
  drop(last_error_);
}

// The commands of a turn are written at its end, by the check handle, in one
// write(). Inside that write a new request means the socket buffer is full:
// then writability must be polled.
bool RedisClient::deferWrite() {
  if (flushing_) return false;
  uv_check_t* check = &handles_->flush;
  if (!uv_is_active(asHandle(check)) && !handles_->timer_closing) {
    uv_check_start(check, onFlush);
    // A command issued after this turn's check phase ran (from a later
    // check or a close callback) is written in the next turn's: the idle
    // handle makes that turn's poll return at once instead of waiting.
    uv_idle_start(&handles_->nudge, [](uv_idle_t*) {});
  }
  return uv_is_active(asHandle(check)) != 0;
}

void RedisClient::onDetached(const char* error) {
  if (error != nullptr && last_error_[0] == '\0') {
    snprintf(last_error_, sizeof last_error_, "%s", error);
  }
  ac_ = nullptr;
  contextDying();  // hiredis freed it without a pending callback to tell us
}

void RedisClient::onFlush(uv_check_t* h) {
  auto* handles = static_cast<Handles*>(h->data);
  uv_check_stop(h);
  uv_idle_stop(&handles->nudge);
  if (handles->owner != nullptr) handles->owner->flush();
}

void RedisClient::flush() {
  if (ac_ == nullptr || tearingDown()) return;
  ++busy_;
  flushing_ = true;
  redisAsyncHandleWrite(ac_);
  flushing_ = false;
  --busy_;
  settle();
}

// ---- commands and replies ---------------------------------------------------

bool RedisClient::send(Pending* p, std::string_view resp) {
  if (ac_ == nullptr || tearingDown()) return false;
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
  if (state_ == State::kReady && !timerArmed()) {
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
  if (reply == nullptr) contextDying();
  switch (p->kind) {
    case Kind::kHandshake:
      handshakeReplied(p, reply);
      return;
    case Kind::kReload:
      // Its outcome shows in the retried EVALSHA that follows it.
      release(p);
      return;
    case Kind::kEval:
      if (reply != nullptr && !p->retried && resp::isNoScript(reply) && retryNoScript(p)) return;
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
  if (reply == nullptr || state_ != State::kConnecting) return;
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view code = resp::errorCode(reply);
    snprintf(last_error_, sizeof last_error_, "%s failed: %.*s", stepName(step),
             static_cast<int>(code.size()), code.data());
    drop(last_error_);
    return;
  }
  if (step >= 0) {
    if (reply->type != REDIS_REPLY_STRING || reply->len != resp::kSha1HexLength) {
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
  if (state_ != State::kReady) return false;
  const uint64_t deadline = uv_now(loop_) + opts_.command_timeout_ms;
  const std::string_view load[] = {"SCRIPT", "LOAD", scripts_[static_cast<size_t>(p->script)].lua};
  resp::encodeCommand(&scratch_, load);
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

}  // namespace phigate::state
