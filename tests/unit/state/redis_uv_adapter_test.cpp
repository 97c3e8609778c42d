// RedisUvAdapter (src/state/redis_uv_adapter.h) between a real hiredis
// context and a loopback socket the test plays the server on: no Redis. A
// recording Owner does what RedisClient does with the events.
#include "state/redis_uv_adapter.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/async.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace phigate::state {
namespace {

uint64_t nowMs() { return uv_hrtime() / 1'000'000; }

/** Does with the adapter's calls what RedisClient does, and records them. */
class RecordingOwner final : public RedisUvAdapter::Owner {
 public:
  redisAsyncContext* ac = nullptr;
  bool defer = false;           // deferWrite()'s answer
  bool free_on_error = true;    // drop the connection on onSocketError, as the client does
  int readable = 0, writable = 0, defer_calls = 0, detached = 0, calls_after_detach = 0;
  std::vector<std::string> errors;
  std::string detach_error;

  void onSocketReady(int events) override {
    note();
    if (events & UV_READABLE) ++readable;
    if (events & UV_WRITABLE) ++writable;
    if (events & UV_READABLE) redisAsyncHandleRead(ac);
    if ((events & UV_WRITABLE) && ac != nullptr) redisAsyncHandleWrite(ac);
  }
  void onSocketError(const char* reason) override {
    note();
    errors.emplace_back(reason);
    if (free_on_error && ac != nullptr) redisAsyncFree(ac);
  }
  bool deferWrite() override {
    note();
    ++defer_calls;
    return defer;
  }
  void onDetached(const char* error) override {
    note();
    ++detached;
    detach_error = error != nullptr ? error : "";
    ac = nullptr;
  }

 private:
  void note() {
    if (detached > 0) ++calls_after_detach;
  }
};

struct Replies {
  int ok = 0;
  int failed = 0;
  static void on(redisAsyncContext*, void* reply, void* ctx) {
    auto* r = static_cast<Replies*>(ctx);
    ++(reply != nullptr ? r->ok : r->failed);
  }
};

class RedisUvAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &tick_);
  }

  void TearDown() override {
    if (owner_.ac != nullptr) redisAsyncFree(owner_.ac);
    if (peer_ >= 0) close(peer_);
    if (listener_ >= 0) close(listener_);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
    EXPECT_EQ(closed_, attached_ ? 1 : 0) << "on_closed runs once per attached adapter";
  }

  /** A loopback port: listening (the test is the server), or closed (connects are refused). */
  int loopbackPort(bool listen_on_it) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    if (listen_on_it) {
      EXPECT_EQ(listen(fd, 4), 0);
      listener_ = fd;
    } else {
      close(fd);
    }
    return ntohs(a.sin_port);
  }

  void connectAndAttach(int port) {
    owner_.ac = redisAsyncConnect("127.0.0.1", port);
    ASSERT_NE(owner_.ac, nullptr);
    ASSERT_EQ(owner_.ac->err, 0) << owner_.ac->errstr;
    ASSERT_TRUE(RedisUvAdapter::attach(&loop_, owner_.ac, &owner_, &closed_, onClosed));
    attached_ = true;
  }

  void command(Replies* r) {
    ASSERT_EQ(redisAsyncCommand(owner_.ac, Replies::on, r, "PING"), REDIS_OK);
  }

  template <typename Pred>
  bool runUntil(Pred done, uint64_t timeout_ms = 3000) {
    uv_timer_start(&tick_, [](uv_timer_t*) {}, 5, 5);
    const uint64_t deadline = nowMs() + timeout_ms;
    while (!done() && nowMs() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&tick_);
    return done();
  }

  void runFor(uint64_t ms) {
    const uint64_t until = nowMs() + ms;
    runUntil([&] { return nowMs() >= until; }, ms + 1000);
  }

  /** The server's end of the connection, accepted once. */
  int peer() {
    if (peer_ < 0) {
      pollfd p{listener_, POLLIN, 0};
      EXPECT_EQ(poll(&p, 1, 2000), 1);
      peer_ = accept(listener_, nullptr, nullptr);
      EXPECT_GE(peer_, 0);
    }
    return peer_;
  }

  /** What the server has received so far, without waiting. */
  std::string received() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = recv(peer(), buf, sizeof buf, MSG_DONTWAIT)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

  static void onClosed(void* ctx) { ++*static_cast<int*>(ctx); }

  uv_loop_t loop_;
  uv_timer_t tick_;
  RecordingOwner owner_;
  int closed_ = 0;
  bool attached_ = false;
  int listener_ = -1;
  int peer_ = -1;
};

// hiredis learns that a connect finished only from writability, so nothing
// may be deferred then; on the established connection every write request
// goes to the owner first, and is polled for only when the owner says no.
TEST_F(RedisUvAdapterTest, PollsWritabilityWhileConnectingThenOffersWritesToTheOwner) {
  connectAndAttach(loopbackPort(true));
  Replies replies;
  command(&replies);
  EXPECT_EQ(owner_.defer_calls, 0) << "not connected yet: polled, not offered";
  ASSERT_TRUE(runUntil([&] { return owner_.writable > 0; }));
  EXPECT_EQ(received(), "*1\r\n$4\r\nPING\r\n");
  ASSERT_TRUE(owner_.ac->c.flags & REDIS_CONNECTED);

  owner_.defer = true;
  const int writable_before = owner_.writable;
  command(&replies);
  EXPECT_EQ(owner_.defer_calls, 1);
  runFor(30);
  EXPECT_EQ(owner_.writable, writable_before) << "a deferred write is not polled for";
  EXPECT_EQ(received(), "") << "the owner writes it, at the end of its turn";

  owner_.defer = false;  // as inside the owner's own write, when the socket buffer is full
  command(&replies);
  EXPECT_EQ(owner_.defer_calls, 2);
  ASSERT_TRUE(runUntil([&] { return owner_.writable > writable_before; }));
  EXPECT_EQ(received(), "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n");

  const std::string pongs = "+PONG\r\n+PONG\r\n+PONG\r\n";
  ASSERT_EQ(send(peer(), pongs.data(), pongs.size(), 0), static_cast<ssize_t>(pongs.size()));
  ASSERT_TRUE(runUntil([&] { return replies.ok == 3; }));
  EXPECT_GE(owner_.readable, 1);
  EXPECT_TRUE(owner_.errors.empty());

  redisAsyncFree(owner_.ac);  // as the client drops a connection
  EXPECT_EQ(owner_.detached, 1);
  EXPECT_EQ(owner_.detach_error, "") << "a free we asked for is not an error";
  EXPECT_EQ(closed_, 0) << "uv_close completes on a later turn";
  runFor(10);
  EXPECT_EQ(closed_, 1);
  EXPECT_EQ(owner_.calls_after_detach, 0);
}

// hiredis's own adapter swallows this: libuv reports EPOLLERR as a status
// and stops the handle, and the command would hang.
TEST_F(RedisUvAdapterTest, RefusedConnectIsReportedNotSwallowed) {
  connectAndAttach(loopbackPort(false));
  Replies replies;
  command(&replies);
  ASSERT_TRUE(runUntil([&] { return !owner_.errors.empty(); }));
  ASSERT_EQ(owner_.errors.size(), 1u);
  EXPECT_EQ(owner_.errors[0], "socket error: Connection refused");
  EXPECT_EQ(owner_.detached, 1) << "the owner freed the context from onSocketError";
  EXPECT_EQ(replies.failed, 1);
  runFor(10);
  EXPECT_EQ(owner_.calls_after_detach, 0);
}

// EOF: hiredis frees the context itself, inside redisAsyncHandleRead. The
// owner hears of it once, with hiredis's reason, and never again.
TEST_F(RedisUvAdapterTest, ContextFreedByHiredisDetachesTheOwner) {
  connectAndAttach(loopbackPort(true));
  Replies replies;
  command(&replies);
  ASSERT_TRUE(runUntil([&] { return owner_.writable > 0; }));
  EXPECT_FALSE(received().empty());
  close(peer_);
  peer_ = -1;
  ASSERT_TRUE(runUntil([&] { return owner_.detached > 0; }));
  EXPECT_EQ(owner_.detached, 1);
  EXPECT_EQ(owner_.detach_error, "Server closed the connection");
  EXPECT_EQ(replies.failed, 1);
  EXPECT_EQ(owner_.ac, nullptr);
  runFor(10);
  EXPECT_EQ(closed_, 1);
  EXPECT_EQ(owner_.calls_after_detach, 0);
}

TEST_F(RedisUvAdapterTest, AttachFailureInstallsNothing) {
  const int port = loopbackPort(true);
  redisAsyncContext* ac = redisAsyncConnect("127.0.0.1", port);
  ASSERT_NE(ac, nullptr);
  ASSERT_EQ(ac->err, 0);
  // libuv refuses to poll a file epoll cannot watch: stand one in for the socket.
  const int socket_fd = ac->c.fd;
  const int devnull = open("/dev/null", O_RDONLY);
  ASSERT_GE(devnull, 0);
  ac->c.fd = devnull;
  EXPECT_FALSE(RedisUvAdapter::attach(&loop_, ac, &owner_, &closed_, onClosed));
  ac->c.fd = socket_fd;
  close(devnull);
  EXPECT_EQ(ac->ev.data, nullptr);
  EXPECT_EQ(ac->ev.addWrite, nullptr);
  EXPECT_EQ(ac->ev.cleanup, nullptr);
  redisAsyncFree(ac);  // nothing to clean up, nothing to close (TearDown checks)
  EXPECT_EQ(owner_.detached, 0);
}

}  // namespace
}  // namespace phigate::state
