// phigate-mock-provider: a stand-in for the SMS providers phigate delivers
// to (CDAC Mobile Seva and a generic JSON vendor), for tests and local runs.
// One worker of phigate's own net layer on loopback; see docs/MOCK_PROVIDER.md.
#include <signal.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "crypto/random.h"
#include "mock/cdac.h"
#include "mock/mock_app.h"
#include "mock/recorder.h"
#include "net/worker.h"

namespace {

constexpr const char* kUsage =
    "usage: phigate-mock-provider [options]\n"
    "\n"
    "  --listen HOST:PORT        IPv4 address to listen on (default 127.0.0.1:9090)\n"
    "  --cdac-username NAME      CDAC account username (default mock-user)\n"
    "  --cdac-password TEXT      its password; clients send SHA-1 hex of it (default mock-pass)\n"
    "  --cdac-secure-key TEXT    its secure key for the SHA-512 request key (default mock-key)\n"
    "  --cdac-sender-id ID       the approved sender id (default MOCKID)\n"
    "  --http-token TOKEN        Bearer token of POST /v1/messages (default mock-token)\n"
    "  --record PATH             append one JSON line per accepted message (no text)\n"
    "  --latency-ms N            answer every request after N ms (0..60000; default 0)\n"
    "  --fail-next N [CODE]      the next N valid sends fail with CDAC temporary CODE\n"
    "                            (405, 407, 408, 409; default 409); the JSON protocol answers 503\n"
    "  --permanent-next N [CODE] the next N valid sends fail with CDAC permanent CODE\n"
    "                            (401, 403, 404, 406, 411; default 406); the JSON protocol answers 422\n"
    "  --error-rate P            a valid send fails like --fail-next with probability P (0..1)\n"
    "  --drop-rate P             a taken send's connection is reset unanswered with probability P\n"
    "                            (the message counts as sent: a retry is a duplicate)\n"
    "  --undelivered-rate P      a CDAC recipient is reported undelivered with probability P\n"
    "                            (9000000009 always is)\n"
    "  --report-delay-ms N       a CDAC MsgID reports \"submitted\" for N ms (0..60000; default 0)\n"
    "  --seed N                  seed of the random rates (default: a fresh one per run)\n"
    "  --help                    this text\n"
    "\n"
    "Each option but --fail-next and --permanent-next may also come from the environment:\n"
    "MOCK_LISTEN, MOCK_CDAC_USERNAME, MOCK_CDAC_PASSWORD, MOCK_CDAC_SECURE_KEY,\n"
    "MOCK_CDAC_SENDER_ID, MOCK_HTTP_TOKEN, MOCK_RECORD, MOCK_LATENCY_MS, MOCK_ERROR_RATE,\n"
    "MOCK_DROP_RATE, MOCK_UNDELIVERED_RATE, MOCK_REPORT_DELAY_MS, MOCK_SEED (flags win).\n"
    "Secrets are never printed.\n"
    "\n"
    "Routes: POST /esms/sendsmsrequestDLT (CDAC form), GET /XMLForReportG/reportXMLNew\n"
    "(CDAC delivery report), POST /v1/messages (JSON), GET /_mock/received (counts),\n"
    "GET|POST /_mock/control (loopback only: read or change the behaviour), GET /livez.\n"
    "docs/MOCK_PROVIDER.md has the details.\n";

struct Args {
  phigate::net::ListenAddress listen{.host = "127.0.0.1", .port = 9090, .ipv6 = false};
  phigate::mock::MockOptions mock{.cdac = {.username = "mock-user", .password = "mock-pass",
                                           .secure_key = "mock-key", .sender_id = "MOCKID"},
                                  .http_token = "mock-token"};
  std::string record;
};

bool parseUint64(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

bool parseUint(std::string_view s, uint32_t max, uint32_t* out) {
  uint64_t v;
  if (!parseUint64(s, max, &v)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// A probability: a decimal number in 0..1 ("0", "0.25", "1").
bool parseRate(std::string_view s, double* out) {
  if (s.empty() || s.size() > 20) return false;
  const std::string text(s);
  char* end = nullptr;
  const double v = strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !(v >= 0 && v <= 1)) return false;
  *out = v;
  return true;
}

// "--fail-next N [CODE]": CODE is taken when the next argument is a number.
int parseCounted(int argc, char** argv, int i, bool (*allowed)(int), uint32_t* n, int* code) {
  uint32_t c = 0;
  if (i + 1 >= argc || !parseUint(argv[i + 1], 1'000'000, n)) return -1;
  if (i + 2 < argc && parseUint(argv[i + 2], 999, &c)) {
    if (!allowed(static_cast<int>(c))) return -1;
    *code = static_cast<int>(c);
    return 2;
  }
  return 1;
}

// IPv4 literal and port only: a test tool on loopback needs no more.
bool parseListen(std::string_view text, phigate::net::ListenAddress* out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  const std::string host(text.substr(0, colon));
  in_addr a;
  uint32_t port;
  if (inet_pton(AF_INET, host.c_str(), &a) != 1 || !parseUint(text.substr(colon + 1), 65535, &port)) {
    return false;
  }
  out->host = host;
  out->port = static_cast<uint16_t>(port);
  return true;
}

// One option's value, from the flag or its environment variable.
bool setOption(std::string_view name, std::string_view value, Args* args) {
  auto& m = args->mock;
  if (name == "listen") return parseListen(value, &args->listen);
  if (name == "cdac-username") return m.cdac.username = value, true;
  if (name == "cdac-password") return m.cdac.password = value, true;
  if (name == "cdac-secure-key") return m.cdac.secure_key = value, true;
  if (name == "cdac-sender-id") return m.cdac.sender_id = value, true;
  if (name == "http-token") return m.http_token = value, true;
  if (name == "record") return args->record = value, true;
  if (name == "latency-ms") return parseUint(value, 60000, &m.behaviour.latency_ms);
  if (name == "error-rate") return parseRate(value, &m.behaviour.error_rate);
  if (name == "drop-rate") return parseRate(value, &m.behaviour.drop_rate);
  if (name == "undelivered-rate") return parseRate(value, &m.behaviour.undelivered_rate);
  if (name == "report-delay-ms") return parseUint(value, 60000, &m.behaviour.report_delay_ms);
  if (name == "seed") return m.seeded = parseUint64(value, UINT64_MAX, &m.seed);
  return false;
}

void readEnvironment(Args* args) {
  static constexpr std::pair<const char*, std::string_view> kEnv[] = {
      {"MOCK_LISTEN", "listen"},           {"MOCK_CDAC_USERNAME", "cdac-username"},
      {"MOCK_CDAC_PASSWORD", "cdac-password"}, {"MOCK_CDAC_SECURE_KEY", "cdac-secure-key"},
      {"MOCK_CDAC_SENDER_ID", "cdac-sender-id"}, {"MOCK_HTTP_TOKEN", "http-token"},
      {"MOCK_RECORD", "record"},           {"MOCK_LATENCY_MS", "latency-ms"},
      {"MOCK_ERROR_RATE", "error-rate"},   {"MOCK_DROP_RATE", "drop-rate"},
      {"MOCK_UNDELIVERED_RATE", "undelivered-rate"}, {"MOCK_REPORT_DELAY_MS", "report-delay-ms"},
      {"MOCK_SEED", "seed"}};
  for (const auto& [var, name] : kEnv) {
    const char* v = getenv(var);
    if (v != nullptr && *v != '\0' && !setOption(name, v, args)) {
      fprintf(stderr, "phigate-mock-provider: invalid %s\n", var);  // the name, never the value
      exit(2);
    }
  }
}

// Returns -1 to continue, else an exit code.
int parseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--fail-next" || a == "--permanent-next") {
      using phigate::mock::isCdacPermanent;
      using phigate::mock::isCdacTemporary;
      auto& b = args->mock.behaviour;
      const bool temporary = a == "--fail-next";
      const int used = temporary ? parseCounted(argc, argv, i, isCdacTemporary, &b.fail_next, &b.fail_code)
                                 : parseCounted(argc, argv, i, isCdacPermanent, &b.permanent_next,
                                                &b.permanent_code);
      if (used < 0) {
        fprintf(stderr, "phigate-mock-provider: %.*s needs N and optionally one of %s\n",
                static_cast<int>(a.size()), a.data(),
                temporary ? "405, 407, 408, 409" : "401, 403, 404, 406, 411");
        return 2;
      }
      i += used;
      continue;
    }
    if (a.starts_with("--") && i + 1 < argc && setOption(a.substr(2), argv[i + 1], args)) {
      ++i;
      continue;
    }
    // Only a flag's name is echoed: a stray value could be a secret.
    if (a.starts_with("--")) {
      fprintf(stderr, "phigate-mock-provider: unknown or invalid %.*s (see --help)\n",
              static_cast<int>(a.size()), a.data());
    } else {
      fputs("phigate-mock-provider: unexpected argument (see --help)\n", stderr);
    }
    return 2;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  readEnvironment(&args);
  if (int rc = parseArgs(argc, argv, &args); rc >= 0) return rc;
  signal(SIGPIPE, SIG_IGN);
  if (!phigate::crypto::initCrypto()) {
    fputs("phigate-mock-provider: libsodium initialisation failed\n", stderr);
    return 1;
  }
  phigate::mock::Recorder recorder;
  if (!recorder.open(args.record)) {
    fprintf(stderr, "phigate-mock-provider: cannot open --record file: %s\n", strerror(errno));
    return 1;
  }
  phigate::mock::MockApp app(args.mock, recorder);
  phigate::net::WorkerOptions opts;
  opts.listen = args.listen;
  // Every client of a loopback mock is 127.0.0.1: a per-address cap (256 by
  // default) would only refuse a client's connections past it. A provider
  // call in flight is one connection, so load runs need thousands.
  opts.limits.max_connections_per_ip = opts.limits.max_connections;
  phigate::net::Worker worker(opts, app);
  return worker.run();
}
