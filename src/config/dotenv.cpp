// The `.env` reader. It is deliberately small: one `NAME=value` per line, no
// variable expansion, no multi-line values. Error messages carry the line
// number and a fixed reason only, because a malformed line is very often a
// secret with a stray quote in it and must not end up in a terminal or a log.
#include <string>
#include <string_view>

#include "config/config.h"

namespace phigate::config {

namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kExport = "export";

bool isBlank(char c) { return c == ' ' || c == '\t'; }

bool isNameStart(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }

std::string_view trimLeft(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trimRight(std::string_view s) {
  while (!s.empty() && isBlank(s.back())) s.remove_suffix(1);
  return s;
}

struct ParsedLine {
  bool is_entry = false;  // false for blank and comment lines
  std::string name;
  std::string value;
};

// After a closing quote only blanks or a comment may follow; anything else is
// almost certainly a quoting mistake, and guessing would corrupt a secret.
const char* checkAfterQuote(std::string_view rest) {
  rest = trimLeft(rest);
  if (rest.empty() || rest.front() == '#') return nullptr;
  return "unexpected text after the closing quote";
}

// `rest` starts just after the opening double quote.
const char* parseDoubleQuoted(std::string_view rest, std::string* value) {
  for (size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (c == '"') return checkAfterQuote(rest.substr(i + 1));
    if (c != '\\') {
      value->push_back(c);
      continue;
    }
    if (i + 1 == rest.size()) break;  // a trailing backslash escapes nothing
    char next = rest[++i];
    switch (next) {
      case 'n': value->push_back('\n'); break;
      case '"': value->push_back('"'); break;
      case '\\': value->push_back('\\'); break;
      default:  // unknown escapes stay literal, as most dotenv readers do
        value->push_back('\\');
        value->push_back(next);
    }
  }
  return "unterminated double-quoted value";
}

// Single quotes are fully literal: no escapes at all.
const char* parseSingleQuoted(std::string_view rest, std::string* value) {
  size_t close = rest.find('\'');
  if (close == std::string_view::npos) return "unterminated single-quoted value";
  value->assign(rest.substr(0, close));
  return checkAfterQuote(rest.substr(close + 1));
}

// An unquoted value ends at a `#` preceded by a blank, so `a#b` keeps its `#`
// (common in generated passwords) while `a # note` drops the note.
void parseUnquoted(std::string_view rest, std::string* value) {
  for (size_t i = 1; i < rest.size(); ++i) {
    if (rest[i] == '#' && isBlank(rest[i - 1])) {
      rest = rest.substr(0, i);
      break;
    }
  }
  value->assign(trimRight(trimLeft(rest)));
}

const char* parseValue(std::string_view rest, std::string* value) {
  std::string_view trimmed = trimLeft(rest);
  char quote = trimmed.empty() ? '\0' : trimmed.front();
  if (quote == '"') return parseDoubleQuoted(trimmed.substr(1), value);
  if (quote == '\'') return parseSingleQuoted(trimmed.substr(1), value);
  parseUnquoted(rest, value);
  return nullptr;
}

// `export NAME=value` is accepted so one file can also be sourced by a shell.
std::string_view stripExport(std::string_view line) {
  if (line.size() > kExport.size() && line.substr(0, kExport.size()) == kExport &&
      isBlank(line[kExport.size()])) {
    return trimLeft(line.substr(kExport.size()));
  }
  return line;
}

// Returns nullptr on success, else a fixed reason that never quotes the line.
const char* parseLine(std::string_view line, ParsedLine* out) {
  if (line.find('\0') != std::string_view::npos) return "contains a NUL byte";
  line = trimLeft(line);
  if (line.empty() || line.front() == '#') return nullptr;
  line = stripExport(line);
  if (line.empty()) return "expected NAME=value";
  if (!isNameStart(line.front())) return "invalid variable name";
  size_t end = 1;
  while (end < line.size() && isNameChar(line[end])) ++end;
  std::string_view after_name = trimLeft(line.substr(end));
  if (after_name.empty() || after_name.front() != '=') return "expected NAME=value";
  out->is_entry = true;
  out->name.assign(line.substr(0, end));
  return parseValue(after_name.substr(1), &out->value);
}

}  // namespace

// Entries are collected first and merged into `out` only when the whole text
// parsed, so a broken file never yields a half-applied configuration.
bool parseDotenv(std::string_view text, EnvMap* out, std::string* error) {
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
  EnvMap parsed;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF files
    ParsedLine parsed_line;
    if (const char* reason = parseLine(line, &parsed_line)) {
      if (error) *error = "line " + std::to_string(line_number) + ": " + reason;
      return false;
    }
    if (parsed_line.is_entry) {
      parsed.insert_or_assign(std::move(parsed_line.name), std::move(parsed_line.value));
    }
  }
  for (auto& [name, value] : parsed) out->insert_or_assign(name, std::move(value));
  return true;
}

}  // namespace phigate::config
