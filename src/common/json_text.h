// JSON string literals for text phigate writes (problem bodies, log and event
// lines): quotes, backslashes and control bytes escaped; other bytes as they
// are (callers only pass static or validated UTF-8, never raw client bytes).
#pragma once

#include <cstdint>
#include <string_view>

#include "common/buffer.h"

namespace phigate {

/** Appends `s` as a JSON string literal, quotes included. */
void appendJsonString(Buffer& out, std::string_view s);

/**
 * Appends the UTC time `unix_ms` as ISO 8601, unquoted: "2026-12-08T03:51:15Z",
 * or with `millis` "2026-12-08T03:51:15.123Z".
 */
void appendIsoTime(Buffer& out, int64_t unix_ms, bool millis = false);

}  // namespace phigate
