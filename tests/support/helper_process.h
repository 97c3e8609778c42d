// Test helper processes (the python3 servers in tests/support/*.py) and the
// TLS material they serve: a throw-away CA and a server certificate made
// with the openssl CLI, the helper started, its ports read from the file it
// writes them to, and both cleaned up. Shared by the HTTP and SMTP client
// tests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace phigate::test {

/** `name` on $PATH (executable), or "". */
std::string findProgram(const char* name);

/** A python3 that can import `module`: Debian's /usr/bin/python3 (where python3-* packages go) first, then PATH's; or "". */
std::string pythonWith(const char* module);

/**
 * In `dir`: ca.pem (a CA), srv.pem / srv.key (its server certificate for
 * `common_name`, with `subject_alt_names` such as "DNS:localhost"). False
 * when openssl fails.
 */
bool makeTestCertificates(const std::string& dir, const std::string& openssl,
                          std::string_view common_name, std::string_view subject_alt_names);

/** Reads the helper's ports (whitespace-separated) from `file` until all are there, or the time is up. */
bool waitForPorts(pid_t pid, const std::string& file, std::initializer_list<int*> ports,
                  int timeout_ms = 10'000);

/** A file's bytes ("" when it cannot be read). */
std::string readFile(const std::string& path);

/** How many lines a file has (0 when it cannot be read): helpers append one per event. */
int countLines(const std::string& path);

/** Kills the helper and removes its directory (either may be unset). */
void stopHelper(pid_t* pid, const std::string& dir);

}  // namespace phigate::test
