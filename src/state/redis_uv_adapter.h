// hiredis on a libuv loop: our replacement for hiredis's adapters/libuv.h,
// which ignores poll errors (a refused connect or a reset connection then
// hangs every pending command until its deadline, or forever) and leaks its
// watcher when uv_poll_init fails.
//
// The pattern, which the libcurl-multi adapter that comes next follows:
//
//  1. The library owns the socket and says which readiness it wants; the
//     adapter keeps that set and calls uv_poll_start / uv_poll_stop only when
//     it changes.
//       hiredis: ev.addRead / delRead / addWrite / delWrite
//       curl:    CURLMOPT_SOCKETFUNCTION with CURL_POLL_IN / OUT / INOUT
//  2. Readiness goes to the owner, which calls the library's entry point
//     itself, inside its own re-entrancy guard: the library calls back into
//     the owner from there (replies, hooks, even freeing the context).
//       hiredis: redisAsyncHandleRead / redisAsyncHandleWrite
//       curl:    curl_multi_socket_action(fd, CURL_CSELECT_IN / OUT)
//  3. A poll error is never swallowed. libuv reports EPOLLERR (a refused
//     connect, a reset) as a negative status and has already stopped the
//     handle, so the library would never hear of it; the owner is told, with
//     the socket's SO_ERROR when there is one, and drops the connection.
//       curl:    curl_multi_socket_action(fd, CURL_CSELECT_ERR)
//  4. One watcher per connection, its own heap block (never one per command),
//     closed by the library's "forget this socket" hook:
//       hiredis: ev.cleanup (from redisAsyncFree, before close(fd), so the
//                epoll registration goes first)
//       curl:    CURL_POLL_REMOVE (before curl closes the socket)
//     uv_close completes on a later loop turn, possibly after the owner is
//     gone, so the owner is detached at once and the block frees itself in
//     its close callback, then calls `on_closed` (the owner's count of open
//     handles, which outlives the owner).
//  5. Deadlines are not the adapter's: the owner runs one uv_timer_t for all
//     of them (curl: CURLMOPT_TIMERFUNCTION).
//
// hiredis only: hiredis asks for writability whenever a command is appended.
// On an established connection the socket is almost always writable, so the
// adapter first offers the write to the owner (Owner::deferWrite), which
// writes every command of the loop turn at its end in one write(); only while
// connecting (hiredis learns of the connect through writability) or when the
// socket buffer is full (hiredis asks again from inside that write) is
// writability polled.
#pragma once

#include <hiredis/async.h>
#include <uv.h>

namespace phigate::state {

/** hiredis's event hooks for one redisAsyncContext, on one uv_poll_t. */
class RedisUvAdapter {
 public:
  /** The connection's side. No call is made after onDetached(). */
  class Owner {
   public:
    /** The socket is ready (UV_READABLE and/or UV_WRITABLE): run hiredis's handlers. */
    virtual void onSocketReady(int events) = 0;
    /** Polling failed, or the socket has an error: drop the connection. `reason`: this call only. */
    virtual void onSocketError(const char* reason) = 0;
    /**
     * hiredis appended output on an established connection. True: the owner
     * writes it at the end of this loop turn, and writability is not polled.
     * False: poll for writability (the owner is inside that write, and the
     * socket buffer is full).
     */
    virtual bool deferWrite() = 0;
    /** hiredis is freeing the context. `error`: its errstr when it failed, else nullptr. */
    virtual void onDetached(const char* error) = 0;

   protected:
    ~Owner() = default;
  };

  using ClosedFn = void (*)(void* ctx);

  /**
   * Installs the adapter as `ac`'s event hooks (polling nothing until hiredis
   * asks). `on_closed(closed_ctx)` runs once the poll handle is closed, on a
   * later loop turn. False: libuv cannot watch the socket; nothing was
   * installed, and nothing will be closed.
   */
  static bool attach(uv_loop_t* loop, redisAsyncContext* ac, Owner* owner, void* closed_ctx,
                     ClosedFn on_closed);

  RedisUvAdapter(const RedisUvAdapter&) = delete;
  RedisUvAdapter& operator=(const RedisUvAdapter&) = delete;

 private:
  RedisUvAdapter() = default;
  ~RedisUvAdapter() = default;  // only from onClosed

  static void onPoll(uv_poll_t* h, int status, int events);
  static void onClosed(uv_handle_t* h);
  static void addRead(void* privdata);
  static void delRead(void* privdata);
  static void addWrite(void* privdata);
  static void delWrite(void* privdata);
  static void cleanup(void* privdata);

  void want(int events);
  void pollFailed(int status);

  uv_poll_t poll_;
  redisAsyncContext* ac_ = nullptr;  // nullptr once hiredis has let go of it
  Owner* owner_ = nullptr;           // nullptr from the same moment
  void* closed_ctx_ = nullptr;
  ClosedFn on_closed_ = nullptr;
  int events_ = 0;  // what is being polled
};

}  // namespace phigate::state
