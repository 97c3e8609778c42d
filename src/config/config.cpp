// Start-up configuration: merge, validate, and (in production) refuse to run
// on anything weak. Every message here names a variable and never echoes its
// value: start-up errors go to terminals, CI logs and journald, and the value
// that failed validation is very often a secret with a typo in it.
#include "config/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <utility>

#include "crypto/random.h"
#include "pipeline/phone.h"

extern char** environ;

namespace phigate::config {

namespace {

constexpr std::string_view kPhigatePrefix = "PHIGATE_";

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uint64_t kMaxTimeoutMs = 86'400'000;  // one day
constexpr uint64_t kMaxCount = 1'000'000;       // connections, requests per connection
constexpr uint64_t kMaxWorkers = 1024;
constexpr uint64_t kMaxPort = 65535;
// A rate window remembers each admission it counts (an exact sliding window):
// about 50 bytes per entry in Redis, per key and route class.
constexpr uint64_t kMaxRateLimit = 1'000'000;

constexpr size_t kSecretBytes = 32;
constexpr size_t kSecretHexChars = 2 * kSecretBytes;
constexpr size_t kMinApiKeyChars = 32;
// Random hex of 64 characters practically always uses all 16 digits; fewer
// than 8 distinct characters means a pattern ("000...", "abab...") typed by a
// human, not 32 random bytes.
constexpr size_t kMinDistinctChars = 8;
constexpr size_t kMaxNameInError = 64;

// Values copied from the guide's development example and common placeholders.
constexpr std::array<std::string_view, 5> kDevDefaults = {
    "dev-api-key", "dev-admin-key", "dev-secret-key-not-for-production", "dev-encryption-key",
    "changeme"};

char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLower(a[i]) != toLower(b[i])) return false;
  }
  return true;
}

std::string lowerCopy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = toLower(c);
  return out;
}

// Decimal digits only (no sign, no blanks, no 0x); false on overflow.
bool parseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    auto digit = static_cast<uint64_t>(c - '0');
    if (n > (kMax - digit) / 10) return false;
    n = n * 10 + digit;
  }
  *out = n;
  return true;
}

bool isHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

size_t distinctChars(std::string_view s) {
  std::array<bool, 256> seen{};
  size_t count = 0;
  for (char c : s) {
    auto& slot = seen[static_cast<unsigned char>(c)];
    if (!slot) ++count;
    slot = true;
  }
  return count;
}

bool isStrongHexSecret(std::string_view s) {
  return s.size() == kSecretHexChars && std::all_of(s.begin(), s.end(), isHexDigit) &&
         distinctChars(s) >= kMinDistinctChars;
}

bool isDevDefault(std::string_view s) {
  return std::any_of(kDevDefaults.begin(), kDevDefaults.end(),
                     [s](std::string_view d) { return equalsIgnoreCase(s, d); });
}

// Tokens travel in HTTP headers; a blank or control character in one is a
// copy-paste accident that would make every request fail authentication.
bool isHeaderSafeToken(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// Names come from the environment, which may hold anything; keep them short
// and printable before putting them in a message.
std::string printableName(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, kMaxNameInError)) out.push_back(c > ' ' && c < 0x7f ? c : '?');
  if (name.size() > kMaxNameInError) out += "...";
  return out;
}

std::string rangeError(std::string_view name, uint64_t lo, uint64_t hi) {
  return std::string(name) + " must be an integer between " + std::to_string(lo) + " and " +
         std::to_string(hi);
}

bool parsePort(std::string_view s, uint16_t* port) {
  uint64_t n = 0;
  if (!parseDecimal(s, &n) || n > kMaxPort) return false;
  *port = static_cast<uint16_t>(n);
  return true;
}

bool isIpLiteral(const std::string& host, int family) {
  unsigned char buf[16];
  return inet_pton(family, host.c_str(), buf) == 1;
}

// "a.b.c.d:port" or "[v6]:port". Names are refused: resolving them would make
// start-up depend on DNS, and the bound address would be a guess.
bool parseListen(std::string_view text, ListenAddress* out, std::string* why) {
  constexpr std::string_view kExamples = ", e.g. 127.0.0.1:8080 or [::1]:8080";
  std::string_view host;
  std::string_view port;
  bool ipv6 = !text.empty() && text.front() == '[';
  if (ipv6) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = std::string("PHIGATE_LISTEN must be host:port") + std::string(kExamples);
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *why = std::string("PHIGATE_LISTEN must be host:port") + std::string(kExamples);
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  std::string host_copy(host);
  if (!isIpLiteral(host_copy, ipv6 ? AF_INET6 : AF_INET)) {
    *why = std::string(
               "PHIGATE_LISTEN host must be an IP literal (hostnames are not resolved at "
               "start-up; IPv6 goes in brackets)") +
           std::string(kExamples);
    return false;
  }
  if (!parsePort(port, &out->port)) {
    *why = "PHIGATE_LISTEN port must be an integer between 0 and 65535";
    return false;
  }
  out->host = std::move(host_copy);
  out->ipv6 = ipv6;
  return true;
}

// Validates one merged environment into a Config. Each step returns false
// after recording the first error; later steps then do not run.
class Loader {
 public:
  Loader(const EnvMap& env, const EnvMap& dotenv) : merged_(dotenv) {
    for (const auto& [name, value] : env) merged_.insert_or_assign(name, value);
  }

  LoadResult load(std::optional<int> cli_workers, int cpu_count) {
    readStrings();
    bool ok = rejectUnknownNames() && readAppEnv() && readDebug() &&
              readBool("PHIGATE_ACCEPT_MESSAGE_LOSS", &config_.accept_message_loss) && readScheme() &&
              readListen() && readDefaultRegion() && readLimits() && resolveWorkers(cli_workers, cpu_count);
    if (ok) ok = config_.production() ? checkProduction() : prepareDevelopment();
    if (ok) result_.config = std::move(config_);
    return std::move(result_);
  }

 private:
  // An empty value counts as unset: `VAR=` and `VAR=${VAR}` from an empty
  // shell variable should mean "use the default", not "invalid".
  std::optional<std::string_view> get(std::string_view name) const {
    auto it = merged_.find(name);
    if (it == merged_.end() || it->second.empty()) return std::nullopt;
    return std::string_view(it->second);
  }

  std::string getString(std::string_view name) const { return std::string(get(name).value_or("")); }

  bool fail(std::string message) {
    result_.error = std::move(message);
    return false;
  }

  void warn(std::string message) { result_.warnings.push_back(std::move(message)); }

  void readStrings() {
    config_.secret_key = getString("SECRET_KEY");
    config_.encryption_key = getString("ENCRYPTION_KEY");
    config_.sms_api_key = getString("SMS_API_KEY");
    config_.admin_api_key = getString("ADMIN_API_KEY");
    config_.encryption_keys_old = getString("ENCRYPTION_KEYS_OLD");
    config_.ratelimit_storage_uri = getString("RATELIMIT_STORAGE_URI");
    config_.log_file = getString("LOG_FILE");
    config_.api_keys_file = getString("API_KEYS_FILE");
    config_.trusted_proxies = getString("TRUSTED_PROXIES");
    config_.ip_allowlist = getString("IP_ALLOWLIST");
    config_.ip_denylist = getString("IP_DENYLIST");
  }

  // A misspelt PHIGATE_ name would otherwise silently leave a limit at its
  // default; other unknown names are the rest of the process environment.
  bool rejectUnknownNames() {
    const auto& known = knownVariables();
    for (const auto& entry : merged_) {
      std::string_view name = entry.first;
      if (name.substr(0, kPhigatePrefix.size()) != kPhigatePrefix) continue;
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      return fail("unknown configuration variable " + printableName(name));
    }
    return true;
  }

  bool readAppEnv() {
    auto value = get("APP_ENV");
    if (!value || equalsIgnoreCase(*value, "development")) {
      config_.app_env = AppEnv::kDevelopment;
    } else if (equalsIgnoreCase(*value, "production")) {
      config_.app_env = AppEnv::kProduction;
    } else {
      return fail("APP_ENV must be development or production");
    }
    return true;
  }

  bool readDebug() {
    auto value = get("DEBUG");
    if (!value) return true;
    std::string v = lowerCopy(*value);
    if (v == "true" || v == "1" || v == "yes") {
      config_.debug = true;
    } else if (v == "false" || v == "0" || v == "no") {
      config_.debug = false;
    } else {
      return fail("DEBUG must be one of true, false, 1, 0, yes, no");
    }
    return true;
  }

  bool readBool(std::string_view name, bool* field) {
    auto value = get(name);
    if (!value) return true;
    std::string v = lowerCopy(*value);
    if (v == "true" || v == "1" || v == "yes") {
      *field = true;
    } else if (v == "false" || v == "0" || v == "no") {
      *field = false;
    } else {
      return fail(std::string(name) + " must be one of true, false, 1, 0, yes, no");
    }
    return true;
  }

  bool readScheme() {
    auto value = get("PREFERRED_URL_SCHEME");
    if (!value) return true;
    std::string v = lowerCopy(*value);
    if (v != "http" && v != "https") return fail("PREFERRED_URL_SCHEME must be http or https");
    config_.preferred_url_scheme = std::move(v);
    return true;
  }

  bool readListen() {
    auto value = get("PHIGATE_LISTEN");
    if (!value) return true;
    std::string why;
    if (!parseListen(*value, &config_.listen, &why)) return fail(std::move(why));
    return true;
  }

  // Only regions with a row in the phone table: a typo must not fall back to
  // another country's reading of every national number.
  bool readDefaultRegion() {
    auto value = get("PHIGATE_DEFAULT_REGION");
    if (!value) return true;
    const pipeline::PhoneRegion* region = pipeline::findPhoneRegion(*value);
    if (region == nullptr) {
      std::string accepted;
      for (const pipeline::PhoneRegion& r : pipeline::phoneRegions()) {
        accepted += (accepted.empty() ? "" : ", ") + std::string(r.name);
      }
      return fail("PHIGATE_DEFAULT_REGION must be one of: " + accepted);
    }
    config_.default_region = std::string(region->name);
    return true;
  }

  // Callers keep `hi` within T's range, so the narrowing cast cannot wrap.
  template <typename T>
  bool readNumber(std::string_view name, uint64_t lo, uint64_t hi, T* field) {
    auto value = get(name);
    if (!value) return true;
    uint64_t n = 0;
    if (!parseDecimal(*value, &n) || n < lo || n > hi) return fail(rangeError(name, lo, hi));
    *field = static_cast<T>(n);
    return true;
  }

  bool readLimits() {
    ServerLimits& l = config_.limits;
    return readNumber("PHIGATE_MAX_REQUEST_LINE", 64, kMiB, &l.max_request_line) &&
           readNumber("PHIGATE_MAX_HEADER_BYTES", 256, kMiB, &l.max_header_bytes) &&
           readNumber("PHIGATE_MAX_HEADERS", 1, 1000, &l.max_headers) &&
           readNumber("MAX_CONTENT_LENGTH", 1, kGiB, &l.max_content_length) &&
           readNumber("PHIGATE_HEADER_TIMEOUT_MS", 1, kMaxTimeoutMs, &l.header_timeout_ms) &&
           readNumber("PHIGATE_BODY_TIMEOUT_MS", 1, kMaxTimeoutMs, &l.body_timeout_ms) &&
           readNumber("PHIGATE_IDLE_TIMEOUT_MS", 1, kMaxTimeoutMs, &l.idle_timeout_ms) &&
           readNumber("PHIGATE_WRITE_TIMEOUT_MS", 1, kMaxTimeoutMs, &l.write_timeout_ms) &&
           readNumber("PHIGATE_DRAIN_TIMEOUT_MS", 1, kMaxTimeoutMs, &l.drain_timeout_ms) &&
           readNumber("PHIGATE_MAX_OUTPUT_BYTES", 1, kGiB, &l.max_output_bytes) &&
           readNumber("PHIGATE_MAX_REQUESTS_PER_CONNECTION", 1, kMaxCount,
                      &l.max_requests_per_connection) &&
           readNumber("PHIGATE_MAX_CONNECTIONS", 1, kMaxCount, &l.max_connections) &&
           readNumber("PHIGATE_MAX_CONNECTIONS_PER_IP", 1, kMaxCount, &l.max_connections_per_ip) &&
           readNumber("PHIGATE_MAX_BODY_BUFFER_BYTES", 64 * 1024, 64 * kGiB, &l.max_body_buffer_bytes) &&
           readNumber("PHIGATE_REPLAY_WINDOW_S", 1, 3600, &config_.replay_window_s) &&
           readStatePolicy();
  }

  bool readStatePolicy() {
    StatePolicy& p = config_.state;
    return readNumber("PHIGATE_DAILY_QUOTA", 0, 1'000'000'000, &p.daily_quota) &&
           readNumber("PHIGATE_IDEMPOTENCY_TTL_S", 60, 30 * 86'400, &p.idempotency_ttl_s) &&
           readNumber("PHIGATE_AUTH_FAILURE_LIMIT", 1, 1'000'000, &p.auth_failure_limit) &&
           readNumber("PHIGATE_AUTH_FAILURE_WINDOW_S", 1, 86'400, &p.auth_failure_window_s) &&
           readNumber("PHIGATE_AUTO_BLOCK_S", 1, 30 * 86'400, &p.auto_block_s) &&
           readNumber("PHIGATE_STORE_TIMEOUT_MS", 1, 60'000, &p.store_timeout_ms) &&
           readNumber("PHIGATE_MEMORY_MAX_MESSAGES", 1, 10'000'000, &p.memory_max_messages) &&
           readRateLimits();
  }

  // PHIGATE_RATE_LIMITS="sms=200/60,health=5/60": class=limit/window_seconds.
  bool readRateLimits() {
    auto value = get("PHIGATE_RATE_LIMITS");
    if (!value) return true;
    static constexpr const char* kError =
        "PHIGATE_RATE_LIMITS must be a comma-separated list of class=limit/seconds (limit up to "
        "1000000, seconds up to 86400) with classes sms, bulk, email, messages, health, admin";
    std::string_view rest = *value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      const size_t eq = item.find('=');
      const size_t slash = item.find('/');
      if (eq == std::string_view::npos || slash == std::string_view::npos || slash < eq) return fail(kError);
      auto* rule = const_cast<RateRule*>(config_.state.rule(item.substr(0, eq)));
      uint64_t limit = 0, window = 0;
      if (rule == nullptr || !parseDecimal(item.substr(eq + 1, slash - eq - 1), &limit) ||
          !parseDecimal(item.substr(slash + 1), &window) || limit < 1 || limit > kMaxRateLimit ||
          window < 1 || window > 86'400) {
        return fail(kError);
      }
      *rule = RateRule{static_cast<uint32_t>(limit), static_cast<uint32_t>(window)};
    }
    return true;
  }

  // The flag beats the variable. Without either, several workers only make
  // sense with a shared store: the embedded state is per process.
  bool resolveWorkers(std::optional<int> cli_workers, int cpu_count) {
    if (cli_workers) {
      if (*cli_workers < 1 || static_cast<uint64_t>(*cli_workers) > kMaxWorkers) {
        return fail(rangeError("--workers", 1, kMaxWorkers));
      }
      config_.workers = *cli_workers;
      return true;
    }
    if (get("PHIGATE_WORKERS")) {
      return readNumber("PHIGATE_WORKERS", 1, kMaxWorkers, &config_.workers);
    }
    config_.workers = config_.ratelimit_storage_uri.empty()
                          ? 1
                          : std::clamp(cpu_count, 1, static_cast<int>(kMaxWorkers));
    return true;
  }

  bool checkProduction() {
    if (config_.debug) return fail("DEBUG must be false in production");
    if (!checkHexSecret("SECRET_KEY", config_.secret_key) ||
        !checkHexSecret("ENCRYPTION_KEY", config_.encryption_key)) {
      return false;
    }
    // One key for two jobs means one leak compromises both.
    if (config_.secret_key == config_.encryption_key) {
      return fail("ENCRYPTION_KEY must differ from SECRET_KEY in production");
    }
    if (!checkApiKey("SMS_API_KEY", config_.sms_api_key) ||
        !checkApiKey("ADMIN_API_KEY", config_.admin_api_key)) {
      return false;
    }
    if (config_.workers > 1 && config_.ratelimit_storage_uri.empty()) {
      return fail(
          "RATELIMIT_STORAGE_URI is required in production with more than one worker (replay "
          "nonces and rate limits must be shared between workers)");
    }
    // A 202 promises the message survives a restart; the in-process store
    // cannot keep that promise.
    if (config_.ratelimit_storage_uri.empty() && !config_.accept_message_loss) {
      return fail(
          "RATELIMIT_STORAGE_URI is required in production: without it accepted messages live only "
          "in this process's memory and are lost on a restart (set PHIGATE_ACCEPT_MESSAGE_LOSS=true "
          "to run so anyway)");
    }
    if (config_.ratelimit_storage_uri.empty()) {
      warn("WARNING: production without RATELIMIT_STORAGE_URI (PHIGATE_ACCEPT_MESSAGE_LOSS=true): "
           "queued messages are lost on every restart.");
    }
    return true;
  }

  // Says which rule failed (length, alphabet, variety), never the value.
  bool checkHexSecret(std::string_view name, const std::string& value) {
    const std::string n(name);
    const std::string rule = n + " must be " + std::to_string(kSecretHexChars) + " hex characters (" +
                             std::to_string(kSecretBytes) + " random bytes) in production";
    const std::string hint = "; generate one with: openssl rand -hex 32";
    if (value.empty()) return fail(rule + ": it is not set" + hint);
    if (isDevDefault(value)) {
      return fail(rule + ": it is a development default from the hardening guide's example" + hint);
    }
    if (value.size() != kSecretHexChars) {
      return fail(rule + ": it has " + std::to_string(value.size()) + " characters" + hint);
    }
    if (!std::all_of(value.begin(), value.end(), isHexDigit)) {
      return fail(rule + ": it contains a character other than 0-9 and a-f" + hint);
    }
    if (distinctChars(value) < kMinDistinctChars) {
      return fail(rule + ": it has fewer than " + std::to_string(kMinDistinctChars) +
                  " distinct characters (a pattern, not random bytes)" + hint);
    }
    return true;
  }

  // The env-var keys are optional when a keys file supplies the keys; when
  // present they must be as strong as any other credential.
  bool checkApiKey(std::string_view name, const std::string& value) {
    std::string n(name);
    if (value.empty()) {
      if (!config_.api_keys_file.empty()) return true;
      return fail(n + " is required in production unless API_KEYS_FILE is set");
    }
    if (isDevDefault(value)) {
      return fail(n + " is a development default from the hardening guide's example; not allowed in "
                      "production");
    }
    if (value.size() < kMinApiKeyChars) {
      return fail(n + " must be at least " + std::to_string(kMinApiKeyChars) +
                  " characters in production");
    }
    if (!isHeaderSafeToken(value)) {
      return fail(n + " must contain only printable ASCII characters without spaces");
    }
    if (distinctChars(value) < kMinDistinctChars) {
      return fail(n + " has fewer than " + std::to_string(kMinDistinctChars) +
                  " distinct characters (a pattern, not a random token); not allowed in production");
    }
    return true;
  }

  bool prepareDevelopment() {
    if (!developmentSecret("SECRET_KEY", &config_.secret_key) ||
        !developmentSecret("ENCRYPTION_KEY", &config_.encryption_key)) {
      return false;
    }
    if (config_.workers > 1 && config_.ratelimit_storage_uri.empty()) {
      warn("WARNING: " + std::to_string(config_.workers) +
           " workers without RATELIMIT_STORAGE_URI: rate limits, replay nonces and blocks are "
           "per process.");
    }
    if (config_.sms_api_key.empty() && config_.admin_api_key.empty() &&
        config_.api_keys_file.empty()) {
      warn(
          "WARNING: no API keys configured (SMS_API_KEY, ADMIN_API_KEY, API_KEYS_FILE); every "
          "authenticated request will be refused.\n"
          "Next step: for a quick try, restart with a token of your own:\n"
          "    SMS_API_KEY=$(openssl rand -hex 32) make run\n"
          "  or create a key (the token is printed once, only its hash is stored):\n"
          "    build/phigate keygen --id my-app --roles sms\n"
          "  put the printed entry in a file {\"keys\": [ <entry> ]} and set API_KEYS_FILE to it.");
    }
    return true;
  }

  // Development runs without setup: a missing secret is generated (and lost
  // at exit, so nothing sealed with it survives a restart), a weak one is
  // tolerated. Both are said loudly; the value never is.
  bool developmentSecret(std::string_view name, std::string* field) {
    std::string n(name);
    if (field->empty()) {
      if (!crypto::initCrypto()) return fail("cannot initialise the random generator for " + n);
      *field = crypto::randomHex(kSecretBytes);
      config_.generated_secrets.push_back(n);
      warn("WARNING: " + n +
           " not set; generated an ephemeral development value. Never run production like this.");
    } else if (!isStrongHexSecret(*field)) {
      warn("WARNING: " + n + " is not " + std::to_string(kSecretHexChars) +
           " random hex characters; accepted in development only, production refuses it.");
    }
    return true;
  }

  EnvMap merged_;
  Config config_;
  LoadResult result_;
};

}  // namespace

LoadResult loadConfig(const EnvMap& env, const EnvMap& dotenv, std::optional<int> cli_workers,
                      int cpu_count) {
  return Loader(env, dotenv).load(cli_workers, cpu_count);
}

net::WorkerOptions workerOptions(const Config& cfg) {
  return net::WorkerOptions{.listen = cfg.listen,
                            .limits = cfg.limits,
                            .log_file = cfg.log_file,
                            .hsts = cfg.production()};
}

// With duplicate names in environ, the first one wins, matching getenv(3).
EnvMap processEnvironment() {
  EnvMap out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    out.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return out;
}

const std::vector<std::string_view>& knownVariables() {
  static const std::vector<std::string_view> kKnown = {
      // The Flask guide's names.
      "APP_ENV", "DEBUG", "SECRET_KEY", "ENCRYPTION_KEY", "ENCRYPTION_KEYS_OLD", "SMS_API_KEY",
      "ADMIN_API_KEY", "MAX_CONTENT_LENGTH", "RATELIMIT_STORAGE_URI", "PREFERRED_URL_SCHEME",
      "LOG_FILE", "API_KEYS_FILE", "TRUSTED_PROXIES", "IP_ALLOWLIST", "IP_DENYLIST",
      // Accepted so the guide's .env files load; phigate sets no cookies.
      "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
      "PERMANENT_SESSION_LIFETIME",
      // phigate's own.
      "PHIGATE_LISTEN", "PHIGATE_WORKERS", "PHIGATE_ENV_FILE", "PHIGATE_MAX_REQUEST_LINE",
      "PHIGATE_MAX_HEADER_BYTES", "PHIGATE_MAX_HEADERS", "PHIGATE_HEADER_TIMEOUT_MS",
      "PHIGATE_BODY_TIMEOUT_MS", "PHIGATE_IDLE_TIMEOUT_MS", "PHIGATE_WRITE_TIMEOUT_MS",
      "PHIGATE_DRAIN_TIMEOUT_MS", "PHIGATE_MAX_OUTPUT_BYTES",
      "PHIGATE_MAX_REQUESTS_PER_CONNECTION", "PHIGATE_MAX_CONNECTIONS",
      "PHIGATE_MAX_CONNECTIONS_PER_IP", "PHIGATE_MAX_BODY_BUFFER_BYTES", "PHIGATE_REPLAY_WINDOW_S", "PHIGATE_RATE_LIMITS",
      "PHIGATE_DAILY_QUOTA", "PHIGATE_IDEMPOTENCY_TTL_S", "PHIGATE_AUTH_FAILURE_LIMIT",
      "PHIGATE_AUTH_FAILURE_WINDOW_S", "PHIGATE_AUTO_BLOCK_S", "PHIGATE_STORE_TIMEOUT_MS",
      "PHIGATE_MEMORY_MAX_MESSAGES", "PHIGATE_ACCEPT_MESSAGE_LOSS", "PHIGATE_DEFAULT_REGION"};
  return kKnown;
}

const RateRule* StatePolicy::rule(std::string_view route_class) const {
  if (route_class == "sms") return &sms;
  if (route_class == "bulk") return &bulk;
  if (route_class == "email") return &email;
  if (route_class == "messages") return &messages;
  if (route_class == "health") return &health;
  if (route_class == "admin") return &admin;
  return nullptr;
}

}  // namespace phigate::config
