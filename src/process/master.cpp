#include "process/master.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <vector>

#include "common/backoff.h"
#include "common/event_line.h"
#include "crypto/random.h"

namespace phigate::process {

namespace {

constexpr long kInitialBackoffMs = 100;
constexpr long kMaxBackoffMs = 5000;
constexpr long kStableAfterMs = 10'000;  // a worker that lived this long resets its backoff
constexpr long kKillGraceMs = 2000;

struct Slot {
  pid_t pid = 0;
  long started_ms = 0;
  long restart_at_ms = 0;  // when pid == 0: when to fork again
  Backoff backoff{kInitialBackoffMs, kMaxBackoffMs};  // exact: 100 ms doubling to 5 s
};

long nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1'000'000;
}

void logLine(const char* event, int slot, pid_t pid, long extra_ms, int status) {
  EventLine line(event);
  line.num("worker", slot).num("pid", pid);
  if (status >= 0) {
    if (WIFSIGNALED(status)) {
      line.num("signal", WTERMSIG(status));
    } else {
      line.num("exit_code", WEXITSTATUS(status));
    }
  }
  if (extra_ms >= 0) line.num("restart_in_ms", extra_ms);
  line.emit();
}

pid_t spawn(const std::function<int()>& worker_main, const sigset_t& old_mask, pid_t master) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: die with the master (no orphaned workers holding the port), then
  // run with the signal mask the process started with.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != master) _exit(0);
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  crypto::resetRandomPool();
  fflush(nullptr);
  _exit(worker_main());
}

}  // namespace

int runMaster(const MasterOptions& opts, const std::function<int()>& worker_main) {
  sigset_t set, old_mask;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, &old_mask);
  const pid_t master = getpid();

  std::vector<Slot> slots(static_cast<size_t>(opts.workers));
  for (size_t i = 0; i < slots.size(); ++i) {
    slots[i].pid = spawn(worker_main, old_mask, master);
    slots[i].started_ms = nowMs();
    logLine("worker_spawned", static_cast<int>(i), slots[i].pid, -1, -1);
  }

  bool stopping = false;
  long kill_at_ms = 0;
  for (;;) {
    // Reap every child that has exited.
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (size_t i = 0; i < slots.size(); ++i) {
        if (slots[i].pid != pid) continue;
        Slot& s = slots[i];
        s.pid = 0;
        if (stopping) {
          logLine("worker_exited", static_cast<int>(i), pid, -1, status);
          break;
        }
        const long now = nowMs();
        if (now - s.started_ms >= kStableAfterMs) s.backoff.reset();
        const long delay = static_cast<long>(s.backoff.next());
        s.restart_at_ms = now + delay;
        logLine("worker_died", static_cast<int>(i), pid, delay, status);
      }
    }
    const long now = nowMs();
    bool alive = false;
    long wake_ms = 1000;
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (s.pid == 0 && !stopping && now >= s.restart_at_ms) {
        s.pid = spawn(worker_main, old_mask, master);
        s.started_ms = now;
        logLine("worker_spawned", static_cast<int>(i), s.pid, -1, -1);
      }
      if (s.pid != 0) alive = true;
      if (s.pid == 0 && !stopping) wake_ms = std::min(wake_ms, std::max(0L, s.restart_at_ms - now));
    }
    if (stopping && !alive) return 0;
    if (stopping && now >= kill_at_ms) {
      for (Slot& s : slots) {
        if (s.pid != 0) kill(s.pid, SIGKILL);
      }
    }

    timespec timeout{wake_ms / 1000, (wake_ms % 1000) * 1'000'000};
    siginfo_t info;
    const int sig = sigtimedwait(&set, &info, &timeout);
    if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
      stopping = true;
      kill_at_ms = nowMs() + static_cast<long>(opts.drain_timeout_ms) + kKillGraceMs;
      for (Slot& s : slots) {
        if (s.pid != 0) kill(s.pid, SIGTERM);
      }
      EventLine("draining").num("workers", opts.workers).emit();
    }
    // SIGHUP (reload) is accepted and ignored until there is something to reload.
  }
}

}  // namespace phigate::process
