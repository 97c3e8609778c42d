// Starting a server process for a test: the one fork/exec both the phigate
// harness and the redis-server helper use.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace phigate::test {

struct SpawnOptions {
  std::vector<std::string> args;      // args[0] is the program's path
  const std::vector<std::string>* env = nullptr;  // "K=V" strings; null: inherit ours
  std::string dir;                    // working directory; empty: ours
  std::string output;                 // stdout and stderr go here
  bool truncate_output = false;       // else appended to
};

/**
 * Forks and execs. The child reads /dev/null, has every signal unblocked
 * and SIGPIPE at its default, and dies with the test binary (a CI timeout
 * that kills the tests takes their servers along). Returns its pid, or -1
 * with *error saying why.
 */
pid_t spawnServer(const SpawnOptions& opts, std::string* error);

}  // namespace phigate::test
