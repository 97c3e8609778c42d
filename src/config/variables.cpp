// The variable table and the functions its rows point to. A row names its
// Config field by a member-pointer path, so a misspelt field does not
// compile, and its factory (integer(), boolean(), ...) checks the row while
// the constexpr table is initialised: a range that does not fit the field, a
// default outside the range or a secret with a default value stops the build
// instead of reaching a deployment.
#include "config/variables.h"

#include <arpa/inet.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <utility>

#include "config/text.h"
#include "pipeline/phone.h"

namespace phigate::config {

namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uint64_t kDayS = 86'400;
constexpr uint64_t kMaxTimeoutMs = 1000 * kDayS;  // one day
constexpr uint64_t kMaxCount = 1'000'000;         // connections, requests per connection
constexpr uint64_t kMaxWorkers = 1024;
constexpr uint64_t kMaxPort = 65535;
constexpr size_t kNoMatch = std::numeric_limits<size_t>::max();

bool fail(std::string* error, std::string message) {
  *error = std::move(message);
  return false;
}

// ---------------------------------------------------------------- fields

// The field a member-pointer path names: fieldAt<&Config::limits,
// &ServerLimits::max_headers>(c) is c.limits.max_headers.
template <auto... kPath>
constexpr auto& fieldAt(Config& config) {
  return (config .* ... .* kPath);
}

template <auto... kPath>
using FieldType = std::remove_cvref_t<decltype(fieldAt<kPath...>(std::declval<Config&>()))>;

// ---------------------------------------------------------------- generic kinds

template <auto... kPath>
bool setString(const Variable&, std::string_view value, Config& config, std::string*) {
  fieldAt<kPath...>(config) = std::string(value);
  return true;
}

template <auto... kPath>
bool setInteger(const Variable& row, std::string_view value, Config& config, std::string* error) {
  uint64_t n = 0;
  if (!parseDecimal(value, &n) || n < row.lo || n > row.hi) {
    return fail(error, rangeError(row.name, row.lo, row.hi));
  }
  // integer() checked that `hi` fits the field, so the cast cannot wrap.
  fieldAt<kPath...>(config) = static_cast<FieldType<kPath...>>(n);
  return true;
}

// The index of `value` among the row's spellings (any case), or kNoMatch.
size_t findSpelling(const Variable& row, std::string_view value) {
  for (size_t i = 0; i < row.values.size(); ++i) {
    if (equalsIgnoreCase(value, row.values[i])) return i;
  }
  return kNoMatch;
}

// Pairs of a true spelling and a false one, so an even index means true.
constexpr std::string_view kBoolSpellings[] = {"true", "false", "1", "0", "yes", "no"};

template <auto... kPath>
bool setBool(const Variable& row, std::string_view value, Config& config, std::string* error) {
  const size_t i = findSpelling(row, value);
  if (i == kNoMatch) {
    return fail(error, std::string(row.name) + " must be one of " + join(row.values, ", ", ", "));
  }
  fieldAt<kPath...>(config) = i % 2 == 0;
  return true;
}

std::string enumError(const Variable& row) {
  return std::string(row.name) + " must be " + join(row.values, ", ", " or ");
}

// Stores the table's spelling, so "HTTPS" is kept as "https".
template <auto... kPath>
bool setSpelling(const Variable& row, std::string_view value, Config& config, std::string* error) {
  const size_t i = findSpelling(row, value);
  if (i == kNoMatch) return fail(error, enumError(row));
  fieldAt<kPath...>(config) = std::string(row.values[i]);
  return true;
}

constexpr std::string_view kAppEnvNames[] = {"development", "production"};
constexpr AppEnv kAppEnvs[] = {AppEnv::kDevelopment, AppEnv::kProduction};
static_assert(std::size(kAppEnvNames) == std::size(kAppEnvs));

bool applyAppEnv(const Variable& row, std::string_view value, Config& config, std::string* error) {
  const size_t i = findSpelling(row, value);
  if (i == kNoMatch) return fail(error, enumError(row));
  config.app_env = kAppEnvs[i];
  return true;
}

constexpr std::string_view kSchemes[] = {"http", "https"};
constexpr std::string_view kTokenRequests[] = {"form", "json"};

constexpr std::string_view kSmsProviderNames[] = {"mock", "cdac", "http"};
constexpr SmsProviderKind kSmsProviders[] = {SmsProviderKind::kMock, SmsProviderKind::kCdac,
                                             SmsProviderKind::kHttp};
static_assert(std::size(kSmsProviderNames) == std::size(kSmsProviders));

bool applySmsProvider(const Variable& row, std::string_view value, Config& config, std::string* error) {
  const size_t i = findSpelling(row, value);
  if (i == kNoMatch) return fail(error, enumError(row));
  config.delivery.provider = kSmsProviders[i];
  return true;
}

// ---------------------------------------------------------------- PHIGATE_LISTEN

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
  const bool ipv6 = !text.empty() && text.front() == '[';
  if (ipv6) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(why, std::string("PHIGATE_LISTEN must be host:port") + std::string(kExamples));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail(why, std::string("PHIGATE_LISTEN must be host:port") + std::string(kExamples));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  std::string host_copy(host);
  if (!isIpLiteral(host_copy, ipv6 ? AF_INET6 : AF_INET)) {
    return fail(why,
                std::string("PHIGATE_LISTEN host must be an IP literal (hostnames are not resolved "
                            "at start-up; IPv6 goes in brackets)") +
                    std::string(kExamples));
  }
  if (!parsePort(port, &out->port)) {
    return fail(why, "PHIGATE_LISTEN port must be an integer between 0 and 65535");
  }
  out->host = std::move(host_copy);
  out->ipv6 = ipv6;
  return true;
}

bool applyListen(const Variable&, std::string_view value, Config& config, std::string* error) {
  return parseListen(value, &config.listen, error);
}

// ---------------------------------------------------------------- PHIGATE_RATE_LIMITS

// A rate window remembers each admission it counts (an exact sliding window):
// about 50 bytes per entry in Redis, per key and route class.
constexpr uint64_t kMaxRateLimit = 1'000'000;
constexpr uint64_t kMaxRateWindowS = kDayS;
constexpr const char* kRateLimitsError =
    "PHIGATE_RATE_LIMITS must be a comma-separated list of class=limit/seconds (limit up to "
    "1000000, seconds up to 86400) with classes sms, bulk, email, messages, health, admin, "
    "ehospital";

std::string_view trimSpaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// One "class=limit/seconds" item into its rule of `policy`.
bool applyRateRule(std::string_view item, StatePolicy* policy) {
  const size_t eq = item.find('=');
  const size_t slash = item.find('/');
  if (eq == std::string_view::npos || slash == std::string_view::npos || slash < eq) return false;
  auto* rule = const_cast<RateRule*>(policy->rule(item.substr(0, eq)));
  uint64_t limit = 0;
  uint64_t window = 0;
  if (rule == nullptr || !parseDecimal(item.substr(eq + 1, slash - eq - 1), &limit) ||
      !parseDecimal(item.substr(slash + 1), &window) || limit < 1 || limit > kMaxRateLimit ||
      window < 1 || window > kMaxRateWindowS) {
    return false;
  }
  *rule = RateRule{static_cast<uint32_t>(limit), static_cast<uint32_t>(window)};
  return true;
}

// "sms=200/60,health=5/60": overrides the named classes only.
bool applyRateLimits(const Variable&, std::string_view value, Config& config, std::string* error) {
  std::string_view rest = value;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = trimSpaces(rest.substr(0, comma));
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    if (!applyRateRule(item, &config.state)) return fail(error, kRateLimitsError);
  }
  return true;
}

// ---------------------------------------------------------------- PHIGATE_DEFAULT_REGION

// Only regions with a row in the phone table: a typo must not fall back to
// another country's reading of every national number.
bool applyDefaultRegion(const Variable&, std::string_view value, Config& config,
                        std::string* error) {
  const pipeline::PhoneRegion* region = pipeline::findPhoneRegion(value);
  if (region == nullptr) {
    std::string accepted;
    for (const pipeline::PhoneRegion& r : pipeline::phoneRegions()) {
      accepted += (accepted.empty() ? "" : ", ") + std::string(r.name);
    }
    return fail(error, "PHIGATE_DEFAULT_REGION must be one of: " + accepted);
  }
  config.default_region = std::string(region->name);
  return true;
}

// ---------------------------------------------------------------- row factories

// The factories run while kVariables, a constexpr array, is initialised: a
// row that breaks a rule reaches this throw, which is not a constant
// expression, so the build fails and the compiler points at the row. (Not
// consteval: clang 14, which `make fuzz` uses, crashes on consteval calls
// inside these templates.)
constexpr void require(bool rule_holds) {
  if (!rule_holds) throw "invalid row in the configuration table";
}

constexpr Variable documented(std::string_view name, VariableKind kind, VariableDoc doc) {
  require(!name.empty() && !doc.help.empty());
  return Variable{.name = name, .kind = kind, .doc = doc};
}

template <auto... kPath>
constexpr Variable text(std::string_view name, VariableDoc doc) {
  Variable v = documented(name, VariableKind::kString, doc);
  v.apply = &setString<kPath...>;
  return v;
}

template <auto... kPath>
constexpr Variable list(std::string_view name, VariableDoc doc) {
  Variable v = documented(name, VariableKind::kList, doc);
  v.apply = &setString<kPath...>;
  return v;
}

// A secret never has a literal default: the documentation could only show a
// value that every deployment would then share.
template <auto... kPath>
constexpr Variable secret(std::string_view name, VariableDoc doc) {
  require(doc.value.empty());
  Variable v = documented(name, VariableKind::kSecret, doc);
  v.apply = &setString<kPath...>;
  return v;
}

template <auto... kPath>
constexpr Variable integer(std::string_view name, uint64_t lo, uint64_t hi, VariableDoc doc) {
  using Field = FieldType<kPath...>;
  require(lo <= hi && hi <= static_cast<uint64_t>(std::numeric_limits<Field>::max()));
  uint64_t default_value = 0;
  require(doc.value.empty() ? !doc.note.empty()
                            : parseDecimal(doc.value, &default_value) && default_value >= lo &&
                                  default_value <= hi);
  Variable v = documented(name, VariableKind::kInteger, doc);
  v.lo = lo;
  v.hi = hi;
  v.apply = &setInteger<kPath...>;
  return v;
}

constexpr bool isSpelling(std::span<const std::string_view> values, std::string_view s) {
  return std::find(values.begin(), values.end(), s) != values.end();
}

template <auto... kPath>
constexpr Variable boolean(std::string_view name, VariableDoc doc) {
  require(isSpelling(kBoolSpellings, doc.value));
  Variable v = documented(name, VariableKind::kBool, doc);
  v.values = kBoolSpellings;
  v.apply = &setBool<kPath...>;
  return v;
}

constexpr Variable enumeration(std::string_view name, std::span<const std::string_view> values,
                               ApplyVariable apply, VariableDoc doc) {
  require(isSpelling(values, doc.value));
  Variable v = documented(name, VariableKind::kEnum, doc);
  v.values = values;
  v.apply = apply;
  return v;
}

constexpr Variable special(std::string_view name, ApplyVariable apply, VariableDoc doc) {
  require(!doc.syntax.empty() && (!doc.value.empty() || !doc.note.empty()));
  Variable v = documented(name, VariableKind::kSpecial, doc);
  v.apply = apply;
  return v;
}

// Read by main before the configuration is loaded (it names the dotenv file).
constexpr Variable readByMain(std::string_view name, VariableDoc doc) {
  return documented(name, VariableKind::kString, doc);
}

constexpr Variable ignored(std::string_view name) {
  return documented(name, VariableKind::kIgnored,
                    {.help = "accepted for compatibility with the Flask guide; phigate sets no "
                             "cookies"});
}

constexpr Variable appliedByRule(Variable v) {
  v.by_rule = true;
  return v;
}

// ---------------------------------------------------------------- the table

using Limits = ServerLimits;
using Policy = StatePolicy;
using Delivery = DeliveryPolicy;
using Ehospital = EhospitalPolicy;

// The order is the README's: the Flask guide's names first, then phigate's.
// Each help text is one line and may not contain '|' (it is a table cell).
constexpr Variable kVariables[] = {
    enumeration("APP_ENV", kAppEnvNames, &applyAppEnv,
                {.value = "development",
                 .help = "`production` turns on fail-fast validation and HSTS"}),
    boolean<&Config::debug>("DEBUG", {.value = "false", .help = "must be false in production"}),
    secret<&Config::secret_key>(
        "SECRET_KEY",
        {.note = "generated in development; required in production",
         .syntax = "64 hex characters (32 random bytes)",
         .help = "keys the pseudonyms in Redis key names, so every process sharing a Redis "
                 "needs the same one"}),
    secret<&Config::encryption_key>(
        "ENCRYPTION_KEY",
        {.note = "generated in development; required in production",
         .syntax = "64 hex characters",
         .help = "seals accepted messages and stored idempotency answers; must differ from "
                 "`SECRET_KEY`"}),
    secret<&Config::encryption_keys_old>(
        "ENCRYPTION_KEYS_OLD",
        {.syntax = "comma-separated 64-hex keys",
         .help = "retired encryption keys that still decrypt (keep a rotated-out key here)"}),
    secret<&Config::sms_api_key>(
        "SMS_API_KEY",
        {.note = "none; required in production without `API_KEYS_FILE`",
         .syntax = "token",
         .help = "token for a key with role `sms`; ≥ 32 chars, not a development default"}),
    secret<&Config::admin_api_key>(
        "ADMIN_API_KEY",
        {.note = "none; required in production without `API_KEYS_FILE`",
         .syntax = "token",
         .help = "token for a key with role `admin`; same rules as `SMS_API_KEY`"}),
    text<&Config::api_keys_file>(
        "API_KEYS_FILE",
        {.syntax = "path",
         .help = "JSON keys file (format: README.md, Keys file); with it, the two env keys become "
                 "optional in production"}),
    integer<&Config::limits, &Limits::max_content_length>(
        "MAX_CONTENT_LENGTH", 1, kGiB,
        {.value = "10485760",
         .help = "ceiling for any request body (routes have smaller limits) → 413"}),
    // A URI may carry a Redis password.
    secret<&Config::ratelimit_storage_uri>(
        "RATELIMIT_STORAGE_URI",
        {.note = "none (the in-process store)",
         .syntax = "`redis://[[user]:password@]host[:port][/db]` or "
                   "`unix:///path/redis.sock[?db=N&password=...]`",
         .help = "the state store; a host name is resolved once at start-up; required in "
                 "production (unless `PHIGATE_ACCEPT_MESSAGE_LOSS=true` with one worker)"}),
    enumeration("PREFERRED_URL_SCHEME", kSchemes, &setSpelling<&Config::preferred_url_scheme>,
                {.value = "http",
                 .help = "the scheme of URLs phigate builds (none yet; kept from the Flask "
                         "guide)"}),
    text<&Config::log_file>(
        "LOG_FILE",
        {.note = "stdout", .syntax = "path", .help = "access log destination (opened `O_APPEND`)"}),
    list<&Config::trusted_proxies>(
        "TRUSTED_PROXIES",
        {.syntax = "CIDR list (v4 and v6)",
         .help = "proxies whose `X-Forwarded-For` is believed"}),
    list<&Config::ip_allowlist>(
        "IP_ALLOWLIST",
        {.note = "none (everyone)",
         .syntax = "CIDR list (v4 and v6)",
         .help = "only client addresses inside it are served; checked before authentication → "
                 "403"}),
    list<&Config::ip_denylist>(
        "IP_DENYLIST",
        {.syntax = "CIDR list (v4 and v6)",
         .help = "client addresses inside it are refused; checked before authentication → 403"}),
    ignored("SESSION_COOKIE_SECURE"),
    ignored("SESSION_COOKIE_HTTPONLY"),
    ignored("SESSION_COOKIE_SAMESITE"),
    ignored("PERMANENT_SESSION_LIFETIME"),
    special("PHIGATE_LISTEN", &applyListen,
            {.value = "127.0.0.1:8080",
             .syntax = "IPv4 `a.b.c.d:port` or `[v6]:port`",
             .help = "the listen address: an IP literal (no DNS at start-up); port 0 lets the "
                     "system choose"}),
    // --workers wins, even over an invalid value: the loader's workers rule.
    appliedByRule(integer<&Config::workers>(
        "PHIGATE_WORKERS", 1, kMaxWorkers,
        {.note = "1 without `RATELIMIT_STORAGE_URI`, else one per core",
         .help = "worker processes (`--workers` wins)"})),
    readByMain("PHIGATE_ENV_FILE",
               {.value = "./.env",
                .syntax = "path",
                .help = "dotenv file to read (from the environment only; `--env-file` wins)"}),
    integer<&Config::limits, &Limits::max_request_line>(
        "PHIGATE_MAX_REQUEST_LINE", 64, kMiB, {.value = "8192", .help = "bytes → 414"}),
    integer<&Config::limits, &Limits::max_header_bytes>(
        "PHIGATE_MAX_HEADER_BYTES", 256, kMiB,
        {.value = "16384",
         .help = "header block bytes (after the request line, without CRLFs) → 431"}),
    integer<&Config::limits, &Limits::max_headers>("PHIGATE_MAX_HEADERS", 1, 1000,
                                              {.value = "100", .help = "header fields → 431"}),
    integer<&Config::limits, &Limits::header_timeout_ms>(
        "PHIGATE_HEADER_TIMEOUT_MS", 1, kMaxTimeoutMs,
        {.value = "10000",
         .help = "the head must complete in this time (also a new connection's first byte) → "
                 "408"}),
    integer<&Config::limits, &Limits::body_timeout_ms>(
        "PHIGATE_BODY_TIMEOUT_MS", 1, kMaxTimeoutMs,
        {.value = "30000", .help = "the whole body must arrive in this time → 408"}),
    integer<&Config::limits, &Limits::idle_timeout_ms>(
        "PHIGATE_IDLE_TIMEOUT_MS", 1, kMaxTimeoutMs,
        {.value = "60000", .help = "idle keep-alive connections are closed"}),
    integer<&Config::limits, &Limits::write_timeout_ms>(
        "PHIGATE_WRITE_TIMEOUT_MS", 1, kMaxTimeoutMs,
        {.value = "30000", .help = "a client that stops reading its responses is cut off"}),
    integer<&Config::limits, &Limits::max_output_bytes>(
        "PHIGATE_MAX_OUTPUT_BYTES", 1, kGiB,
        {.value = "1048576",
         .help = "unread responses buffered per connection; past it phigate stops reading that "
                 "client"}),
    integer<&Config::limits, &Limits::max_requests_per_connection>(
        "PHIGATE_MAX_REQUESTS_PER_CONNECTION", 1, kMaxCount,
        {.value = "1000", .help = "then `Connection: close`"}),
    integer<&Config::limits, &Limits::max_connections>(
        "PHIGATE_MAX_CONNECTIONS", 1, kMaxCount,
        {.value = "10000", .help = "per worker → 503 and close"}),
    integer<&Config::limits, &Limits::max_body_buffer_bytes>(
        "PHIGATE_MAX_BODY_BUFFER_BYTES", 64 * 1024, 64 * kGiB,
        {.value = "67108864",
         .help = "per worker: request-body bytes held beyond the pooled 16 KiB read buffers, all "
                 "connections together → 503 `server-busy`"}),
    integer<&Config::limits, &Limits::max_connections_per_ip>(
        "PHIGATE_MAX_CONNECTIONS_PER_IP", 1, kMaxCount,
        {.value = "256",
         .help = "per worker, per socket peer address (an IPv6 peer by its /64) → 503 and close; "
                 "peers inside `TRUSTED_PROXIES` are exempt (they carry many clients) and count "
                 "only against `PHIGATE_MAX_CONNECTIONS`"}),
    integer<&Config::limits, &Limits::drain_timeout_ms>(
        "PHIGATE_DRAIN_TIMEOUT_MS", 1, kMaxTimeoutMs,
        {.value = "10000", .help = "how long a draining worker waits for in-flight requests"}),
    integer<&Config::replay_window_s>(
        "PHIGATE_REPLAY_WINDOW_S", 1, 3600,
        {.value = "300",
         .help = "accepted distance of `X-Timestamp` from the server clock, past or future"}),
    special("PHIGATE_RATE_LIMITS", &applyRateLimits,
            {.value = "sms=200/60,bulk=10/60,email=200/60,messages=600/60,health=5/60,admin=5/60,"
                      "ehospital=200/60",
             .syntax = "comma-separated `class=limit/seconds` (limit ≤ 1000000, seconds ≤ 86400)",
             .help = "overrides per route class (exact sliding windows; health is per client "
                     "address, the rest per key)"}),
    integer<&Config::state, &Policy::daily_quota>(
        "PHIGATE_DAILY_QUOTA", 0, 1'000'000'000,
        {.value = "0",
         .note = "(none)",
         .help = "messages per key per UTC day, per send route (a bulk request counts each "
                 "recipient); keys override with `\"limits\": {\"daily\": N}`"}),
    integer<&Config::state, &Policy::idempotency_ttl_s>(
        "PHIGATE_IDEMPOTENCY_TTL_S", 60, 30 * kDayS,
        {.value = "86400", .help = "how long an `Idempotency-Key` answer is kept"}),
    integer<&Config::state, &Policy::auth_failure_limit>(
        "PHIGATE_AUTH_FAILURE_LIMIT", 1, 1'000'000,
        {.value = "20", .help = "authentication failures from one address ..."}),
    integer<&Config::state, &Policy::auth_failure_window_s>(
        "PHIGATE_AUTH_FAILURE_WINDOW_S", 1, kDayS,
        {.value = "60", .help = "... within this window ..."}),
    integer<&Config::state, &Policy::auto_block_s>(
        "PHIGATE_AUTO_BLOCK_S", 1, 30 * kDayS,
        {.value = "900",
         .help = "... block it for this long (403 before authentication, on every worker within "
                 "0.5 s)"}),
    integer<&Config::state, &Policy::store_timeout_ms>(
        "PHIGATE_STORE_TIMEOUT_MS", 1, 60'000,
        {.value = "50",
         .help = "deadline of each Redis command; past it the request gets 503 and the connection "
                 "is re-established"}),
    integer<&Config::state, &Policy::memory_max_messages>(
        "PHIGATE_MEMORY_MAX_MESSAGES", 1, 10'000'000,
        {.value = "200000",
         .help = "messages the in-process store holds (no Redis) before it answers `507 "
                 "store-full`"}),
    boolean<&Config::accept_message_loss>(
        "PHIGATE_ACCEPT_MESSAGE_LOSS",
        {.value = "false",
         .help = "`true` lets production run without `RATELIMIT_STORAGE_URI` (queued messages "
                 "are lost on a restart)"}),
    special("PHIGATE_DEFAULT_REGION", &applyDefaultRegion,
            {.value = "IN",
             .syntax = "`IN` (the regions of `src/pipeline/phone.cpp`)",
             .help = "whose national numbers an SMS recipient without `+` is (it is then stored "
                     "and sent as E.164); any other value stops start-up with an error that "
                     "lists the accepted ones"}),
    // ---- delivery (docs/DELIVERY.md, docs/PROVIDERS.md)
    enumeration("SMS_PROVIDER", kSmsProviderNames, &applySmsProvider,
                {.value = "mock",
                 .help = "who delivers SMS: `mock` simulates delivery in-process (development "
                         "only), `cdac` is CDAC Mobile Seva, `http` the generic JSON provider"}),
    text<&Config::delivery, &Delivery::cdac_url>(
        "CDAC_URL",
        {.value = "https://msdgweb.mgov.gov.in/esms/sendsmsrequestDLT",
         .syntax = "URL",
         .help = "CDAC Mobile Seva's send endpoint (`http://` only in development)"}),
    text<&Config::delivery, &Delivery::cdac_username>(
        "CDAC_USERNAME", {.syntax = "text", .help = "the Mobile Seva account (required with `cdac`)"}),
    secret<&Config::delivery, &Delivery::cdac_password>(
        "CDAC_PASSWORD",
        {.syntax = "text", .help = "its password (sent as its SHA-1, as the gateway wants)"}),
    text<&Config::delivery, &Delivery::cdac_sender_id>(
        "CDAC_SENDER_ID", {.syntax = "text", .help = "the DLT-registered sender id (header)"}),
    secret<&Config::delivery, &Delivery::cdac_secure_key>(
        "CDAC_SECURE_KEY",
        {.syntax = "text", .help = "the account's secure key (only its SHA-512 digest is sent)"}),
    text<&Config::delivery, &Delivery::cdac_report_url>(
        "CDAC_REPORT_URL",
        {.value = "https://msdgweb.mgov.gov.in/XMLForReportG/reportXMLNew",
         .syntax = "URL or `off`",
         .help = "the delivery-report endpoint polled for sent messages (docs/PROVIDERS.md); `off`: "
                 "none, `sent` is the last state"}),
    text<&Config::delivery, &Delivery::http_url>(
        "SMS_HTTP_URL", {.syntax = "URL", .help = "the generic provider's endpoint (required with `http`)"}),
    secret<&Config::delivery, &Delivery::http_token>(
        "SMS_HTTP_TOKEN", {.syntax = "token", .help = "its bearer token"}),
    text<&Config::delivery, &Delivery::outbound_ca_file>(
        "OUTBOUND_CA_FILE",
        {.note = "the system store",
         .syntax = "path",
         .help = "PEM CA bundle that verifies providers (verification is always on)"}),
    text<&Config::delivery, &Delivery::outbound_proxy>(
        "OUTBOUND_PROXY",
        {.note = "none (direct)",
         .syntax = "`http://host:port`",
         .help = "HTTP proxy for outbound calls (HTTPS goes through it with CONNECT)"}),
    list<&Config::delivery, &Delivery::callback_allowed_cidrs>(
        "CALLBACK_ALLOWED_CIDRS",
        {.note = "none",
         .syntax = "CIDR list (v4 and v6)",
         .help = "addresses status callbacks may reach although they are loopback, private, "
                 "link-local, CGNAT, multicast or metadata ones (refused otherwise; "
                 "docs/CALLBACKS.md)"}),
    text<&Config::delivery, &Delivery::callback_ca_file>(
        "CALLBACK_CA_FILE",
        {.note = "the system store",
         .syntax = "path",
         .help = "PEM CA bundle that verifies status-callback receivers (not `OUTBOUND_CA_FILE`: a "
                 "private CA for providers must not break public receivers)"}),
    integer<&Config::delivery, &Delivery::callback_retry_min_ms>(
        "PHIGATE_CALLBACK_RETRY_MIN_MS", 100, kMaxTimeoutMs,
        {.value = "30000",
         .help = "first retry delay of a status callback (then doubling, with jitter; 8 tries in "
                 "all, about an hour with the defaults)"}),
    integer<&Config::delivery, &Delivery::callback_retry_max_ms>(
        "PHIGATE_CALLBACK_RETRY_MAX_MS", 100, kMaxTimeoutMs,
        {.value = "1800000", .help = "longest retry delay of a status callback"}),
    integer<&Config::delivery, &Delivery::callback_concurrency>(
        "PHIGATE_CALLBACK_CONCURRENCY", 1, 10'000,
        {.value = "16",
         .help = "status callbacks in flight per worker (at most a quarter of them, and at least 1, per key); separate "
                 "from the providers' cap"}),
    integer<&Config::delivery, &Delivery::otp_ttl_s>(
        "OTP_TTL_S", 10, kDayS,
        {.value = "600", .help = "an OTP not delivered this long after acceptance is `expired`"}),
    integer<&Config::delivery, &Delivery::retention_s>(
        "MESSAGE_RETENTION_S", 60, 365 * kDayS,
        {.value = "604800",
         .help = "how long a final message's status record is kept (its payload goes at once)"}),
    boolean<&Config::delivery, &Delivery::enabled>(
        "PHIGATE_DELIVERY",
        {.value = "true",
         .help = "`false`: this process accepts but does not deliver (another host's workers "
                 "consume the shared outbox)"}),
    integer<&Config::delivery, &Delivery::deadline_s>(
        "PHIGATE_DELIVERY_DEADLINE_S", 60, 30 * kDayS,
        {.value = "86400",
         .help = "retries stop this long after acceptance: `failed`, and on the dead-letter list"}),
    integer<&Config::delivery, &Delivery::retry_min_ms>(
        "PHIGATE_RETRY_MIN_MS", 10, kMaxTimeoutMs,
        {.value = "1000", .help = "first retry delay (then doubling, with jitter)"}),
    integer<&Config::delivery, &Delivery::retry_max_ms>(
        "PHIGATE_RETRY_MAX_MS", 10, kMaxTimeoutMs, {.value = "600000", .help = "longest retry delay"}),
    integer<&Config::delivery, &Delivery::concurrency>(
        "PHIGATE_PROVIDER_CONCURRENCY", 1, 100'000,
        {.value = "256", .help = "provider calls in flight per worker (bulk gets at most 75 %)"}),
    integer<&Config::delivery, &Delivery::rate_per_s>(
        "PHIGATE_PROVIDER_RATE", 0, 1'000'000,
        {.value = "0",
         .note = "(no cap)",
         .help = "provider calls per second for this host, shared out between its workers (the "
                 "account's TPS)"}),
    integer<&Config::delivery, &Delivery::connect_timeout_ms>(
        "PHIGATE_PROVIDER_CONNECT_TIMEOUT_MS", 1, 600'000, {.value = "5000", .help = "provider connect timeout"}),
    integer<&Config::delivery, &Delivery::timeout_ms>(
        "PHIGATE_PROVIDER_TIMEOUT_MS", 1, 600'000,
        {.value = "15000", .help = "a whole provider call; past it the attempt is retried"}),
    integer<&Config::delivery, &Delivery::visibility_s>(
        "PHIGATE_VISIBILITY_TIMEOUT_S", 5, kDayS,
        {.value = "60",
         .help = "a message a consumer holds this long without finishing is taken over by another "
                 "(must exceed the provider timeout)"}),
    integer<&Config::delivery, &Delivery::circuit_failures>(
        "PHIGATE_CIRCUIT_FAILURES", 1, 1'000'000,
        {.value = "20", .help = "consecutive provider failures that open the circuit ..."}),
    integer<&Config::delivery, &Delivery::circuit_open_s>(
        "PHIGATE_CIRCUIT_OPEN_S", 1, kDayS,
        {.value = "30", .help = "... for this long; then one probe decides"}),
    integer<&Config::delivery, &Delivery::report_delay_ms>(
        "PHIGATE_REPORT_DELAY_MS", 100, kMaxTimeoutMs,
        {.value = "10000",
         .help = "a sent message's delivery report is asked for this long after sending, and again "
                 "as long as it is pending (CDAC)"}),
    // ---- email (docs/EMAIL.md)
    text<&Config::delivery, &Delivery::smtp_url>(
        "SMTP_URL",
        {.note = "development: simulated; production: email off",
         .syntax = "`smtp://host:587`, `smtps://host:465` or `off`",
         .help = "the mail server: `smtp://` upgrades with STARTTLS, `smtps://` is TLS from the "
                 "start, both verified; `off`: `POST /v1/email` is not offered"}),
    text<&Config::delivery, &Delivery::smtp_username>(
        "SMTP_USERNAME", {.note = "no AUTH", .syntax = "text", .help = "AUTH user (PLAIN or LOGIN, as the server offers)"}),
    secret<&Config::delivery, &Delivery::smtp_password>(
        "SMTP_PASSWORD", {.syntax = "text", .help = "its password"}),
    text<&Config::delivery, &Delivery::smtp_from>(
        "SMTP_FROM",
        {.syntax = "`local@domain`",
         .help = "envelope sender and `From` of every email (required with `SMTP_URL`); its domain "
                 "names the `Message-ID`s"}),
    text<&Config::delivery, &Delivery::smtp_reply_to>(
        "SMTP_REPLY_TO",
        {.note = "none", .syntax = "`local@domain`", .help = "`Reply-To` of emails sent without their own `reply_to`"}),
    boolean<&Config::delivery, &Delivery::smtp_tls>(
        "SMTP_TLS",
        {.value = "true",
         .help = "`false` sends `smtp://` without STARTTLS, credentials in the clear: development "
                 "only (production refuses it)"}),
    integer<&Config::delivery, &Delivery::smtp_concurrency>(
        "SMTP_CONCURRENCY", 1, 10'000, {.value = "16", .help = "SMTP transfers in flight per worker"}),
    integer<&Config::delivery, &Delivery::smtp_rate_per_s>(
        "SMTP_RATE", 0, 1'000'000,
        {.value = "0",
         .note = "(no cap)",
         .help = "emails per second for this host, shared out between its workers"}),
    // ---- the eHospital / ABDM pass-through (docs/EHOSPITAL.md)
    text<&Config::ehospital, &Ehospital::base_url>(
        "EHOSPITAL_BASE_URL",
        {.note = "none (`/v1/ehospital/...` answers `404 ehospital-not-configured`)",
         .syntax = "URL",
         .help = "the upstream that `/v1/ehospital/{path}` forwards to, as base URL + `/{path}` "
                 "(`http://` only in development)"}),
    list<&Config::ehospital, &Ehospital::allowed_paths>(
        "EHOSPITAL_ALLOWED_PATHS",
        {.note = "none; required with `EHOSPITAL_BASE_URL`",
         .syntax = "comma-separated `METHOD /path`, `*` = one segment",
         .help = "what may be forwarded, e.g. `GET /api/patients/*,POST /api/appointments`; "
                 "anything else is a 404 that never reaches the upstream"}),
    secret<&Config::ehospital, &Ehospital::token>(
        "EHOSPITAL_TOKEN",
        {.syntax = "token",
         .help = "a static bearer phigate sends upstream (or use the three OAuth2 variables)"}),
    text<&Config::ehospital, &Ehospital::client_id>(
        "EHOSPITAL_CLIENT_ID", {.syntax = "text", .help = "OAuth2 client-credentials client id"}),
    secret<&Config::ehospital, &Ehospital::client_secret>(
        "EHOSPITAL_CLIENT_SECRET", {.syntax = "text", .help = "its client secret"}),
    text<&Config::ehospital, &Ehospital::token_url>(
        "EHOSPITAL_TOKEN_URL",
        {.syntax = "URL",
         .help = "the token endpoint; the session token is cached until shortly before "
                 "`expires_in` and refreshed by one request"}),
    enumeration("EHOSPITAL_TOKEN_REQUEST", kTokenRequests,
                &setSpelling<&Config::ehospital, &Ehospital::token_request>,
                {.value = "form",
                 .help = "`form`: RFC 6749 `grant_type=client_credentials` form; `json`: the ABDM "
                         "gateway's `{\"clientId\",\"clientSecret\"}`"}),
    integer<&Config::ehospital, &Ehospital::max_request_bytes>(
        "EHOSPITAL_MAX_REQUEST_BYTES", 0, 64 * kMiB,
        {.value = "1048576", .help = "request body cap for `/v1/ehospital/...` → 413"}),
    integer<&Config::ehospital, &Ehospital::max_response_bytes>(
        "EHOSPITAL_MAX_RESPONSE_BYTES", 1024, 64 * kMiB,
        {.value = "2097152",
         .help = "upstream response body cap; above it the answer is `502 ehospital-bad-gateway`"}),
    integer<&Config::ehospital, &Ehospital::connect_timeout_ms>(
        "EHOSPITAL_CONNECT_TIMEOUT_MS", 1, 600'000,
        {.value = "5000", .help = "upstream connect timeout (lookup, TCP, TLS) → 504"}),
    integer<&Config::ehospital, &Ehospital::timeout_ms>(
        "EHOSPITAL_TIMEOUT_MS", 1, 600'000,
        {.value = "30000", .help = "a whole upstream call (a 401 retry is a second call) → 504"}),
    integer<&Config::ehospital, &Ehospital::concurrency>(
        "EHOSPITAL_CONCURRENCY", 1, 100'000,
        {.value = "32",
         .help = "upstream calls in flight per worker, one key at most half of them; beyond → 503 "
                 "`ehospital-busy`. Concurrency × (2 × request cap + 2 × response cap) must stay "
                 "≤ 1 GiB (docs/EHOSPITAL.md)"}),
    integer<&Config::ehospital, &Ehospital::circuit_failures>(
        "EHOSPITAL_CIRCUIT_FAILURES", 1, 1'000'000,
        {.value = "10",
         .help = "consecutive upstream failures (no answer, 5xx) that open its circuit ..."}),
    integer<&Config::ehospital, &Ehospital::circuit_open_s>(
        "EHOSPITAL_CIRCUIT_OPEN_S", 1, kDayS,
        {.value = "30",
         .help = "... for this long (`503 ehospital-unavailable`); then one probe decides"}),
};

}  // namespace

std::span<const Variable> variables() { return kVariables; }

const Variable* findVariable(std::string_view name) {
  for (const Variable& v : kVariables) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

std::string rangeError(std::string_view name, uint64_t lo, uint64_t hi) {
  return std::string(name) + " must be an integer between " + std::to_string(lo) + " and " +
         std::to_string(hi);
}

}  // namespace phigate::config
