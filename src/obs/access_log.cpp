#include "obs/access_log.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace phigate::obs {

namespace {
// A writer that cannot keep up (a stalled pipe, a full disk) must not make
// the worker grow without bound: past this, lines are dropped and counted.
constexpr size_t kMaxPending = 8u << 20;
constexpr size_t kFlushThreshold = 64u << 10;
}  // namespace

AccessLog::AccessLog(uv_loop_t* loop, int fd, const WallClock& clock)
    : loop_(loop), fd_(fd), clock_(clock) {
  struct stat st;
  is_pipe_ = fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
  pending_.reserve(kFlushThreshold);
}

bool AccessLog::admit() {
  if (pending_.size() < kMaxPending) return true;
  ++dropped_;
  return false;
}

void AccessLog::write(const AccessRecord& r) {
  if (!admit()) return;
  char ts[32];
  const size_t ts_len = clock_.iso8601(ts);
  Buffer& b = pending_;
  b.append("{\"time\":\"");
  b.append({ts, ts_len});
  b.append("\",\"request_id\":\"");
  b.append(r.request_id);  // validated [A-Za-z0-9._-] or our own hex
  b.append("\",\"client_ip\":\"");
  b.append(r.client_ip);
  b.append("\",\"method\":\"");
  b.append(r.method);
  b.append("\",\"route\":\"");
  b.append(r.route);
  if (!r.key_id.empty()) {
    b.append("\",\"key_id\":\"");
    b.append(r.key_id);  // [A-Za-z0-9._-], checked when the keys were loaded
  }
  b.append("\",\"status\":");
  b.appendUint(static_cast<uint64_t>(r.status));
  b.append(",\"bytes\":");
  b.appendUint(r.bytes);
  b.append(",\"latency_us\":");
  b.appendUint(r.latency_us);
  if (r.event != SecurityEvent::kNone) {
    b.append(",\"event\":\"");
    b.append(securityEventName(r.event));
    b.append('"');
    if (!r.reason.empty()) {
      b.append(",\"reason\":\"");
      b.append(r.reason);
      b.append('"');
    }
  }
  b.append("}\n");
  if (pending_.size() >= kFlushThreshold) flush();
}

void AccessLog::writeRaw(std::string_view json_object) {
  if (!admit()) return;
  pending_.append(json_object);
  pending_.append('\n');
}

void AccessLog::flush() {
  if (writing_ || pending_.empty()) return;
  inflight_.swap(pending_);
  pending_.clear();
  inflight_off_ = 0;
  startWrite();
}

// Writes inflight_[inflight_off_, ...) -- whole, or for a pipe the longest run
// of complete lines that fits in PIPE_BUF (such writes are atomic).
void AccessLog::startWrite() {
  size_t n = inflight_.size() - inflight_off_;
  if (is_pipe_ && n > PIPE_BUF) {
    const char* base = inflight_.data() + inflight_off_;
    const void* nl = memrchr(base, '\n', PIPE_BUF);
    n = nl ? static_cast<size_t>(static_cast<const char*>(nl) - base) + 1 : PIPE_BUF;
  }
  inflight_chunk_ = n;
  uv_buf_t buf = uv_buf_init(inflight_.data() + inflight_off_, static_cast<unsigned>(n));
  req_.data = this;
  writing_ = true;
  if (uv_fs_write(loop_, &req_, fd_, &buf, 1, -1, onWritten) != 0) {
    writing_ = false;
    dropped_ += 1;
    inflight_.clear();
  }
}

void AccessLog::onWritten(uv_fs_t* req) {
  auto* self = static_cast<AccessLog*>(req->data);
  const ssize_t res = req->result;
  uv_fs_req_cleanup(req);
  self->writing_ = false;
  if (res > 0) {
    self->inflight_off_ += static_cast<size_t>(res);
  } else {
    self->inflight_off_ += self->inflight_chunk_;  // give up on this piece
    ++self->dropped_;
  }
  if (self->inflight_off_ < self->inflight_.size()) {
    self->startWrite();
    return;
  }
  self->inflight_.clear();
  if (self->pending_.size() >= kFlushThreshold) self->flush();
}

void AccessLog::flushSync() {
  auto drain = [this](Buffer& b, size_t off) {
    while (off < b.size()) {
      ssize_t w = ::write(fd_, b.data() + off, b.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    b.clear();
  };
  if (!writing_) drain(inflight_, inflight_off_);
  drain(pending_, 0);
}

}  // namespace phigate::obs
