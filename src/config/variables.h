// The configuration variables, one table row each: name, kind, accepted
// values, default and meaning, and how a value reaches the Config. Parsing,
// unknown-name detection, `phigate --help` and README.md's configuration table
// all come from this one table (as h2o's configurator commands are named,
// parsed and documented in one place), so a new variable is one new row and
// the documentation cannot fall behind the code.
//
// Rules that span several variables (production fail-fast, the workers
// default, development secrets) stay named functions of the loader
// (config.cpp); rows only say how one value is read.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"

namespace phigate::config {

enum class VariableKind : uint8_t {
  kString,   // copied as given (a path; text a later layer parses)
  kSecret,   // copied as given; documented without a value, never printed
  kList,     // a comma-separated list, copied; parsed by the layer that uses it
  kInteger,  // decimal digits only, within [lo, hi]
  kBool,     // one of `values` (true/false/1/0/yes/no), any case
  kEnum,     // one of `values`, any case
  kSpecial,  // a syntax of its own, parsed by the row's function
  kIgnored,  // accepted so the Flask guide's .env files load; no effect
};

struct Variable;

/**
 * Reads a non-empty `value` of `row` into `config` (an empty value counts as
 * unset and never gets here). False with `error` naming the variable and the
 * rule, never the value.
 */
using ApplyVariable = bool (*)(const Variable& row, std::string_view value, Config& config,
                               std::string* error);

// A row's documentation; every text is Markdown (--help strips the backticks).
struct VariableDoc {
  std::string_view value;   // the default as one writes it in the environment; "" if it has none
  std::string_view note;    // words that describe the default, or qualify `value`
  std::string_view syntax;  // what a value looks like, when the kind does not say it
  std::string_view help;    // one line: what the variable does (README's "meaning")
};

struct Variable {
  std::string_view name;
  VariableKind kind = VariableKind::kString;
  VariableDoc doc;
  uint64_t lo = 0;  // kInteger: the accepted range
  uint64_t hi = 0;
  std::span<const std::string_view> values;  // kBool, kEnum: accepted spellings
  ApplyVariable apply = nullptr;  // null: it changes no Config field (see the row)
  // Read by a rule of the loader instead of the table pass, because another
  // input decides whether it counts (PHIGATE_WORKERS: --workers wins).
  bool by_rule = false;
};

/** Every variable, in the order of --help and the README. */
std::span<const Variable> variables();

/** The row named `name` (exact, case-sensitive), nullptr if there is none. */
const Variable* findVariable(std::string_view name);

/** "NAME must be an integer between LO and HI": the one wording of a range error. */
std::string rangeError(std::string_view name, uint64_t lo, uint64_t hi);

/**
 * Every variable as plain text for `phigate --help`: name, accepted values,
 * default and meaning, wrapped for a terminal. Rendered from the table alone
 * (no environment is read), so no secret's value can appear in it.
 */
std::string variablesHelpText();

/**
 * README.md's configuration table (`phigate --help-config-markdown`): one
 * Markdown row per variable, every line ending in '\n'. A unit test keeps
 * README.md equal to it.
 */
std::string variablesMarkdownTable();

}  // namespace phigate::config
