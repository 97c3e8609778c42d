// Start-up configuration: merge, apply the variable table (variables.cpp),
// then the rules that span several variables: the workers default, and in
// production a refusal to run on anything weak. Every message here names a
// variable and never echoes its value: start-up errors go to terminals, CI
// logs and journald, and the value that failed validation is very often a
// secret with a typo in it.
#include "common/ascii.h"
#include "config/config.h"

#include "net/http_client.h"
#include "upstream/path_allowlist.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "config/text.h"
#include "config/variables.h"
#include "crypto/random.h"

extern char** environ;

namespace phigate::config {

namespace {

constexpr std::string_view kPhigatePrefix = "PHIGATE_";

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

// Validates one merged environment into a Config. Each step returns false
// after recording the first error; later steps then do not run.
class Loader {
 public:
  Loader(const EnvMap& env, const EnvMap& dotenv) : merged_(dotenv) {
    for (const auto& [name, value] : env) merged_.insert_or_assign(name, value);
  }

  LoadResult load(std::optional<int> cli_workers, int cpu_count) {
    bool ok = rejectUnknownNames() && applyTable() && resolveWorkers(cli_workers, cpu_count);
    if (ok) ok = config_.production() ? checkProduction() : prepareDevelopment();
    if (ok) ok = checkDelivery();
    if (ok) ok = checkEhospital();
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

  bool fail(std::string message) {
    result_.error = std::move(message);
    return false;
  }

  void warn(std::string message) { result_.warnings.push_back(std::move(message)); }

  // A misspelt PHIGATE_ name would otherwise silently leave a limit at its
  // default; other unknown names are the rest of the process environment.
  bool rejectUnknownNames() {
    for (const auto& entry : merged_) {
      std::string_view name = entry.first;
      if (name.substr(0, kPhigatePrefix.size()) != kPhigatePrefix) continue;
      if (findVariable(name) != nullptr) continue;
      return fail("unknown configuration variable " + printableName(name));
    }
    return true;
  }

  // Each set variable's value, read by its row, in table order; the first
  // error stops the load.
  bool applyTable() {
    for (const Variable& row : variables()) {
      if (!row.by_rule && !apply(row)) return false;
    }
    return true;
  }

  bool apply(const Variable& row) {
    const auto value = get(row.name);
    if (!value || row.apply == nullptr) return true;
    return row.apply(row, *value, config_, &result_.error);
  }

  // The flag beats the variable. Without either, several workers only make
  // sense with a shared store: the embedded state is per process. The flag
  // has the variable's range.
  bool resolveWorkers(std::optional<int> cli_workers, int cpu_count) {
    const Variable& row = *findVariable("PHIGATE_WORKERS");
    if (cli_workers) {
      if (*cli_workers < 0 || static_cast<uint64_t>(*cli_workers) < row.lo ||
          static_cast<uint64_t>(*cli_workers) > row.hi) {
        return fail(rangeError("--workers", row.lo, row.hi));
      }
      config_.workers = *cli_workers;
      return true;
    }
    if (get(row.name)) return apply(row);
    config_.workers = config_.ratelimit_storage_uri.empty()
                          ? 1
                          : std::clamp(cpu_count, 1, static_cast<int>(row.hi));
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

  // What the provider needs, and what cannot work together. Names only,
  // never values (some are secrets).
  bool checkDelivery() {
    const DeliveryPolicy& d = config_.delivery;
    const bool prod = config_.production();
    if (d.retry_min_ms > d.retry_max_ms) {
      return fail("PHIGATE_RETRY_MIN_MS must not exceed PHIGATE_RETRY_MAX_MS");
    }
    if (uint64_t{d.visibility_s} * 1000 < 2 * uint64_t{d.timeout_ms}) {
      return fail("PHIGATE_VISIBILITY_TIMEOUT_S must be at least twice PHIGATE_PROVIDER_TIMEOUT_MS "
                  "(a message still being sent must not be taken over by another worker)");
    }
    auto url = [&](std::string_view name, const std::string& value) {
      if (value.empty()) return fail(std::string(name) + " is required with SMS_PROVIDER=" +
                                     (d.provider == SmsProviderKind::kCdac ? "cdac" : "http"));
      if (value.starts_with("https://")) return true;
      if (value.starts_with("http://") && !prod) return true;
      return fail(std::string(name) + (prod ? " must be an https:// URL in production"
                                            : " must be an http:// or https:// URL"));
    };
    auto required = [&](std::string_view name, const std::string& value) {
      if (!value.empty()) return true;
      return fail(std::string(name) + " is required with SMS_PROVIDER=cdac");
    };
    switch (d.provider) {
      case SmsProviderKind::kMock:
        if (prod && d.enabled) {
          return fail("SMS_PROVIDER=mock only simulates delivery; production needs cdac or http "
                      "(or PHIGATE_DELIVERY=false on a host that only accepts)");
        }
        break;
      case SmsProviderKind::kCdac:
        if (!url("CDAC_URL", d.cdac_url) || !required("CDAC_USERNAME", d.cdac_username) ||
            !required("CDAC_PASSWORD", d.cdac_password) ||
            !required("CDAC_SENDER_ID", d.cdac_sender_id) ||
            !required("CDAC_SECURE_KEY", d.cdac_secure_key)) {
          return false;
        }
        if (d.cdac_report_url != "off" && !url("CDAC_REPORT_URL", d.cdac_report_url)) return false;
        break;
      case SmsProviderKind::kHttp:
        if (!url("SMS_HTTP_URL", d.http_url)) return false;
        if (d.http_token.empty()) return fail("SMS_HTTP_TOKEN is required with SMS_PROVIDER=http");
        break;
    }
    if (!checkEmail()) return false;
    if (!d.outbound_proxy.empty() && !net::HttpClient::validProxyUrl(d.outbound_proxy)) {
      return fail("OUTBOUND_PROXY must be an http://host:port URL");
    }
    return true;
  }

  // SMTP_FROM's syntax is checked with the message builder's own rule when
  // delivery is set up (delivery/service.cpp).
  bool checkEmail() {
    const DeliveryPolicy& d = config_.delivery;
    const bool prod = config_.production();
    if (d.smtp_url == "off") return true;
    if (d.smtp_url.empty()) {
      if (config_.emailOff()) {
        warn("NOTE: SMTP_URL not set: POST /v1/email is off (production never simulates email).");
      }
      return true;
    }
    if (!d.smtp_url.starts_with("smtp://") && !d.smtp_url.starts_with("smtps://")) {
      return fail("SMTP_URL must be smtp://host:port (STARTTLS), smtps://host:port or off");
    }
    const size_t scheme_end = d.smtp_url.find("://") + 3;
    const std::string_view authority =
        std::string_view(d.smtp_url).substr(scheme_end, d.smtp_url.find('/', scheme_end) - scheme_end);
    if (authority.find('@') != std::string_view::npos) {
      return fail("SMTP_URL must not carry credentials: set SMTP_USERNAME and SMTP_PASSWORD (a secret)");
    }
    if (authority.empty()) return fail("SMTP_URL needs a host: smtp://host:port");
    if (d.smtp_from.empty()) return fail("SMTP_FROM is required with SMTP_URL");
    if (!d.smtp_tls && prod) {
      return fail("SMTP_TLS=false is accepted only in development (credentials and mail in the clear)");
    }
    if (!d.smtp_tls && d.smtp_url.starts_with("smtps://")) {
      return fail("SMTP_TLS=false contradicts an smtps:// SMTP_URL");
    }
    if (d.smtp_password.empty() != d.smtp_username.empty()) {
      return fail("SMTP_USERNAME and SMTP_PASSWORD go together");
    }
    return true;
  }

  // The pass-through is off without a base URL; with one it needs an
  // allow-list and exactly one kind of credential. Names only, never values.
  bool checkEhospital() {
    const EhospitalPolicy& e = config_.ehospital;
    const bool prod = config_.production();
    const bool oauth_any = !e.client_id.empty() || !e.client_secret.empty() || !e.token_url.empty();
    if (!e.configured()) {
      for (const auto& [name, value] : {std::pair<std::string_view, const std::string*>{
                                            "EHOSPITAL_ALLOWED_PATHS", &e.allowed_paths},
                                        {"EHOSPITAL_TOKEN", &e.token},
                                        {"EHOSPITAL_CLIENT_ID", &e.client_id},
                                        {"EHOSPITAL_CLIENT_SECRET", &e.client_secret},
                                        {"EHOSPITAL_TOKEN_URL", &e.token_url}}) {
        if (!value->empty()) {
          return fail(std::string(name) + " is set but EHOSPITAL_BASE_URL is not (the pass-through "
                                          "is off without it)");
        }
      }
      return true;
    }
    auto url = [&](std::string_view name, const std::string& value) {
      const bool scheme_ok = value.starts_with("https://") || (!prod && value.starts_with("http://"));
      const size_t host_at = value.find("://") + 3;
      const bool plain = value.find_first_of("?#@ \t") == std::string::npos &&
                         value.size() > host_at && value[host_at] != '/';
      if (scheme_ok && plain) return true;
      return fail(std::string(name) +
                  (prod ? " must be an https:// URL (no query, fragment or user info) in production"
                        : " must be an http:// or https:// URL (no query, fragment or user info)"));
    };
    if (!url("EHOSPITAL_BASE_URL", e.base_url)) return false;
    upstream::PathAllowList allow;
    if (std::string why; !allow.parse(e.allowed_paths, &why)) return fail(why);
    if (allow.size() == 0) {
      return fail("EHOSPITAL_ALLOWED_PATHS is required with EHOSPITAL_BASE_URL (a comma-separated "
                  "list of `METHOD /path`; nothing is forwarded without it)");
    }
    // The worst case the pass-through may buffer per worker (docs/EHOSPITAL.md,
    // "Size caps, buffering and memory"): every call with maximal bodies.
    const uint64_t per_call = 2 * uint64_t{e.max_request_bytes} + 2 * uint64_t{e.max_response_bytes};
    if (uint64_t{e.concurrency} * per_call > kEhospitalMaxBufferBytes) {
      return fail("EHOSPITAL_CONCURRENCY x (2 x EHOSPITAL_MAX_REQUEST_BYTES + 2 x "
                  "EHOSPITAL_MAX_RESPONSE_BYTES) exceeds the 1 GiB per worker the eHospital "
                  "pass-through may buffer: lower the concurrency or the body caps");
    }
    if (!e.token.empty() && oauth_any) {
      return fail("EHOSPITAL_TOKEN and EHOSPITAL_CLIENT_ID / EHOSPITAL_CLIENT_SECRET / "
                  "EHOSPITAL_TOKEN_URL exclude each other: set one kind of credential");
    }
    if (!e.token.empty()) {
      if (!isHeaderSafeToken(e.token)) {
        return fail("EHOSPITAL_TOKEN must contain only printable ASCII characters without spaces");
      }
      return true;
    }
    if (!oauth_any) {
      return fail("EHOSPITAL_BASE_URL needs a credential: EHOSPITAL_TOKEN, or EHOSPITAL_CLIENT_ID, "
                  "EHOSPITAL_CLIENT_SECRET and EHOSPITAL_TOKEN_URL");
    }
    for (const auto& [name, value] : {std::pair<std::string_view, const std::string*>{
                                          "EHOSPITAL_CLIENT_ID", &e.client_id},
                                      {"EHOSPITAL_CLIENT_SECRET", &e.client_secret},
                                      {"EHOSPITAL_TOKEN_URL", &e.token_url}}) {
      if (value->empty()) {
        return fail(std::string(name) + " is required with the other OAuth2 EHOSPITAL_ variables");
      }
    }
    return url("EHOSPITAL_TOKEN_URL", e.token_url);
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

const RateRule* StatePolicy::rule(std::string_view route_class) const {
  if (route_class == "sms") return &sms;
  if (route_class == "bulk") return &bulk;
  if (route_class == "email") return &email;
  if (route_class == "messages") return &messages;
  if (route_class == "health") return &health;
  if (route_class == "admin") return &admin;
  if (route_class == "ehospital") return &ehospital;
  return nullptr;
}

}  // namespace phigate::config
