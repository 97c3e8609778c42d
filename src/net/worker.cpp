#include "net/worker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "net/connection.h"

namespace phigate::net {

namespace {
constexpr int kBacklog = 4096;
constexpr size_t kMaxPooledBuffers = 256;
constexpr uint64_t kLogFlushMs = 50;

template <typename H>
Worker& owner(H* h) {
  return *static_cast<Worker*>(h->data);
}
}  // namespace

size_t Worker::IpKeyHash::operator()(const IpKey& k) const {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

Worker::Worker(WorkerOptions opts, Application& app)
    : opts_(std::move(opts)), app_(app), static_headers_(opts_.hsts), discard_(64 * 1024) {
  head_limits_.max_request_line = opts_.limits.max_request_line;
  head_limits_.max_header_bytes = opts_.limits.max_header_bytes;
  head_limits_.max_headers = opts_.limits.max_headers;
  uv_loop_init(&loop_);
  clock_.refresh();
}

Worker::~Worker() {
  for (char* b : buffer_pool_) free(b);
  if (log_fd_ > 2) ::close(log_fd_);
  uv_loop_close(&loop_);
}

namespace {

socklen_t toSockaddr(const ListenAddress& la, sockaddr_storage* ss) {
  *ss = {};
  if (la.ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(la.port);
    inet_pton(AF_INET6, la.host.c_str(), &a->sin6_addr);
    return sizeof *a;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(la.port);
  inet_pton(AF_INET, la.host.c_str(), &a->sin_addr);
  return sizeof *a;
}

}  // namespace

std::string formatListenAddress(const ListenAddress& la) {
  return (la.ipv6 ? "[" + la.host + "]" : la.host) + ":" + std::to_string(la.port);
}

// Linux refuses a bind to an address:port that a socket listens on, unless
// both sockets set SO_REUSEPORT (and belong to one user): that is how a
// second phigate joins the first one's group and gets half its connections.
// The probe sets SO_REUSEADDR only, so it fails with EADDRINUSE on any
// listener (phigate's, or nginx, nc, python -m http.server) and ignores
// TIME_WAIT leftovers of an earlier run.
//
// The race it leaves: a socket that is bound but not yet listening does not
// make the probe fail, and nothing holds the address between the probe and
// the workers' bind. Two phigates started within that moment (milliseconds)
// can still end up sharing the port, as could another SO_REUSEPORT program
// of the same user. Holding the probe socket would not help: it would keep
// our own workers out, since it cannot be in their group.
int probeListenAddress(const ListenAddress& la) {
  sockaddr_storage ss;
  const socklen_t sslen = toSockaddr(la, &ss);
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  int rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (rc == 0) rc = bind(fd, reinterpret_cast<sockaddr*>(&ss), sslen);
  const int err = rc == 0 ? 0 : -errno;
  ::close(fd);  // never listened: leaves no TIME_WAIT behind
  return err;
}

// Each worker binds its own socket with SO_REUSEPORT so the kernel spreads
// connections across workers without a shared accept queue or lock.
int Worker::listen() {
  sockaddr_storage ss;
  const socklen_t sslen = toSockaddr(opts_.listen, &ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&ss), sslen) != 0) {
    int err = -errno;
    ::close(fd);
    return err;
  }
  uv_tcp_init(&loop_, &listener_);
  listener_.data = this;
  int rc = uv_tcp_open(&listener_, fd);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), kBacklog, onConnection);
  listening_ = true;  // the handle exists and must be closed either way
  return rc;
}

bool Worker::openLog() {
  if (access_log_) return true;
  if (!opts_.log_file.empty()) {
    // Start-up, before the loop runs: a blocking open is fine here.
    log_fd_ = ::open(opts_.log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (log_fd_ < 0) {
      fprintf(stderr, "phigate: cannot open LOG_FILE: %s\n", strerror(errno));
      return false;
    }
  }
  access_log_ = std::make_unique<obs::AccessLog>(&loop_, log_fd_, clock_);
  return true;
}

int Worker::run() {
  if (!openLog()) return 1;

  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  uv_signal_start(&sigterm_, onSignal, SIGTERM);
  uv_signal_start(&sigint_, onSignal, SIGINT);
  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, onCheck);
  uv_timer_init(&loop_, &log_timer_);
  log_timer_.data = this;
  uv_timer_start(&log_timer_, onLogTimer, kLogFlushMs, kLogFlushMs);
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;

  int rc = listen();
  if (rc != 0) {
    fprintf(stderr, "phigate: cannot listen on %s: %s\n", formatListenAddress(opts_.listen).c_str(),
            uv_strerror(rc));
    closeHandles();
    uv_run(&loop_, UV_RUN_DEFAULT);
    return 1;
  }
  std::string notice = "{\"event\":\"worker_started\",\"pid\":" + std::to_string(getpid()) +
                       ",\"listen\":\"" + formatListenAddress(opts_.listen) + "\"}";
  access_log_->writeRaw(notice);
  access_log_->flush();
  app_.onStart(*this);

  uv_run(&loop_, UV_RUN_DEFAULT);
  access_log_->writeRaw("{\"event\":\"worker_stopped\",\"pid\":" + std::to_string(getpid()) + "}");
  access_log_->flushSync();
  return 0;
}

void Worker::onSignal(uv_signal_t* h, int) { owner(h).drain(); }

void Worker::drain() {
  if (draining_) return;
  draining_ = true;
  if (listening_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    listening_ = false;
  }
  for (Connection* c = head_; c != nullptr; c = c->next) c->drain();
  uv_timer_start(&drain_timer_, onDrainTimer, opts_.limits.drain_timeout_ms, 0);
  maybeFinishDrain();
}

// Drain deadline: whatever is still open is cut off.
void Worker::onDrainTimer(uv_timer_t* t) {
  Worker& w = owner(t);
  for (Connection* c = w.head_; c != nullptr; c = c->next) c->close();
}

void Worker::maybeFinishDrain() {
  if (draining_ && connections_ == 0) closeHandles();
}

void Worker::closeHandles() {
  if (handles_closed_) return;
  handles_closed_ = true;
  app_.onStop();
  if (listening_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    listening_ = false;
  }
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&sigterm_),
                         reinterpret_cast<uv_handle_t*>(&sigint_),
                         reinterpret_cast<uv_handle_t*>(&check_),
                         reinterpret_cast<uv_handle_t*>(&log_timer_),
                         reinterpret_cast<uv_handle_t*>(&drain_timer_)}) {
    uv_close(h, nullptr);
  }
}

std::array<unsigned char, 16> connectionCapKey(const unsigned char (&peer)[16]) {
  std::array<unsigned char, 16> key;
  memcpy(key.data(), peer, key.size());
  static constexpr unsigned char kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr unsigned char kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (memcmp(key.data(), kV4Mapped, sizeof kV4Mapped) != 0 && memcmp(key.data(), kNat64, sizeof kNat64) != 0) {
    memset(key.data() + 8, 0, 8);
  }
  return key;
}

void Worker::onConnection(uv_stream_t* server, int status) {
  Worker& w = owner(server);
  if (status < 0 || w.draining_) return;
  auto* c = new Connection(w, w.app_);
  w.link(c);
  if (!c->accept(server)) {
    c->close();
    return;
  }
  uint32_t per_ip = 0;
  if (!w.app_.sharedPeer(c->peer().bytes)) {
    per_ip = ++w.per_ip_[connectionCapKey(c->peer().bytes)];
    c->ip_counted = true;
  }
  if (w.connections_ > w.opts_.limits.max_connections) {
    c->refuse(obs::SecurityEvent::kTooManyConnections);
  } else if (per_ip > w.opts_.limits.max_connections_per_ip) {
    c->refuse(obs::SecurityEvent::kTooManyConnectionsPerIp);
  } else {
    c->start();
  }
}

void Worker::link(Connection* c) {
  c->next = head_;
  if (head_ != nullptr) head_->prev = c;
  head_ = c;
  ++connections_;
}

void Worker::connectionClosed(Connection* c) {
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (head_ == c) head_ = c->next;
  if (c->ip_counted) {
    auto it = per_ip_.find(connectionCapKey(c->peer().bytes));
    if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  }
  if (c->flush_scheduled) {
    for (Connection*& q : flush_queue_) {
      if (q == c) q = nullptr;
    }
  }
  --connections_;
  delete c;
  maybeFinishDrain();
}

void Worker::scheduleFlush(Connection* c) {
  if (c->flush_scheduled) return;
  c->flush_scheduled = true;
  flush_queue_.push_back(c);
}

// uv_check runs right after the loop's I/O callbacks: every response queued
// during this turn leaves in one write per connection (Redis's beforeSleep).
// Flushing can unblock more pipelined requests, so repeat until quiet.
void Worker::onCheck(uv_check_t* h) {
  Worker& w = owner(h);
  while (!w.flush_queue_.empty()) {
    w.flushing_.swap(w.flush_queue_);
    for (Connection* c : w.flushing_) {
      if (c != nullptr) c->flush();
    }
    w.flushing_.clear();
  }
}

void Worker::onLogTimer(uv_timer_t* t) { owner(t).access_log_->flush(); }

char* Worker::acquireReadBuffer() {
  if (!buffer_pool_.empty()) {
    char* b = buffer_pool_.back();
    buffer_pool_.pop_back();
    return b;
  }
  char* b = static_cast<char*>(malloc(kReadBufferSize));
  if (b == nullptr) throw std::bad_alloc();
  return b;
}

void Worker::releaseReadBuffer(char* buf) {
  if (buffer_pool_.size() < kMaxPooledBuffers) {
    buffer_pool_.push_back(buf);
  } else {
    free(buf);
  }
}

}  // namespace phigate::net
