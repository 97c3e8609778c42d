// The bytes of one status callback (docs/CALLBACKS.md): the JSON body, and
// its signature header
//
//   X-Phigate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// The body carries no recipient and no text: id, channel, status, attempts,
// provider_message_id and error_code when known, updated_at (UTC, RFC 3339).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/buffer.h"
#include "state/callback_queue.h"

namespace phigate::delivery {

/** The header's name, as sent. */
inline constexpr std::string_view kSignatureHeader = "X-Phigate-Signature";

/** Appends the JSON body of `event` to `out`. */
void appendCallbackBody(Buffer& out, const state::CallbackEvent& event);

/** Appends "X-Phigate-Signature: t=<t>,v1=<64 hex>" (a header line, no CRLF) to `out`. */
void appendSignatureHeader(Buffer& out, std::span<const uint8_t> secret, int64_t unix_s,
                           std::string_view body);

/**
 * A receiver's check, as docs/CALLBACKS.md describes it (tests use it): the
 * header value parses, its t is within `tolerance_s` of `now_unix_s`, and
 * v1 equals the HMAC (compared in constant time).
 */
bool verifySignature(std::string_view header_value, std::span<const uint8_t> secret,
                     std::string_view body, int64_t now_unix_s, int64_t tolerance_s = 300);

}  // namespace phigate::delivery
