// The message record as the Redis store keeps it: one string,
//   status|channel|created ms|segments|attempts|updated ms|provider|provider id|error code
// (redis_outbox_scripts.h writes it; records from before delivery existed
// have only the first four fields). Parsing yields views into the text.
#pragma once

#include <string_view>

#include "state/store.h"

namespace phigate::state {

/** False when `rec` is not a record (then `out` is unspecified). `status` is one of the known names. */
bool parseMessageRecord(std::string_view rec, MessageStatus* out);

/** The known status name equal to `s` (a static view), or "unknown". */
std::string_view canonicalStatus(std::string_view s);

}  // namespace phigate::state
