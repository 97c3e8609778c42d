// phigate: command line, configuration, then one worker or a master with N.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "api/app.h"
#include "config/config.h"
#include "crypto/random.h"
#include "net/worker.h"
#include "process/master.h"

namespace {

constexpr const char* kUsage =
    "usage: phigate [--workers N] [--env-file PATH] [--check-config] [--help] [--version]\n"
    "\n"
    "  --workers N      worker processes (default: PHIGATE_WORKERS, else one per core\n"
    "                   when RATELIMIT_STORAGE_URI is set, else 1). With 1 there is\n"
    "                   no master process.\n"
    "  --env-file PATH  read this dotenv file instead of ./.env (PHIGATE_ENV_FILE)\n"
    "  --check-config   validate the configuration and exit (0 when valid)\n"
    "  --help           this text\n"
    "  --version        print the version\n"
    "\n"
    "Configuration comes from the environment and an optional .env file; see\n"
    "README.md for every variable. APP_ENV=production refuses to start on weak or\n"
    "missing secrets.\n";

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

// Start-up only: reading the dotenv file blocks, which is fine before any loop.
bool readDotenv(const std::string& path, bool required, phigate::config::EnvMap* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!required) return true;
    fprintf(stderr, "phigate: cannot read the env file named by PHIGATE_ENV_FILE/--env-file\n");
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string error;
  if (!phigate::config::parseDotenv(ss.str(), out, &error)) {
    fprintf(stderr, "phigate: env file %s: %s\n", path.c_str(), error.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
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
  if (args.check_only) {
    fputs("phigate: configuration OK\n", stderr);
    return 0;
  }
  if (std::string err = phigate::api::Router::validate(phigate::api::gatewayRoutes()); !err.empty()) {
    fprintf(stderr, "phigate: %s\n", err.c_str());
    return 1;
  }

  phigate::api::GatewayApp app(cfg, phigate::api::gatewayRoutes());
  auto worker_main = [&cfg, &app]() {
    phigate::net::Worker worker(cfg, app);
    return worker.run();
  };
  if (cfg.workers == 1) return worker_main();
  phigate::process::MasterOptions opts;
  opts.workers = cfg.workers;
  opts.drain_timeout_ms = cfg.limits.drain_timeout_ms;
  return phigate::process::runMaster(opts, worker_main);
}
