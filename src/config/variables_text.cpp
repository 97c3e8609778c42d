// The variable table as text: `phigate --help` and README.md's configuration
// table (`phigate --help-config-markdown`). Both read only the table, never
// the environment, so neither can print a configured value.
#include <string>
#include <string_view>

#include "config/text.h"
#include "config/variables.h"

namespace phigate::config {

namespace {

constexpr size_t kHelpWidth = 79;
constexpr std::string_view kNameIndent = "  ";
constexpr std::string_view kTextIndent = "      ";

// What a value looks like: from the kind when it says, else the row's syntax.
std::string acceptedText(const Variable& v) {
  switch (v.kind) {
    case VariableKind::kInteger:
      return std::to_string(v.lo) + "–" + std::to_string(v.hi);
    case VariableKind::kBool:
    case VariableKind::kEnum:
      return join(v.values, ", ", ", ", "`");
    case VariableKind::kIgnored:
      return "anything (ignored)";
    case VariableKind::kString:
    case VariableKind::kSecret:
    case VariableKind::kList:
    case VariableKind::kSpecial:
      break;
  }
  if (!v.doc.syntax.empty()) return std::string(v.doc.syntax);
  return v.kind == VariableKind::kList ? "comma-separated list" : "text";
}

// "`8192`", "`0` (none)", "stdout" or `none`. A secret's row has no value to
// show (secret() refuses one), only its note: "required in production".
std::string defaultText(const Variable& v, std::string_view none) {
  if (v.doc.value.empty()) return std::string(v.doc.note.empty() ? none : v.doc.note);
  std::string out = "`" + std::string(v.doc.value) + "`";
  if (!v.doc.note.empty()) out += " " + std::string(v.doc.note);
  return out;
}

// Terminals show Markdown's code spans as they are; drop their backticks.
std::string plain(std::string_view markdown) {
  std::string out;
  for (char c : markdown) {
    if (c != '`') out.push_back(c);
  }
  return out;
}

// Columns, not bytes: "→" and "–" are one column and three bytes.
size_t columns(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

// Greedy word wrap: `first` before the first line, `rest` before the others.
std::string wrap(std::string_view text, std::string_view first, std::string_view rest) {
  std::string out(first);
  size_t used = columns(first);
  bool line_empty = true;
  while (!text.empty()) {
    const size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
    if (word.empty()) continue;
    if (!line_empty && used + 1 + columns(word) > kHelpWidth) {
      out.append("\n").append(rest);
      used = columns(rest);
      line_empty = true;
    }
    if (!line_empty) {
      out.push_back(' ');
      ++used;
    }
    out.append(word);
    used += columns(word);
    line_empty = false;
  }
  out.push_back('\n');
  return out;
}

}  // namespace

std::string variablesHelpText() {
  std::string out;
  for (const Variable& v : variables()) {
    const std::string head = std::string(v.name) + " (" + plain(acceptedText(v)) +
                             "; default: " + plain(defaultText(v, "none")) + ")";
    out += wrap(head, kNameIndent, kTextIndent);
    out += wrap(plain(v.doc.help), kTextIndent, kTextIndent);
  }
  return out;
}

std::string variablesMarkdownTable() {
  std::string out =
      "| variable | default | accepted | meaning |\n"
      "|---|---|---|---|\n";
  for (const Variable& v : variables()) {
    out += "| `" + std::string(v.name) + "` | " + defaultText(v, "–") + " | " + acceptedText(v) + " | " +
           std::string(v.doc.help) + " |\n";
  }
  return out;
}

}  // namespace phigate::config
