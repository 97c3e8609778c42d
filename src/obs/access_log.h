// The access log: one JSON line per request (and one per security event that
// has no response, e.g. a write timeout). Lines are appended to a buffer and
// written with uv_fs_write (libuv's thread pool), one write in flight at a
// time, so logging never blocks the loop. Fields are chosen so that nothing a
// client controls is logged except its validated request id: no header
// values, no query strings, no bodies.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string_view>

#include "common/buffer.h"
#include "common/clock.h"
#include "obs/security_event.h"

namespace phigate::obs {

struct AccessRecord {
  std::string_view request_id;
  std::string_view client_ip;
  std::string_view method;   // "-" before the request line was parsed
  std::string_view route;    // route name, "-" when none
  int status = 0;            // 0: no response was sent
  uint64_t bytes = 0;        // response bytes queued
  uint64_t latency_us = 0;
  SecurityEvent event = SecurityEvent::kNone;
  std::string_view reason;   // static reason code, with an event
  std::string_view key_id;   // validated key id, "" before authentication
};

class AccessLog {
 public:
  /** Writes to `fd` (not owned). A pipe is written in <= PIPE_BUF pieces so
   *  lines from several worker processes never interleave. */
  AccessLog(uv_loop_t* loop, int fd, const WallClock& clock);
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void write(const AccessRecord& r);
  /** Appends a preformatted JSON object line (used for lifecycle notices). */
  void writeRaw(std::string_view json_object);
  /** Starts a write of everything buffered, unless one is in flight. */
  void flush();
  /** Blocking final flush at exit (the loop is gone by then). */
  void flushSync();
  uint64_t dropped() const { return dropped_; }

 private:
  static void onWritten(uv_fs_t* req);
  bool admit();
  void startWrite();

  uv_loop_t* loop_;
  int fd_;
  bool is_pipe_ = false;
  const WallClock& clock_;
  Buffer pending_;
  Buffer inflight_;
  size_t inflight_off_ = 0;
  size_t inflight_chunk_ = 0;
  uv_fs_t req_;
  bool writing_ = false;
  uint64_t dropped_ = 0;
};

}  // namespace phigate::obs
