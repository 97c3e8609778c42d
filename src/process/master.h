// The master process: forks N workers, restarts one that dies (with
// exponential backoff), and on SIGTERM/SIGINT asks every worker to drain and
// waits for them (SIGKILL after the drain timeout plus a grace period).
// It owns no socket and no libuv loop: it only supervises.
#pragma once

#include <functional>

namespace phigate::process {

struct MasterOptions {
  int workers = 1;
  unsigned drain_timeout_ms = 10'000;
};

/**
 * Runs the supervisor until shutdown; returns the exit code. `worker_main` is
 * called in each forked child and its return value is the child's exit code.
 */
int runMaster(const MasterOptions& opts, const std::function<int()>& worker_main);

}  // namespace phigate::process
