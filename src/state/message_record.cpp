#include "state/message_record.h"

#include <charconv>

namespace phigate::state {

namespace {

constexpr std::string_view kStatuses[] = {"queued",      "sending", "sent",    "delivered",
                                          "undelivered", "failed",  "expired", "cancelled"};

template <typename T>
void number(std::string_view text, T* out) {
  std::from_chars(text.data(), text.data() + text.size(), *out);
}

}  // namespace

std::string_view canonicalStatus(std::string_view s) {
  for (std::string_view known : kStatuses) {
    if (known == s) return known;
  }
  return "unknown";
}

bool parseMessageRecord(std::string_view rec, MessageStatus* out) {
  constexpr size_t kFields = 9;
  std::string_view f[kFields];
  size_t n = 0;
  while (n < kFields) {
    const size_t bar = rec.find('|');
    f[n++] = rec.substr(0, bar);
    if (bar == std::string_view::npos) break;
    rec.remove_prefix(bar + 1);
  }
  if (n < 4 || f[1].empty()) return false;
  *out = MessageStatus{};
  out->status = canonicalStatus(f[0]);
  out->channel = f[1];
  number(f[2], &out->created_unix_ms);
  number(f[3], &out->segments);
  out->updated_unix_ms = out->created_unix_ms;
  if (n >= kFields) {
    number(f[4], &out->attempts);
    number(f[5], &out->updated_unix_ms);
    out->provider = f[6];
    out->provider_message_id = f[7];
    out->error_code = f[8];
  }
  return true;
}

}  // namespace phigate::state
