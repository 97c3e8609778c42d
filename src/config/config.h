// Configuration: the process environment, then an optional `.env` file (the
// environment wins), validated once at start-up into an immutable Config.
// Names follow the Flask service's guide (APP_ENV, SECRET_KEY, ...) plus
// PHIGATE_* ones; every name, its default and how it is read is one row of
// the table in variables.h, and an unknown PHIGATE_* name is an error, never
// ignored. Errors name the offending variable and never include its value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/worker_options.h"

namespace phigate::config {

using EnvMap = std::map<std::string, std::string, std::less<>>;

enum class AppEnv { kDevelopment, kProduction };

// The net layer's own option types: a worker gets those (WorkerOptions),
// never the whole Config with its secrets.
using ListenAddress = net::ListenAddress;
using ServerLimits = net::ServerLimits;

/** At most `limit` requests in any `window_s` seconds. */
struct RateRule {
  uint32_t limit = 0;
  uint32_t window_s = 60;

  bool operator==(const RateRule&) const = default;
};

/** Shared-state policy: rate limits, quotas, idempotency, containment. */
struct StatePolicy {
  // PHIGATE_RATE_LIMITS="sms=200/60,bulk=10/60,..." overrides these defaults
  // (the guide's: single SMS 200/min, bulk 10/min, health 5/min per client
  // IP, admin 5/min; and email 200/min, message reads 600/min, eHospital
  // pass-through calls 200/min).
  RateRule sms{200, 60};
  RateRule bulk{10, 60};
  RateRule email{200, 60};
  RateRule messages{600, 60};
  RateRule health{5, 60};
  RateRule admin{5, 60};
  RateRule ehospital{200, 60};
  uint32_t daily_quota = 0;             // PHIGATE_DAILY_QUOTA per key per UTC day (0: none)
  uint32_t idempotency_ttl_s = 86'400;  // PHIGATE_IDEMPOTENCY_TTL_S
  uint32_t auth_failure_limit = 20;     // PHIGATE_AUTH_FAILURE_LIMIT
  uint32_t auth_failure_window_s = 60;  // PHIGATE_AUTH_FAILURE_WINDOW_S
  uint32_t auto_block_s = 900;          // PHIGATE_AUTO_BLOCK_S
  uint32_t store_timeout_ms = 50;       // PHIGATE_STORE_TIMEOUT_MS (per Redis command)
  uint32_t memory_max_messages = 200'000;  // PHIGATE_MEMORY_MAX_MESSAGES (embedded store) -> 507

  /** The rule of a route class ("sms", "bulk", ...), nullptr if unknown. */
  const RateRule* rule(std::string_view route_class) const;

  bool operator==(const StatePolicy&) const = default;
};

/** Which SMS provider delivers (SMS_PROVIDER). */
enum class SmsProviderKind : uint8_t { kMock, kCdac, kHttp };

/** Delivery: the outbox consumer, the providers, retries, retention. */
struct DeliveryPolicy {
  bool enabled = true;                       // PHIGATE_DELIVERY
  SmsProviderKind provider = SmsProviderKind::kMock;  // SMS_PROVIDER
  std::string cdac_url = "https://msdgweb.mgov.gov.in/esms/sendsmsrequestDLT";  // CDAC_URL
  std::string cdac_username;                 // CDAC_USERNAME
  std::string cdac_password;                 // CDAC_PASSWORD
  std::string cdac_sender_id;                // CDAC_SENDER_ID
  std::string cdac_secure_key;               // CDAC_SECURE_KEY
  std::string cdac_report_url = "https://msdgweb.mgov.gov.in/XMLForReportG/reportXMLNew";  // CDAC_REPORT_URL ("off": none)
  std::string http_url;                      // SMS_HTTP_URL
  std::string http_token;                    // SMS_HTTP_TOKEN
  std::string outbound_ca_file;              // OUTBOUND_CA_FILE
  std::string outbound_proxy;                // OUTBOUND_PROXY
  std::string callback_allowed_cidrs;        // CALLBACK_ALLOWED_CIDRS (parsed by delivery)
  std::string callback_ca_file;              // CALLBACK_CA_FILE (empty: the system store)
  uint32_t callback_retry_min_ms = 30'000;   // PHIGATE_CALLBACK_RETRY_MIN_MS
  uint32_t callback_retry_max_ms = 1'800'000;  // PHIGATE_CALLBACK_RETRY_MAX_MS
  uint32_t callback_concurrency = 16;        // PHIGATE_CALLBACK_CONCURRENCY (per worker)
  uint32_t otp_ttl_s = 600;                  // OTP_TTL_S
  uint32_t retention_s = 7 * 86'400;         // MESSAGE_RETENTION_S
  uint32_t deadline_s = 86'400;              // PHIGATE_DELIVERY_DEADLINE_S
  uint32_t retry_min_ms = 1'000;             // PHIGATE_RETRY_MIN_MS
  uint32_t retry_max_ms = 600'000;           // PHIGATE_RETRY_MAX_MS
  uint32_t concurrency = 256;                // PHIGATE_PROVIDER_CONCURRENCY (per worker)
  uint32_t rate_per_s = 0;                   // PHIGATE_PROVIDER_RATE (per host; 0: none)
  uint32_t connect_timeout_ms = 5'000;       // PHIGATE_PROVIDER_CONNECT_TIMEOUT_MS
  uint32_t timeout_ms = 15'000;              // PHIGATE_PROVIDER_TIMEOUT_MS
  uint32_t visibility_s = 60;                // PHIGATE_VISIBILITY_TIMEOUT_S
  uint32_t circuit_failures = 20;            // PHIGATE_CIRCUIT_FAILURES
  uint32_t circuit_open_s = 30;              // PHIGATE_CIRCUIT_OPEN_S
  uint32_t report_delay_ms = 10'000;         // PHIGATE_REPORT_DELAY_MS
  // Email (docs/EMAIL.md). An empty smtp_url simulates delivery in
  // development and turns email off in production (Config::emailOff).
  std::string smtp_url;                      // SMTP_URL
  std::string smtp_username;                 // SMTP_USERNAME
  std::string smtp_password;                 // SMTP_PASSWORD
  std::string smtp_from;                     // SMTP_FROM
  std::string smtp_reply_to;                 // SMTP_REPLY_TO
  bool smtp_tls = true;                      // SMTP_TLS (off: development only)
  uint32_t smtp_concurrency = 16;            // SMTP_CONCURRENCY (per worker)
  uint32_t smtp_rate_per_s = 0;              // SMTP_RATE (per host; 0: none)

  bool operator==(const DeliveryPolicy&) const = default;
};

/**
 * The most the eHospital pass-through may buffer per worker in the worst case,
 * EHOSPITAL_CONCURRENCY x (2 x request cap + 2 x response cap); a larger
 * product is a start-up error (the defaults: 32 x 6 MiB = 192 MiB).
 */
inline constexpr uint64_t kEhospitalMaxBufferBytes = uint64_t{1} << 30;

/** The eHospital / ABDM pass-through, `ANY /v1/ehospital/{path...}` (docs/EHOSPITAL.md). */
struct EhospitalPolicy {
  std::string base_url;                      // EHOSPITAL_BASE_URL (empty: not configured)
  std::string allowed_paths;                 // EHOSPITAL_ALLOWED_PATHS (upstream/path_allowlist.h)
  std::string token;                         // EHOSPITAL_TOKEN (static bearer)
  std::string client_id;                     // EHOSPITAL_CLIENT_ID (OAuth2 client credentials)
  std::string client_secret;                 // EHOSPITAL_CLIENT_SECRET
  std::string token_url;                     // EHOSPITAL_TOKEN_URL
  std::string token_request = "form";        // EHOSPITAL_TOKEN_REQUEST: form | json
  uint32_t max_request_bytes = 1024 * 1024;  // EHOSPITAL_MAX_REQUEST_BYTES
  uint32_t max_response_bytes = 2 * 1024 * 1024;  // EHOSPITAL_MAX_RESPONSE_BYTES
  uint32_t connect_timeout_ms = 5'000;       // EHOSPITAL_CONNECT_TIMEOUT_MS
  uint32_t timeout_ms = 30'000;              // EHOSPITAL_TIMEOUT_MS
  uint32_t concurrency = 32;                 // EHOSPITAL_CONCURRENCY (per worker)
  uint32_t circuit_failures = 10;            // EHOSPITAL_CIRCUIT_FAILURES
  uint32_t circuit_open_s = 30;              // EHOSPITAL_CIRCUIT_OPEN_S

  bool configured() const { return !base_url.empty(); }
  bool operator==(const EhospitalPolicy&) const = default;
};

struct Config {
  AppEnv app_env = AppEnv::kDevelopment;
  bool debug = false;                        // DEBUG
  // Secrets as given (hex strings for SECRET_KEY / ENCRYPTION_KEY). In
  // development, missing ones are generated and `generated_secrets` lists them.
  std::string secret_key;                    // SECRET_KEY
  std::string encryption_key;                // ENCRYPTION_KEY
  std::string sms_api_key;                   // SMS_API_KEY (may be empty)
  std::string admin_api_key;                 // ADMIN_API_KEY (may be empty)
  std::string encryption_keys_old;           // ENCRYPTION_KEYS_OLD (decrypt only)
  std::vector<std::string> generated_secrets;  // names only
  std::string ratelimit_storage_uri;         // RATELIMIT_STORAGE_URI (empty: in-process)
  std::string preferred_url_scheme = "http"; // PREFERRED_URL_SCHEME
  std::string log_file;                      // LOG_FILE (empty: stdout)
  std::string api_keys_file;                 // API_KEYS_FILE
  std::string trusted_proxies;               // TRUSTED_PROXIES (parsed by the pipeline)
  std::string ip_allowlist;                  // IP_ALLOWLIST
  std::string ip_denylist;                   // IP_DENYLIST
  // PHIGATE_ACCEPT_MESSAGE_LOSS: production may run on the in-process store
  // (accepted messages lost on a restart) only when the operator says so.
  bool accept_message_loss = false;
  uint32_t replay_window_s = 300;            // PHIGATE_REPLAY_WINDOW_S: X-Timestamp ± window
  // PHIGATE_DEFAULT_REGION: whose national numbers a recipient without '+'
  // is read as; always a name of pipeline::phoneRegions(), upper case.
  std::string default_region = "IN";
  ListenAddress listen;                      // PHIGATE_LISTEN
  int workers = 1;                           // PHIGATE_WORKERS / --workers (resolved, >= 1)
  ServerLimits limits;
  StatePolicy state;
  DeliveryPolicy delivery;
  EhospitalPolicy ehospital;

  bool production() const { return app_env == AppEnv::kProduction; }
  /**
   * The gateway takes no email (POST /v1/email is no route): SMTP_URL=off,
   * or production without SMTP_URL on a host that delivers (simulating
   * would report mail as delivered that never left). A production host
   * that only accepts (PHIGATE_DELIVERY=false) takes email for the hosts
   * that deliver it.
   */
  bool emailOff() const {
    return delivery.smtp_url == "off" || (production() && delivery.enabled && delivery.smtp_url.empty());
  }

  // Tests compare whole configurations (a documented default must load as
  // the default).
  bool operator==(const Config&) const = default;
};

struct LoadResult {
  std::optional<Config> config;              // set on success
  std::string error;                         // set on failure; names the variable only
  std::vector<std::string> warnings;         // loud notices for stderr (no values)
};

/**
 * Parses a dotenv text: `NAME=value` lines, `#` comments, blank lines, an
 * optional `export ` prefix, values optionally in single or double quotes
 * (double quotes understand \n, \", \\). Returns false with `error` naming the
 * line number (never its content) on a malformed line.
 */
bool parseDotenv(std::string_view text, EnvMap* out, std::string* error);

/**
 * Builds and validates the configuration. `env` is the process environment,
 * `dotenv` the already-parsed `.env` file (process environment wins),
 * `cli_workers` the --workers flag if given (wins over PHIGATE_WORKERS), and
 * `cpu_count` the default worker count when a shared store is configured.
 * Without RATELIMIT_STORAGE_URI the default is one worker (the embedded
 * in-process state is per process).
 */
LoadResult loadConfig(const EnvMap& env, const EnvMap& dotenv, std::optional<int> cli_workers,
                      int cpu_count);

/** What a worker process needs of the configuration (no secrets, no policy). */
net::WorkerOptions workerOptions(const Config& cfg);

/** Reads the process environment into a map. */
EnvMap processEnvironment();

}  // namespace phigate::config
