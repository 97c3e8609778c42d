// An asynchronous Redis client for a worker's loop, on hiredis 0.14. Three
// parts: this file, the connection's life; redis_resp.h, the bytes of a
// command; redis_uv_adapter.h, hiredis's event hooks on a uv_poll_t (in place
// of hiredis's adapters/libuv.h, which ignores poll errors).
//
// What it adds to hiredis:
//  - a deadline on every command: hiredis has none. Replies arrive in order,
//    so one timer armed for the oldest outstanding command is enough; when it
//    expires the whole connection is dropped (every pending callback gets
//    nullptr) and a new one is made, with jittered exponential backoff;
//  - reconnection, AUTH / SELECT and script loading on every connect, all
//    sent in the connect's first write; connected() turns true only when all
//    of them have succeeded;
//  - EVALSHA with transparent NOSCRIPT recovery (SCRIPT LOAD, then one retry).
//
// Commands issued in one loop turn leave in one write(): hiredis appends them
// to its output buffer, and a check handle writes the whole buffer at the end
// of the turn (writability is polled only while connecting or when the
// socket buffer is full).
//
// The process must ignore SIGPIPE (main() does): hiredis writes with write(2).
// Never destroy the client from inside one of its callbacks; stop() is fine
// there.
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/backoff.h"
#include "state/redis_uri.h"
#include "state/redis_uv_adapter.h"

namespace phigate::state {

/** Connection target and timing of a RedisClient. */
struct RedisOptions {
  RedisEndpoint endpoint;               // host must be an IP literal (see resolveRedisHost)
  uint32_t command_timeout_ms = 50;     // per command, from command() to its reply
  uint32_t connect_timeout_ms = 1000;   // TCP connect + AUTH/SELECT/SCRIPT LOAD
  uint32_t backoff_min_ms = 50, backoff_max_ms = 2000;
};

/** One Redis connection on one libuv loop, kept connected, with per-command deadlines. */
class RedisClient final : private RedisUvAdapter::Owner {
 public:
  /** Valid only during the callback (hiredis frees it right after). nullptr: the command failed. */
  using Reply = const redisReply*;
  using Callback = void (*)(void* ctx, const redisReply* reply);
  using StateFn = void (*)(void* ctx, bool connected);
  using ClosedFn = void (*)(void* ctx);

  RedisClient(uv_loop_t* loop, RedisOptions opts);
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;
  /**
   * Fails every pending command (callbacks get nullptr, once) and closes the
   * handles; their memory is released by libuv's close callbacks, so the
   * loop must run once more before uv_loop_close(). The state listener is
   * not called from here.
   */
  ~RedisClient();

  /** Connects now, then keeps connected (reconnects with jittered exponential backoff). */
  void start();
  /**
   * For drain: fails pending commands, closes the connection, never
   * reconnects; `on_closed(ctx)` runs once every handle is closed (from a
   * later loop turn; the client may be destroyed from it). Commands after
   * stop() fail at once.
   */
  void stop(void* ctx = nullptr, ClosedFn on_closed = nullptr);
  /**
   * Ready for commands: connected, authenticated, db selected, scripts
   * loaded. It agrees with what the state listener was last told: it turns
   * false with the listener's false, after the dropped connection's pending
   * callbacks have run (in which commands already fail at once).
   */
  bool connected() const { return announced_ == Announced::kUp; }

  /**
   * The client's one state. Transitions (enter() asserts them in debug
   * builds; transitionAllowed() is the same table):
   *
   *   kNew        -- start() ----------------------------------------> kConnecting
   *   kConnecting -- every handshake step answered -------------------> kReady
   *   kConnecting -- no context could be made or watched -------------> kBackoff
   *   kConnecting,
   *   kReady      -- drop: a deadline, a poll or socket error, a
   *                  failed handshake step; or hiredis frees the
   *                  context itself (EOF, read error) ---------------> kDropping
   *   kDropping   -- context freed, every pending callback failed ----> kBackoff
   *   kBackoff    -- the timer ----------------------------------------> kConnecting
   *   kConnecting,
   *   kReady,
   *   kDropping   -- stop() or ~RedisClient --------------------------> kStopping
   *   kStopping   -- context freed, every pending callback failed ----> kStopped
   *   kNew,
   *   kBackoff    -- stop() or ~RedisClient (no connection) ----------> kStopped
   *
   * kConnecting covers the TCP connect and the whole handshake: AUTH, SELECT
   * and the SCRIPT LOADs (or a PING) are queued before the connect completes
   * and leave in its first write, so no step ever runs alone; a counter
   * tracks the replies still due. kDropping and kStopping last only while a
   * hiredis call is on the stack: hiredis must not be freed from inside its
   * own calls, so a drop asked for there waits until the outermost call
   * returns (settle()), and inside redisAsyncFree hiredis runs the pending
   * callbacks. Nothing is sent in either. One timer serves kConnecting (the
   * connect deadline), kReady (the oldest command's deadline) and kBackoff
   * (the next attempt).
   */
  enum class State : uint8_t { kNew, kConnecting, kReady, kDropping, kBackoff, kStopping, kStopped };
  static constexpr bool transitionAllowed(State from, State to) {
    switch (to) {
      case State::kNew: return false;
      case State::kConnecting: return from == State::kNew || from == State::kBackoff;
      case State::kReady: return from == State::kConnecting;
      case State::kDropping: return from == State::kConnecting || from == State::kReady;
      case State::kBackoff: return from == State::kConnecting || from == State::kDropping;
      case State::kStopping:
        return from == State::kConnecting || from == State::kReady || from == State::kDropping;
      case State::kStopped:
        return from == State::kNew || from == State::kBackoff || from == State::kStopping;
    }
    return false;
  }
  /** For tests and diagnostics. */
  State state() const { return state_; }

  /**
   * Sends argv (binary-safe; never a format string). `cb` runs exactly once:
   * with the reply (an error reply is a reply), or with nullptr when the
   * command failed: not connected, deadline passed, connection lost, client
   * stopped or destroyed. When it fails at once (not connected, or a refused
   * command), `cb` runs BEFORE command() returns. Refused: an empty argv;
   * what would change the shared connection for other callers (AUTH, SELECT,
   * RESET, QUIT, HELLO, MULTI/EXEC/DISCARD/WATCH/UNWATCH: use a script) or
   * break hiredis's one-reply-per-command bookkeeping ((P|S)SUBSCRIBE,
   * (P|S)UNSUBSCRIBE, MONITOR, CLIENT REPLY). A blocking command (BLPOP...)
   * holds up every reply behind it, so its deadline drops the connection.
   */
  void command(std::span<const std::string_view> argv, void* ctx, Callback cb);

  /**
   * Registers a Lua script, loaded on every (re)connect before connected()
   * turns true. Returns its handle for evalsha(), or -1 after start().
   */
  int registerScript(std::string lua);
  /**
   * EVALSHA sha numkeys keys... args..., with the same callback contract as
   * command(). A NOSCRIPT reply (the server's script cache was flushed or
   * the server restarted behind a proxy) is not shown to the caller: the
   * script is loaded again and the command retried once, with a fresh
   * deadline (so at most twice command_timeout_ms in all).
   */
  void evalsha(int script, std::span<const std::string_view> keys,
               std::span<const std::string_view> args, void* ctx, Callback cb);

  /**
   * Milliseconds until the oldest pending command's deadline, or
   * command_timeout_ms when nothing is pending. When that deadline passes the
   * connection is dropped and every pending command fails, so a command sent
   * now must not take effect past it either (see RedisStore).
   */
  uint64_t msUntilOldestDeadline() const;

  /** Commands handed to hiredis, internal ones (AUTH, SCRIPT LOAD, retries) included. */
  uint64_t commandsSent() const { return commands_sent_; }
  /** `fn(ctx, true)` when the client becomes ready, `fn(ctx, false)` when it stops being ready. */
  void setStateListener(void* ctx, StateFn fn) {
    state_ctx_ = ctx;
    state_fn_ = fn;
  }

 private:
  enum class Kind : uint8_t { kUser, kEval, kHandshake, kReload };
  // What the log and the listener were last told. It outlives connections:
  // an outage is reported once, not once per failed attempt.
  enum class Announced : uint8_t {
    kNothing,  // neither yet, or stop()ped
    kUp,       // "redis_connected", listener(true)
    kDown,     // "redis_unavailable", listener(false) if it had been told kUp
  };

  /** A command hiredis holds a callback for; recycled through a free list. */
  struct Pending {
    Pending* next = nullptr;
    void* ctx = nullptr;
    Callback cb = nullptr;
    uint64_t deadline = 0;  // loop time, ms
    int script = -1;        // kEval, kReload, and kHandshake's SCRIPT LOAD
    Kind kind = Kind::kUser;
    bool retried = false;
    std::string resp;       // kEval: the encoded EVALSHA, kept for the NOSCRIPT retry
  };

  struct Script {
    std::string lua;
    std::string sha;        // from SCRIPT LOAD's reply
  };

  struct Handles;  // outlives the client until libuv has closed everything

  // RedisUvAdapter::Owner: the socket's events, from the adapter.
  void onSocketReady(int events) override;
  void onSocketError(const char* reason) override;
  bool deferWrite() override;
  void onDetached(const char* error) override;

  static void onReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void onTimer(uv_timer_t* t);
  static void onFlush(uv_check_t* h);

  void enter(State next);
  bool tearingDown() const { return state_ == State::kDropping || state_ == State::kStopping; }
  void connect();
  bool attach(redisAsyncContext* ac);
  bool sendHandshake();
  bool send(Pending* p, std::string_view resp);
  void replied(Pending* p, const redisReply* reply);
  void handshakeReplied(Pending* p, const redisReply* reply);
  bool retryNoScript(Pending* p);
  void becomeReady();
  void contextDying();
  void drop(const char* reason);
  void settle();
  void disconnected(const char* reason);
  void finishStop();
  void flush();
  void timerFired();
  bool timerArmed() const;
  void armTimer(uint64_t delay_ms);
  void report(const char* event, const char* reason);

  Pending* acquire();
  void release(Pending* p);

  uv_loop_t* loop_;
  RedisOptions opts_;
  Handles* handles_;
  redisAsyncContext* ac_ = nullptr;  // kConnecting, kReady; kDropping/kStopping until freed
  State state_ = State::kNew;
  Announced announced_ = Announced::kNothing;
  // Orthogonal to the state: hiredis calls on the stack (a drop waits for
  // the outermost to return), and "inside the end-of-turn write" (where a
  // new write request means the socket buffer is full).
  int busy_ = 0;
  bool flushing_ = false;
  const char* drop_reason_ = nullptr;  // kDropping: why (nullptr: hiredis's error, if any)

  // Commands hiredis holds, oldest first: exactly the order of its reply queue.
  Pending* head_ = nullptr;
  Pending* tail_ = nullptr;
  Pending* free_ = nullptr;
  std::deque<Pending> pool_;  // stable addresses; grows, never shrinks

  std::vector<Script> scripts_;
  std::string scratch_;  // encodes one command at a time
  uint32_t handshake_left_ = 0;  // kConnecting: handshake replies still due
  uint64_t connect_deadline_ = 0;
  Backoff backoff_{1, 1};  // between failed connects; reset once ready
  uint64_t commands_sent_ = 0;
  char last_error_[128] = {};

  void* state_ctx_ = nullptr;
  StateFn state_fn_ = nullptr;
  void* closed_ctx_ = nullptr;
  ClosedFn closed_fn_ = nullptr;
};

}  // namespace phigate::state
