// `phigate --help` and `--help-config-markdown` through the real binary:
// the flags, then every variable of README.md's table, and never a value of
// the environment it runs in (help is printed before any configuration is
// read; this holds it to that).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <map>
#include <string>
#include <vector>

#include "harness.h"
#include "support/readme_table.h"

namespace phigate::test {
namespace {

struct HelpRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

HelpRun runPhigate(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  ServerOptions o;
  o.workers = 0;  // no --workers flag
  o.args = std::move(args);
  o.env = std::move(env);
  o.wait_ready = false;
  Server s(o);
  HelpRun run;
  const auto status = s.waitExit(5000);
  if (status && WIFEXITED(*status)) run.exit_code = WEXITSTATUS(*status);
  run.output = s.logText();
  return run;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Values a careless --help might echo: each one unique and easy to find.
const std::map<std::string, std::string> kMarkedSecrets = {
    {"SECRET_KEY", "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9MARK"},
    {"ENCRYPTION_KEY", "MARKencryptionValue"},
    {"SMS_API_KEY", "MARKsmsTokenValue-0123456789abcdef"},
    {"ADMIN_API_KEY", "MARKadminTokenValue-0123456789abcdef"},
    {"ENCRYPTION_KEYS_OLD", "MARKoldKeyValue"},
    {"RATELIMIT_STORAGE_URI", "redis://:MARKredisPassword@127.0.0.1:6379/0"},
};

TEST(Help, ListsTheFlagsThenEveryVariable) {
  const std::optional<std::string> table = readmeConfigTable();
  ASSERT_TRUE(table.has_value()) << readmePath();
  const HelpRun run = runPhigate({"--help"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  for (const char* flag : {"--workers N", "--env-file PATH", "--check-config",
                           "--help-config-markdown", "--version", "keygen"}) {
    EXPECT_TRUE(contains(run.output, flag)) << flag;
  }
  const std::vector<std::string> names = tableVariableNames(*table);
  ASSERT_GT(names.size(), 40u);
  for (const std::string& name : names) {
    EXPECT_TRUE(contains(run.output, "\n  " + name + " (")) << name;
  }
  EXPECT_TRUE(contains(run.output, "SECRET_KEY (64 hex characters"));
  EXPECT_TRUE(contains(run.output, "required in production"));
}

TEST(Help, NeverPrintsAConfiguredValue) {
  for (const char* flag : {"--help", "--help-config-markdown"}) {
    const HelpRun run = runPhigate({flag}, kMarkedSecrets);
    ASSERT_EQ(run.exit_code, 0) << flag << ": " << run.output;
    EXPECT_FALSE(contains(run.output, "MARK")) << flag << " printed a configured value";
  }
}

// The binary's Markdown is README.md's table (the unit test compares the
// renderer with README.md; this one, what `phigate` actually prints).
TEST(Help, ConfigMarkdownIsTheReadmeTable) {
  const std::optional<std::string> table = readmeConfigTable();
  ASSERT_TRUE(table.has_value()) << readmePath();
  const HelpRun run = runPhigate({"--help-config-markdown"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(run.output == *table) << "first difference at " << firstDifference(*table, run.output);
}

}  // namespace
}  // namespace phigate::test
