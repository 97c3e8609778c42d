// RFC 9457 problem details. Bodies never echo what the client sent: a problem
// names its type, a fixed title, a fixed detail and the request id.
#pragma once

#include <string_view>

#include "net/buffer.h"
#include "obs/security_event.h"

namespace phigate::net {

inline constexpr std::string_view kProblemBase = "https://phigate.dev/problems/";

/** Fixed description of a problem type (all strings static). */
struct Problem {
  int status;
  std::string_view type;    // slug under kProblemBase
  std::string_view title;
  std::string_view detail;  // may be empty
};

/** The problem a framing/limit violation is answered with. */
Problem problemForViolation(obs::SecurityEvent e);

/** Appends a JSON string literal with escaping (for static or validated text). */
void appendJsonString(Buffer& out, std::string_view s);

/**
 * Serialises a problem+json body. `code` (the security event reason, if any)
 * is added as an extension member so clients can tell violations apart.
 */
void writeProblem(Buffer& out, const Problem& p, std::string_view request_id,
                  std::string_view code = {});

}  // namespace phigate::net
