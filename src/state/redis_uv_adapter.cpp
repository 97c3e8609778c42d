#include "state/redis_uv_adapter.h"

#include <sys/socket.h>

#include <cstdio>
#include <cstring>

namespace phigate::state {

// Its own heap block so it can outlive the context and the owner: uv_close is
// asynchronous. uv_poll_init registers nothing when it fails, so a failed
// attach leaves nothing to close.
bool RedisUvAdapter::attach(uv_loop_t* loop, redisAsyncContext* ac, Owner* owner, void* closed_ctx,
                            ClosedFn on_closed) {
  auto* a = new RedisUvAdapter;
  if (uv_poll_init(loop, &a->poll_, ac->c.fd) != 0) {
    delete a;
    return false;
  }
  a->poll_.data = a;
  a->ac_ = ac;
  a->owner_ = owner;
  a->closed_ctx_ = closed_ctx;
  a->on_closed_ = on_closed;
  ac->ev.data = a;
  ac->ev.addRead = addRead;
  ac->ev.delRead = delRead;
  ac->ev.addWrite = addWrite;
  ac->ev.delWrite = delWrite;
  ac->ev.cleanup = cleanup;
  return true;
}

// Start, change or stop polling, only when the wanted set changes.
void RedisUvAdapter::want(int events) {
  if (ac_ == nullptr || events == events_) return;
  events_ = events;
  const int rc = events == 0 ? uv_poll_stop(&poll_) : uv_poll_start(&poll_, events, onPoll);
  if (rc != 0 && owner_ != nullptr) owner_->onSocketError("cannot poll the socket");
}

void RedisUvAdapter::addRead(void* privdata) {
  auto* a = static_cast<RedisUvAdapter*>(privdata);
  a->want(a->events_ | UV_READABLE);
}

void RedisUvAdapter::delRead(void* privdata) {
  auto* a = static_cast<RedisUvAdapter*>(privdata);
  a->want(a->events_ & ~UV_READABLE);
}

// Polling for writability costs two epoll_ctl calls and a loop turn per batch
// of commands; the owner's end-of-turn write costs neither. It cannot stand
// in while connecting: hiredis learns that the connect finished only from
// writability.
void RedisUvAdapter::addWrite(void* privdata) {
  auto* a = static_cast<RedisUvAdapter*>(privdata);
  if (a->owner_ != nullptr && a->ac_ != nullptr && (a->ac_->c.flags & REDIS_CONNECTED) != 0 &&
      (a->events_ & UV_WRITABLE) == 0 && a->owner_->deferWrite()) {
    return;
  }
  a->want(a->events_ | UV_WRITABLE);
}

void RedisUvAdapter::delWrite(void* privdata) {
  auto* a = static_cast<RedisUvAdapter*>(privdata);
  a->want(a->events_ & ~UV_WRITABLE);
}

// Called by hiredis from __redisAsyncFree, after the pending callbacks and
// before the fd is closed.
void RedisUvAdapter::cleanup(void* privdata) {
  auto* a = static_cast<RedisUvAdapter*>(privdata);
  if (a->ac_ == nullptr) return;
  Owner* owner = a->owner_;
  const char* error = a->ac_->err != 0 ? a->ac_->errstr : nullptr;
  a->ac_ = nullptr;
  a->owner_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&a->poll_), onClosed);
  if (owner != nullptr) owner->onDetached(error);
}

void RedisUvAdapter::onClosed(uv_handle_t* h) {
  auto* a = static_cast<RedisUvAdapter*>(h->data);
  const ClosedFn fn = a->on_closed_;
  void* ctx = a->closed_ctx_;
  delete a;
  if (fn != nullptr) fn(ctx);
}

void RedisUvAdapter::onPoll(uv_poll_t* h, int status, int events) {
  auto* a = static_cast<RedisUvAdapter*>(h->data);
  if (a->ac_ == nullptr || a->owner_ == nullptr) return;
  if (status < 0) {
    a->pollFailed(status);
    return;
  }
  a->owner_->onSocketReady(events);
}

// libuv reports EPOLLERR (refused connect, RST) as a status and has already
// stopped the handle: hiredis would never hear of it, and every pending
// command would wait for its deadline. The socket's own error says more than
// libuv's status.
void RedisUvAdapter::pollFailed(int status) {
  char reason[128];
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(ac_->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
    snprintf(reason, sizeof reason, "socket error: %s", strerror(err));
  } else {
    snprintf(reason, sizeof reason, "poll error: %s", uv_strerror(status));
  }
  owner_->onSocketError(reason);
}

}  // namespace phigate::state
