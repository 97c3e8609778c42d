#include "support/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace phigate::test {

pid_t spawnServer(const SpawnOptions& opts, std::string* error) {
  // Everything the child needs is built before fork: it only calls
  // async-signal-safe functions.
  std::vector<std::string> args = opts.args;
  std::vector<std::string> env = opts.env != nullptr ? *opts.env : std::vector<std::string>{};
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (opts.truncate_output ? O_TRUNC : 0);
  const int out = ::open(opts.output.c_str(), flags, 0600);
  if (out < 0) {
    *error = "cannot open " + opts.output;
    return -1;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    ::close(out);
    *error = std::string("fork failed: ") + strerror(errno);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // survives execve
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out, 1);
    dup2(out, 2);
    if (!opts.dir.empty() && chdir(opts.dir.c_str()) != 0) _exit(127);
    if (opts.env != nullptr) {
      execve(argv[0], argv.data(), envp.data());
    } else {
      execv(argv[0], argv.data());
    }
    _exit(127);
  }
  ::close(out);
  return pid;
}

}  // namespace phigate::test
