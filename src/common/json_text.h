// JSON string literals for text phigate writes (problem bodies, log and event
// lines): quotes, backslashes and control bytes escaped; other bytes as they
// are (callers only pass static or validated UTF-8, never raw client bytes).
#pragma once

#include <string_view>

#include "common/buffer.h"

namespace phigate {

/** Appends `s` as a JSON string literal, quotes included. */
void appendJsonString(Buffer& out, std::string_view s);

}  // namespace phigate
