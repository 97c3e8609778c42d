#include "support/helper_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace phigate::test {

std::string findProgram(const char* name) {
  const char* path = getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string p = dir + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

bool makeTestCertificates(const std::string& dir, const std::string& openssl,
                          std::string_view common_name, std::string_view subject_alt_names) {
  {
    std::ofstream ext(dir + "/ext.cnf");
    ext << "subjectAltName=" << subject_alt_names << "\n";
  }
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string q = " >/dev/null 2>&1";
  const std::string ssl = "'" + openssl + "'";
  const std::string cmd = "cd '" + dir + "' && " + ssl + " req -x509" + ec +
                          " -keyout ca.key -out ca.pem -days 2 -subj /CN=phigate-test-ca" + q + " && " +
                          ssl + " req" + ec + " -keyout srv.key -out srv.csr -subj /CN=" +
                          std::string(common_name) + q + " && " + ssl +
                          " x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem"
                          " -days 2 -extfile ext.cnf" + q;
  return std::system(cmd.c_str()) == 0;
}

std::string pythonWith(const char* module) {
  for (const std::string& p : {std::string("/usr/bin/python3"), findProgram("python3")}) {
    if (p.empty() || access(p.c_str(), X_OK) != 0) continue;
    const std::string cmd = "'" + p + "' -c 'import " + module + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return p;
  }
  return "";
}

bool waitForPorts(pid_t pid, const std::string& file, std::initializer_list<int*> ports, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (pid > 0 && std::chrono::steady_clock::now() < end) {
    std::ifstream in(file);
    bool all = true;
    for (int* p : ports) all = all && static_cast<bool>(in >> *p);
    if (all) return true;
    for (int* p : ports) *p = 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int countLines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

void stopHelper(pid_t* pid, const std::string& dir) {
  if (*pid > 0) {
    kill(*pid, SIGKILL);
    waitpid(*pid, nullptr, 0);
    *pid = -1;
  }
  if (!dir.empty()) std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace phigate::test
