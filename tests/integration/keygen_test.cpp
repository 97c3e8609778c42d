// `phigate keygen`: the token it prints once works against a server whose
// keys file holds only the line it printed (the token's SHA-256).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <string>

#include "harness.h"
#include "security_fixture.h"

namespace phigate::test {
namespace {

struct KeygenOutput {
  int exit_code = -1;
  std::string token;
  std::string entry;
  std::string all;
};

KeygenOutput keygen(std::vector<std::string> args) {
  ServerOptions o;
  o.workers = 0;  // no --workers flag: the subcommand must come first
  o.args = std::move(args);
  o.args.insert(o.args.begin(), "keygen");
  o.wait_ready = false;
  Server s(o);
  KeygenOutput out;
  const auto status = s.waitExit(5000);
  if (status && WIFEXITED(*status)) out.exit_code = WEXITSTATUS(*status);
  out.all = s.logText();
  const std::string token_label = "keep no copy):\n";
  const size_t t = out.all.find(token_label);
  if (t != std::string::npos) {
    const size_t start = t + token_label.size();
    out.token = out.all.substr(start, out.all.find('\n', start) - start);
  }
  const size_t e = out.all.find("{\"id\"");
  if (e != std::string::npos) out.entry = out.all.substr(e, out.all.find('\n', e) - e);
  return out;
}

TEST(Keygen, PrintedTokenAuthenticatesWithThePrintedEntry) {
  const KeygenOutput k = keygen({"--id", "keygen-app", "--roles", "sms,email"});
  ASSERT_EQ(k.exit_code, 0);
  ASSERT_EQ(k.token.rfind("phg_live_", 0), 0u) << "no token line";
  ASSERT_FALSE(k.entry.empty()) << "no keys-file entry line";
  // The file stores the hash, never the token itself.
  EXPECT_EQ(k.entry.find(k.token), std::string::npos);
  EXPECT_NE(k.entry.find(sha256Hex(k.token)), std::string::npos);

  Server s({.env = {{"API_KEYS_FILE", "keys.json"}},
            .files = {{"keys.json", "{\"keys\": [" + k.entry + "]}"}}});
  ASSERT_TRUE(s.ready());
  EXPECT_EQ(call(s.port(), post("/v1/sms", kSmsBody, k.token)).status, 202);
  EXPECT_EQ(call(s.port(), post("/v1/sms/bulk", kBulkBody, k.token)).status, 403);
  EXPECT_EQ(s.logText().find(k.token), std::string::npos);
}

TEST(Keygen, EveryCallMakesADifferentToken) {
  const KeygenOutput a = keygen({"--id", "a", "--roles", "sms"});
  const KeygenOutput b = keygen({"--id", "a", "--roles", "sms", "--mode", "test"});
  ASSERT_EQ(a.exit_code, 0);
  ASSERT_EQ(b.exit_code, 0);
  EXPECT_NE(a.token, b.token);
  EXPECT_EQ(b.token.rfind("phg_test_", 0), 0u);
  EXPECT_NE(b.entry.find("\"mode\": \"test\""), std::string::npos);
}

TEST(Keygen, RefusesBadArguments) {
  EXPECT_EQ(keygen({"--id", "a", "--roles", "superuser"}).exit_code, 2);
  EXPECT_EQ(keygen({"--id", "bad id", "--roles", "sms"}).exit_code, 2);
  EXPECT_EQ(keygen({"--roles", "sms"}).exit_code, 2);
  EXPECT_EQ(keygen({"--id", "a", "--roles", "sms", "--mode", "staging"}).exit_code, 2);
}

}  // namespace
}  // namespace phigate::test
