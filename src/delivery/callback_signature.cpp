#include "delivery/callback_signature.h"

#include <charconv>
#include <ctime>

#include "common/json_text.h"
#include "crypto/hash.h"

namespace phigate::delivery {

namespace {

crypto::Sha256 mac(std::span<const uint8_t> secret, std::string_view t, std::string_view body) {
  return crypto::hmacSha256(secret, {t, ".", body});
}

}  // namespace

void appendCallbackBody(Buffer& out, const state::CallbackEvent& e) {
  out.append("{\"id\":");
  appendJsonString(out, e.message_id);
  out.append(",\"channel\":");
  appendJsonString(out, e.channel.empty() ? std::string_view("sms") : e.channel);
  out.append(",\"status\":");
  appendJsonString(out, e.status);
  out.append(",\"attempts\":");
  out.appendUint(e.attempts);
  if (!e.provider_message_id.empty()) {
    out.append(",\"provider_message_id\":");
    appendJsonString(out, e.provider_message_id);
  }
  if (!e.error_code.empty()) {
    out.append(",\"error_code\":");
    appendJsonString(out, e.error_code);
  }
  out.append(",\"updated_at\":\"");
  appendIsoTime(out, e.updated_unix_ms, /*millis=*/true);
  out.append("\"}");
}

void appendSignatureHeader(Buffer& out, std::span<const uint8_t> secret, int64_t unix_s,
                           std::string_view body) {
  char t[24];
  const auto r = std::to_chars(t, t + sizeof t, unix_s);
  const std::string_view ts(t, static_cast<size_t>(r.ptr - t));
  const crypto::Sha256 h = mac(secret, ts, body);
  char hex[2 * crypto::kSha256Bytes];
  crypto::toHex(h, hex);
  out.append(kSignatureHeader);
  out.append(": t=");
  out.append(ts);
  out.append(",v1=");
  out.append(std::string_view(hex, sizeof hex));
}

bool verifySignature(std::string_view value, std::span<const uint8_t> secret, std::string_view body,
                     int64_t now_unix_s, int64_t tolerance_s) {
  std::string_view ts, v1;
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view part = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (part.starts_with("t=")) ts = part.substr(2);
    if (part.starts_with("v1=")) v1 = part.substr(3);
  }
  int64_t t = 0;
  const auto r = std::from_chars(ts.data(), ts.data() + ts.size(), t);
  if (ts.empty() || r.ec != std::errc() || r.ptr != ts.data() + ts.size()) return false;
  if (t < now_unix_s - tolerance_s || t > now_unix_s + tolerance_s) return false;
  crypto::Sha256 given{};
  if (!crypto::fromHex(v1, given)) return false;
  const crypto::Sha256 want = mac(secret, ts, body);
  return crypto::constantTimeEqual(given.data(), want.data(), want.size());
}

}  // namespace phigate::delivery
