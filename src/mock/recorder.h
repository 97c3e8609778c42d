// The mock's record of accepted messages: one JSON line each (protocol, id,
// recipient, service type, SHA-256 of the content, duplicate, time) -- never
// the text itself, since tests only need to match it and it may be PHI.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace phigate::mock {

struct RecordEntry {
  std::string_view protocol;  // "cdac" or "http"
  std::string_view id;        // our message id (http) or the CDAC MsgID
  std::string_view to;
  std::string_view service;   // CDAC smsservicetype; the JSON "type" (otp, ...) for http
  std::string_view content;   // hashed, never written
  bool duplicate = false;     // http: an id already taken (answered with its first provider id)
};

/**
 * One JSON line for `e` at unix time `now_ms` (milliseconds; no trailing
 * newline): "time" to the second (ISO 8601) and "time_ms", for latency
 * measurements (load/run-delivery.sh).
 */
std::string recordLine(const RecordEntry& e, int64_t now_ms);

class Recorder {
 public:
  Recorder() = default;
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  /** Opens (creates, appends to) `path`; an empty path records counts only. */
  bool open(const std::string& path);
  /**
   * Appends one line with a single write(2) on an O_APPEND descriptor: a
   * local file write that does not wait on the network, cheap enough for a
   * test tool's loop. Counts the message even when no file is open.
   */
  void record(const RecordEntry& e);
  /** Messages taken, duplicates not included (a CDAC bulk form counts per recipient). */
  uint64_t count() const { return cdac_ + http_; }
  uint64_t cdacCount() const { return cdac_; }
  uint64_t httpCount() const { return http_; }
  uint64_t duplicates() const { return duplicates_; }

 private:
  int fd_ = -1;
  uint64_t cdac_ = 0;
  uint64_t http_ = 0;
  uint64_t duplicates_ = 0;
};

}  // namespace phigate::mock
