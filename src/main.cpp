// phigate: command line, configuration, then one worker or a master with N.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "api/app.h"
#include "delivery/service.h"
#include "config/keys_file.h"
#include "crypto/hash.h"
#include "crypto/key_ring.h"
#include "crypto/pseudonym.h"
#include "state/memory_store.h"
#include "state/redis_store.h"
#include "state/redis_uri.h"
#include "config/config.h"
#include "config/variables.h"
#include "crypto/random.h"
#include "net/connection.h"
#include "net/worker.h"
#include "pipeline/permissions.h"
#include "pipeline/stage.h"
#include "process/master.h"

#include <sodium.h>

namespace {

constexpr const char* kUsage =
    "usage: phigate [--workers N] [--env-file PATH] [--check-config] [--help]\n"
    "               [--help-config-markdown] [--version]\n"
    "       phigate keygen --id NAME --roles ROLE[,ROLE...] [--mode live|test]\n"
    "\n"
    "  --workers N      worker processes (default: PHIGATE_WORKERS, else one per core\n"
    "                   when RATELIMIT_STORAGE_URI is set, else 1). With 1 there is\n"
    "                   no master process.\n"
    "  --env-file PATH  read this dotenv file instead of ./.env (PHIGATE_ENV_FILE)\n"
    "  --check-config   validate the configuration and exit (0 when valid)\n"
    "  --help           this text\n"
    "  --help-config-markdown\n"
    "                   the variables below as README.md's Markdown table\n"
    "  --version        print the version\n"
    "\n"
    "keygen prints a new random API token once, and the line to add to the\n"
    "API_KEYS_FILE (which stores only the token's SHA-256). Roles: sms, bulk,\n"
    "email, ehospital, ehospital-write, metrics, admin.\n"
    "\n"
    "Configuration comes from the environment and an optional .env file (the\n"
    "environment wins; an empty value counts as unset, an unknown PHIGATE_* name\n"
    "is an error). APP_ENV=production refuses to start on weak or missing secrets.\n"
    "The variables (accepted values; default), then what each does:\n";

struct Args {
  std::optional<int> workers;
  std::string env_file;
  bool check_only = false;
};

bool parseWorkers(const char* s, int* out) {
  char* end = nullptr;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 1024) return false;
  *out = static_cast<int>(v);
  return true;
}

// Returns -1 to continue, else an exit code.
int parseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      fputs(kUsage, stdout);
      fputs(phigate::config::variablesHelpText().c_str(), stdout);
      return 0;
    }
    if (a == "--help-config-markdown") {
      fputs(phigate::config::variablesMarkdownTable().c_str(), stdout);
      return 0;
    }
    if (a == "--version") {
      puts("phigate 0.1.0");
      return 0;
    }
    if (a == "--check-config") {
      args->check_only = true;
    } else if (a == "--workers" && i + 1 < argc) {
      int n;
      if (!parseWorkers(argv[++i], &n)) {
        fputs("phigate: --workers needs an integer between 1 and 1024\n", stderr);
        return 2;
      }
      args->workers = n;
    } else if (a == "--env-file" && i + 1 < argc) {
      args->env_file = argv[++i];
    } else {
      fprintf(stderr, "phigate: unknown argument (see --help)\n");
      return 2;
    }
  }
  return -1;
}

// Start-up only: blocking file reads are fine before any loop runs.
bool readFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

bool readDotenv(const std::string& path, bool required, phigate::config::EnvMap* out) {
  std::string text;
  if (!readFile(path, &text)) {
    if (!required) return true;
    fprintf(stderr, "phigate: cannot read the env file named by PHIGATE_ENV_FILE/--env-file\n");
    return false;
  }
  std::string error;
  if (!phigate::config::parseDotenv(text, out, &error)) {
    fprintf(stderr, "phigate: env file %s: %s\n", path.c_str(), error.c_str());
    return false;
  }
  return true;
}


// phigate keygen --id NAME --roles a,b [--mode live|test]
int keygen(int argc, char** argv) {
  std::string id, roles_arg, mode = "live";
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string_view a = argv[i];
    if (a == "--id") {
      id = argv[i + 1];
    } else if (a == "--roles") {
      roles_arg = argv[i + 1];
    } else if (a == "--mode") {
      mode = argv[i + 1];
    } else {
      fputs("phigate keygen: unknown argument (see --help)\n", stderr);
      return 2;
    }
  }
  if ((argc - 2) % 2 != 0 || !phigate::config::isValidKeyId(id)) {
    fprintf(stderr, "phigate keygen: --id must be 1-%zu of [A-Za-z0-9._-]\n", phigate::config::kMaxKeyIdLength);
    return 2;
  }
  if (mode != "live" && mode != "test") {
    fputs("phigate keygen: --mode must be live or test\n", stderr);
    return 2;
  }
  std::vector<std::string> roles;
  for (size_t pos = 0; pos <= roles_arg.size();) {
    size_t comma = roles_arg.find(',', pos);
    if (comma == std::string::npos) comma = roles_arg.size();
    if (comma > pos) roles.push_back(roles_arg.substr(pos, comma - pos));
    pos = comma + 1;
  }
  phigate::pipeline::PermissionSet perms;
  std::string_view unknown;
  if (roles.empty() || !phigate::pipeline::permissionsForRoles(roles, &perms, &unknown)) {
    fputs("phigate keygen: --roles must list known roles (sms, bulk, email, ehospital, "
          "ehospital-write, metrics, admin)\n", stderr);
    return 2;
  }
  unsigned char raw[32];
  phigate::crypto::randomBytes(raw, sizeof raw);
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  const std::string token = "phg_" + mode + "_" + b64;
  const phigate::crypto::Sha256 h = phigate::crypto::sha256(token);
  char hex[64];
  phigate::crypto::toHex(h, hex);
  std::string role_list;
  for (const std::string& r : roles) role_list += (role_list.empty() ? "\"" : ", \"") + r + "\"";
  printf("token (shown once; give it to the client and keep no copy):\n%s\n\n", token.c_str());
  printf("API_KEYS_FILE entry:\n{\"id\": \"%s\", \"token_sha256\": \"%.64s\", \"roles\": [%s], \"mode\": \"%s\"}\n",
         id.c_str(), hex, role_list.c_str(), mode.c_str());
  sodium_memzero(b64, sizeof b64);
  return 0;
}


phigate::state::OutboxOptions outboxOptions(const phigate::config::Config& cfg) {
  phigate::state::OutboxOptions o;
  o.retention_s = cfg.delivery.retention_s;
  return o;
}

// The state store: Redis when RATELIMIT_STORAGE_URI is set (its host is
// resolved here, once, so no worker ever resolves a name on its loop), else
// the embedded in-process store. Each worker connects after the fork.
std::unique_ptr<phigate::state::StateStore> makeStore(const phigate::config::Config& cfg) {
  if (cfg.ratelimit_storage_uri.empty()) {
    phigate::state::MemoryStoreLimits limits;
    limits.max_messages = cfg.state.memory_max_messages;
    auto store = std::make_unique<phigate::state::MemoryStore>(limits);
    store->setOutboxOptions(outboxOptions(cfg));
    return store;
  }
  phigate::state::RedisOptions opts;
  std::string error;
  if (!phigate::state::parseRedisUri(cfg.ratelimit_storage_uri, &opts.endpoint, &error) ||
      !phigate::state::resolveRedisHost(&opts.endpoint, &error)) {
    fprintf(stderr, "phigate: configuration error: %s\n", error.c_str());
    return nullptr;
  }
  opts.command_timeout_ms = cfg.state.store_timeout_ms;
  // Client values become pseudonyms in Redis key names, keyed from
  // SECRET_KEY: every process sharing this Redis must have the same one.
  phigate::crypto::Pseudonymizer names;
  if (!phigate::crypto::Pseudonymizer::create(cfg.secret_key, !cfg.production(), &names, &error)) {
    fprintf(stderr, "phigate: configuration error: %s\n", error.c_str());
    return nullptr;
  }
  auto store = std::make_unique<phigate::state::RedisStore>(std::move(opts), std::move(names));
  store->setOutboxOptions(outboxOptions(cfg));
  return store;
}

// The body budget must hold at least one body of every route, or that
// route's requests would get "503, retry in a moment" forever.
bool bodyBudgetFitsEveryRoute(const phigate::config::Config& cfg) {
  uint64_t largest = 0;
  for (const phigate::api::Route& r : phigate::api::gatewayRoutes()) {
    largest = std::max(largest, std::min<uint64_t>(phigate::api::routeMaxBody(r, cfg),
                                                   cfg.limits.max_content_length));
  }
  const uint64_t need = phigate::net::readBufferCeiling(cfg.limits, largest) - phigate::net::kReadBufferSize;
  if (cfg.limits.max_body_buffer_bytes >= need) return true;
  fprintf(stderr,
          "phigate: configuration error: PHIGATE_MAX_BODY_BUFFER_BYTES must be at least %llu: one "
          "request of the largest route body (%llu bytes, with its head) must fit\n",
          static_cast<unsigned long long>(need), static_cast<unsigned long long>(largest));
  return false;
}

// The immutable security policy shared by every worker.
bool buildPolicy(const phigate::config::Config& cfg, phigate::pipeline::PolicyConfig* policy) {
  std::string error;
  const std::pair<const char*, const std::string*> lists[] = {
      {"TRUSTED_PROXIES", &cfg.trusted_proxies},
      {"IP_ALLOWLIST", &cfg.ip_allowlist},
      {"IP_DENYLIST", &cfg.ip_denylist}};
  phigate::pipeline::CidrList* targets[] = {&policy->trusted_proxies, &policy->ip_allowlist,
                                            &policy->ip_denylist};
  for (size_t i = 0; i < 3; ++i) {
    if (!phigate::pipeline::CidrList::parse(*lists[i].second, targets[i], &error)) {
      fprintf(stderr, "phigate: configuration error: %s: %s\n", lists[i].first, error.c_str());
      return false;
    }
  }
  std::vector<phigate::config::KeySpec> specs;
  if (!cfg.api_keys_file.empty()) {
    std::string text;
    if (!readFile(cfg.api_keys_file, &text)) {
      fputs("phigate: configuration error: cannot read API_KEYS_FILE\n", stderr);
      return false;
    }
    if (!phigate::config::parseKeysFile(text, &specs, &error, !cfg.production())) {
      fprintf(stderr, "phigate: configuration error: %s\n", error.c_str());
      return false;
    }
  }
  if (!phigate::pipeline::KeyRegistry::build(specs, cfg.sms_api_key, cfg.admin_api_key,
                                             &policy->keys, &error)) {
    fprintf(stderr, "phigate: configuration error: %s\n", error.c_str());
    return false;
  }
  policy->replay_window_s = cfg.replay_window_s;
  // loadConfig only lets names of the phone table through.
  policy->phone_region = phigate::pipeline::findPhoneRegion(cfg.default_region);
  if (policy->phone_region == nullptr) {
    fputs("phigate: configuration error: PHIGATE_DEFAULT_REGION\n", stderr);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "keygen") {
    if (!phigate::crypto::initCrypto()) return 1;
    return keygen(argc, argv);
  }
  Args args;
  if (int rc = parseArgs(argc, argv, &args); rc >= 0) return rc;

  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);  // no reload yet; never die of a stray hang-up
  if (!phigate::crypto::initCrypto()) {
    fputs("phigate: libsodium initialisation failed\n", stderr);
    return 1;
  }

  phigate::config::EnvMap env = phigate::config::processEnvironment();
  std::string env_file = args.env_file;
  if (env_file.empty()) {
    auto it = env.find("PHIGATE_ENV_FILE");
    if (it != env.end()) env_file = it->second;
  }
  const bool required = !env_file.empty();
  if (env_file.empty()) env_file = ".env";
  phigate::config::EnvMap dotenv;
  if (!readDotenv(env_file, required, &dotenv)) return 2;

  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  phigate::config::LoadResult res =
      phigate::config::loadConfig(env, dotenv, args.workers, cpus > 0 ? static_cast<int>(cpus) : 1);
  if (!res.config) {
    fprintf(stderr, "phigate: configuration error: %s\n", res.error.c_str());
    return 2;
  }
  for (const std::string& w : res.warnings) fprintf(stderr, "phigate: %s\n", w.c_str());
  const phigate::config::Config& cfg = *res.config;
  if (std::string err = phigate::api::Router::validate(phigate::api::gatewayRoutes()); !err.empty()) {
    fprintf(stderr, "phigate: %s\n", err.c_str());
    return 1;
  }

  if (!bodyBudgetFitsEveryRoute(cfg)) return 2;
  phigate::pipeline::PolicyConfig policy;
  if (!buildPolicy(cfg, &policy)) return 2;
  phigate::crypto::KeyRing key_ring;
  std::string ring_error;
  if (!phigate::crypto::KeyRing::create(cfg.encryption_key, cfg.encryption_keys_old,
                                        !cfg.production(), &key_ring, &ring_error)) {
    fprintf(stderr, "phigate: configuration error: %s\n", ring_error.c_str());
    return 2;
  }
  std::unique_ptr<phigate::state::StateStore> store = makeStore(cfg);
  if (!store) return 2;
  phigate::delivery::DeliverySetup delivery;
  if (std::string error; !phigate::delivery::makeDeliverySetup(cfg, policy.keys.ids(), cfg.workers,
                                                               &delivery, &error)) {
    fprintf(stderr, "phigate: configuration error: %s\n", error.c_str());
    return 2;
  }
  if (std::string error;
      !phigate::delivery::makeCallbackSetup(cfg, policy.keys, &delivery.callbacks, &error)) {
    fprintf(stderr, "phigate: configuration error: %s\n", error.c_str());
    return 2;
  }
  // The keys whose status changes the store queues as callbacks (nothing
  // for the others), set before the fork so every worker has them.
  if (phigate::state::CallbackQueue* q = store->callbacks(); q != nullptr) {
    std::vector<std::string> ids;
    for (const auto& t : delivery.callbacks.targets) ids.push_back(t.key_id);
    q->setKeys(std::move(ids));
  }
  // Everything above is what --check-config validates: variables, keys file,
  // CIDR lists, encryption keys, the store's address.
  if (args.check_only) {
    fputs("phigate: configuration OK\n", stderr);
    return 0;
  }
  // A busy address is an error, not a port to share: checked here, once,
  // before any worker binds it with SO_REUSEPORT (a worker the master
  // restarts rejoins its siblings' group without asking).
  if (const int rc = phigate::net::probeListenAddress(cfg.listen); rc != 0) {
    fprintf(stderr, "phigate: cannot listen on %s: %s\n",
            phigate::net::formatListenAddress(cfg.listen).c_str(), uv_strerror(rc));
    return 1;
  }
  // Email off (Config::emailOff): POST /v1/email is not a route at all (a 404, decided by
  // the router before any body is read).
  std::vector<phigate::api::Route> routes;
  for (const phigate::api::Route& r : phigate::api::gatewayRoutes()) {
    if (!(cfg.emailOff() && r.name == std::string_view("email"))) routes.push_back(r);
  }
  phigate::api::GatewayApp app(cfg, policy, key_ring, std::move(store), routes, std::move(delivery));
  auto worker_main = [&cfg, &app]() {
    phigate::net::Worker worker(phigate::config::workerOptions(cfg), app);
    return worker.run();
  };
  if (cfg.workers == 1) return worker_main();
  phigate::process::MasterOptions opts;
  opts.workers = cfg.workers;
  opts.drain_timeout_ms = cfg.limits.drain_timeout_ms;
  return phigate::process::runMaster(opts, worker_main);
}
