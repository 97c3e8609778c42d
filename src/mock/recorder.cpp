#include "mock/recorder.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/buffer.h"
#include "common/json_text.h"
#include "mock/cdac.h"

namespace phigate::mock {

std::string recordLine(const RecordEntry& e, int64_t now_ms) {
  char when[32];
  const time_t t = static_cast<time_t>(now_ms / 1000);
  tm utc{};
  gmtime_r(&t, &utc);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
  // Values come from clients: appendJsonString escapes quotes and controls.
  Buffer b;
  b.append("{\"protocol\":");
  appendJsonString(b, e.protocol);
  b.append(",\"id\":");
  appendJsonString(b, e.id);
  b.append(",\"to\":");
  appendJsonString(b, e.to);
  b.append(",\"service\":");
  appendJsonString(b, e.service);
  b.append(",\"content_sha256\":\"");
  b.append(sha256Hex(e.content));
  b.append(e.duplicate ? "\",\"duplicate\":true" : "\",\"duplicate\":false");
  b.append(",\"time\":\"");
  b.append(when);
  b.append("\",\"time_ms\":");
  b.append(std::to_string(now_ms));
  b.append("}");
  return std::string(b.view());
}

Recorder::~Recorder() {
  if (fd_ >= 0) ::close(fd_);
}

bool Recorder::open(const std::string& path) {
  if (path.empty()) return true;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  return fd_ >= 0;
}

void Recorder::record(const RecordEntry& e) {
  if (e.duplicate) {
    ++duplicates_;
  } else if (e.protocol == "cdac") {
    ++cdac_;
  } else {
    ++http_;
  }
  if (fd_ < 0) return;
  using namespace std::chrono;
  const int64_t now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::string line = recordLine(e, now_ms) + "\n";
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    fputs("phigate-mock-provider: record write failed\n", stderr);
  }
}

}  // namespace phigate::mock
