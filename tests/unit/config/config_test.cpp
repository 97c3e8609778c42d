#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <set>
#include <string>

#include "config/config.h"
#include "config/variables.h"
#include "crypto/random.h"

namespace phigate::config {
namespace {

// 64 hex characters with all 16 digits: what `openssl rand -hex 32` looks like.
const std::string kSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kEncryption = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const std::string kSmsKey = "sms-Kq8vX2mN4pR7tY1wZ5bC9dF3gH6jL0aS";     // 36 chars
const std::string kAdminKey = "adm-Zx9Cv8Bn7Mq6Wa5Se4Rd3Tf2Yg1Uh0Ij";  // 36 chars

class ConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::initCrypto()); }

  static EnvMap productionEnv() {
    return {{"APP_ENV", "production"},
            {"SECRET_KEY", kSecret},
            {"ENCRYPTION_KEY", kEncryption},
            {"SMS_API_KEY", kSmsKey},
            {"ADMIN_API_KEY", kAdminKey},
            // The store is not what these tests are about (see ProductionNeedsADurableStore).
            {"PHIGATE_ACCEPT_MESSAGE_LOSS", "true"},
            // Nor the provider (production refuses the simulated one).
            {"SMS_PROVIDER", "http"},
            {"SMS_HTTP_URL", "https://sms.provider.test/v1/messages"},
            {"SMS_HTTP_TOKEN", "fake-provider-token"},
            // Nor email (production without a mail server takes none).
            {"SMTP_URL", "smtps://mail.hospital.test:465"},
            {"SMTP_FROM", "noreply@hospital.test"}};
  }

  static LoadResult load(const EnvMap& env, const EnvMap& dotenv = {},
                         std::optional<int> cli_workers = std::nullopt, int cpu_count = 4) {
    return loadConfig(env, dotenv, cli_workers, cpu_count);
  }

  // Loads `env`, expects success and returns the config.
  static Config loadOk(const EnvMap& env, const EnvMap& dotenv = {},
                       std::optional<int> cli_workers = std::nullopt, int cpu_count = 4) {
    LoadResult r = load(env, dotenv, cli_workers, cpu_count);
    EXPECT_TRUE(r.config.has_value()) << r.error;
    EXPECT_TRUE(r.error.empty()) << r.error;
    return r.config.value_or(Config{});
  }

  // Loads `env`, expects failure and returns the error message.
  static std::string loadError(const EnvMap& env, std::optional<int> cli_workers = std::nullopt,
                               int cpu_count = 4) {
    LoadResult r = load(env, {}, cli_workers, cpu_count);
    EXPECT_FALSE(r.config.has_value());
    EXPECT_FALSE(r.error.empty());
    return r.error;
  }

  static EnvMap with(EnvMap env, const std::string& name, const std::string& value) {
    env[name] = value;
    return env;
  }

  static EnvMap without(EnvMap env, const std::string& name) {
    env.erase(name);
    return env;
  }
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool anyContains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return contains(l, needle); });
}

bool isLowerHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// ---------------------------------------------------------------- merging

TEST_F(ConfigTest, EmptyEnvironmentGivesDevelopmentDefaults) {
  Config c = loadOk({});
  EXPECT_FALSE(c.production());
  EXPECT_FALSE(c.debug);
  EXPECT_EQ(c.listen.host, "127.0.0.1");
  EXPECT_EQ(c.listen.port, 8080);
  EXPECT_FALSE(c.listen.ipv6);
  EXPECT_EQ(c.workers, 1);
  EXPECT_EQ(c.preferred_url_scheme, "http");
  ServerLimits defaults;
  EXPECT_EQ(c.limits.max_request_line, defaults.max_request_line);
  EXPECT_EQ(c.limits.max_content_length, defaults.max_content_length);
  EXPECT_EQ(c.limits.max_connections_per_ip, defaults.max_connections_per_ip);
}

TEST_F(ConfigTest, ProcessEnvironmentOverridesDotenv) {
  Config c = loadOk({{"PHIGATE_LISTEN", "127.0.0.1:9001"}, {"LOG_FILE", "/env.log"}},
                    {{"PHIGATE_LISTEN", "127.0.0.1:9002"}, {"LOG_FILE", "/dotenv.log"},
                     {"IP_DENYLIST", "10.0.0.0/8"}});
  EXPECT_EQ(c.listen.port, 9001);
  EXPECT_EQ(c.log_file, "/env.log");
  EXPECT_EQ(c.ip_denylist, "10.0.0.0/8");  // only in the dotenv: still used
}

TEST_F(ConfigTest, EnvironmentCanFixABadDotenvValue) {
  Config c = loadOk({{"PHIGATE_WORKERS", "2"}}, {{"PHIGATE_WORKERS", "lots"}});
  EXPECT_EQ(c.workers, 2);
}

TEST_F(ConfigTest, DotenvCanSwitchToProduction) {
  LoadResult r = load({}, {{"APP_ENV", "production"}});
  EXPECT_FALSE(r.config.has_value());
  EXPECT_TRUE(contains(r.error, "SECRET_KEY")) << r.error;
}

TEST_F(ConfigTest, EmptyValueCountsAsUnset) {
  Config c = loadOk({{"PHIGATE_WORKERS", ""}, {"PHIGATE_LISTEN", ""}, {"APP_ENV", ""}});
  EXPECT_EQ(c.workers, 1);
  EXPECT_EQ(c.listen.port, 8080);
  EXPECT_FALSE(c.production());
}

TEST_F(ConfigTest, PlainStringsAreCopied) {
  Config c = loadOk({{"RATELIMIT_STORAGE_URI", "redis://localhost:6379/2"},
                     {"LOG_FILE", "/var/log/phigate.log"},
                     {"API_KEYS_FILE", "/etc/phigate/keys.json"},
                     {"TRUSTED_PROXIES", "10.0.0.1/32"},
                     {"IP_ALLOWLIST", "10.0.0.0/8,::1/128"},
                     {"IP_DENYLIST", "192.0.2.0/24"},
                     {"ENCRYPTION_KEYS_OLD", "old1,old2"},
                     {"SMS_API_KEY", "dev-api-key"},
                     {"ADMIN_API_KEY", "dev-admin-key"}});
  EXPECT_EQ(c.ratelimit_storage_uri, "redis://localhost:6379/2");
  EXPECT_EQ(c.log_file, "/var/log/phigate.log");
  EXPECT_EQ(c.api_keys_file, "/etc/phigate/keys.json");
  EXPECT_EQ(c.trusted_proxies, "10.0.0.1/32");
  EXPECT_EQ(c.ip_allowlist, "10.0.0.0/8,::1/128");
  EXPECT_EQ(c.ip_denylist, "192.0.2.0/24");
  EXPECT_EQ(c.encryption_keys_old, "old1,old2");
  EXPECT_EQ(c.sms_api_key, "dev-api-key");
  EXPECT_EQ(c.admin_api_key, "dev-admin-key");
}

// ---------------------------------------------------------------- names

TEST_F(ConfigTest, UnknownPhigateVariableIsAnError) {
  std::string error = loadError({{"PHIGATE_XYZ", "1"}});
  EXPECT_EQ(error, "unknown configuration variable PHIGATE_XYZ");
}

TEST_F(ConfigTest, UnknownPhigateVariableInDotenvIsAnError) {
  LoadResult r = load({}, {{"PHIGATE_WORKER", "2"}});  // typo of PHIGATE_WORKERS
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.error, "unknown configuration variable PHIGATE_WORKER");
}

TEST_F(ConfigTest, UnknownPhigateVariableNameIsSanitised) {
  std::string error = loadError({{std::string("PHIGATE_\x1b[31mX\n"), "1"}});
  EXPECT_FALSE(contains(error, "\x1b")) << error;
  EXPECT_FALSE(contains(error, "\n")) << error;
}

TEST_F(ConfigTest, OtherUnknownNamesAreIgnored) {
  Config c = loadOk({{"PATH", "/usr/bin"},
                     {"HOME", "/root"},
                     {"SECRETKEY", "typo-but-not-ours"},
                     {"phigate_listen", "lower case is not our prefix"},
                     {"PHIGATE", "no underscore"}});
  EXPECT_EQ(c.listen.port, 8080);
}

TEST_F(ConfigTest, FlaskSessionVariablesAreAcceptedAndIgnored) {
  Config c = loadOk({{"SESSION_COOKIE_SECURE", "False"},
                     {"SESSION_COOKIE_HTTPONLY", "whatever"},
                     {"SESSION_COOKIE_SAMESITE", "Lax"},
                     {"PERMANENT_SESSION_LIFETIME", "not-a-number"}});
  EXPECT_FALSE(c.production());
}

// The table (variables.h) is the list of names; this one guards against a
// row disappearing with nobody noticing.
TEST_F(ConfigTest, TheTableListsEveryName) {
  std::vector<std::string_view> known;
  for (const Variable& v : variables()) known.push_back(v.name);
  const char* expected[] = {"APP_ENV",
                            "DEBUG",
                            "SECRET_KEY",
                            "ENCRYPTION_KEY",
                            "ENCRYPTION_KEYS_OLD",
                            "SMS_API_KEY",
                            "ADMIN_API_KEY",
                            "MAX_CONTENT_LENGTH",
                            "RATELIMIT_STORAGE_URI",
                            "PREFERRED_URL_SCHEME",
                            "LOG_FILE",
                            "API_KEYS_FILE",
                            "TRUSTED_PROXIES",
                            "IP_ALLOWLIST",
                            "IP_DENYLIST",
                            "SESSION_COOKIE_SECURE",
                            "SESSION_COOKIE_HTTPONLY",
                            "SESSION_COOKIE_SAMESITE",
                            "PERMANENT_SESSION_LIFETIME",
                            "PHIGATE_LISTEN",
                            "PHIGATE_WORKERS",
                            "PHIGATE_ENV_FILE",
                            "PHIGATE_MAX_REQUEST_LINE",
                            "PHIGATE_MAX_HEADER_BYTES",
                            "PHIGATE_MAX_HEADERS",
                            "PHIGATE_HEADER_TIMEOUT_MS",
                            "PHIGATE_BODY_TIMEOUT_MS",
                            "PHIGATE_IDLE_TIMEOUT_MS",
                            "PHIGATE_WRITE_TIMEOUT_MS",
                            "PHIGATE_DRAIN_TIMEOUT_MS",
                            "PHIGATE_MAX_OUTPUT_BYTES",
                            "PHIGATE_MAX_REQUESTS_PER_CONNECTION",
                            "PHIGATE_MAX_CONNECTIONS",
                            "PHIGATE_MAX_CONNECTIONS_PER_IP", "PHIGATE_MAX_BODY_BUFFER_BYTES",
                            "PHIGATE_REPLAY_WINDOW_S",
                            "PHIGATE_RATE_LIMITS", "PHIGATE_DAILY_QUOTA", "PHIGATE_IDEMPOTENCY_TTL_S",
                            "PHIGATE_AUTH_FAILURE_LIMIT", "PHIGATE_AUTH_FAILURE_WINDOW_S",
                            "PHIGATE_AUTO_BLOCK_S", "PHIGATE_STORE_TIMEOUT_MS",
                            "PHIGATE_MEMORY_MAX_MESSAGES", "PHIGATE_ACCEPT_MESSAGE_LOSS",
                            "PHIGATE_DEFAULT_REGION", "SMS_PROVIDER", "CDAC_URL", "CDAC_USERNAME",
                            "CDAC_PASSWORD", "CDAC_SENDER_ID", "CDAC_SECURE_KEY", "CDAC_REPORT_URL",
                            "SMS_HTTP_URL", "SMS_HTTP_TOKEN", "OUTBOUND_CA_FILE", "OUTBOUND_PROXY",
                            "CALLBACK_ALLOWED_CIDRS", "CALLBACK_CA_FILE", "PHIGATE_CALLBACK_RETRY_MIN_MS",
                            "PHIGATE_CALLBACK_RETRY_MAX_MS", "PHIGATE_CALLBACK_CONCURRENCY",
                            "OTP_TTL_S", "MESSAGE_RETENTION_S", "PHIGATE_DELIVERY",
                            "PHIGATE_DELIVERY_DEADLINE_S", "PHIGATE_RETRY_MIN_MS",
                            "PHIGATE_RETRY_MAX_MS", "PHIGATE_PROVIDER_CONCURRENCY",
                            "PHIGATE_PROVIDER_RATE", "PHIGATE_PROVIDER_CONNECT_TIMEOUT_MS",
                            "PHIGATE_PROVIDER_TIMEOUT_MS", "PHIGATE_VISIBILITY_TIMEOUT_S",
                            "PHIGATE_CIRCUIT_FAILURES", "PHIGATE_CIRCUIT_OPEN_S",
                            "PHIGATE_REPORT_DELAY_MS", "SMTP_URL", "SMTP_USERNAME",
                            "SMTP_PASSWORD", "SMTP_FROM", "SMTP_REPLY_TO", "SMTP_TLS",
                            "SMTP_CONCURRENCY", "SMTP_RATE",
                            "EHOSPITAL_BASE_URL",
                            "EHOSPITAL_ALLOWED_PATHS", "EHOSPITAL_TOKEN", "EHOSPITAL_CLIENT_ID",
                            "EHOSPITAL_CLIENT_SECRET", "EHOSPITAL_TOKEN_URL",
                            "EHOSPITAL_TOKEN_REQUEST", "EHOSPITAL_MAX_REQUEST_BYTES",
                            "EHOSPITAL_MAX_RESPONSE_BYTES", "EHOSPITAL_CONNECT_TIMEOUT_MS",
                            "EHOSPITAL_TIMEOUT_MS", "EHOSPITAL_CONCURRENCY",
                            "EHOSPITAL_CIRCUIT_FAILURES", "EHOSPITAL_CIRCUIT_OPEN_S"};
  for (const char* name : expected) {
    EXPECT_NE(std::find(known.begin(), known.end(), name), known.end()) << name;
  }
  EXPECT_EQ(known.size(), std::size(expected));
  EXPECT_EQ(std::set<std::string_view>(known.begin(), known.end()).size(), known.size());
}

// Email: a mail server is optional; what is given must be able to work.
TEST_F(ConfigTest, EmailIsSimulatedInDevelopmentAndOffInProductionWithoutSmtpUrl) {
  const Config dev = loadOk({});
  EXPECT_TRUE(dev.delivery.smtp_url.empty());
  EXPECT_FALSE(dev.emailOff()) << "development simulates email";
  LoadResult prod = load(without(without(productionEnv(), "SMTP_URL"), "SMTP_FROM"));
  ASSERT_TRUE(prod.config.has_value()) << prod.error;
  EXPECT_TRUE(prod.config->emailOff()) << "production never simulates email";
  bool said = false;
  for (const std::string& w : prod.warnings) said = said || w.find("SMTP_URL not set") != std::string::npos;
  EXPECT_TRUE(said) << "the operator is told email is off";
  // A host that only accepts takes email for the hosts that deliver it.
  EXPECT_FALSE(loadOk(with(without(productionEnv(), "SMTP_URL"), "PHIGATE_DELIVERY", "false")).emailOff());
  EXPECT_TRUE(loadOk(with(EnvMap{}, "SMTP_URL", "off")).emailOff());
}

TEST_F(ConfigTest, SmtpSettingsAreCheckedTogether) {
  EnvMap env = with(without(productionEnv(), "SMTP_FROM"), "SMTP_URL", "smtp://mail.hospital.test:587");
  EXPECT_NE(loadError(env).find("SMTP_FROM is required"), std::string::npos);
  env = with(env, "SMTP_FROM", "noreply@hospital.test");
  const Config c = loadOk(env);
  EXPECT_FALSE(c.emailOff());
  EXPECT_TRUE(c.delivery.smtp_tls);
  EXPECT_EQ(c.delivery.smtp_concurrency, 16u);
  EXPECT_NE(loadError(with(env, "SMTP_URL", "http://mail.hospital.test")).find("SMTP_URL must be"),
            std::string::npos);
  EXPECT_NE(loadError(with(env, "SMTP_TLS", "false")).find("only in development"), std::string::npos);
  const std::string creds = loadError(with(env, "SMTP_URL", "smtps://gateway:hunter22@mail.hospital.test"));
  EXPECT_NE(creds.find("must not carry credentials"), std::string::npos);
  EXPECT_EQ(creds.find("hunter22"), std::string::npos) << "never a value";
  const std::string pair = loadError(with(env, "SMTP_USERNAME", "gateway"));
  EXPECT_NE(pair.find("SMTP_USERNAME and SMTP_PASSWORD go together"), std::string::npos);
  EXPECT_EQ(pair.find("gateway"), std::string::npos) << "never a value";
  EnvMap dev = with(with(EnvMap{}, "SMTP_URL", "smtps://mail.hospital.test:465"), "SMTP_FROM", "a@b.test");
  EXPECT_NE(loadError(with(dev, "SMTP_TLS", "false")).find("contradicts"), std::string::npos);
  EXPECT_FALSE(loadOk(with(with(dev, "SMTP_URL", "smtp://127.0.0.1:2525"), "SMTP_TLS", "false")).delivery.smtp_tls);
}

TEST_F(ConfigTest, EveryKnownPhigateNameIsAccepted) {
  for (const Variable& v : variables()) {
    std::string_view name = v.name;
    if (name.substr(0, 8) != "PHIGATE_") continue;
    LoadResult r = load({{std::string(name), "x"}});
    EXPECT_FALSE(contains(r.error, "unknown configuration variable")) << name;
  }
}

// ---------------------------------------------------------------- PHIGATE_DEFAULT_REGION

TEST_F(ConfigTest, DefaultRegionIsIndia) {
  EXPECT_EQ(loadOk({}).default_region, "IN");
  EXPECT_EQ(loadOk(productionEnv()).default_region, "IN");
  EXPECT_EQ(loadOk({{"PHIGATE_DEFAULT_REGION", ""}}).default_region, "IN");  // empty: unset
}

TEST_F(ConfigTest, DefaultRegionAcceptsKnownRegionsInAnyCase) {
  EXPECT_EQ(loadOk({{"PHIGATE_DEFAULT_REGION", "IN"}}).default_region, "IN");
  EXPECT_EQ(loadOk({{"PHIGATE_DEFAULT_REGION", "in"}}).default_region, "IN");
  EXPECT_EQ(loadOk(with(productionEnv(), "PHIGATE_DEFAULT_REGION", "In")).default_region, "IN");
}

// A typo must stop start-up: the region decides how every national number is read.
TEST_F(ConfigTest, UnknownDefaultRegionIsAnErrorListingTheAccepted) {
  for (const std::string value : {"US", "IND", "91", "+91", " IN", "IN,US", "ZQXMARKERQXZ"}) {
    SCOPED_TRACE(value);
    const std::string error = loadError({{"PHIGATE_DEFAULT_REGION", value}});
    EXPECT_EQ(error, "PHIGATE_DEFAULT_REGION must be one of: IN");
    EXPECT_FALSE(contains(error, "MARKER"));
  }
}

// ---------------------------------------------------------------- APP_ENV, DEBUG, scheme

TEST_F(ConfigTest, AppEnvIsCaseInsensitive) {
  EXPECT_FALSE(loadOk({{"APP_ENV", "Development"}}).production());
  EXPECT_TRUE(loadOk(with(productionEnv(), "APP_ENV", "PRODUCTION")).production());
  EXPECT_TRUE(loadOk(with(productionEnv(), "APP_ENV", "Production")).production());
}

TEST_F(ConfigTest, AppEnvRejectsOtherValues) {
  for (const char* v : {"staging", "prod", "dev", " production", "production "}) {
    EXPECT_EQ(loadError({{"APP_ENV", v}}), "APP_ENV must be development or production") << v;
  }
}

TEST_F(ConfigTest, DebugAcceptsBooleanSpellings) {
  for (const char* v : {"True", "true", "TRUE", "1", "yes", "Yes"}) {
    EXPECT_TRUE(loadOk({{"DEBUG", v}}).debug) << v;
  }
  for (const char* v : {"False", "false", "0", "no", "NO"}) {
    EXPECT_FALSE(loadOk({{"DEBUG", v}}).debug) << v;
  }
}

TEST_F(ConfigTest, DebugRejectsOtherValues) {
  for (const char* v : {"on", "off", "2", "maybe", "truee", " true"}) {
    std::string error = loadError({{"DEBUG", v}});
    EXPECT_TRUE(contains(error, "DEBUG")) << v << " -> " << error;
  }
}

TEST_F(ConfigTest, PreferredUrlScheme) {
  EXPECT_EQ(loadOk({{"PREFERRED_URL_SCHEME", "https"}}).preferred_url_scheme, "https");
  EXPECT_EQ(loadOk({{"PREFERRED_URL_SCHEME", "HTTPS"}}).preferred_url_scheme, "https");
  EXPECT_EQ(loadOk({{"PREFERRED_URL_SCHEME", "http"}}).preferred_url_scheme, "http");
  for (const char* v : {"ftp", "https://", "ws"}) {
    EXPECT_EQ(loadError({{"PREFERRED_URL_SCHEME", v}}),
              "PREFERRED_URL_SCHEME must be http or https")
        << v;
  }
}

// ---------------------------------------------------------------- numbers

struct NumberCase {
  const char* name;
  uint64_t lo;
  uint64_t hi;
};

const NumberCase kNumberCases[] = {
    {"PHIGATE_MAX_REQUEST_LINE", 64, 1u << 20},
    {"PHIGATE_MAX_HEADER_BYTES", 256, 1u << 20},
    {"PHIGATE_MAX_HEADERS", 1, 1000},
    {"MAX_CONTENT_LENGTH", 1, 1u << 30},
    {"PHIGATE_HEADER_TIMEOUT_MS", 1, 86'400'000},
    {"PHIGATE_BODY_TIMEOUT_MS", 1, 86'400'000},
    {"PHIGATE_IDLE_TIMEOUT_MS", 1, 86'400'000},
    {"PHIGATE_WRITE_TIMEOUT_MS", 1, 86'400'000},
    {"PHIGATE_DRAIN_TIMEOUT_MS", 1, 86'400'000},
    {"PHIGATE_MAX_OUTPUT_BYTES", 1, 1u << 30},
    {"PHIGATE_MAX_REQUESTS_PER_CONNECTION", 1, 1'000'000},
    {"PHIGATE_MAX_CONNECTIONS", 1, 1'000'000},
    {"PHIGATE_MAX_CONNECTIONS_PER_IP", 1, 1'000'000},
    {"PHIGATE_REPLAY_WINDOW_S", 1, 3600},
    {"PHIGATE_DAILY_QUOTA", 0, 1'000'000'000},
    {"PHIGATE_IDEMPOTENCY_TTL_S", 60, 30 * 86'400},
    {"PHIGATE_AUTH_FAILURE_LIMIT", 1, 1'000'000},
    {"PHIGATE_AUTH_FAILURE_WINDOW_S", 1, 86'400},
    {"PHIGATE_AUTO_BLOCK_S", 1, 30 * 86'400},
    {"PHIGATE_STORE_TIMEOUT_MS", 1, 60'000},
    {"PHIGATE_WORKERS", 1, 1024},
};

std::string expectedRangeError(const NumberCase& c) {
  return std::string(c.name) + " must be an integer between " + std::to_string(c.lo) + " and " +
         std::to_string(c.hi);
}

TEST_F(ConfigTest, NumbersAcceptTheirBounds) {
  for (const auto& c : kNumberCases) {
    EXPECT_TRUE(load({{c.name, std::to_string(c.lo)}}).config.has_value()) << c.name;
    EXPECT_TRUE(load({{c.name, std::to_string(c.hi)}}).config.has_value()) << c.name;
  }
}

TEST_F(ConfigTest, NumbersRejectOutOfRange) {
  for (const auto& c : kNumberCases) {
    EXPECT_EQ(loadError({{c.name, std::to_string(c.lo - 1)}}), expectedRangeError(c)) << c.name;
    EXPECT_EQ(loadError({{c.name, std::to_string(c.hi + 1)}}), expectedRangeError(c)) << c.name;
  }
}

TEST_F(ConfigTest, NumbersRejectNonDecimalForms) {
  const char* bad[] = {"-1",   "+5",  " 5",   "5 ",  "0x10", "1e3", "5ms", "1_000",
                       "1.5",  "abc", "٣",    "\t7", "99999999999999999999999999",
                       "18446744073709551616"};  // 2^64: overflows uint64
  for (const auto& c : kNumberCases) {
    for (const char* v : bad) {
      EXPECT_EQ(loadError({{c.name, v}}), expectedRangeError(c)) << c.name << "=" << v;
    }
  }
}

TEST_F(ConfigTest, NumbersAreStoredInTheirFields) {
  Config c = loadOk({{"PHIGATE_MAX_REQUEST_LINE", "4096"},
                     {"PHIGATE_MAX_HEADER_BYTES", "8192"},
                     {"PHIGATE_MAX_HEADERS", "50"},
                     {"MAX_CONTENT_LENGTH", "10485760"},
                     {"PHIGATE_HEADER_TIMEOUT_MS", "1001"},
                     {"PHIGATE_BODY_TIMEOUT_MS", "1002"},
                     {"PHIGATE_IDLE_TIMEOUT_MS", "1003"},
                     {"PHIGATE_WRITE_TIMEOUT_MS", "1004"},
                     {"PHIGATE_DRAIN_TIMEOUT_MS", "1005"},
                     {"PHIGATE_MAX_OUTPUT_BYTES", "65536"},
                     {"PHIGATE_MAX_REQUESTS_PER_CONNECTION", "77"},
                     {"PHIGATE_MAX_CONNECTIONS", "5000"},
                     {"PHIGATE_MAX_CONNECTIONS_PER_IP", "12"},
                     {"PHIGATE_WORKERS", "3"}});
  EXPECT_EQ(c.limits.max_request_line, 4096u);
  EXPECT_EQ(c.limits.max_header_bytes, 8192u);
  EXPECT_EQ(c.limits.max_headers, 50u);
  EXPECT_EQ(c.limits.max_content_length, 10485760u);
  EXPECT_EQ(c.limits.header_timeout_ms, 1001u);
  EXPECT_EQ(c.limits.body_timeout_ms, 1002u);
  EXPECT_EQ(c.limits.idle_timeout_ms, 1003u);
  EXPECT_EQ(c.limits.write_timeout_ms, 1004u);
  EXPECT_EQ(c.limits.drain_timeout_ms, 1005u);
  EXPECT_EQ(c.limits.max_output_bytes, 65536u);
  EXPECT_EQ(c.limits.max_requests_per_connection, 77u);
  EXPECT_EQ(c.limits.max_connections, 5000u);
  EXPECT_EQ(c.limits.max_connections_per_ip, 12u);
  EXPECT_EQ(c.workers, 3);
}

TEST_F(ConfigTest, LeadingZerosAreDecimal) {
  EXPECT_EQ(loadOk({{"PHIGATE_MAX_HEADERS", "0010"}}).limits.max_headers, 10u);
}

// ---------------------------------------------------------------- PHIGATE_LISTEN

TEST_F(ConfigTest, ListenIpv4) {
  Config c = loadOk({{"PHIGATE_LISTEN", "0.0.0.0:9000"}});
  EXPECT_EQ(c.listen.host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 9000);
  EXPECT_FALSE(c.listen.ipv6);
}

TEST_F(ConfigTest, ListenIpv6Loopback) {
  Config c = loadOk({{"PHIGATE_LISTEN", "[::1]:8080"}});
  EXPECT_EQ(c.listen.host, "::1");  // stored without brackets
  EXPECT_EQ(c.listen.port, 8080);
  EXPECT_TRUE(c.listen.ipv6);
}

TEST_F(ConfigTest, ListenIpv6Any) {
  Config c = loadOk({{"PHIGATE_LISTEN", "[::]:443"}});
  EXPECT_EQ(c.listen.host, "::");
  EXPECT_EQ(c.listen.port, 443);
  EXPECT_TRUE(c.listen.ipv6);
}

TEST_F(ConfigTest, ListenPortBounds) {
  EXPECT_EQ(loadOk({{"PHIGATE_LISTEN", "127.0.0.1:0"}}).listen.port, 0);  // OS-chosen
  EXPECT_EQ(loadOk({{"PHIGATE_LISTEN", "127.0.0.1:65535"}}).listen.port, 65535);
  EXPECT_EQ(loadOk({{"PHIGATE_LISTEN", "[2001:db8::1]:1"}}).listen.port, 1);
}

TEST_F(ConfigTest, ListenRefusesHostnames) {
  for (const char* v : {"localhost:8080", "example.com:80", "[localhost]:80"}) {
    std::string error = loadError({{"PHIGATE_LISTEN", v}});
    EXPECT_TRUE(contains(error, "PHIGATE_LISTEN")) << error;
    EXPECT_TRUE(contains(error, "IP literal")) << error;
    EXPECT_FALSE(contains(error, "localhost")) << error;
    EXPECT_FALSE(contains(error, "example.com")) << error;
  }
}

TEST_F(ConfigTest, ListenRefusesMalformedHosts) {
  for (const char* v : {"256.1.1.1:80", "1.2.3:80", "[zz::1]:80", "[127.0.0.1]:80", "::1:8080",
                        ":8080", "[]:80", " 127.0.0.1:80", "[fe80::1%eth0]:80"}) {
    std::string error = loadError({{"PHIGATE_LISTEN", v}});
    EXPECT_TRUE(contains(error, "PHIGATE_LISTEN")) << v << " -> " << error;
  }
}

TEST_F(ConfigTest, ListenRefusesBadPorts) {
  for (const char* v :
       {"127.0.0.1:65536", "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:http", "[::1]:99999",
        "[::1]:", "127.0.0.1:80 ", "127.0.0.1:99999999999999999999"}) {
    EXPECT_EQ(loadError({{"PHIGATE_LISTEN", v}}),
              "PHIGATE_LISTEN port must be an integer between 0 and 65535")
        << v;
  }
}

TEST_F(ConfigTest, ListenRefusesMissingPort) {
  for (const char* v : {"127.0.0.1", "[::1]", "[::1]8080", "[::1"}) {
    std::string error = loadError({{"PHIGATE_LISTEN", v}});
    EXPECT_TRUE(contains(error, "PHIGATE_LISTEN")) << v << " -> " << error;
  }
}

// ---------------------------------------------------------------- workers

TEST_F(ConfigTest, WorkersDefaultToOneWithoutSharedStore) {
  EXPECT_EQ(loadOk({}, {}, std::nullopt, 16).workers, 1);
}

TEST_F(ConfigTest, WorkersDefaultToCpuCountWithSharedStore) {
  EXPECT_EQ(loadOk({{"RATELIMIT_STORAGE_URI", "redis://localhost:6379/2"}}, {}, std::nullopt, 16)
                .workers,
            16);
}

TEST_F(ConfigTest, WorkersDefaultClampsOddCpuCounts) {
  EnvMap env{{"RATELIMIT_STORAGE_URI", "redis://localhost:6379/2"}};
  EXPECT_EQ(loadOk(env, {}, std::nullopt, 0).workers, 1);
  EXPECT_EQ(loadOk(env, {}, std::nullopt, -3).workers, 1);
  EXPECT_EQ(loadOk(env, {}, std::nullopt, 100000).workers, 1024);
}

TEST_F(ConfigTest, WorkersFromVariable) {
  EXPECT_EQ(loadOk({{"PHIGATE_WORKERS", "6"}}).workers, 6);
}

TEST_F(ConfigTest, CliWorkersWinOverVariable) {
  EXPECT_EQ(loadOk({{"PHIGATE_WORKERS", "6"}}, {}, 2).workers, 2);
  // The flag wins even over a variable that would be invalid on its own.
  EXPECT_EQ(loadOk({{"PHIGATE_WORKERS", "0"}}, {}, 1).workers, 1);
}

TEST_F(ConfigTest, CliWorkersMustBeInRange) {
  EXPECT_EQ(loadError({}, 0), "--workers must be an integer between 1 and 1024");
  EXPECT_EQ(loadError({}, -1), "--workers must be an integer between 1 and 1024");
  EXPECT_EQ(loadError({}, 1025), "--workers must be an integer between 1 and 1024");
}

TEST_F(ConfigTest, DevelopmentWarnsAboutManyWorkersWithoutStore) {
  LoadResult r = load({{"PHIGATE_WORKERS", "4"}});
  ASSERT_TRUE(r.config.has_value()) << r.error;
  EXPECT_EQ(r.config->workers, 4);
  EXPECT_TRUE(anyContains(r.warnings, "RATELIMIT_STORAGE_URI"));
}

TEST_F(ConfigTest, DevelopmentSingleWorkerDoesNotWarnAboutStore) {
  LoadResult r = load({});
  EXPECT_FALSE(anyContains(r.warnings, "RATELIMIT_STORAGE_URI"));
}

// ---------------------------------------------------------------- production

TEST_F(ConfigTest, ValidProductionLoadsQuietly) {
  LoadResult r = load(with(without(productionEnv(), "PHIGATE_ACCEPT_MESSAGE_LOSS"),
                           "RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379"),
                      {}, 1);
  ASSERT_TRUE(r.config.has_value()) << r.error;
  EXPECT_TRUE(r.config->production());
  EXPECT_TRUE(r.config->generated_secrets.empty());
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.config->secret_key, kSecret);
  EXPECT_EQ(r.config->encryption_key, kEncryption);
  EXPECT_EQ(r.config->workers, 1);
}

TEST_F(ConfigTest, GuideProductionExampleLoads) {
  EnvMap env = productionEnv();
  env["DEBUG"] = "False";
  env["SESSION_COOKIE_SECURE"] = "True";
  env["PREFERRED_URL_SCHEME"] = "https";
  env["MAX_CONTENT_LENGTH"] = "10485760";
  env["RATELIMIT_STORAGE_URI"] = "redis://localhost:6379/2";
  Config c = loadOk(env, {}, std::nullopt, 8);
  EXPECT_EQ(c.workers, 8);
  EXPECT_EQ(c.preferred_url_scheme, "https");
}

TEST_F(ConfigTest, ProductionAcceptsUpperCaseHex) {
  std::string upper = kSecret;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  EXPECT_TRUE(load(with(productionEnv(), "SECRET_KEY", upper)).config.has_value());
}

TEST_F(ConfigTest, ProductionRequiresHexSecrets) {
  for (const char* name : {"SECRET_KEY", "ENCRYPTION_KEY"}) {
    std::string expected = std::string(name) +
                           " must be 64 hex characters (32 random bytes) in production";
    std::string error = loadError(without(productionEnv(), name));
    EXPECT_TRUE(contains(error, expected)) << error;
  }
}

// Each refusal names the rule that failed, so the operator knows what to fix.
TEST_F(ConfigTest, ProductionRejectsMalformedOrWeakHexSecrets) {
  const std::pair<std::string, std::string> bad[] = {
      {kSecret.substr(0, 63), "it has 63 characters"},
      {kSecret + "0", "it has 65 characters"},
      {kSecret.substr(0, 63) + "g", "a character other than 0-9 and a-f"},
      {std::string(64, '0'), "fewer than 8 distinct characters"},
      {[] {
         std::string s;
         for (int i = 0; i < 32; ++i) s += "ab";
         return s;
       }(),
       "fewer than 8 distinct characters"},
      {[] {
         std::string s;
         while (s.size() < 64) s += "0123456";
         return s.substr(0, 64);
       }(),
       "fewer than 8 distinct characters"},
      {"dev-secret-key-not-for-production", "a development default"},
      {"dev-encryption-key", "a development default"},
  };
  for (const char* name : {"SECRET_KEY", "ENCRYPTION_KEY"}) {
    for (const auto& [v, rule] : bad) {
      std::string error = loadError(with(productionEnv(), name, v));
      EXPECT_TRUE(contains(error, std::string(name) + " must be 64 hex")) << name << ": " << error;
      EXPECT_TRUE(contains(error, rule)) << name << ": " << error;
      EXPECT_FALSE(contains(error, v)) << "the value is never echoed";
    }
  }
}

// A 202 must survive a restart: production refuses the in-process store
// unless the operator accepts losing queued messages, in so many words.
TEST_F(ConfigTest, ProductionNeedsADurableStore) {
  EnvMap env = without(productionEnv(), "PHIGATE_ACCEPT_MESSAGE_LOSS");
  const std::string error = loadError(env);
  EXPECT_TRUE(contains(error, "RATELIMIT_STORAGE_URI is required in production")) << error;
  EXPECT_TRUE(contains(error, "PHIGATE_ACCEPT_MESSAGE_LOSS")) << error;
  EXPECT_EQ(loadError(with(env, "PHIGATE_ACCEPT_MESSAGE_LOSS", "false")), error);
  EXPECT_TRUE(contains(loadError(with(env, "PHIGATE_ACCEPT_MESSAGE_LOSS", "maybe")),
                       "PHIGATE_ACCEPT_MESSAGE_LOSS must be one of"));
  const LoadResult opted_in = load(with(env, "PHIGATE_ACCEPT_MESSAGE_LOSS", "true"));
  ASSERT_TRUE(opted_in.config.has_value()) << opted_in.error;
  EXPECT_TRUE(std::any_of(opted_in.warnings.begin(), opted_in.warnings.end(),
                          [](const std::string& w) { return contains(w, "lost on every restart"); }));
  EXPECT_TRUE(load(with(env, "RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379")).config.has_value());
  // Development needs no such word.
  EXPECT_TRUE(load({{"APP_ENV", "development"}}).config.has_value());
}

TEST_F(ConfigTest, ProductionAcceptsEightDistinctCharacters) {
  std::string s;
  while (s.size() < 64) s += "01234567";
  EXPECT_TRUE(load(with(productionEnv(), "SECRET_KEY", s)).config.has_value());
}

TEST_F(ConfigTest, ProductionRejectsSameKeyForTwoJobs) {
  std::string error = loadError(with(productionEnv(), "ENCRYPTION_KEY", kSecret));
  EXPECT_TRUE(contains(error, "ENCRYPTION_KEY")) << error;
  EXPECT_TRUE(contains(error, "SECRET_KEY")) << error;
}

TEST_F(ConfigTest, ProductionRejectsShortApiKeys) {
  for (const char* name : {"SMS_API_KEY", "ADMIN_API_KEY"}) {
    std::string error = loadError(with(productionEnv(), name, std::string(kSmsKey, 0, 31)));
    EXPECT_EQ(error, std::string(name) + " must be at least 32 characters in production");
  }
}

TEST_F(ConfigTest, ProductionAcceptsApiKeyOfExactly32Characters) {
  EXPECT_TRUE(load(with(productionEnv(), "SMS_API_KEY", kSmsKey.substr(0, 32))).config.has_value());
}

TEST_F(ConfigTest, ProductionRejectsDevelopmentDefaultApiKeys) {
  for (const char* name : {"SMS_API_KEY", "ADMIN_API_KEY"}) {
    for (const char* v : {"dev-api-key", "dev-admin-key", "dev-secret-key-not-for-production",
                          "dev-encryption-key", "changeme", "CHANGEME"}) {
      std::string error = loadError(with(productionEnv(), name, v));
      EXPECT_TRUE(contains(error, name)) << error;
      EXPECT_TRUE(contains(error, "development default")) << name << "=" << v << ": " << error;
    }
  }
}

TEST_F(ConfigTest, ProductionRejectsWeakOrUnsafeApiKeys) {
  for (const char* name : {"SMS_API_KEY", "ADMIN_API_KEY"}) {
    std::string weak = loadError(with(productionEnv(), name, std::string(40, 'a')));
    EXPECT_TRUE(contains(weak, name)) << weak;
    std::string spaced = loadError(with(productionEnv(), name, kSmsKey + " x"));
    EXPECT_TRUE(contains(spaced, name)) << spaced;
    std::string control = loadError(with(productionEnv(), name, kSmsKey + "\r"));
    EXPECT_TRUE(contains(control, name)) << control;
  }
}

TEST_F(ConfigTest, ProductionRequiresApiKeysWithoutKeysFile) {
  for (const char* name : {"SMS_API_KEY", "ADMIN_API_KEY"}) {
    EXPECT_EQ(loadError(without(productionEnv(), name)),
              std::string(name) + " is required in production unless API_KEYS_FILE is set");
  }
}

TEST_F(ConfigTest, ProductionKeysFileReplacesApiKeyVariables) {
  EnvMap env = without(without(productionEnv(), "SMS_API_KEY"), "ADMIN_API_KEY");
  env["API_KEYS_FILE"] = "/etc/phigate/keys.json";
  Config c = loadOk(env);
  EXPECT_TRUE(c.sms_api_key.empty());
  EXPECT_TRUE(c.admin_api_key.empty());
}

TEST_F(ConfigTest, ProductionKeysFileDoesNotExcuseWeakApiKey) {
  EnvMap env = with(productionEnv(), "API_KEYS_FILE", "/etc/phigate/keys.json");
  EXPECT_TRUE(contains(loadError(with(env, "SMS_API_KEY", "dev-api-key")), "SMS_API_KEY"));
}

TEST_F(ConfigTest, ProductionRefusesDebug) {
  for (const char* v : {"True", "1", "yes"}) {
    EXPECT_EQ(loadError(with(productionEnv(), "DEBUG", v)), "DEBUG must be false in production");
  }
}

TEST_F(ConfigTest, ProductionRefusesManyWorkersWithoutStore) {
  std::string from_variable = loadError(with(productionEnv(), "PHIGATE_WORKERS", "4"));
  EXPECT_TRUE(contains(from_variable, "RATELIMIT_STORAGE_URI")) << from_variable;
  std::string from_flag = loadError(productionEnv(), 2);
  EXPECT_TRUE(contains(from_flag, "RATELIMIT_STORAGE_URI")) << from_flag;
}

TEST_F(ConfigTest, ProductionManyWorkersWithStoreIsFine) {
  EnvMap env = with(productionEnv(), "RATELIMIT_STORAGE_URI", "redis://localhost:6379/2");
  EXPECT_EQ(loadOk(env, {}, 4).workers, 4);
}

TEST_F(ConfigTest, ProductionNeverGeneratesSecrets) {
  LoadResult r = load({{"APP_ENV", "production"}});
  EXPECT_FALSE(r.config.has_value());
  EXPECT_FALSE(anyContains(r.warnings, "generated"));
}

TEST_F(ConfigTest, GuideDevelopmentExampleFailsInProduction) {
  EnvMap env{{"APP_ENV", "production"},
             {"DEBUG", "False"},
             {"SECRET_KEY", "dev-secret-key-not-for-production"},
             {"SMS_API_KEY", "dev-api-key"},
             {"ADMIN_API_KEY", "dev-admin-key"},
             {"ENCRYPTION_KEY", "dev-encryption-key"}};
  EXPECT_TRUE(contains(loadError(env), "SECRET_KEY"));
}

// ---------------------------------------------------------------- development secrets

TEST_F(ConfigTest, DevelopmentGeneratesMissingSecrets) {
  LoadResult r = load({});
  ASSERT_TRUE(r.config.has_value()) << r.error;
  const Config& c = *r.config;
  EXPECT_EQ(c.generated_secrets, (std::vector<std::string>{"SECRET_KEY", "ENCRYPTION_KEY"}));
  EXPECT_EQ(c.secret_key.size(), 64u);
  EXPECT_EQ(c.encryption_key.size(), 64u);
  EXPECT_TRUE(isLowerHex(c.secret_key));
  EXPECT_TRUE(isLowerHex(c.encryption_key));
  EXPECT_NE(c.secret_key, c.encryption_key);
  EXPECT_TRUE(anyContains(
      r.warnings,
      "WARNING: SECRET_KEY not set; generated an ephemeral development value. Never run "
      "production like this."));
  EXPECT_TRUE(anyContains(r.warnings, "WARNING: ENCRYPTION_KEY not set; generated"));
  EXPECT_FALSE(anyContains(r.warnings, c.secret_key));
  EXPECT_FALSE(anyContains(r.warnings, c.encryption_key));
}

TEST_F(ConfigTest, DevelopmentGeneratesFreshSecretsEachTime) {
  Config a = loadOk({});
  Config b = loadOk({});
  EXPECT_NE(a.secret_key, b.secret_key);
  EXPECT_NE(a.encryption_key, b.encryption_key);
}

TEST_F(ConfigTest, DevelopmentGeneratesOnlyWhatIsMissing) {
  Config c = loadOk({{"SECRET_KEY", kSecret}});
  EXPECT_EQ(c.secret_key, kSecret);
  EXPECT_EQ(c.generated_secrets, (std::vector<std::string>{"ENCRYPTION_KEY"}));
}

TEST_F(ConfigTest, DevelopmentAcceptsGuideExampleWithWarnings) {
  EnvMap env{{"APP_ENV", "development"},
             {"DEBUG", "True"},
             {"SECRET_KEY", "dev-secret-key-not-for-production"},
             {"SMS_API_KEY", "dev-api-key"},
             {"ADMIN_API_KEY", "dev-admin-key"},
             {"ENCRYPTION_KEY", "dev-encryption-key"},
             {"SESSION_COOKIE_SECURE", "False"}};
  LoadResult r = load({}, env);  // as a .env file
  ASSERT_TRUE(r.config.has_value()) << r.error;
  EXPECT_TRUE(r.config->debug);
  EXPECT_EQ(r.config->secret_key, "dev-secret-key-not-for-production");
  EXPECT_EQ(r.config->encryption_key, "dev-encryption-key");
  EXPECT_TRUE(r.config->generated_secrets.empty());
  EXPECT_TRUE(anyContains(r.warnings, "SECRET_KEY"));
  EXPECT_TRUE(anyContains(r.warnings, "ENCRYPTION_KEY"));
  EXPECT_FALSE(anyContains(r.warnings, "dev-secret-key-not-for-production"));
  EXPECT_FALSE(anyContains(r.warnings, "dev-encryption-key"));
}

TEST_F(ConfigTest, DevelopmentWithStrongSecretsHasNoSecretWarnings) {
  LoadResult r = load({{"SECRET_KEY", kSecret},
                       {"ENCRYPTION_KEY", kEncryption},
                       {"SMS_API_KEY", kSmsKey}});
  ASSERT_TRUE(r.config.has_value()) << r.error;
  EXPECT_TRUE(r.warnings.empty());
}

TEST_F(ConfigTest, DevelopmentWarnsWhenNoApiKeysAtAll) {
  LoadResult r = load({{"SECRET_KEY", kSecret}, {"ENCRYPTION_KEY", kEncryption}});
  EXPECT_TRUE(anyContains(r.warnings, "API_KEYS_FILE"));
}

// ---------------------------------------------------------------- no values in messages

const std::string kMarker = "MARKERsecretXYZ";

// Bad values that each contain the marker, in every way a value can be bad.
std::vector<std::string> markedBadValues() {
  return {
      kMarker,                                          // short, not hex, not a number
      kMarker + std::string(64 - kMarker.size(), 'f'),  // 64 chars, not hex
      kMarker + " with a space and more text to be long enough",
      kMarker + "\r\n\x1b[0m",
      "127.0.0.1:" + kMarker,
      "[" + kMarker + "]:80",
      kMarker + ":8080",
  };
}

TEST_F(ConfigTest, ErrorsNeverContainValuesInProduction) {
  for (const Variable& v : variables()) {
    std::string name(v.name);
    for (const auto& value : markedBadValues()) {
      LoadResult r = load(with(productionEnv(), name, value));
      for (const auto& w : r.warnings) EXPECT_FALSE(contains(w, kMarker)) << name << ": " << w;
      if (r.config) continue;  // this variable takes free text
      EXPECT_FALSE(contains(r.error, kMarker)) << name << ": " << r.error;
      EXPECT_TRUE(contains(r.error, name)) << name << ": " << r.error;
    }
  }
}

TEST_F(ConfigTest, ErrorsAndWarningsNeverContainValuesInDevelopment) {
  for (const Variable& v : variables()) {
    std::string name(v.name);
    for (const auto& value : markedBadValues()) {
      LoadResult r = load({{name, value}});
      for (const auto& w : r.warnings) EXPECT_FALSE(contains(w, kMarker)) << name << ": " << w;
      if (r.config) continue;
      EXPECT_FALSE(contains(r.error, kMarker)) << name << ": " << r.error;
      EXPECT_TRUE(contains(r.error, name)) << name << ": " << r.error;
    }
  }
}

void expectFailsByNameNotValue(const EnvMap& env, const std::string& name) {
  LoadResult r = loadConfig(env, {}, std::nullopt, 4);
  EXPECT_FALSE(r.config.has_value()) << name;
  EXPECT_FALSE(contains(r.error, kMarker)) << name << ": " << r.error;
  EXPECT_TRUE(contains(r.error, name)) << name << ": " << r.error;
}

TEST_F(ConfigTest, EverySecretFailsByNameNotValue) {
  const std::string short_value = kMarker;
  const std::string spaced = kMarker + " with a space and more text to be long enough";
  const std::string control = kMarker + "-long-enough-to-pass-length\r\n\x1b[0m";
  const std::string not_hex = kMarker + std::string(64 - kMarker.size(), 'f');
  const std::string dev_default_like = "dev-api-key" + kMarker;  // short
  for (const std::string name : {"SECRET_KEY", "ENCRYPTION_KEY"}) {
    for (const auto& v : {short_value, spaced, control, not_hex, dev_default_like}) {
      expectFailsByNameNotValue(with(productionEnv(), name, v), name);
    }
  }
  for (const std::string name : {"SMS_API_KEY", "ADMIN_API_KEY"}) {
    for (const auto& v : {short_value, spaced, control, dev_default_like}) {
      expectFailsByNameNotValue(with(productionEnv(), name, v), name);
    }
  }
}

TEST_F(ConfigTest, ValidSecretsAreNeverInWarnings) {
  EnvMap env = productionEnv();
  env["APP_ENV"] = "development";
  env["PHIGATE_WORKERS"] = "3";
  LoadResult r = load(env);
  ASSERT_TRUE(r.config.has_value()) << r.error;
  for (const auto& w : r.warnings) {
    for (const auto& secret : {kSecret, kEncryption, kSmsKey, kAdminKey}) {
      EXPECT_FALSE(contains(w, secret)) << w;
    }
  }
}

// ---------------------------------------------------------------- process environment

TEST(ProcessEnvironmentTest, ReadsVariables) {
  ASSERT_EQ(setenv("PHIGATE_CONFIG_TEST_VAR", "a=b=c", 1), 0);
  ASSERT_EQ(setenv("PHIGATE_CONFIG_TEST_EMPTY", "", 1), 0);
  EnvMap env = processEnvironment();
  unsetenv("PHIGATE_CONFIG_TEST_VAR");
  unsetenv("PHIGATE_CONFIG_TEST_EMPTY");
  EXPECT_EQ(env["PHIGATE_CONFIG_TEST_VAR"], "a=b=c");  // split at the first '=' only
  ASSERT_TRUE(env.count("PHIGATE_CONFIG_TEST_EMPTY"));
  EXPECT_EQ(env["PHIGATE_CONFIG_TEST_EMPTY"], "");
  EXPECT_EQ(processEnvironment().count("PHIGATE_CONFIG_TEST_VAR"), 0u);
}

}  // namespace
}  // namespace phigate::config

namespace phigate::config {
namespace {

TEST(RateLimitsVariable, OverridesNamedClassesOnly) {
  EnvMap env{{"PHIGATE_RATE_LIMITS", "sms=1000/60, health=2/10"}};
  LoadResult r = loadConfig(env, {}, std::nullopt, 1);
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->state.sms.limit, 1000u);
  EXPECT_EQ(r.config->state.health.limit, 2u);
  EXPECT_EQ(r.config->state.health.window_s, 10u);
  EXPECT_EQ(r.config->state.bulk.limit, 10u);
}

TEST(RateLimitsVariable, RejectsMalformedRulesNamingTheVariable) {
  for (const char* bad : {"sms=", "sms=10", "foo=1/60", "sms=0/60", "sms=1/0", "sms=x/60", "sms/60=1"}) {
    EnvMap env{{"PHIGATE_RATE_LIMITS", bad}};
    LoadResult r = loadConfig(env, {}, std::nullopt, 1);
    EXPECT_FALSE(r.config) << bad;
    EXPECT_NE(r.error.find("PHIGATE_RATE_LIMITS"), std::string::npos);
  }
}

// The pass-through's worst-case buffers, EHOSPITAL_CONCURRENCY x (2 x request
// cap + 2 x response cap), must stay within 1 GiB per worker; the error
// names the variables and no value.
TEST_F(ConfigTest, EhospitalBuffersAreBoundedAtStartUp) {
  const EnvMap env{{"EHOSPITAL_BASE_URL", "https://ehospital.hospital.test"},
                   {"EHOSPITAL_ALLOWED_PATHS", "GET /api/patients/*"},
                   {"EHOSPITAL_TOKEN", "static-token-for-tests"}};
  const Config defaults = loadOk(env);  // 32 x 6 MiB = 192 MiB
  EXPECT_EQ(defaults.ehospital.concurrency, 32u);
  // 170 x 6 MiB = 1020 MiB fits, 171 x 6 MiB = 1026 MiB does not.
  EXPECT_EQ(loadOk(with(env, "EHOSPITAL_CONCURRENCY", "170")).ehospital.concurrency, 170u);
  for (const EnvMap& big :
       {with(env, "EHOSPITAL_CONCURRENCY", "171"),
        with(with(env, "EHOSPITAL_CONCURRENCY", "9"), "EHOSPITAL_MAX_RESPONSE_BYTES", "67108864"),
        with(with(env, "EHOSPITAL_CONCURRENCY", "8"), "EHOSPITAL_MAX_REQUEST_BYTES", "67108864")}) {
    const std::string error = loadError(big);
    for (const char* name : {"EHOSPITAL_CONCURRENCY", "EHOSPITAL_MAX_REQUEST_BYTES",
                             "EHOSPITAL_MAX_RESPONSE_BYTES", "1 GiB"}) {
      EXPECT_TRUE(contains(error, name)) << name << ": " << error;
    }
    for (const char* value : {"171", "67108864", "1026", "1075"}) {
      EXPECT_FALSE(contains(error, value)) << "a value in: " << error;
    }
  }
  // 8 x (2 x 1 MiB + 2 x 64 MiB) does not fit; 7 x (2 x 1 KiB + 2 x 64 MiB) does.
  EXPECT_FALSE(load(with(with(env, "EHOSPITAL_CONCURRENCY", "8"), "EHOSPITAL_MAX_RESPONSE_BYTES", "67108864"))
                   .config.has_value());
  EXPECT_TRUE(load(with(with(with(env, "EHOSPITAL_CONCURRENCY", "7"), "EHOSPITAL_MAX_RESPONSE_BYTES",
                             "67108864"),
                        "EHOSPITAL_MAX_REQUEST_BYTES", "1024"))
                  .config.has_value());
}

// `;` is not a path-segment character in EHOSPITAL_ALLOWED_PATHS (a Java
// upstream reads `..;` as `..`): an item with one stops the start.
TEST_F(ConfigTest, EhospitalAllowListRefusesSemicolons) {
  const EnvMap env{{"EHOSPITAL_BASE_URL", "https://ehospital.hospital.test"},
                   {"EHOSPITAL_ALLOWED_PATHS", "GET /api/patients/*,GET /api/patients;v=2/*"},
                   {"EHOSPITAL_TOKEN", "static-token-for-tests"}};
  const std::string error = loadError(env);
  EXPECT_TRUE(contains(error, "EHOSPITAL_ALLOWED_PATHS item 2")) << error;
  EXPECT_FALSE(contains(error, "v=2")) << error;
}

}  // namespace
}  // namespace phigate::config
