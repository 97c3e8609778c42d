// Security events: every limit, framing violation, timeout and (in later
// stages) policy denial has one stable reason code. They are counted per
// worker (for /metrics) and written to the access/audit log by name only --
// never with the bytes that caused them.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace phigate::obs {

#define PHIGATE_SECURITY_EVENTS(X)                         \
  X(kNone, "")                                             \
  /* framing (400 unless noted) */                         \
  X(kBareCr, "bare_cr")                                    \
  X(kBareLf, "bare_lf")                                    \
  X(kControlByte, "control_byte")                          \
  X(kObsFold, "obs_fold")                                  \
  X(kSpaceBeforeColon, "space_before_colon")               \
  X(kBadHeaderName, "bad_header_name")                     \
  X(kMissingColon, "missing_colon")                        \
  X(kBadRequestLine, "bad_request_line")                   \
  X(kBadVersion, "bad_version")                            \
  X(kUnsupportedVersion, "unsupported_version") /* 505 */  \
  X(kBadTarget, "bad_target")                              \
  X(kMissingHost, "missing_host")                          \
  X(kDuplicateHost, "duplicate_host")                      \
  X(kBadHost, "bad_host")                                  \
  X(kDuplicateHeader, "duplicate_header")                  \
  X(kDuplicateContentLength, "duplicate_content_length")   \
  X(kBadContentLength, "bad_content_length")               \
  X(kContentLengthWithChunked, "content_length_with_transfer_encoding") \
  X(kBadTransferEncoding, "bad_transfer_encoding")         \
  X(kBadChunk, "bad_chunk")                                \
  X(kTrailers, "trailers")                                 \
  X(kMethodRefused, "method_refused") /* 501 */            \
  X(kUpgradeRefused, "upgrade_refused")                    \
  X(kBadExpect, "bad_expect") /* 417 */                    \
  X(kMalformed, "malformed")                               \
  /* limits */                                             \
  X(kRequestLineTooLong, "request_line_too_long") /* 414 */\
  X(kHeadersTooLarge, "headers_too_large") /* 431 */       \
  X(kTooManyHeaders, "too_many_headers") /* 431 */         \
  X(kBodyTooLarge, "body_too_large") /* 413 */             \
  X(kHeaderTimeout, "header_timeout")                      \
  X(kBodyTimeout, "body_timeout")                          \
  X(kWriteTimeout, "write_timeout")                        \
  X(kTooManyConnections, "too_many_connections")           \
  X(kTooManyConnectionsPerIp, "too_many_connections_per_ip") \
  X(kRequestsPerConnection, "requests_per_connection")    \
  X(kBodyBufferFull, "body_buffer_full") /* 503 */        \
  /* policy (the guide's security event types) */         \
  X(kAuthFailure, "auth_failure")                          \
  X(kRbacViolation, "rbac_violation")                      \
  X(kReplay, "replay")                                     \
  X(kRateLimited, "rate_limited")                          \
  X(kValidationFailure, "validation_failure")              \
  X(kIpBlocked, "ip_blocked")                              \
  /* state the client cannot fix by retrying soon */      \
  X(kStoreFull, "store_full")                              \
  X(kIdempotencyUnreadable, "idempotency_record_unreadable")

enum class SecurityEvent : uint8_t {
#define PHIGATE_X(id, name) id,
  PHIGATE_SECURITY_EVENTS(PHIGATE_X)
#undef PHIGATE_X
      kCount
};

constexpr size_t kSecurityEventCount = static_cast<size_t>(SecurityEvent::kCount);

/** Stable reason code, as logged and exported as a metric label. */
std::string_view securityEventName(SecurityEvent e);

/** Per-worker counters; single-threaded, so plain integers. */
class SecurityCounters {
 public:
  void count(SecurityEvent e) { ++counts_[static_cast<size_t>(e)]; }
  uint64_t get(SecurityEvent e) const { return counts_[static_cast<size_t>(e)]; }

 private:
  std::array<uint64_t, kSecurityEventCount> counts_{};
};

}  // namespace phigate::obs
