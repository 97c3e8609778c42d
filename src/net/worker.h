// A worker process: one libuv loop, its own SO_REUSEPORT listening socket,
// its connections, and the once-per-loop-turn flush of their output. Also
// owns the per-IP connection counts, the read-buffer pool and the drain.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/worker_options.h"
#include "common/buffer.h"
#include "common/clock.h"
#include "net/exchange.h"
#include "net/head_scanner.h"
#include "net/response.h"
#include "obs/access_log.h"
#include "obs/security_event.h"

namespace phigate::net {

class Connection;

/**
 * What the per-address connection cap counts a peer as: an IPv4 address
 * alone (also behind NAT64, 64:ff9b::/96), an IPv6 address by its /64 (the
 * low 64 bits cleared), as the
 * pipeline's per-client state does (pipeline/cidr.h formatSubject()).
 */
std::array<unsigned char, 16> connectionCapKey(const unsigned char (&peer)[16]);

/** "a.b.c.d:port" or "[v6]:port", as PHIGATE_LISTEN spells it (for messages). */
std::string formatListenAddress(const ListenAddress& la);

/**
 * Start-up check that nobody listens on `la` yet: 0 if so, else a libuv
 * error code (UV_EADDRINUSE: someone listens there). Call it once per
 * phigate, before any of its sockets binds `la` (the workers' SO_REUSEPORT
 * sockets would admit a second phigate to their group; this probe cannot
 * join it). It is a check, not a lock: see the definition for the race.
 */
int probeListenAddress(const ListenAddress& la);

/** Size of a pooled read buffer; requests that need more grow their own. */
inline constexpr size_t kReadBufferSize = 16 * 1024;

class Worker {
 public:
  Worker(WorkerOptions opts, Application& app);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  /** Binds, serves until drained, returns the process exit code. */
  int run();
  /** Opens LOG_FILE (or stdout) for the access log; run() calls it first. */
  bool openLog();
  /** Stops accepting and finishes in-flight requests (SIGTERM/SIGINT). */
  void drain();

  uv_loop_t* loop() { return &loop_; }
  const ServerLimits& limits() const { return opts_.limits; }
  const HeadLimits& headLimits() const { return head_limits_; }
  const StaticHeaders& staticHeaders() const { return static_headers_; }
  /** The cached clock, refreshed (cheaply) on each call. */
  const WallClock& clock() {
    clock_.refresh();
    return clock_;
  }
  obs::SecurityCounters& counters() { return counters_; }
  obs::AccessLog& accessLog() { return *access_log_; }
  bool draining() const { return draining_; }
  size_t connectionCount() const { return connections_; }
  /** Scratch space for building one response body; valid until respond(). */
  Buffer& scratch() { return scratch_; }

  void scheduleFlush(Connection* c);
  void connectionClosed(Connection* c);
  char* acquireReadBuffer();
  void releaseReadBuffer(char* buf);
  /**
   * The body budget: bytes of request bodies held beyond the pooled read
   * buffers, for all connections together (PHIGATE_MAX_BODY_BUFFER_BYTES).
   */
  bool reserveBodyBytes(size_t n) {
    if (n > opts_.limits.max_body_buffer_bytes - body_bytes_) return false;
    body_bytes_ += n;
    return true;
  }
  void releaseBodyBytes(size_t n) { body_bytes_ -= n; }
  size_t bodyBytes() const { return body_bytes_; }
  char* discardBuffer() { return discard_.data(); }
  size_t discardBufferSize() const { return discard_.size(); }

 private:
  using IpKey = std::array<unsigned char, 16>;
  struct IpKeyHash {
    size_t operator()(const IpKey& k) const;
  };

  static void onConnection(uv_stream_t* server, int status);
  static void onSignal(uv_signal_t* h, int signum);
  static void onCheck(uv_check_t* h);
  static void onLogTimer(uv_timer_t* t);
  static void onDrainTimer(uv_timer_t* t);
  int listen();
  void accepted();
  void link(Connection* c);
  void maybeFinishDrain();
  void closeHandles();

  const WorkerOptions opts_;
  Application& app_;
  uv_loop_t loop_;
  uv_tcp_t listener_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_check_t check_;
  uv_timer_t log_timer_;
  uv_timer_t drain_timer_;
  HeadLimits head_limits_;
  StaticHeaders static_headers_;
  WallClock clock_;
  obs::SecurityCounters counters_;
  std::unique_ptr<obs::AccessLog> access_log_;
  int log_fd_ = 1;
  Buffer scratch_;
  std::vector<char> discard_;
  std::vector<char*> buffer_pool_;
  std::vector<Connection*> flush_queue_;
  std::vector<Connection*> flushing_;
  std::unordered_map<IpKey, uint32_t, IpKeyHash> per_ip_;
  Connection* head_ = nullptr;  // all live connections
  size_t connections_ = 0;
  uint64_t body_bytes_ = 0;
  bool draining_ = false;
  bool listening_ = false;
  bool handles_closed_ = false;
};

}  // namespace phigate::net
