// README.md's configuration table, as the tests that keep it equal to
// `phigate --help-config-markdown` read it. tests/meson.build passes the
// source tree as PHIGATE_SOURCE_DIR (the tests run from the build tree).
#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef PHIGATE_SOURCE_DIR
#error "tests/meson.build defines PHIGATE_SOURCE_DIR for the suites that read README.md"
#endif

namespace phigate::test {

inline std::string readmePath() { return std::string(PHIGATE_SOURCE_DIR) + "/README.md"; }

/**
 * The lines of the first table after the "## Configuration" heading, each
 * with its '\n', or nullopt when README.md or the table is missing.
 */
inline std::optional<std::string> readmeConfigTable() {
  std::ifstream in(readmePath());
  if (!in) return std::nullopt;
  std::string line;
  while (std::getline(in, line) && line != "## Configuration") {
  }
  std::string table;
  while (std::getline(in, line)) {
    const bool row = !line.empty() && line.front() == '|';
    if (row) table += line + "\n";
    if (!row && !table.empty()) break;         // the line after the table
    if (!row && line.rfind("## ", 0) == 0) break;  // the next section: no table
  }
  if (table.empty()) return std::nullopt;
  return table;
}

/** The variable names of a table's rows (the first cell, without backticks). */
inline std::vector<std::string> tableVariableNames(std::string_view table) {
  std::vector<std::string> names;
  std::istringstream in{std::string(table)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| `", 0) != 0) continue;  // the header and the separator
    const size_t end = line.find('`', 3);
    if (end != std::string::npos) names.push_back(line.substr(3, end - 3));
  }
  return names;
}

/** The first line where `a` and `b` differ (1-based), for a readable failure. */
inline std::string firstDifference(std::string_view a, std::string_view b) {
  std::istringstream ia{std::string(a)};
  std::istringstream ib{std::string(b)};
  std::string la;
  std::string lb;
  for (int n = 1;; ++n) {
    const bool more_a = static_cast<bool>(std::getline(ia, la));
    const bool more_b = static_cast<bool>(std::getline(ib, lb));
    if (!more_a && !more_b) return "";
    if (!more_a || !more_b || la != lb) {
      return "line " + std::to_string(n) + ":\n  README.md: " + (more_a ? la : "(end)") +
             "\n  generated: " + (more_b ? lb : "(end)");
    }
  }
}

}  // namespace phigate::test
