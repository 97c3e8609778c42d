// What a worker process is given: where to listen, its connection limits
// and timeouts, where its access log goes, and whether it sends HSTS. The
// configuration layer fills these from the environment; the net layer never
// sees the rest of the configuration (secrets, keys, policy).
#pragma once

#include <cstdint>
#include <string>

namespace phigate::net {

/** Where to listen: an IPv4 or IPv6 literal (no names: no DNS at start-up). */
struct ListenAddress {
  std::string host = "127.0.0.1";  // without brackets
  uint16_t port = 8080;
  bool ipv6 = false;

  bool operator==(const ListenAddress&) const = default;
};

/** Connection-level limits and timeouts (all per worker process). */
struct ServerLimits {
  uint32_t max_request_line = 8 * 1024;      // PHIGATE_MAX_REQUEST_LINE      -> 414
  uint32_t max_header_bytes = 16 * 1024;     // PHIGATE_MAX_HEADER_BYTES      -> 431
  uint32_t max_headers = 100;                // PHIGATE_MAX_HEADERS           -> 431
  uint64_t max_content_length = 10u << 20;   // MAX_CONTENT_LENGTH            -> 413
  uint32_t header_timeout_ms = 10'000;       // PHIGATE_HEADER_TIMEOUT_MS
  uint32_t body_timeout_ms = 30'000;         // PHIGATE_BODY_TIMEOUT_MS
  uint32_t idle_timeout_ms = 60'000;         // PHIGATE_IDLE_TIMEOUT_MS
  uint32_t write_timeout_ms = 30'000;        // PHIGATE_WRITE_TIMEOUT_MS
  uint32_t drain_timeout_ms = 10'000;        // PHIGATE_DRAIN_TIMEOUT_MS
  uint64_t max_output_bytes = 1u << 20;      // PHIGATE_MAX_OUTPUT_BYTES
  uint32_t max_requests_per_connection = 1000;  // PHIGATE_MAX_REQUESTS_PER_CONNECTION
  uint32_t max_connections = 10'000;         // PHIGATE_MAX_CONNECTIONS (per worker)
  uint32_t max_connections_per_ip = 256;     // PHIGATE_MAX_CONNECTIONS_PER_IP (per worker)
  uint64_t max_body_buffer_bytes = 64u << 20;  // PHIGATE_MAX_BODY_BUFFER_BYTES (per worker) -> 503

  bool operator==(const ServerLimits&) const = default;
};

/** Everything a net::Worker needs. */
struct WorkerOptions {
  ListenAddress listen;
  ServerLimits limits;
  std::string log_file;  // LOG_FILE; empty: stdout
  bool hsts = false;     // Strict-Transport-Security on every response (production)
};

}  // namespace phigate::net
