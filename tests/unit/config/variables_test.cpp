// The variable table: what it documents is what the loader does, and
// README.md's configuration table is exactly what it renders.
#include "config/variables.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>
#include <string>

#include "crypto/random.h"
#include "pipeline/phone.h"
#include "support/readme_table.h"

namespace phigate::config {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kEncryption = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

// Fixed secrets, so two loads differ only by what a test sets.
EnvMap baseEnv() { return {{"SECRET_KEY", kSecret}, {"ENCRYPTION_KEY", kEncryption}}; }

LoadResult load(const EnvMap& env) { return loadConfig(env, {}, std::nullopt, 4); }

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

class VariablesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::initCrypto()); }
};

// ---------------------------------------------------------------- README.md

// The README's copy is regenerated, never edited: a new row or a changed
// help text shows up here until README.md is updated.
TEST_F(VariablesTest, ReadmeTableIsTheGeneratedOne) {
  const std::optional<std::string> readme = test::readmeConfigTable();
  ASSERT_TRUE(readme.has_value()) << "no table after \"## Configuration\" in " << test::readmePath();
  const std::string generated = variablesMarkdownTable();
  // Not EXPECT_EQ: two 50-line tables in full would hide the one line that differs.
  EXPECT_TRUE(*readme == generated)
      << "README.md's configuration table differs from `build/phigate --help-config-markdown`; "
         "`make readme-config` writes that output into README.md. First difference at "
      << test::firstDifference(*readme, generated);
}

TEST_F(VariablesTest, MarkdownHasOneRowPerVariable) {
  const std::vector<std::string> names = test::tableVariableNames(variablesMarkdownTable());
  ASSERT_EQ(names.size(), variables().size());
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(names[i], variables()[i].name);
}

// A '|' would split a cell and a line break would end the row.
TEST_F(VariablesTest, TextsFitInATableCell) {
  for (const Variable& v : variables()) {
    for (std::string_view text : {v.doc.value, v.doc.note, v.doc.syntax, v.doc.help}) {
      EXPECT_FALSE(contains(text, "|")) << v.name;
      EXPECT_FALSE(contains(text, "\n")) << v.name;
    }
  }
}

// ---------------------------------------------------------------- the table

TEST_F(VariablesTest, NamesAreUniqueAndFound) {
  std::set<std::string_view> names;
  for (const Variable& v : variables()) {
    EXPECT_TRUE(names.insert(v.name).second) << v.name << " twice";
    EXPECT_EQ(findVariable(v.name), &v);
  }
  EXPECT_EQ(findVariable("PHIGATE_NOPE"), nullptr);
  EXPECT_EQ(findVariable("phigate_listen"), nullptr);  // names are case-sensitive
}

// Writing the documented default must change nothing: the table cannot
// claim a default the loader does not have.
TEST_F(VariablesTest, EveryDocumentedDefaultIsTheDefault) {
  const LoadResult defaults = load(baseEnv());
  ASSERT_TRUE(defaults.config.has_value()) << defaults.error;
  for (const Variable& v : variables()) {
    if (v.doc.value.empty()) continue;
    EnvMap env = baseEnv();
    env[std::string(v.name)] = std::string(v.doc.value);
    const LoadResult r = load(env);
    ASSERT_TRUE(r.config.has_value()) << v.name << ": " << r.error;
    EXPECT_TRUE(*r.config == *defaults.config) << v.name << "=" << v.doc.value;
  }
}

// A row without a field must say so by its kind: anything else would be a
// variable that is accepted and silently does nothing.
TEST_F(VariablesTest, OnlyIgnoredRowsAndTheEnvFileChangeNoField) {
  for (const Variable& v : variables()) {
    if (v.apply != nullptr) continue;
    EXPECT_TRUE(v.kind == VariableKind::kIgnored || v.name == "PHIGATE_ENV_FILE") << v.name;
  }
}

TEST_F(VariablesTest, IntegerRowsRefuseTheirOutsideWithTheRangeError) {
  for (const Variable& v : variables()) {
    if (v.kind != VariableKind::kInteger) continue;
    const std::string expected = rangeError(v.name, v.lo, v.hi);
    for (uint64_t outside : {v.lo - 1, v.hi + 1}) {
      if (outside == UINT64_MAX) continue;  // lo = 0: nothing below
      const LoadResult r = load({{std::string(v.name), std::to_string(outside)}});
      EXPECT_EQ(r.error, expected) << v.name << "=" << outside;
    }
    for (uint64_t inside : {v.lo, v.hi}) {
      EnvMap env = {{std::string(v.name), std::to_string(inside)}};
      // Rules across variables: the partner takes a value that lets this
      // one's whole range load (config.cpp, checkDelivery).
      if (v.name == "PHIGATE_RETRY_MIN_MS") env["PHIGATE_RETRY_MAX_MS"] = std::to_string(v.hi);
      if (v.name == "PHIGATE_RETRY_MAX_MS") env["PHIGATE_RETRY_MIN_MS"] = "10";
      if (v.name == "PHIGATE_PROVIDER_TIMEOUT_MS") env["PHIGATE_VISIBILITY_TIMEOUT_S"] = "1200";
      if (v.name == "PHIGATE_VISIBILITY_TIMEOUT_S") env["PHIGATE_PROVIDER_TIMEOUT_MS"] = "1000";
      const LoadResult r = load(env);
      EXPECT_TRUE(r.config.has_value()) << v.name << "=" << inside << ": " << r.error;
    }
  }
}

TEST_F(VariablesTest, EnumAndBoolRowsAcceptEverySpellingInAnyCase) {
  for (const Variable& v : variables()) {
    if (v.kind != VariableKind::kEnum && v.kind != VariableKind::kBool) continue;
    ASSERT_FALSE(v.values.empty()) << v.name;
    for (std::string_view spelling : v.values) {
      for (const std::string& value : {std::string(spelling), upper(spelling)}) {
        // APP_ENV=production then fails for want of secrets, DEBUG=true in
        // production would too: only the row's own refusal counts here.
        const LoadResult r = load({{std::string(v.name), value}});
        EXPECT_FALSE(contains(r.error, std::string(v.name) + " must be")) << v.name << "=" << value;
      }
    }
    EXPECT_TRUE(contains(load({{std::string(v.name), "neither"}}).error, v.name)) << v.name;
  }
}

TEST_F(VariablesTest, SecretsHaveNoDefaultValue) {
  for (const Variable& v : variables()) {
    if (v.kind != VariableKind::kSecret) continue;
    EXPECT_TRUE(v.doc.value.empty()) << v.name;
  }
  for (const char* name : {"SECRET_KEY", "ENCRYPTION_KEY", "SMS_API_KEY", "ADMIN_API_KEY",
                           "ENCRYPTION_KEYS_OLD", "RATELIMIT_STORAGE_URI"}) {
    ASSERT_NE(findVariable(name), nullptr) << name;
    EXPECT_EQ(findVariable(name)->kind, VariableKind::kSecret) << name;
  }
}

TEST_F(VariablesTest, RegionSyntaxNamesEveryRegion) {
  const Variable* region = findVariable("PHIGATE_DEFAULT_REGION");
  ASSERT_NE(region, nullptr);
  for (const pipeline::PhoneRegion& r : pipeline::phoneRegions()) {
    EXPECT_TRUE(contains(region->doc.syntax, "`" + std::string(r.name) + "`")) << r.name;
  }
}

// ---------------------------------------------------------------- --help

TEST_F(VariablesTest, HelpTextHasEveryVariableWithItsDefaultAndMeaning) {
  const std::string help = variablesHelpText();
  for (const Variable& v : variables()) {
    const size_t at = help.find("\n  " + std::string(v.name) + " (");
    const bool first = help.rfind("  " + std::string(v.name) + " (", 0) == 0;
    EXPECT_TRUE(first || at != std::string::npos) << v.name;
    if (!v.doc.value.empty()) {
      EXPECT_TRUE(contains(help, std::string(v.doc.value))) << v.name;
    }
  }
  EXPECT_FALSE(contains(help, "`")) << "Markdown code spans are for the README";
  EXPECT_TRUE(contains(help, "required in production"));
}

size_t columns(std::string_view line) {
  return static_cast<size_t>(std::count_if(line.begin(), line.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// Wrapped for an 80-column terminal, but a word longer than a line (the
// default of PHIGATE_RATE_LIMITS) is never cut.
TEST_F(VariablesTest, HelpTextFitsATerminal) {
  std::istringstream in(variablesHelpText());
  std::string line;
  while (std::getline(in, line)) {
    if (columns(line) <= 79) continue;
    const std::string_view word = std::string_view(line).substr(line.find_first_not_of(' '));
    EXPECT_FALSE(contains(word, " ")) << "too long: " << line;
  }
}

}  // namespace
}  // namespace phigate::config
