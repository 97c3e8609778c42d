// HttpClient (src/net/http_client.h) against a real HTTP/1.1 server on
// 127.0.0.1 that the test runs itself: a small libuv server on its own
// thread and loop, whose behaviour is chosen by the request path. The
// client's loop is the test's thread; a ticker timer on it proves the loop
// keeps turning while requests wait.
#include "net/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace phigate::net {
namespace {

uint64_t nowMs() { return uv_hrtime() / 1'000'000; }

// ---- the test server ------------------------------------------------------

/**
 * Paths: /ok (200 "ok", keep-alive), /echo (the request body), /503,
 * /slow (200 after 50 ms), /hang (never answers), /big (Content-Length 256
 * KiB), /big-nolen (256 KiB, no length, then close), /close-mid (promises
 * 1000 bytes, sends 10, closes), /reset (RST), /ok-then-close (200 without
 * "Connection: close", then closes: a stale cached connection). A TLS
 * ClientHello gets a plain-text answer.
 */
class TestServer {
 public:
  TestServer() {
    uv_loop_init(&loop_);
    uv_tcp_init(&loop_, &listener_);
    listener_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    EXPECT_EQ(uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0), 0);
    EXPECT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 1024, onConnection), 0);
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.sin_port);
    uv_async_init(&loop_, &stop_, onStop);
    stop_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~TestServer() {
    uv_async_send(&stop_);
    thread_.join();
    uv_loop_close(&loop_);
  }
  int port() const { return port_; }
  int accepts() const { return accepts_.load(); }
  int requests() const { return requests_.load(); }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  // Every handle the server opens on the heap; freed in its close callback.
  struct Owned {
    virtual ~Owned() = default;
  };
  struct Conn : Owned {
    uv_tcp_t tcp;
    TestServer* server = nullptr;
    uint64_t id = 0;
    std::string in;
  };
  struct Delay : Owned {
    uv_timer_t timer;
    TestServer* server = nullptr;
    uint64_t conn_id = 0;
  };
  struct Write {
    uv_write_t req;
    std::string data;
    Conn* conn = nullptr;
    bool close_after = false;
  };

  static void onOwnedClosed(uv_handle_t* h) { delete static_cast<Owned*>(h->data); }
  // Closes every handle: the listener and this async are members, the rest
  // heap blocks (Owned) that free themselves.
  static void onStop(uv_async_t* a) {
    auto* s = static_cast<TestServer*>(a->data);
    uv_walk(a->loop, [](uv_handle_t* h, void* arg) {
      if (uv_is_closing(h)) return;
      auto* server = static_cast<TestServer*>(arg);
      const bool member = h == reinterpret_cast<uv_handle_t*>(&server->listener_) ||
                          h == reinterpret_cast<uv_handle_t*>(&server->stop_);
      uv_close(h, member ? nullptr : onOwnedClosed);
    }, s);
  }

  static void onConnection(uv_stream_t* listener, int status) {
    auto* s = static_cast<TestServer*>(listener->data);
    if (status < 0) return;
    auto* c = new Conn;
    c->server = s;
    c->id = ++s->next_id_;
    uv_tcp_init(&s->loop_, &c->tcp);
    c->tcp.data = static_cast<Owned*>(c);
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), onOwnedClosed);
      return;
    }
    s->accepts_.fetch_add(1);
    s->conns_[c->id] = c;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp),
                  [](uv_handle_t*, size_t, uv_buf_t* b) {
                    static char buf[65536];
                    *b = uv_buf_init(buf, sizeof buf);
                  },
                  onRead);
  }

  static Conn* connOf(uv_stream_t* st) {
    return static_cast<Conn*>(static_cast<Owned*>(st->data));
  }

  static void onRead(uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
    Conn* c = connOf(st);
    if (n < 0) {
      c->server->closeConn(c);
      return;
    }
    c->in.append(b->base, static_cast<size_t>(n));
    if (!c->in.empty() && static_cast<unsigned char>(c->in[0]) == 0x16) {  // TLS ClientHello
      c->server->send(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", true);
      c->in.clear();
      return;
    }
    c->server->parse(c);
  }

  // Whole requests only; the body length from Content-Length.
  void parse(Conn* c) {
    for (;;) {
      const size_t end = c->in.find("\r\n\r\n");
      if (end == std::string::npos) return;
      std::string head = c->in.substr(0, end);
      for (char& ch : head) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
      size_t length = 0;
      if (const size_t p = head.find("content-length:"); p != std::string::npos) {
        length = std::stoul(head.substr(p + 15));
      }
      if (c->in.size() < end + 4 + length) return;
      const size_t sp1 = c->in.find(' ');
      const std::string path = c->in.substr(sp1 + 1, c->in.find(' ', sp1 + 1) - sp1 - 1);
      const std::string body = c->in.substr(end + 4, length);
      c->in.erase(0, end + 4 + length);
      requests_.fetch_add(1);
      answer(c, path, body);
    }
  }

  static std::string response(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  void answer(Conn* c, const std::string& path, const std::string& body) {
    if (path == "/ok") {
      send(c, response(200, "ok"), false);
    } else if (path == "/echo") {
      send(c, response(200, body), false);
    } else if (path == "/503") {
      send(c, response(503, "busy"), false);
    } else if (path == "/slow") {
      auto* d = new Delay;
      d->server = this;
      d->conn_id = c->id;
      uv_timer_init(&loop_, &d->timer);
      d->timer.data = static_cast<Owned*>(d);
      uv_timer_start(&d->timer, onDelay, 50, 0);
    } else if (path == "/hang") {
      // never answers
    } else if (path == "/big") {
      send(c, response(200, std::string(256 * 1024, 'x')), false);
    } else if (path == "/big-nolen") {
      send(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(256 * 1024, 'x'), true);
    } else if (path == "/close-mid") {
      send(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", true);
    } else if (path == "/reset") {
      conns_.erase(c->id);
      uv_tcp_close_reset(&c->tcp, onOwnedClosed);
    } else if (path == "/ok-then-close") {
      send(c, response(200, "ok"), true);
    } else {
      send(c, response(404, ""), false);
    }
  }

  static void onDelay(uv_timer_t* t) {
    auto* d = static_cast<Delay*>(static_cast<Owned*>(t->data));
    auto it = d->server->conns_.find(d->conn_id);
    if (it != d->server->conns_.end()) d->server->send(it->second, response(200, "slow"), false);
    uv_close(reinterpret_cast<uv_handle_t*>(t), onOwnedClosed);
  }

  void send(Conn* c, std::string data, bool close_after) {
    auto* w = new Write;
    w->data = std::move(data);
    w->conn = c;
    w->close_after = close_after;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1, onWritten) != 0) {
      delete w;
      closeConn(c);
    }
  }

  static void onWritten(uv_write_t* req, int status) {
    auto* w = static_cast<Write*>(req->data);
    if (status != UV_ECANCELED && (status < 0 || w->close_after)) w->conn->server->closeConn(w->conn);
    delete w;
  }

  void closeConn(Conn* c) {
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->tcp))) return;
    conns_.erase(c->id);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), onOwnedClosed);
  }

  uv_loop_t loop_;
  uv_tcp_t listener_;
  uv_async_t stop_;
  std::thread thread_;
  int port_ = 0;
  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, Conn*> conns_;  // server thread only
  std::atomic<int> accepts_{0};
  std::atomic<int> requests_{0};
};

// ---- the client side ------------------------------------------------------

struct Outcome {
  int calls = 0;
  HttpError error = HttpError::kNone;
  long status = 0;
  std::string body;
};

void record(void* ctx, const HttpResult& r) {
  auto* o = static_cast<Outcome*>(ctx);
  ++o->calls;
  o->error = r.error;
  o->status = r.status;
  o->body.assign(r.body);
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &ticker_);
    ticker_.data = &ticks_;
    uv_timer_start(&ticker_, [](uv_timer_t* t) { ++*static_cast<int*>(t->data); }, 5, 5);
  }
  void TearDown() override {
    client_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&ticker_), nullptr);
    for (int i = 0; i < 5; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "the client left a handle open";
  }

  static HttpClientOptions devOptions() {
    HttpClientOptions o;
    o.allow_plain_http = true;
    o.max_response_bytes = 16 * 1024;
    return o;
  }
  HttpClient& client(HttpClientOptions o = devOptions()) {
    if (!client_) client_ = std::make_unique<HttpClient>(&loop_, std::move(o));
    return *client_;
  }

  /** Turns the loop until `done()` or `limit_ms`; false on the limit. */
  template <typename Pred>
  bool runUntil(Pred done, uint64_t limit_ms = 5000) {
    const uint64_t end = nowMs() + limit_ms;
    while (!done()) {
      if (nowMs() > end) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }

  Outcome postOne(const std::string& url, HttpTimeouts timeouts = {1000, 3000},
                  std::string_view body = "{}") {
    Outcome o;
    const std::string_view headers[] = {"Content-Type: application/json"};
    EXPECT_TRUE(client().post(url, headers, body, timeouts, record, &o));
    EXPECT_EQ(o.calls, 0) << "done ran inside post()";
    EXPECT_TRUE(runUntil([&] { return o.calls > 0; }));
    EXPECT_EQ(o.calls, 1);
    return o;
  }

  uv_loop_t loop_;
  uv_timer_t ticker_;
  int ticks_ = 0;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(HttpClientTest, PostsBodyAndHeadersAndReadsTheResponse) {
  TestServer server;
  const Outcome o = postOne(server.url("/echo"), {1000, 3000}, R"({"to":"+919800000000"})");
  EXPECT_EQ(o.error, HttpError::kNone);
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.body, R"({"to":"+919800000000"})");
}

TEST_F(HttpClientTest, AnErrorStatusIsAResponse) {
  TestServer server;
  const Outcome o = postOne(server.url("/503"));
  EXPECT_EQ(o.error, HttpError::kNone);
  EXPECT_EQ(o.status, 503);
  EXPECT_EQ(o.body, "busy");
}

TEST_F(HttpClientTest, SequentialRequestsReuseOneConnection) {
  TestServer server;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(postOne(server.url("/ok")).status, 200);
  EXPECT_EQ(server.accepts(), 1);
  EXPECT_EQ(server.requests(), 3);
}

TEST_F(HttpClientTest, RefusesPlainHttpOutsideDevelopment) {
  TestServer server;
  client(HttpClientOptions{});
  const Outcome o = postOne(server.url("/ok"));
  EXPECT_EQ(o.error, HttpError::kRefused);
  EXPECT_EQ(server.accepts(), 0);
}

TEST_F(HttpClientTest, RefusesHostNamesAndBadHeaders) {
  TestServer server;
  const std::string port = std::to_string(server.port());
  EXPECT_EQ(postOne("http://localhost:" + port + "/ok").error, HttpError::kRefused);
  EXPECT_EQ(postOne("ftp://127.0.0.1:" + port + "/ok").error, HttpError::kRefused);
  EXPECT_EQ(postOne("not a url").error, HttpError::kRefused);
  Outcome o;
  const std::string_view headers[] = {"X-A: b\r\nX-Injected: 1"};
  ASSERT_TRUE(client().post(server.url("/ok"), headers, "", {}, record, &o));
  EXPECT_EQ(o.calls, 0);
  ASSERT_TRUE(runUntil([&] { return o.calls > 0; }));
  EXPECT_EQ(o.error, HttpError::kRefused);
  EXPECT_EQ(server.accepts(), 0);
}

TEST_F(HttpClientTest, ConnectionRefusedIsAConnectError) {
  // A port that was free a moment ago: nothing listens there.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  const uint64_t start = nowMs();
  const Outcome o = postOne("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/ok");
  EXPECT_EQ(o.error, HttpError::kConnect);
  // At once, from the poll error (CURL_CSELECT_ERR); a swallowed one leaves
  // curl to notice on its 200 ms happy-eyeballs timer.
  EXPECT_LT(nowMs() - start, 150u);
}

TEST_F(HttpClientTest, SilentServerTimesOutWithoutBlockingTheLoop) {
  TestServer server;
  const uint64_t start = nowMs();
  const int ticks_before = ticks_;
  const Outcome o = postOne(server.url("/hang"), {1000, 300});
  const uint64_t elapsed = nowMs() - start;
  EXPECT_EQ(o.error, HttpError::kTimeout);
  EXPECT_GE(elapsed, 250u);
  EXPECT_LT(elapsed, 1500u);
  EXPECT_GE(ticks_ - ticks_before, 20) << "the loop was blocked";
  EXPECT_EQ(postOne(server.url("/ok")).status, 200);
}

TEST_F(HttpClientTest, ResponseAboveTheCapIsTooLarge) {
  TestServer server;
  EXPECT_EQ(postOne(server.url("/big")).error, HttpError::kTooLarge);        // declared length
  EXPECT_EQ(postOne(server.url("/big-nolen")).error, HttpError::kTooLarge);  // counted
  EXPECT_EQ(postOne(server.url("/ok")).status, 200);
}

TEST_F(HttpClientTest, CloseMidResponseIsAnErrorAndTheNextRequestWorks) {
  TestServer server;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(postOne(server.url("/close-mid")).error, HttpError::kOther);
    EXPECT_EQ(postOne(server.url("/ok")).status, 200);
  }
}

TEST_F(HttpClientTest, ResetIsAnErrorAndTheNextRequestWorks) {
  TestServer server;
  for (int i = 0; i < 5; ++i) {
    const uint64_t start = nowMs();
    EXPECT_EQ(postOne(server.url("/reset")).error, HttpError::kOther);
    // The RST is a poll error: curl hears of it at once, not on its 1 s check.
    EXPECT_LT(nowMs() - start, 500u);
    EXPECT_EQ(postOne(server.url("/ok")).status, 200);
  }
}

// The server closes a kept-alive connection after answering: curl finds the
// cached connection dead on the next request and closes that socket itself
// (the fd is reused right away by the new connection), over and over.
TEST_F(HttpClientTest, StaleKeptAliveConnectionsAreReplaced) {
  TestServer server;
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(postOne(server.url("/ok-then-close")).status, 200);
    const int ticks = ticks_;
    runUntil([&] { return ticks_ > ticks + 1; });  // the server's close arrives
  }
  EXPECT_EQ(postOne(server.url("/ok")).status, 200);
  EXPECT_EQ(server.accepts(), 21);
}

TEST_F(HttpClientTest, TlsFailureIsATlsError) {
  TestServer server;
  client(HttpClientOptions{});
  const Outcome o = postOne("https://127.0.0.1:" + std::to_string(server.port()) + "/ok");
  EXPECT_EQ(o.error, HttpError::kTls);
}

TEST_F(HttpClientTest, ManyRequestsInFlightAtOnce) {
  TestServer server;
  constexpr int kRequests = 200;
  std::vector<Outcome> outcomes(kRequests);
  const uint64_t start = nowMs();
  for (Outcome& o : outcomes) {
    ASSERT_TRUE(client().post(server.url("/slow"), {}, "{}", {2000, 8000}, record, &o));
  }
  int done = 0;
  ASSERT_TRUE(runUntil(
      [&] {
        done = 0;
        for (const Outcome& o : outcomes) done += o.calls;
        return done == kRequests;
      },
      10'000));
  const uint64_t elapsed = nowMs() - start;
  for (const Outcome& o : outcomes) {
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.status, 200);
  }
  EXPECT_LT(elapsed, 2500u) << "requests ran one after another";
}

TEST_F(HttpClientTest, DestroyCancelsEachPendingRequestOnce) {
  TestServer server;
  std::vector<Outcome> outcomes(5);
  for (Outcome& o : outcomes) {
    ASSERT_TRUE(client().post(server.url("/hang"), {}, "{}", {1000, 5000}, record, &o));
  }
  Outcome refused;
  ASSERT_TRUE(client().post("http://localhost/", {}, "", {}, record, &refused));
  ASSERT_TRUE(runUntil([&] { return server.requests() == 5; }));
  EXPECT_EQ(refused.calls, 1);
  client_.reset();
  for (const Outcome& o : outcomes) {
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.error, HttpError::kCancelled);
  }
  for (int i = 0; i < 5; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  for (const Outcome& o : outcomes) EXPECT_EQ(o.calls, 1);
}

struct DestroyingCtx {
  std::unique_ptr<HttpClient>* client;
  Outcome outcome;
};

TEST_F(HttpClientTest, DoneMayDestroyTheClient) {
  TestServer server;
  std::vector<Outcome> others(3);
  for (Outcome& o : others) {
    ASSERT_TRUE(client().post(server.url("/hang"), {}, "{}", {1000, 5000}, record, &o));
  }
  DestroyingCtx ctx{&client_, {}};
  ASSERT_TRUE(client().post(
      server.url("/ok"), {}, "{}", {1000, 5000},
      [](void* p, const HttpResult& r) {
        auto* c = static_cast<DestroyingCtx*>(p);
        record(&c->outcome, r);
        c->client->reset();
      },
      &ctx));
  ASSERT_TRUE(runUntil([&] { return ctx.outcome.calls > 0; }));
  EXPECT_EQ(ctx.outcome.status, 200);
  EXPECT_EQ(client_, nullptr);
  for (const Outcome& o : others) {
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.error, HttpError::kCancelled);
  }
}

}  // namespace
}  // namespace phigate::net
