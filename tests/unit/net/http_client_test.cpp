// HttpClient (src/net/http_client.h) against a real HTTP/1.1 server on
// 127.0.0.1 that the test runs itself: a small libuv server on its own
// thread and loop, whose behaviour is chosen by the request path. The
// client's loop is the test's thread; a ticker timer on it proves the loop
// keeps turning while requests wait. TLS and proxy tests add a python3
// helper (tests/support/http_client_helper.py: an HTTPS server with a
// certificate from a CA the test makes with the openssl CLI, and a
// CONNECT / forwarding proxy).
//
// Name resolution: this binary defines getaddrinfo itself (below), so every
// call from libuv's threadpool (the client's lookups) and from curl's
// resolver thread (which must never run) lands here first. Names under
// ".phigate.test" are answered here and counted per name; the rest go to
// libc. A count of 1 after many requests proves one shared lookup and that
// curl itself never resolved (it would have called getaddrinfo too).
#include "net/http_client.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "support/helper_process.h"
#include "support/spawn.h"

namespace {

std::mutex g_lookups_mutex;
std::map<std::string, int> g_lookups;  // ".phigate.test" name -> getaddrinfo calls
std::map<std::string, int> g_answered;  // the same, counted when the call returns

using GetaddrinfoFn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);

GetaddrinfoFn realGetaddrinfo() {
  static const auto fn = reinterpret_cast<GetaddrinfoFn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  return fn;
}

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

// nx.phigate.test: no such name. slow.phigate.test: 127.0.0.1 after 300 ms.
// two-*.phigate.test: 127.0.0.2, then 127.0.0.1. Any other *.phigate.test:
// 127.0.0.1.
extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** res) {
  const std::string name = node != nullptr ? node : "";
  if (!endsWith(name, ".phigate.test")) return realGetaddrinfo()(node, service, hints, res);
  {
    std::lock_guard<std::mutex> lock(g_lookups_mutex);
    ++g_lookups[name];
  }
  if (name == "nx.phigate.test") return EAI_NONAME;
  if (name == "slow.phigate.test") std::this_thread::sleep_for(std::chrono::milliseconds(300));
  addrinfo h{};
  if (hints != nullptr) h = *hints;
  h.ai_flags |= AI_NUMERICHOST;
  int rc = realGetaddrinfo()("127.0.0.1", service, &h, res);
  if (rc == 0 && name.rfind("two-", 0) == 0) {
    // 127.0.0.2 first (nothing listens there: refused), then 127.0.0.1.
    addrinfo* first = nullptr;
    rc = realGetaddrinfo()("127.0.0.2", service, &h, &first);
    if (rc == 0) {
      addrinfo* last = first;
      while (last->ai_next != nullptr) last = last->ai_next;
      last->ai_next = *res;
      *res = first;
    } else {
      freeaddrinfo(*res);
    }
  }
  std::lock_guard<std::mutex> lock(g_lookups_mutex);
  ++g_answered[name];
  return rc;
}

namespace phigate::net {
namespace {

uint64_t nowMs() { return uv_hrtime() / 1'000'000; }

int lookupsOf(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_lookups_mutex);
  auto it = g_lookups.find(name);
  return it == g_lookups.end() ? 0 : it->second;
}

int answeredOf(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_lookups_mutex);
  auto it = g_answered.find(name);
  return it == g_answered.end() ? 0 : it->second;
}

// ---- the test server ------------------------------------------------------

/**
 * Paths: /ok (200 "ok", keep-alive), /echo (the request body), /method (the
 * request's method), /host (its Host header), /503,
 * /slow (200 after 50 ms), /hang (never answers), /big (Content-Length 256
 * KiB), /big-nolen (256 KiB, no length, then close), /close-mid (promises
 * 1000 bytes, sends 10, closes), /reset (RST), /ok-then-close (200 without
 * "Connection: close", then closes: a stale cached connection), /redirect
 * (302 to /ok). A TLS
 * ClientHello gets a plain-text answer. /ok-then-drop-next answers 200
 * and keeps the connection, but closes it, unanswered, when the next request
 * arrives on it (an upstream's idle timeout racing the client's reuse).
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
  int peakConnections() const { return peak_.load(); }
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
    bool drop_next = false;
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
    const int open = static_cast<int>(s->conns_.size());
    if (open > s->peak_.load()) s->peak_.store(open);
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
      const std::string method = c->in.substr(0, sp1);
      std::string host;
      if (const size_t p = head.find("\r\nhost:"); p != std::string::npos) {
        const size_t from = head.find_first_not_of(' ', p + 7);
        host = head.substr(from, head.find("\r\n", from) - from);
      }
      const std::string body = c->in.substr(end + 4, length);
      c->in.erase(0, end + 4 + length);
      requests_.fetch_add(1);
      if (c->drop_next) {
        closeConn(c);
        return;
      }
      answer(c, path, body, method, host);
    }
  }

  static std::string response(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  void answer(Conn* c, const std::string& path, const std::string& body,
              const std::string& method, const std::string& host) {
    if (path == "/ok") {
      send(c, response(200, "ok"), false);
    } else if (path == "/method") {
      send(c, response(200, method), false);
    } else if (path == "/method-body") {
      send(c, response(200, method + " " + body), false);
    } else if (path == "/headers") {
      // Two fields and an obs-folded line; no body for HEAD.
      send(c,
           "HTTP/1.1 200 X\r\nContent-Length: 2\r\nETag:  \"v1\" \r\nX-Folded: a\r\n b\r\n\r\n" +
               std::string(method == "HEAD" ? "" : "ok"),
           false);
    } else if (path == "/trailers") {
      // A chunked body followed by trailer fields, one of them an ETag.
      send(c,
           "HTTP/1.1 200 X\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer, ETag\r\n"
           "ETag: \"v1\"\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: t\r\nETag: \"trailer\"\r\n\r\n",
           false);
    } else if (path == "/many-headers") {
      std::string head = "HTTP/1.1 200 X\r\nContent-Length: 2\r\n";
      for (int i = 0; i < 100; ++i) head += "X-H" + std::to_string(i) + ": v\r\n";
      send(c, head + "\r\nok", false);
    } else if (path == "/host") {
      send(c, response(200, host), false);
    } else if (path == "/ok-then-drop-next") {
      c->drop_next = true;
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
    } else if (path == "/redirect") {
      send(c, "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n", false);
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
  std::atomic<int> peak_{0};  // most connections open at once
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
    // Any curl_multi_* answer other than CURLM_OK (CURLM_RECURSIVE_API_CALL:
    // curl called from inside one of its callbacks) is counted.
    if (client_) {
      EXPECT_EQ(client_->stats().multi_errors, 0u);
    }
    client_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&ticker_), nullptr);
    // A lookup a thread still runs keeps the loop alive until it returns.
    const uint64_t end = nowMs() + 3000;
    for (int i = 0; i < 5 || (uv_loop_alive(&loop_) != 0 && nowMs() < end); ++i) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      if (i >= 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
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

  Outcome getOne(const std::string& url, HttpTimeouts timeouts = {1000, 3000}) {
    Outcome o;
    EXPECT_TRUE(client().send({.method = HttpMethod::kGet, .url = url, .timeouts = timeouts},
                              record, &o));
    EXPECT_EQ(o.calls, 0) << "done ran inside send()";
    EXPECT_TRUE(runUntil([&] { return o.calls > 0; }));
    EXPECT_EQ(o.calls, 1);
    return o;
  }

  /** Sends `n` GETs at once and waits for all of them. */
  std::vector<Outcome> getMany(const std::string& url, int n, HttpTimeouts timeouts = {2000, 8000}) {
    std::vector<Outcome> outcomes(static_cast<size_t>(n));
    for (Outcome& o : outcomes) {
      EXPECT_TRUE(client().send({.method = HttpMethod::kGet, .url = url, .timeouts = timeouts},
                                record, &o));
    }
    EXPECT_TRUE(runUntil(
        [&] {
          for (const Outcome& o : outcomes) {
            if (o.calls == 0) return false;
          }
          return true;
        },
        10'000));
    return outcomes;
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
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(postOne(server.url("/ok")).status, 200);
    EXPECT_EQ(getOne(server.url("/ok")).status, 200);
  }
  EXPECT_EQ(server.accepts(), 1);
  EXPECT_EQ(server.requests(), 20);
}

TEST_F(HttpClientTest, GetAndPostSendTheirMethod) {
  TestServer server;
  const Outcome get = getOne(server.url("/method"));
  EXPECT_EQ(get.error, HttpError::kNone);
  EXPECT_EQ(get.body, "GET");
  EXPECT_EQ(postOne(server.url("/method")).body, "POST");
  EXPECT_EQ(getOne(server.url("/method")).body, "GET");  // the same connection, reset to GET
  EXPECT_EQ(server.accepts(), 1);
}

TEST_F(HttpClientTest, PutPatchAndDeleteSendTheirMethodAndBody) {
  TestServer server;
  const std::pair<HttpMethod, std::string> cases[] = {
      {HttpMethod::kPut, "PUT"}, {HttpMethod::kPatch, "PATCH"}, {HttpMethod::kDelete, "DELETE"}};
  for (const auto& [method, name] : cases) {
    Outcome o;
    ASSERT_TRUE(client().send({.method = method, .url = server.url("/method-body"), .body = "b1",
                               .timeouts = {1000, 3000}},
                              record, &o));
    ASSERT_TRUE(runUntil([&] { return o.calls > 0; }));
    EXPECT_EQ(o.error, HttpError::kNone);
    EXPECT_EQ(o.body, name + " b1");
  }
  Outcome del;  // without a body
  ASSERT_TRUE(client().send({.method = HttpMethod::kDelete, .url = server.url("/method-body"),
                             .timeouts = {1000, 3000}},
                            record, &del));
  ASSERT_TRUE(runUntil([&] { return del.calls > 0; }));
  EXPECT_EQ(del.body, "DELETE ");
  EXPECT_EQ(getOne(server.url("/method")).body, "GET");  // a reused connection, back to GET
  EXPECT_EQ(server.accepts(), 1);
}

struct HeaderOutcome {
  int calls = 0;
  HttpError error = HttpError::kNone;
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

void recordHeaders(void* ctx, const HttpResult& r) {
  auto* o = static_cast<HeaderOutcome*>(ctx);
  ++o->calls;
  o->error = r.error;
  o->status = r.status;
  o->body.assign(r.body);
  for (const HttpHeader& h : r.headers) o->headers.emplace_back(h.name, h.value);
}

TEST_F(HttpClientTest, CapturesTheResponseHeadersWhenAsked) {
  TestServer server;
  for (const HttpMethod m : {HttpMethod::kGet, HttpMethod::kHead}) {
    HeaderOutcome o;
    ASSERT_TRUE(client().send({.method = m, .url = server.url("/headers"), .timeouts = {1000, 3000},
                               .capture_headers = true},
                              recordHeaders, &o));
    ASSERT_TRUE(runUntil([&] { return o.calls > 0; }));
    EXPECT_EQ(o.error, HttpError::kNone);
    EXPECT_EQ(o.body, m == HttpMethod::kHead ? "" : "ok");
    // The folded continuation is dropped, the value of the line it continues kept.
    const std::vector<std::pair<std::string, std::string>> want = {
        {"Content-Length", "2"}, {"ETag", "\"v1\""}, {"X-Folded", "a"}};
    EXPECT_EQ(o.headers, want);
  }
  HeaderOutcome plain;  // not asked: none
  ASSERT_TRUE(client().send({.method = HttpMethod::kGet, .url = server.url("/headers"),
                             .timeouts = {1000, 3000}},
                            recordHeaders, &plain));
  ASSERT_TRUE(runUntil([&] { return plain.calls > 0; }));
  EXPECT_TRUE(plain.headers.empty());
  HeaderOutcome many;  // more fields than kMaxCapturedHeaders
  ASSERT_TRUE(client().send({.method = HttpMethod::kGet, .url = server.url("/many-headers"),
                             .timeouts = {1000, 3000}, .capture_headers = true},
                            recordHeaders, &many));
  ASSERT_TRUE(runUntil([&] { return many.calls > 0; }));
  EXPECT_EQ(many.error, HttpError::kTooLarge);
}

// Trailer fields after a chunked body are not response headers.
TEST_F(HttpClientTest, TrailersAreNotCapturedAsHeaders) {
  TestServer server;
  for (int i = 0; i < 2; ++i) {  // the second on the kept-alive connection
    HeaderOutcome o;
    ASSERT_TRUE(client().send({.method = HttpMethod::kGet, .url = server.url("/trailers"),
                               .timeouts = {1000, 3000}, .capture_headers = true},
                              recordHeaders, &o));
    ASSERT_TRUE(runUntil([&] { return o.calls > 0; }));
    EXPECT_EQ(o.error, HttpError::kNone);
    EXPECT_EQ(o.body, "ok");
    const std::vector<std::pair<std::string, std::string>> want = {
        {"Transfer-Encoding", "chunked"}, {"Trailer", "X-Trailer, ETag"}, {"ETag", "\"v1\""}};
    EXPECT_EQ(o.headers, want);
  }
}

TEST_F(HttpClientTest, APerRequestCapOverridesTheClientsOne) {
  TestServer server;
  const std::string body(2000, 'b');
  Outcome small;
  ASSERT_TRUE(client().send({.method = HttpMethod::kPost, .url = server.url("/echo"), .body = body,
                             .timeouts = {1000, 3000}, .max_response_bytes = 1000},
                            record, &small));
  Outcome fits;
  ASSERT_TRUE(client().send({.method = HttpMethod::kPost, .url = server.url("/echo"), .body = body,
                             .timeouts = {1000, 3000}},
                            record, &fits));
  ASSERT_TRUE(runUntil([&] { return small.calls > 0 && fits.calls > 0; }));
  EXPECT_EQ(small.error, HttpError::kTooLarge);
  EXPECT_EQ(fits.error, HttpError::kNone);
  EXPECT_EQ(fits.body, body);
}

TEST_F(HttpClientTest, RefusesPlainHttpOutsideDevelopment) {
  TestServer server;
  client(HttpClientOptions{});
  const Outcome o = postOne(server.url("/ok"));
  EXPECT_EQ(o.error, HttpError::kRefused);
  EXPECT_EQ(server.accepts(), 0);
}

TEST_F(HttpClientTest, RefusesBadUrlsAndBadHeaders) {
  TestServer server;
  const std::string port = std::to_string(server.port());
  EXPECT_EQ(postOne("ftp://127.0.0.1:" + port + "/ok").error, HttpError::kRefused);
  EXPECT_EQ(postOne("not a url").error, HttpError::kRefused);
  // Names curl would rewrite (IDN to punycode), or that are not DNS names.
  EXPECT_EQ(postOne("http://b\xc3\xbc" "cher.phigate.test:" + port + "/ok").error, HttpError::kRefused);
  EXPECT_EQ(postOne("http://api.phigate.test.:" + port + "/ok").error, HttpError::kRefused);
  EXPECT_EQ(postOne("http://a..phigate.test:" + port + "/ok").error, HttpError::kRefused);
  // A GET carries no body.
  Outcome get;
  ASSERT_TRUE(client().send({.method = HttpMethod::kGet, .url = server.url("/ok"), .body = "x"},
                            record, &get));
  EXPECT_EQ(get.calls, 0);
  Outcome o;
  const std::string_view headers[] = {"X-A: b\r\nX-Injected: 1"};
  ASSERT_TRUE(client().post(server.url("/ok"), headers, "", {}, record, &o));
  EXPECT_EQ(o.calls, 0);
  ASSERT_TRUE(runUntil([&] { return o.calls > 0 && get.calls > 0; }));
  EXPECT_EQ(o.error, HttpError::kRefused);
  EXPECT_EQ(get.error, HttpError::kRefused);
  EXPECT_EQ(server.accepts(), 0);
  EXPECT_EQ(lookupsOf("api.phigate.test."), 0);
  EXPECT_EQ(client().stats().dns_lookups, 0u);
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
  ASSERT_TRUE(client().post("ftp://127.0.0.1/", {}, "", {}, record, &refused));
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

// ---- host names -----------------------------------------------------------

TEST_F(HttpClientTest, AHostNameIsLookedUpOnceAndCurlNeverResolves) {
  TestServer server;
  const std::string url = "http://api.phigate.test:" + std::to_string(server.port());
  const int before = lookupsOf("api.phigate.test");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(getOne(url + "/ok").status, 200);
  for (const Outcome& o : getMany(url + "/slow", 50)) EXPECT_EQ(o.status, 200);
  const Outcome host = getOne(url + "/host");
  EXPECT_EQ(host.body, "api.phigate.test:" + std::to_string(server.port()));  // the name, not the address
  // One getaddrinfo in all: none by curl's own resolver, none per request.
  EXPECT_EQ(lookupsOf("api.phigate.test") - before, 1);
  EXPECT_EQ(client().stats().dns_lookups, 1u);
  EXPECT_GE(client().stats().dns_cache_hits, 55u);
}

TEST_F(HttpClientTest, ANameIsLowercasedBeforeItIsLookedUp) {
  TestServer server;
  const int before = lookupsOf("mixed.phigate.test");
  EXPECT_EQ(getOne("http://Mixed.PHIGATE.test:" + std::to_string(server.port()) + "/ok").status, 200);
  EXPECT_EQ(getOne("http://mixed.phigate.test:" + std::to_string(server.port()) + "/ok").status, 200);
  EXPECT_EQ(lookupsOf("mixed.phigate.test") - before, 1);
  EXPECT_EQ(server.accepts(), 1);
}

// Every address of an answer is pinned, in order: curl's attempt on the
// first is refused (curl closes that socket itself and moves on), the second
// answers; each closed attempt's fd number comes back at once. curl 7.88
// moves on only at its 200 ms happy-eyeballs timer (the curl CLI does the
// same), not at the refusal; the bound here is the connect timeout.
TEST_F(HttpClientTest, AFailedAttemptMovesToTheNextAddress) {
  TestServer server;  // listens on 127.0.0.1 only
  const std::string port = std::to_string(server.port());
  for (int i = 0; i < 5; ++i) {
    const std::string url = "http://two-" + std::to_string(i) + ".phigate.test:" + port + "/ok";
    const uint64_t start = nowMs();
    EXPECT_EQ(getOne(url, {1500, 3000}).status, 200);
    EXPECT_LT(nowMs() - start, 1400u) << "the first address ran into the connect timeout";
  }
  EXPECT_EQ(server.accepts(), 5);
}

TEST_F(HttpClientTest, ConcurrentRequestsShareOneLookup) {
  TestServer server;
  const std::string url = "http://slow.phigate.test:" + std::to_string(server.port()) + "/ok";
  const int before = lookupsOf("slow.phigate.test");
  const int ticks = ticks_;
  for (const Outcome& o : getMany(url, 30)) EXPECT_EQ(o.status, 200);
  EXPECT_EQ(lookupsOf("slow.phigate.test") - before, 1);
  EXPECT_GE(ticks_ - ticks, 20) << "the loop was blocked during the lookup";
}

TEST_F(HttpClientTest, LocalhostResolvesThroughTheSystem) {
  TestServer server;
  const Outcome o = getOne("http://localhost:" + std::to_string(server.port()) + "/ok");
  EXPECT_EQ(o.error, HttpError::kNone);
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(client().stats().dns_lookups, 1u);
}

TEST_F(HttpClientTest, AnUnresolvableNameIsADnsError) {
  TestServer server;
  const std::string url = "http://nx.phigate.test:" + std::to_string(server.port()) + "/ok";
  const int before = lookupsOf("nx.phigate.test");
  Outcome o = getOne(url);
  EXPECT_EQ(o.error, HttpError::kDns);
  EXPECT_STREQ(httpErrorName(o.error), "dns");
  // Within dns_failure_ttl_ms the failure answers at once, without a lookup.
  o = getOne(url);
  EXPECT_EQ(o.error, HttpError::kDns);
  EXPECT_EQ(lookupsOf("nx.phigate.test") - before, 1);
  EXPECT_EQ(client().stats().dns_failures, 1u);
  EXPECT_EQ(server.accepts(), 0);
}

TEST_F(HttpClientTest, AFailedLookupIsTriedAgainAfterItsTtl) {
  HttpClientOptions opts = devOptions();
  opts.dns_failure_ttl_ms = 50;
  client(opts);
  const int before = lookupsOf("nx.phigate.test");
  EXPECT_EQ(getOne("http://nx.phigate.test:9/ok").error, HttpError::kDns);
  const uint64_t start = nowMs();
  runUntil([&] { return nowMs() > start + 80; });
  EXPECT_EQ(getOne("http://nx.phigate.test:9/ok").error, HttpError::kDns);
  EXPECT_EQ(lookupsOf("nx.phigate.test") - before, 2);
}

TEST_F(HttpClientTest, ALookupSlowerThanTheConnectTimeoutIsADnsError) {
  TestServer server;
  const std::string url = "http://slow.phigate.test:" + std::to_string(server.port()) + "/ok";
  HttpClientOptions opts = devOptions();
  client(opts);
  const int before = lookupsOf("slow.phigate.test");
  const int answered = answeredOf("slow.phigate.test");
  const uint64_t start = nowMs();
  const Outcome o = getOne(url, {100, 3000});
  const uint64_t elapsed = nowMs() - start;
  EXPECT_EQ(o.error, HttpError::kDns);
  EXPECT_GE(elapsed, 90u);
  EXPECT_LT(elapsed, 280u) << "waited for the lookup instead of the connect timeout";
  EXPECT_EQ(server.accepts(), 0);
  // The lookup goes on; its answer serves the next request.
  ASSERT_TRUE(runUntil([&] { return answeredOf("slow.phigate.test") > answered; }));
  const int ticks = ticks_;
  runUntil([&] { return ticks_ > ticks + 2; });  // the loop picks the answer up
  EXPECT_EQ(getOne(url, {100, 3000}).status, 200);
  EXPECT_EQ(lookupsOf("slow.phigate.test") - before, 1);
}

TEST_F(HttpClientTest, AnAnswerIsLookedUpAgainAfterItsTtl) {
  TestServer server;
  HttpClientOptions opts = devOptions();
  opts.dns_ttl_ms = 50;
  client(opts);
  const std::string url = "http://ttl.phigate.test:" + std::to_string(server.port()) + "/ok";
  const int before = lookupsOf("ttl.phigate.test");
  EXPECT_EQ(getOne(url).status, 200);
  EXPECT_EQ(getOne(url).status, 200);
  EXPECT_EQ(lookupsOf("ttl.phigate.test") - before, 1);
  const uint64_t start = nowMs();
  runUntil([&] { return nowMs() > start + 80; });
  EXPECT_EQ(getOne(url).status, 200);
  EXPECT_EQ(lookupsOf("ttl.phigate.test") - before, 2);
  EXPECT_EQ(server.accepts(), 1) << "a new answer for the same name keeps its connection";
}

TEST_F(HttpClientTest, TheAnswerTableIsBounded) {
  TestServer server;
  HttpClientOptions opts = devOptions();
  opts.dns_cache_entries = 2;
  client(opts);
  const std::string port = std::to_string(server.port());
  const int a = lookupsOf("bound-a.phigate.test");
  for (const char* name : {"bound-a", "bound-b", "bound-c", "bound-a"}) {
    EXPECT_EQ(getOne(std::string("http://") + name + ".phigate.test:" + port + "/ok").status, 200);
  }
  EXPECT_EQ(lookupsOf("bound-a.phigate.test") - a, 2) << "bound-a was dropped to make room";
  EXPECT_EQ(client().stats().dns_lookups, 4u);
}

TEST_F(HttpClientTest, DestroyDuringALookupCancelsOnce) {
  std::vector<Outcome> outcomes(3);
  for (Outcome& o : outcomes) {
    ASSERT_TRUE(client().send({.method = HttpMethod::kGet, .url = "http://slow.phigate.test:9/"},
                              record, &o));
  }
  EXPECT_EQ(client().inFlight(), 3u);
  uv_run(&loop_, UV_RUN_NOWAIT);
  client_.reset();
  for (const Outcome& o : outcomes) {
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.error, HttpError::kCancelled);
  }
  // TearDown turns the loop until the lookup returns and checks nothing is left.
}

// ---- the multi-socket traps ----------------------------------------------

// A listening socket whose accept queue is full drops SYNs: the connect
// neither succeeds nor fails, and only the connect timeout ends it.
TEST_F(HttpClientTest, ConnectTimeoutAgainstAFullBacklog) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 0), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 8; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const uint64_t start = nowMs();
  const int ticks = ticks_;
  const Outcome o = getOne("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/ok",
                           {300, 5000});
  const uint64_t elapsed = nowMs() - start;
  EXPECT_EQ(o.error, HttpError::kTimeout);
  EXPECT_GE(elapsed, 280u);
  EXPECT_LT(elapsed, 2000u) << "the total timeout, not the connect timeout, ended it";
  EXPECT_GE(ticks_ - ticks, 20) << "the loop was blocked";
  for (const int fd : fillers) close(fd);
  close(listener);
}

// The upstream's idle timeout closes a kept-alive connection just as the
// next request goes out on it: nothing comes back, and curl sends the request
// once more on a new connection (its retry of a dead reused connection).
TEST_F(HttpClientTest, ADeadReusedConnectionIsRetriedOnANewOne) {
  TestServer server;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(postOne(server.url("/ok-then-drop-next")).status, 200);
    const Outcome o = postOne(server.url("/echo"), {1000, 3000}, "again");
    EXPECT_EQ(o.error, HttpError::kNone);
    EXPECT_EQ(o.status, 200);
    EXPECT_EQ(o.body, "again");
  }
  EXPECT_EQ(server.accepts(), 6);    // the first, then one per retry
  EXPECT_EQ(server.requests(), 15);  // each dropped request arrived, then its retry
}

TEST_F(HttpClientTest, MaxTotalConnectionsQueuesTheRest) {
  TestServer server;
  HttpClientOptions opts = devOptions();
  opts.max_total_connections = 3;
  client(opts);
  for (const Outcome& o : getMany(server.url("/slow"), 12)) EXPECT_EQ(o.status, 200);
  EXPECT_LE(server.peakConnections(), 3);
  EXPECT_LE(server.accepts(), 3);
}

TEST_F(HttpClientTest, MaxHostConnectionsQueuesTheRest) {
  TestServer server;
  HttpClientOptions opts = devOptions();
  opts.max_host_connections = 2;
  client(opts);
  for (const Outcome& o : getMany(server.url("/slow"), 8)) EXPECT_EQ(o.status, 200);
  EXPECT_LE(server.peakConnections(), 2);
}

// Environment proxies never apply: a direct request still goes direct.
TEST_F(HttpClientTest, EnvironmentProxiesAreIgnored) {
  TestServer server;
  const char* names[] = {"http_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"};
  for (const char* n : names) setenv(n, "http://127.0.0.1:9", 1);
  const Outcome o = getOne(server.url("/ok"));
  for (const char* n : names) unsetenv(n);
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(server.accepts(), 1);
}

TEST_F(HttpClientTest, ProxyUrlsAreChecked) {
  EXPECT_TRUE(HttpClient::validProxyUrl("http://10.0.0.1:3128"));
  EXPECT_TRUE(HttpClient::validProxyUrl("http://proxy.hospital.example:8080/"));
  EXPECT_TRUE(HttpClient::validProxyUrl("http://[::1]:3128"));
  EXPECT_TRUE(HttpClient::validProxyUrl("http://user:secret@proxy.example:3128"));
  EXPECT_FALSE(HttpClient::validProxyUrl("proxy.example:3128"));  // no scheme
  EXPECT_FALSE(HttpClient::validProxyUrl("http://proxy.example"));  // no port
  EXPECT_FALSE(HttpClient::validProxyUrl("https://proxy.example:3128"));
  EXPECT_FALSE(HttpClient::validProxyUrl("socks5://proxy.example:1080"));
  EXPECT_FALSE(HttpClient::validProxyUrl("http://proxy.example:3128/path"));
  EXPECT_FALSE(HttpClient::validProxyUrl("http://proxy.example:3128/?q"));
  EXPECT_FALSE(HttpClient::validProxyUrl(""));
  // An invalid one refuses every request rather than going direct.
  TestServer server;
  HttpClientOptions opts = devOptions();
  opts.proxy = "http://proxy.example";
  client(opts);
  EXPECT_EQ(getOne(server.url("/ok")).error, HttpError::kRefused);
  EXPECT_EQ(server.accepts(), 0);
}

TEST_F(HttpClientTest, AnUnreachableProxyIsAConnectError) {
  TestServer server;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);  // nothing listens there now
  HttpClientOptions opts = devOptions();
  opts.proxy = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  client(opts);
  EXPECT_EQ(getOne(server.url("/ok")).error, HttpError::kConnect);
  EXPECT_EQ(server.accepts(), 0) << "went direct";
}

TEST(HttpClientBuild, LibcurlCanSpeakHttp2) {
  // CURL_HTTP_VERSION_2TLS takes effect only with nghttp2 (Debian's has it).
  EXPECT_NE(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2, 0);
}

// ---- TLS and the proxy, against tests/support/http_client_helper.py --------

using test::findProgram;

/**
 * Once per suite: a CA and a server certificate (DNS:api.phigate.test,
 * DNS:localhost; no IP address) from the openssl CLI in a temporary
 * directory, and the helper process serving HTTPS and the proxy.
 */
class HttpClientTlsTest : public HttpClientTest {
 protected:
  static void SetUpTestSuite() {
    dir_.clear();
    skip_.clear();
    pid_ = -1;
    tls_port_ = 0;
    proxy_port_ = 0;
    char tmpl[] = "/tmp/phigate-http-client-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      skip_ = "no temporary directory";
      return;
    }
    dir_ = tmpl;
    const std::string openssl = findProgram("openssl");
    const std::string python = findProgram("python3");
    if (openssl.empty() || python.empty()) {
      skip_ = "needs openssl and python3";
      return;
    }
    if (!test::makeTestCertificates(dir_, openssl, "api.phigate.test", "DNS:api.phigate.test,DNS:localhost")) {
      skip_ = "openssl could not make the test certificates";
      return;
    }
    std::string error;
    pid_ = test::spawnServer({.args = {python, PHIGATE_SOURCE_DIR "/tests/support/http_client_helper.py",
                                       dir_ + "/srv.pem", dir_ + "/srv.key"},
                              .output = dir_ + "/helper.out",
                              .truncate_output = true},
                             &error);
    if (!test::waitForPorts(pid_, dir_ + "/helper.out", {&tls_port_, &proxy_port_})) {
      skip_ = "the python3 helper did not start: " + error;
    }
  }
  static void TearDownTestSuite() { test::stopHelper(&pid_, dir_); }
  void SetUp() override {
    HttpClientTest::SetUp();
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  static HttpClientOptions tlsOptions() {
    HttpClientOptions o;
    o.ca_file = dir_ + "/ca.pem";
    return o;
  }
  static std::string tlsUrl(const std::string& host, const std::string& path = "/ok") {
    return "https://" + host + ":" + std::to_string(tls_port_) + path;
  }
  static std::string proxyUrl(const std::string& host = "127.0.0.1") {
    return "http://" + host + ":" + std::to_string(proxy_port_);
  }

  struct ProxyStats {
    int connects = -1;
    int forwards = -1;
    int tls_accepts = -1;
  };
  /** The helper's counters, by a blocking GET /__stats (the client's loop is idle). */
  static ProxyStats proxyStats() {
    ProxyStats st;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(proxy_port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      const std::string req = "GET /__stats HTTP/1.1\r\nHost: x\r\n\r\n";
      (void)!write(fd, req.data(), req.size());
      std::string in;
      char buf[512];
      for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) in.append(buf, static_cast<size_t>(n));
      std::istringstream body(in.substr(in.find("\r\n\r\n") + 4));
      body >> st.connects >> st.forwards >> st.tls_accepts;
    }
    close(fd);
    return st;
  }

  static inline std::string dir_;
  static inline std::string skip_;
  static inline pid_t pid_ = -1;
  static inline int tls_port_ = 0;
  static inline int proxy_port_ = 0;
};

TEST_F(HttpClientTlsTest, TheConfiguredCaVerifiesTheUpstream) {
  client(tlsOptions());
  const ProxyStats before = proxyStats();
  const Outcome get = getOne(tlsUrl("api.phigate.test"));
  EXPECT_EQ(get.error, HttpError::kNone);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "tls-GET");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(postOne(tlsUrl("api.phigate.test")).body, "tls-POST");
  EXPECT_EQ(proxyStats().tls_accepts - before.tls_accepts, 1) << "TLS connections are reused too";
}

TEST_F(HttpClientTlsTest, WithoutTheCaTheUpstreamIsATlsError) {
  client(HttpClientOptions{});  // the system store does not know the test CA
  const Outcome o = getOne(tlsUrl("localhost"));
  EXPECT_EQ(o.error, HttpError::kTls);
  EXPECT_EQ(o.status, 0);
}

TEST_F(HttpClientTlsTest, ANameTheCertificateDoesNotCarryIsATlsError) {
  client(tlsOptions());
  EXPECT_EQ(getOne(tlsUrl("127.0.0.1")).error, HttpError::kTls);  // no IP address in it
  EXPECT_EQ(getOne(tlsUrl("other.phigate.test")).error, HttpError::kTls);
}

TEST_F(HttpClientTlsTest, HttpsGoesThroughTheProxyByConnect) {
  HttpClientOptions opts = tlsOptions();
  opts.proxy = proxyUrl("proxy.phigate.test");  // a name: looked up like an upstream
  client(opts);
  const ProxyStats before = proxyStats();
  const int lookups = lookupsOf("proxy.phigate.test");
  for (int i = 0; i < 3; ++i) {
    const Outcome o = postOne(tlsUrl("localhost"));  // the proxy resolves the upstream
    EXPECT_EQ(o.error, HttpError::kNone);
    EXPECT_EQ(o.body, "tls-POST");
  }
  const ProxyStats after = proxyStats();
  EXPECT_EQ(after.connects - before.connects, 1) << "one tunnel, reused";
  EXPECT_EQ(after.tls_accepts - before.tls_accepts, 1);
  // The proxy's name through the pin: curl looked nothing up itself.
  EXPECT_EQ(lookupsOf("proxy.phigate.test") - lookups, 1);
  EXPECT_EQ(client().stats().dns_lookups, 1u);
}

TEST_F(HttpClientTlsTest, TlsVerificationStillAppliesThroughTheProxy) {
  HttpClientOptions opts;  // no CA
  opts.proxy = proxyUrl();
  client(opts);
  EXPECT_EQ(getOne(tlsUrl("localhost")).error, HttpError::kTls);
}

TEST_F(HttpClientTlsTest, ATunnelTheProxyRefusesIsAConnectError) {
  HttpClientOptions opts = tlsOptions();
  opts.proxy = proxyUrl();
  client(opts);
  const Outcome o = getOne("https://blocked.invalid/ok");
  EXPECT_EQ(o.error, HttpError::kConnect);
  EXPECT_EQ(lookupsOf("blocked.invalid"), 0);
}

TEST_F(HttpClientTlsTest, PlainHttpIsForwardedByTheProxy) {
  TestServer server;
  HttpClientOptions opts = devOptions();
  opts.proxy = proxyUrl();
  client(opts);
  const ProxyStats before = proxyStats();
  EXPECT_EQ(postOne(server.url("/echo"), {1000, 3000}, "via").body, "via");
  EXPECT_EQ(getOne(server.url("/method")).body, "GET");
  EXPECT_EQ(proxyStats().forwards - before.forwards, 2);
  EXPECT_EQ(server.accepts(), 1);  // the proxy's one upstream connection
}

TEST_F(HttpClientTlsTest, NoProxyFromTheEnvironmentBypassesTheConfiguredOne) {
  TestServer server;
  HttpClientOptions opts = devOptions();
  opts.proxy = proxyUrl();
  client(opts);
  const ProxyStats before = proxyStats();
  setenv("no_proxy", "*", 1);
  setenv("NO_PROXY", "*", 1);
  const Outcome o = getOne(server.url("/ok"));
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(proxyStats().forwards - before.forwards, 1);
}


// ---- the address policy (status callbacks' SSRF check) ---------------------

// Allows exactly the addresses in the set (16-byte form).
struct AllowSet {
  std::vector<std::array<uint8_t, 16>> allowed;
  mutable int asked = 0;
  static bool allow(const void* ctx, const uint8_t (&addr)[16]) {
    const auto* self = static_cast<const AllowSet*>(ctx);
    ++self->asked;
    std::array<uint8_t, 16> a;
    memcpy(a.data(), addr, 16);
    return std::find(self->allowed.begin(), self->allowed.end(), a) != self->allowed.end();
  }
  void addV4(const char* text) {
    std::array<uint8_t, 16> a{};
    a[10] = a[11] = 0xff;
    ASSERT_EQ(inet_pton(AF_INET, text, a.data() + 12), 1);
    allowed.push_back(a);
  }
};

HttpClientOptions policyOptions(const AllowSet& set) {
  HttpClientOptions o;
  o.allow_plain_http = true;
  o.max_response_bytes = 16 * 1024;
  o.address_policy = {.allow = &AllowSet::allow, .ctx = &set};
  return o;
}

TEST_F(HttpClientTest, ThePolicyRefusesAnIpLiteralBeforeAnyConnection) {
  TestServer server;
  AllowSet none;
  client(policyOptions(none));
  const Outcome o = getOne(server.url("/ok"));
  EXPECT_EQ(o.error, HttpError::kRefused);
  EXPECT_EQ(o.status, 0);
  EXPECT_GE(none.asked, 1);
  EXPECT_GE(client().stats().address_refusals, 1u);
  EXPECT_EQ(server.accepts(), 0) << "a refused address was connected to";
}

TEST_F(HttpClientTest, ThePolicyAllowsWhatItAllows) {
  TestServer server;
  AllowSet loopback;
  loopback.addV4("127.0.0.1");
  client(policyOptions(loopback));
  EXPECT_EQ(getOne(server.url("/ok")).status, 200);
  EXPECT_EQ(client().stats().address_refusals, 0u);
  EXPECT_EQ(server.accepts(), 1);
}

// localhost resolves to 127.0.0.1 (and ::1): a name is vetted by its
// answer, at connect time, so a name cannot smuggle a refused address in.
TEST_F(HttpClientTest, ThePolicyRefusesANameThatResolvesToARefusedAddress) {
  TestServer server;
  AllowSet none;
  client(policyOptions(none));
  const Outcome o = getOne("http://localhost:" + std::to_string(server.port()) + "/ok");
  EXPECT_EQ(o.error, HttpError::kRefused);
  EXPECT_EQ(client().stats().dns_lookups, 1u);  // resolved by the client, then refused
  EXPECT_GE(client().stats().address_refusals, 1u);
  EXPECT_EQ(server.accepts(), 0);
}

// two-*.phigate.test answers 127.0.0.2, then 127.0.0.1: only the allowed
// one is tried (no socket for the other), and the connection is pinned to it.
TEST_F(HttpClientTest, ThePolicyPicksTheAllowedAddressOfAnAnswer) {
  TestServer server;
  AllowSet only1;
  only1.addV4("127.0.0.1");
  client(policyOptions(only1));
  const std::string url = "http://two-policy.phigate.test:" + std::to_string(server.port()) + "/ok";
  EXPECT_EQ(getOne(url, {1500, 3000}).status, 200);
  EXPECT_GE(client().stats().address_refusals, 1u);  // 127.0.0.2 never got a socket
  EXPECT_EQ(server.accepts(), 1);
}

// An allowed address that refuses the connection is a connect error (tried
// again later), not a refusal, even when another address was refused.
TEST_F(HttpClientTest, AnAllowedAddressThatIsDownIsAConnectError) {
  uint16_t port;
  {
    TestServer gone;  // a port nothing listens on any more
    port = static_cast<uint16_t>(gone.port());
  }
  AllowSet only1;
  only1.addV4("127.0.0.1");
  client(policyOptions(only1));
  const Outcome o = getOne("http://two-down.phigate.test:" + std::to_string(port) + "/ok", {1500, 3000});
  EXPECT_EQ(o.error, HttpError::kConnect);
  EXPECT_GE(client().stats().address_refusals, 1u);  // 127.0.0.2 was refused on the way
}

TEST_F(HttpClientTest, RedirectsAreNeverFollowed) {
  TestServer server;
  const Outcome o = getOne(server.url("/redirect"));
  EXPECT_EQ(o.error, HttpError::kNone);
  EXPECT_EQ(o.status, 302);  // the answer is the redirect itself
  EXPECT_EQ(server.requests(), 1);
}

TEST_F(HttpClientTest, ATooLargeResponseStillSaysItsStatus) {
  TestServer server;
  const Outcome o = postOne(server.url("/big"));
  EXPECT_EQ(o.error, HttpError::kTooLarge);
  EXPECT_EQ(o.status, 200);
  const Outcome n = postOne(server.url("/big-nolen"));
  EXPECT_EQ(n.error, HttpError::kTooLarge);
  EXPECT_EQ(n.status, 200);
}

}  // namespace
}  // namespace phigate::net
