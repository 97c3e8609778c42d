// One client connection on a worker's loop: reads into a contiguous buffer,
// parses with HttpParser, hands complete requests to the Application one at a
// time (so pipelined responses leave in request order), queues responses and
// writes them once per loop turn, and enforces every per-connection timeout
// and limit.
#pragma once

#include <uv.h>

#include <cstdint>

#include "common/buffer.h"
#include "net/exchange.h"
#include "net/http_parser.h"
#include "net/worker_options.h"
#include "obs/security_event.h"

namespace phigate::net {

class Worker;

/**
 * The largest read buffer a request may make a connection hold: a maximal
 * head, plus `body_limit` and slack for chunk framing once the body is read.
 */
size_t readBufferCeiling(const ServerLimits& limits, uint64_t body_limit);

/** A connection's client address, IPv4 stored as IPv4-mapped IPv6. */
struct PeerAddress {
  unsigned char bytes[16] = {};
  char text[46] = "-";  // INET6_ADDRSTRLEN
};

class Connection {
 public:
  Connection(Worker& worker, Application& app);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  /** Accepts from `server`; false when the accept failed (then close()). */
  bool accept(uv_stream_t* server);
  void start();
  /** Refuses the connection with a 503 (caps reached), then closes. */
  void refuse(obs::SecurityEvent why);
  /** The worker is draining: close when idle, else after the current response. */
  void drain();
  /** Writes everything queued; called once per loop turn by the worker. */
  void flush();
  /**
   * Closes at once (no linger). Safe to call more than once. With `reset`,
   * unsent output is dropped and the peer gets an RST (see timerFired()).
   */
  void close(bool reset = false);

  /**
   * In-process driving without a socket (benchmarks, fuzzing): `bytes` are
   * handled as if just read, and takeOutput() hands back what would have been
   * written. Production code never calls these.
   */
  void injectInput(std::string_view bytes);
  void takeOutput(Buffer* out);

  const PeerAddress& peer() const { return peer_; }
  bool idle() const;

  // Used by Exchange.
  void finish(Exchange& ex, int status, std::string_view content_type, std::string_view body,
              std::span<const HeaderField> extra);
  Worker& worker() const { return worker_; }

  // Worker bookkeeping (intrusive list, flush queue).
  Connection* prev = nullptr;
  Connection* next = nullptr;
  bool flush_scheduled = false;
  bool ip_counted = false;

 private:
  enum class State : uint8_t { kIdle, kHead, kBody, kHandling, kClosing, kClosed };

  static void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void onWrite(uv_write_t* req, int status);
  static void onShutdown(uv_shutdown_t* req, int status);
  static void onTimer(uv_timer_t* t);
  static void onClose(uv_handle_t* h);

  void allocate(uv_buf_t* buf);
  void received(ssize_t nread);
  void processInput();
  void onHeadersComplete();
  void dispatch();
  void violation(obs::SecurityEvent e);
  void beginNextMessage();
  bool ensureCapacity(size_t needed);
  void compact();
  void releaseReadBuffer();
  size_t shrinkReadBuffer(size_t from);
  void startReading();
  void stopReading();
  void startLinger();
  void updateTimer();
  void timerFired();
  size_t pendingOutput() const { return out_.size() + (writing_ ? inflight_.size() : 0); }
  void schedule();
  void logEvent(obs::SecurityEvent e, int status, size_t bytes);

  Worker& worker_;
  Application& app_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_write_t write_req_;
  uv_shutdown_t shutdown_req_;
  PeerAddress peer_;

  // Read side: rbuf_[0, rlen_) holds received bytes; the current message
  // starts at parser_.messageStart().
  char* rbuf_ = nullptr;
  size_t rcap_ = 0;
  size_t rlen_ = 0;
  HttpParser parser_;
  Exchange exchange_;

  // Write side: responses are appended to out_; inflight_ is what uv_write
  // is sending (it must stay put until the callback).
  Buffer out_;
  Buffer inflight_;

  State state_ = State::kIdle;
  uint32_t requests_ = 0;
  uint64_t deadline_ = 0;        // state deadline (loop ms), 0 = none
  uint64_t write_deadline_ = 0;  // while output is pending without progress
  uint64_t armed_for_ = 0;
  uint8_t open_handles_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool processing_ = false;
  bool peer_eof_ = false;
  bool lingering_ = false;
  bool shutdown_sent_ = false;
  bool read_blocked_ = false;    // buffer full while a request is being handled
  bool head_shown_ = false;      // the application saw onHead and has not had onDone
  bool budget_refused_ = false;  // the worker's body budget refused to grow the buffer
  size_t body_reserved_ = 0;     // bytes of that budget this connection's buffer holds
};

}  // namespace phigate::net
