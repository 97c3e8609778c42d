#include "net/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "net/problem.h"
#include "net/worker.h"

namespace phigate::net {

using obs::SecurityEvent;

namespace {
// The body is parsed in place by simdjson, which reads up to this many bytes
// past its end; we always keep them allocated (their content is irrelevant).
constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;
constexpr size_t kMinRead = 4096;
constexpr uint64_t kLingerMs = 2000;
// Room beyond a body's limit for chunk-size lines not yet dropped.
constexpr size_t kChunkSlack = 64 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

template <typename H>
Connection& owner(H* h) {
  return *static_cast<Connection*>(h->data);
}
}  // namespace

Connection::Connection(Worker& worker, Application& app)
    : worker_(worker), app_(app), parser_(worker.headLimits()), exchange_(*this) {
  uv_tcp_init(worker_.loop(), &tcp_);
  uv_timer_init(worker_.loop(), &timer_);
  tcp_.data = this;
  timer_.data = this;
  write_req_.data = this;
  shutdown_req_.data = this;
  open_handles_ = 2;
}

Connection::~Connection() { releaseReadBuffer(); }

bool Connection::accept(uv_stream_t* server) {
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&tcp_)) != 0) return false;
  uv_tcp_nodelay(&tcp_, 1);
  sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    peer_.bytes[10] = peer_.bytes[11] = 0xff;
    memcpy(peer_.bytes + 12, &sin->sin_addr, 4);
    inet_ntop(AF_INET, &sin->sin_addr, peer_.text, sizeof peer_.text);
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    memcpy(peer_.bytes, &sin6->sin6_addr, 16);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      inet_ntop(AF_INET, peer_.bytes + 12, peer_.text, sizeof peer_.text);
    } else {
      inet_ntop(AF_INET6, &sin6->sin6_addr, peer_.text, sizeof peer_.text);
    }
  }
  return true;
}

void Connection::start() {
  parser_.begin(0);
  // A new connection must send its first request head promptly.
  deadline_ = uv_now(worker_.loop()) + worker_.limits().header_timeout_ms;
  startReading();
  updateTimer();
}

void Connection::refuse(SecurityEvent why) {
  exchange_.reset(uv_hrtime());
  violation(why);
}

bool Connection::idle() const {
  return state_ == State::kIdle && !parser_.messageStarted() && pendingOutput() == 0 &&
         !writing_;
}

void Connection::drain() {
  if (state_ == State::kClosed) return;
  if (idle()) {
    close();
  } else if (state_ == State::kIdle && !parser_.messageStarted()) {
    state_ = State::kClosing;  // output still queued: send it, then close
    stopReading();
  }
  // Otherwise a request is in progress; finish() will close after it.
}

// ---- read side ------------------------------------------------------------

void Connection::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) { owner(h).allocate(buf); }

void Connection::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
  owner(s).received(nread);
}

void Connection::allocate(uv_buf_t* buf) {
  if (state_ == State::kClosing || state_ == State::kClosed) {
    // Lingering close: what the client still sends is read and dropped.
    *buf = uv_buf_init(worker_.discardBuffer(), static_cast<unsigned>(worker_.discardBufferSize()));
    return;
  }
  if (rbuf_ == nullptr) {
    rbuf_ = worker_.acquireReadBuffer();
    rcap_ = kReadBufferSize;
    rlen_ = 0;
  }
  if (rcap_ - rlen_ < kPadding + kMinRead && state_ != State::kHandling) {
    compact();
    if (state_ == State::kBody) {
      // A chunked body leaves its parsed chunk-size lines behind the
      // de-chunked data: drop them, or tiny chunks would fill the buffer
      // with framing long before the body reaches its limit.
      const size_t gap = parser_.consumed() - parser_.bodyEnd();
      if (gap > 0) {
        memmove(rbuf_ + parser_.bodyEnd(), rbuf_ + parser_.consumed(), rlen_ - parser_.consumed());
        rlen_ -= gap;
        parser_.dropParsedGap();
      }
    }
    if (rcap_ - rlen_ < kPadding + kMinRead) ensureCapacity(rlen_ + kPadding + kMinRead);
  }
  const size_t avail = rcap_ > rlen_ + kPadding ? rcap_ - rlen_ - kPadding : 0;
  *buf = uv_buf_init(rbuf_ + rlen_, static_cast<unsigned>(avail));
}

void Connection::received(ssize_t nread) {
  if (nread == UV_ENOBUFS && state_ == State::kBody && budget_refused_) {
    violation(SecurityEvent::kBodyBufferFull);  // a chunked body outgrew the budget
    return;
  }
  if (nread == UV_ENOBUFS) {
    // No room while a request is being handled (pipelined bytes piling up);
    // reading resumes when that request is answered.
    read_blocked_ = true;
    stopReading();
    return;
  }
  if (nread < 0) {
    if (nread != UV_EOF || state_ == State::kClosing) {
      close();
      return;
    }
    peer_eof_ = true;
    stopReading();
    if (state_ == State::kIdle && !parser_.messageStarted()) {
      if (pendingOutput() == 0 && !writing_) {
        close();
      } else {
        state_ = State::kClosing;
      }
    } else if (state_ == State::kHead || state_ == State::kBody) {
      close();  // the request can never complete
    }
    return;  // kHandling: finish() closes after answering
  }
  if (nread == 0 || state_ == State::kClosing || state_ == State::kClosed) return;
  rlen_ += static_cast<size_t>(nread);
  processInput();
}

void Connection::injectInput(std::string_view bytes) {
  while (!bytes.empty() && state_ != State::kClosed && state_ != State::kClosing) {
    uv_buf_t buf;
    allocate(&buf);
    const size_t n = std::min<size_t>(buf.len, bytes.size());
    if (n == 0) return;
    memcpy(buf.base, bytes.data(), n);
    bytes.remove_prefix(n);
    received(static_cast<ssize_t>(n));
  }
}

void Connection::takeOutput(Buffer* out) {
  out->swap(out_);
  out_.clear();
}

size_t readBufferCeiling(const ServerLimits& l, uint64_t body_limit) {
  size_t max = l.max_request_line + l.max_header_bytes + kMinRead + kPadding;
  if (body_limit > 0) max += body_limit + kChunkSlack;
  return max;
}

// Grows the read buffer to hold `needed` bytes, within what the current state
// can legitimately need: a maximal head, or a head plus the route's body limit.
bool Connection::ensureCapacity(size_t needed) {
  if (needed <= rcap_) return true;
  budget_refused_ = false;  // says why *this* call failed
  size_t max = readBufferCeiling(worker_.limits(), state_ == State::kBody ? exchange_.body_limit : 0);
  if (needed > max) needed = max;
  if (needed <= rcap_) return false;
  size_t cap = rcap_;
  while (cap < needed) cap *= 2;
  cap = std::min(cap, max);
  // What a body makes us hold beyond the pooled buffer counts against the
  // worker's total (PHIGATE_MAX_BODY_BUFFER_BYTES); heads are bounded by
  // their own limits.
  const size_t extra = state_ == State::kBody ? cap - rcap_ : 0;
  if (extra > 0 && !worker_.reserveBodyBytes(extra)) {
    budget_refused_ = true;
    return false;
  }
  char* p = static_cast<char*>(realloc(rbuf_, cap));
  if (p == nullptr) {
    worker_.releaseBodyBytes(extra);
    return false;
  }
  body_reserved_ += extra;
  rbuf_ = p;
  rcap_ = cap;
  return true;
}

// Moves the current message (and anything after it) to the buffer's start.
// Only between reads and never while a request is being handled: the
// exchange's string_views point into the buffer.
void Connection::compact() {
  const size_t start = parser_.messageStart();
  if (start == 0 || state_ == State::kHandling) return;
  memmove(rbuf_, rbuf_ + start, rlen_ - start);
  rlen_ -= start;
  parser_.shift(start);
}

void Connection::releaseReadBuffer() {
  worker_.releaseBodyBytes(body_reserved_);
  body_reserved_ = 0;
  budget_refused_ = false;
  if (rbuf_ == nullptr) return;
  if (rcap_ == kReadBufferSize) {
    worker_.releaseReadBuffer(rbuf_);
  } else {
    free(rbuf_);
  }
  rbuf_ = nullptr;
  rcap_ = rlen_ = 0;
}

// The body that grew the buffer is answered; what is left is pipelined
// bytes. Moved back into a pooled buffer when they fit, so the grown one and
// its share of the body budget are not held for the rest of the connection.
// Returns where the next message now starts.
size_t Connection::shrinkReadBuffer(size_t from) {
  const size_t left = rlen_ - from;
  if (left + kPadding + kMinRead > kReadBufferSize) return from;  // a large message follows
  char* pooled = worker_.acquireReadBuffer();
  memcpy(pooled, rbuf_ + from, left);
  free(rbuf_);  // a grown buffer is our own allocation, never a pooled one
  worker_.releaseBodyBytes(body_reserved_);
  body_reserved_ = 0;
  rbuf_ = pooled;
  rcap_ = kReadBufferSize;
  rlen_ = left;
  return 0;
}

void Connection::startReading() {
  if (reading_ || state_ == State::kClosed || peer_eof_) return;
  reading_ = true;
  read_blocked_ = false;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), onAlloc, onRead);
}

void Connection::stopReading() {
  if (!reading_) return;
  reading_ = false;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
}

// Parses and dispatches as many buffered requests as possible, one at a time.
// Stops while a request is being handled, after a fatal error, or when the
// client has more than max_output_bytes of unread responses (backpressure).
void Connection::processInput() {
  if (processing_) return;
  processing_ = true;
  const uint64_t max_output = worker_.limits().max_output_bytes;
  while (state_ == State::kIdle || state_ == State::kHead || state_ == State::kBody) {
    if (pendingOutput() > max_output) {
      stopReading();
      break;
    }
    if (rbuf_ == nullptr || (parser_.consumed() == rlen_ && !parser_.headComplete())) break;
    const HttpParser::Event ev = parser_.advance(rbuf_, rlen_);
    if (state_ == State::kIdle && parser_.messageStarted()) {
      state_ = State::kHead;
      exchange_.reset(uv_hrtime());
      deadline_ = uv_now(worker_.loop()) + worker_.limits().header_timeout_ms;
    }
    if (ev == HttpParser::Event::kNeedMore) break;
    if (ev == HttpParser::Event::kError) {
      violation(parser_.error());
    } else if (ev == HttpParser::Event::kHeadersComplete) {
      onHeadersComplete();
    } else {
      dispatch();
    }
  }
  processing_ = false;
  if ((state_ == State::kIdle || state_ == State::kHead || state_ == State::kBody) &&
      pendingOutput() <= max_output) {
    startReading();
  }
  updateTimer();
}

void Connection::onHeadersComplete() {
  const HttpRequest& req = parser_.request();
  exchange_.attach(&req);
  head_shown_ = true;  // from here the application hears onDone exactly once
  app_.onHead(exchange_);
  if (exchange_.responded()) return;  // answered from the head; we are closing
  const uint64_t limit = std::min(exchange_.body_limit, worker_.limits().max_content_length);
  exchange_.body_limit = limit;
  // Decided from Content-Length before a byte of the body is read.
  if (req.content_length > 0 && static_cast<uint64_t>(req.content_length) > limit) {
    violation(SecurityEvent::kBodyTooLarge);
    return;
  }
  parser_.setBodyLimit(limit);
  if (!req.hasBody()) return;
  state_ = State::kBody;
  deadline_ = uv_now(worker_.loop()) + worker_.limits().body_timeout_ms;
  if (req.content_length > 0) {
    // Room for the whole body now, from the worker's body budget: past it
    // the client is told to come back before it sends a byte of the body.
    compact();
    const size_t need = (parser_.consumed() - parser_.messageStart()) +
                        static_cast<size_t>(req.content_length) + kPadding;
    if (!ensureCapacity(need) && budget_refused_) {
      violation(SecurityEvent::kBodyBufferFull);
      return;
    }
  }
  if (req.expect_continue && req.version_minor == 1) {
    out_.append(kContinue);
    schedule();
  }
}

void Connection::dispatch() {
  state_ = State::kHandling;
  deadline_ = 0;
  ++requests_;
  exchange_.attach(&parser_.request());
  // The body is followed by kPadding readable bytes: make sure they exist.
  ensureCapacity(parser_.bodyEnd() + kPadding);
  app_.onRequest(exchange_);
}

void Connection::violation(SecurityEvent e) {
  if (state_ == State::kIdle) exchange_.reset(uv_hrtime());  // no exchange was open
  exchange_.event = e;
  Problem p = problemForViolation(e);
  // A 413 says what the limit is, so the client knows what to send instead.
  char detail[96];
  ProblemMember limit[1];
  if (e == SecurityEvent::kBodyTooLarge && exchange_.hasRequest()) {
    const auto bytes = static_cast<int64_t>(exchange_.body_limit);
    DetailText d(detail, sizeof detail);
    if (bytes == 0) {
      d << "This route takes no request body.";
    } else {
      d << "The request body exceeds this route's limit of " << bytes << " bytes.";
    }
    p.detail = d.view();
    limit[0] = ProblemMember::num("limit_bytes", bytes);
    p.members = limit;
  }
  Buffer& body = worker_.scratch();
  body.clear();
  // The request id is the client's when the head was parsed, else fresh.
  writeProblem(body, p, exchange_.ensureRequestId());
  HeaderField retry[] = {{"Retry-After", "1"}};
  const bool busy = p.status == 503;
  exchange_.respond(p.status, kProblemType, body.view(),
                    busy ? std::span<const HeaderField>(retry) : std::span<const HeaderField>());
}

// ---- responses -------------------------------------------------------------

void Connection::finish(Exchange& ex, int status, std::string_view content_type,
                        std::string_view body, std::span<const HeaderField> extra) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  const HttpRequest* req = ex.hasRequest() ? &ex.request() : nullptr;
  const bool complete = state_ == State::kHandling;  // the whole message was read
  const uint32_t max_requests = worker_.limits().max_requests_per_connection;
  if (complete && requests_ >= max_requests) {
    // The last allowed request is answered normally; its access-log line
    // says why the connection closes after it (counted below with the event).
    if (ex.event == SecurityEvent::kNone) {
      ex.event = SecurityEvent::kRequestsPerConnection;
    } else {
      worker_.counters().count(SecurityEvent::kRequestsPerConnection);
    }
  }
  const bool close_after = !complete || peer_eof_ || worker_.draining() ||
                           (req != nullptr && !req->keep_alive) || requests_ >= max_requests;
  ResponseSpec spec;
  spec.status = status;
  spec.content_type = content_type;
  spec.request_id = ex.requestId();
  spec.extra = extra;
  spec.close = close_after;
  spec.keep_alive_http10 = req != nullptr && req->version_minor == 0 && !close_after;
  spec.head_only = req != nullptr && req->method == Method::kHead;
  const size_t bytes = appendResponse(out_, worker_.staticHeaders(), worker_.clock(), spec, body);

  if (ex.event != SecurityEvent::kNone) worker_.counters().count(ex.event);
  obs::AccessRecord rec;
  rec.request_id = ex.requestId();
  rec.client_ip = ex.clientIp();
  rec.method = req != nullptr ? methodName(req->method) : std::string_view("-");
  rec.route = ex.route_name;
  rec.status = status;
  rec.bytes = bytes;
  rec.latency_us = (uv_hrtime() - ex.startNs()) / 1000;
  rec.event = ex.event;
  rec.reason = ex.reason;
  rec.key_id = ex.key_id;
  worker_.accessLog().write(rec);
  head_shown_ = false;
  app_.onDone(ex);

  if (close_after) {
    state_ = State::kClosing;
    deadline_ = 0;
    stopReading();  // nothing after this response is parsed
  } else {
    beginNextMessage();
  }
  schedule();
  if (!processing_ && state_ == State::kIdle) processInput();  // answered asynchronously
  updateTimer();
}

void Connection::beginNextMessage() {
  size_t next = parser_.consumed();
  if (next >= rlen_) {
    // Nothing pipelined: give the buffer back so idle connections stay small.
    releaseReadBuffer();
    next = 0;
  } else if (rcap_ != kReadBufferSize) {
    next = shrinkReadBuffer(next);
  }
  parser_.begin(next);
  state_ = State::kIdle;
  deadline_ = uv_now(worker_.loop()) + worker_.limits().idle_timeout_ms;
  if (read_blocked_) startReading();
}

void Connection::schedule() { worker_.scheduleFlush(this); }

// ---- write side ------------------------------------------------------------

// Called once per loop turn: one write for everything queued in that turn
// (uv_try_write first, uv_write for the remainder).
void Connection::flush() {
  flush_scheduled = false;
  if (state_ == State::kClosed || writing_) return;
  if (!out_.empty()) {
    uv_buf_t b = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1);
    if (n == UV_EAGAIN) n = 0;
    if (n < 0) {
      close();
      return;
    }
    if (static_cast<size_t>(n) == out_.size()) {
      out_.clear();
      write_deadline_ = 0;
    } else {
      inflight_.swap(out_);
      out_.clear();
      uv_buf_t rest = uv_buf_init(inflight_.data() + n, static_cast<unsigned>(inflight_.size() - n));
      if (uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &rest, 1, onWrite) != 0) {
        close();
        return;
      }
      writing_ = true;
      if (write_deadline_ == 0) {
        write_deadline_ = uv_now(worker_.loop()) + worker_.limits().write_timeout_ms;
      }
    }
  }
  if (!writing_ && out_.empty()) {
    if (state_ == State::kClosing) {
      startLinger();
    } else if (!reading_ && !peer_eof_ && !read_blocked_) {
      processInput();  // backpressure lifted: continue with buffered requests
    }
  }
  updateTimer();
}

void Connection::onWrite(uv_write_t* req, int status) {
  Connection& c = owner(req);
  c.writing_ = false;
  c.inflight_.clear();
  if (status < 0) {
    c.close();
    return;
  }
  c.write_deadline_ = 0;
  c.flush();
}

// Half-close after the last response, then read and drop until the client
// closes (or kLingerMs): closing with unread input would send an RST that can
// destroy the response before the client reads it.
void Connection::startLinger() {
  if (shutdown_sent_ || state_ == State::kClosed) return;
  shutdown_sent_ = true;
  // The last answer is written and nothing more is parsed: whatever the
  // client still sends goes to the worker's discard buffer, so the read
  // buffer (and its share of the body budget) is given back now, not when
  // the linger ends.
  releaseReadBuffer();
  if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp_), onShutdown) != 0) {
    close();
    return;
  }
  lingering_ = true;
  deadline_ = uv_now(worker_.loop()) + kLingerMs;
  if (!peer_eof_) {
    reading_ = false;
    startReading();
  }
  updateTimer();
}

void Connection::onShutdown(uv_shutdown_t* req, int status) {
  Connection& c = owner(req);
  if (status < 0 || c.peer_eof_) c.close();
}

// ---- timers and closing ------------------------------------------------------

void Connection::updateTimer() {
  if (state_ == State::kClosed) return;
  uint64_t d = deadline_;
  if (write_deadline_ != 0 && (d == 0 || write_deadline_ < d)) d = write_deadline_;
  if (d == armed_for_) return;
  armed_for_ = d;
  if (d == 0) {
    uv_timer_stop(&timer_);
    return;
  }
  const uint64_t now = uv_now(worker_.loop());
  uv_timer_start(&timer_, onTimer, d > now ? d - now : 0, 0);
}

void Connection::onTimer(uv_timer_t* t) { owner(t).timerFired(); }

void Connection::timerFired() {
  armed_for_ = 0;
  const uint64_t now = uv_now(worker_.loop());
  if (write_deadline_ != 0 && now >= write_deadline_) {
    // The client stopped reading its responses. Reset rather than close: a
    // FIN would wait behind the unsent bytes, which the kernel would keep
    // and retransmit long after we let go (nginx: reset_timedout_connection).
    logEvent(SecurityEvent::kWriteTimeout, 0, 0);
    close(/*reset=*/true);
    return;
  }
  if (deadline_ != 0 && now >= deadline_) {
    deadline_ = 0;
    switch (state_) {
      case State::kHead: violation(SecurityEvent::kHeaderTimeout); break;
      case State::kBody: violation(SecurityEvent::kBodyTimeout); break;
      case State::kIdle:  // keep-alive idle, or a new connection that sent nothing
      case State::kClosing: close(); return;
      default: break;
    }
  }
  updateTimer();
}

void Connection::logEvent(SecurityEvent e, int status, size_t bytes) {
  worker_.counters().count(e);
  obs::AccessRecord rec;
  rec.request_id = exchange_.requestId().empty() ? std::string_view("-") : exchange_.requestId();
  rec.client_ip = peer_.text;
  rec.method = "-";
  rec.route = "-";
  rec.status = status;
  rec.bytes = bytes;
  rec.event = e;
  worker_.accessLog().write(rec);
}

void Connection::close(bool reset) {
  if (state_ == State::kClosed) return;
  // An exchange the application was shown (from the end of its head: its
  // body may still have been arriving, or an async call may be in flight)
  // is abandoned: tell the application now, while it still exists, whether
  // or not it kept state for it (a /livez head keeps none).
  const bool abandoned = head_shown_ && !exchange_.responded();
  state_ = State::kClosed;
  if (abandoned) app_.onDone(exchange_);
  reading_ = false;
  // uv_tcp_close_reset refuses a handle with a shutdown in progress.
  if (!reset || uv_tcp_close_reset(&tcp_, onClose) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onClose);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onClose);
}

void Connection::onClose(uv_handle_t* h) {
  Connection& c = owner(h);
  if (--c.open_handles_ == 0) c.worker_.connectionClosed(&c);
}

}  // namespace phigate::net
