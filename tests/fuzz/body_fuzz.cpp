// libFuzzer target: JSON request bodies -> pipeline::BodyValidator (DESIGN §3,
// §7). Every input is validated as an SMS, a bulk SMS and an email body, and
// each answer is checked against oracles that share no code with the
// validator:
//
//  * a strict RFC 8259 recogniser written here (grammar, UTF-8, escapes,
//    nesting depth) decides whether the body must be kMalformed, and with
//    which code. simdjson's own DOM parser is no good as that oracle: it
//    refuses 1e999 (valid JSON, range error) and lets depth up to 1024 pass;
//  * simdjson's DOM front end (not the On-Demand one the validator uses)
//    re-reads every accepted body, and the validator's output fields must be
//    exactly the DOM's strings for the same keys;
//  * accepted values are re-checked against the documented rules (phone
//    numbers normalised to E.164 under PHIGATE_DEFAULT_REGION=IN, template
//    id, sender id, lengths, email shape, header-safe subject and addresses,
//    control characters in SMS text and email bodies);
//  * the error list keeps its contract (one "" error for kMalformed, none for
//    kOk, at most kMaxErrors, field paths that cannot carry client text,
//    "allowed" names exactly on unknown_field errors);
//  * validating the same body again after the other schemas gives the same
//    answer (the parser and buffers are reused across calls).
//
// A failed check prints what broke and aborts, which libFuzzer reports as a
// crash with the input saved.
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline/body_schema.h"

namespace phigate::fuzz {
namespace {

using pipeline::BodyStatus;
using pipeline::BodyValidator;
using pipeline::EmailMessage;
using pipeline::FieldError;
using pipeline::SmsMessage;

[[noreturn]] void failCheck(const char* what, std::string_view detail = {}) {
  fprintf(stderr, "body_fuzz: invariant broken: %s %.*s\n", what, static_cast<int>(detail.size()),
          detail.data());
  abort();
}

void require(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) failCheck(what, detail);
}

// ---- the independent JSON oracle ---------------------------------------------

/** What a strict RFC 8259 reader says about a text. */
struct Verdict {
  bool well_formed = false;  // grammar, UTF-8, escapes and surrogate pairs all fine
  bool root_is_object = false;
  int max_depth = 0;         // deepest array/object, the top level being 1
};

/**
 * Recursive descent over the RFC 8259 grammar. It is stricter than the RFC
 * in the two places simdjson (and so the gateway) is stricter on purpose: a
 * \u escape of an unpaired surrogate is refused (it has no UTF-8 form), and
 * so is a byte-order mark. Recursion stops at kGiveUpDepth: past
 * BodyValidator::kMaxDepth the answer is kMalformed whatever follows.
 */
class JsonOracle {
 public:
  explicit JsonOracle(std::string_view text) : s_(text) {}

  Verdict run() {
    Verdict v;
    skipWs();
    v.root_is_object = pos_ < s_.size() && s_[pos_] == '{';
    bool ok = value(1);
    skipWs();
    ok = ok && pos_ == s_.size();
    v.well_formed = ok && !gave_up_;
    v.max_depth = max_depth_;
    return v;
  }

 private:
  static constexpr int kGiveUpDepth = 64;

  bool value(int depth) {
    if (pos_ >= s_.size()) return false;
    switch (s_[pos_]) {
      case '{': return container(depth, '}', true);
      case '[': return container(depth, ']', false);
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  bool container(int depth, char close, bool is_object) {
    if (depth > max_depth_) max_depth_ = depth;
    if (depth >= kGiveUpDepth) {
      gave_up_ = true;
      return false;
    }
    ++pos_;
    skipWs();
    if (pos_ < s_.size() && s_[pos_] == close) {
      ++pos_;
      return true;
    }
    for (;;) {
      if (is_object) {
        if (pos_ >= s_.size() || s_[pos_] != '"' || !string()) return false;
        skipWs();
        if (pos_ >= s_.size() || s_[pos_] != ':') return false;
        ++pos_;
        skipWs();
      }
      if (!value(depth + 1)) return false;
      skipWs();
      if (pos_ >= s_.size()) return false;
      if (s_[pos_] == close) {
        ++pos_;
        return true;
      }
      if (s_[pos_] != ',') return false;
      ++pos_;
      skipWs();
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool digits() {
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  bool number() {
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
    } else if (pos_ >= s_.size() || s_[pos_] < '1' || s_[pos_] > '9' || !digits()) {
      return false;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!digits()) return false;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digits()) return false;
    }
    return true;
  }

  bool hex4(uint32_t* out) {
    if (s_.size() - pos_ < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        v |= static_cast<uint32_t>((c | 0x20) - 'a' + 10);
      } else {
        return false;
      }
    }
    *out = v;
    return true;
  }

  // One UTF-8 sequence starting at pos_ (already known to be >= 0x80).
  bool utf8Sequence() {
    const auto b0 = static_cast<unsigned char>(s_[pos_]);
    size_t len;
    uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
      cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      cp = b0 & 0x0Fu;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      cp = b0 & 0x07u;
    } else {
      return false;
    }
    if (s_.size() - pos_ < len) return false;
    for (size_t i = 1; i < len; ++i) {
      const auto b = static_cast<unsigned char>(s_[pos_ + i]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    pos_ += len;
    return true;
  }

  bool string() {
    ++pos_;  // the opening quote
    while (pos_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c >= 0x80) {
        if (!utf8Sequence()) return false;
        continue;
      }
      ++pos_;
      if (c != '\\') continue;
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      if (e == 'u') {
        uint32_t cp;
        if (!hex4(&cp)) return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate first
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low;
          if (s_.substr(pos_, 2) != "\\u") return false;
          pos_ += 2;
          if (!hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;  // unterminated
  }

  void skipWs() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  int max_depth_ = 0;
  bool gave_up_ = false;
};

// ---- independent re-statements of the documented value rules -----------------

bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool isAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// ^\+?[1-9]\d{5,14}$
bool phoneRule(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.size() < 6 || s.size() > 15 || s.front() == '0') return false;
  for (char c : s) {
    if (!isAsciiDigit(c)) return false;
  }
  return true;
}

// The documented E.164 normalisation for the default region IN: the number
// that must come out for `s`, or nullopt when it must be refused.
std::optional<std::string> e164Rule(std::string_view s) {
  const bool plus = !s.empty() && s.front() == '+';
  const std::string_view digits = s.substr(plus ? 1 : 0);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), isAsciiDigit)) return std::nullopt;
  std::string intl;
  if (plus) {
    intl = digits;
  } else if (digits.front() == '0') {
    intl = "91" + std::string(digits.substr(1));  // trunk prefix: national
  } else if (digits.size() == 10) {
    intl = "91" + std::string(digits);            // a national mobile's length
  } else {
    intl = digits;                                // international without '+'
  }
  const bool ok = intl.starts_with("91")
                      ? intl.size() == 12 && intl[2] >= '6' && intl[2] <= '9'
                      : phoneRule(intl);
  if (!ok) return std::nullopt;
  return "+" + intl;
}

bool templateIdRule(std::string_view s) {
  if (s.size() < 12 || s.size() > 19) return false;
  for (char c : s) {
    if (!isAsciiDigit(c)) return false;
  }
  return true;
}

bool senderIdRule(std::string_view s) {
  if (s.size() != 6) return false;
  for (char c : s) {
    if (!isAsciiLetter(c)) return false;
  }
  return true;
}

// The documented regex, ^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$:
// the validator may refuse more (it narrows it), never accept more.
bool emailRegexRule(std::string_view s) {
  const size_t at = s.find('@');
  if (at == 0 || at == std::string_view::npos) return false;
  for (char c : s.substr(0, at)) {
    if (!isAsciiLetter(c) && !isAsciiDigit(c) && std::string_view("._%+-").find(c) == std::string_view::npos) {
      return false;
    }
  }
  const std::string_view domain = s.substr(at + 1);
  const size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || domain.size() - dot - 1 < 2) return false;
  for (char c : domain.substr(0, dot)) {
    if (!isAsciiLetter(c) && !isAsciiDigit(c) && c != '.' && c != '-') return false;
  }
  for (char c : domain.substr(dot + 1)) {
    if (!isAsciiLetter(c)) return false;
  }
  return true;
}

// Code points of valid UTF-8 (the oracle above already checked validity of
// the document; the validator's outputs are re-checked here on their own).
std::optional<uint32_t> codePoints(std::string_view s) {
  uint32_t n = 0;
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t len = b0 < 0x80 ? 1 : b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3
               : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
    if (len == 0 || s.size() - i < len) return std::nullopt;
    uint32_t cp = len == 1 ? b0 : b0 & (0x7Fu >> len);
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) ||
        cp > 0x10FFFF) {
      return std::nullopt;
    }
    i += len;
    ++n;
  }
  return n;
}

// Decodes valid UTF-8 (checked by codePoints first) one code point at a time.
template <typename Pred>
bool noCodePoint(std::string_view s, Pred bad) {
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    const size_t len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? b0 : b0 & (0x7Fu >> len);
    for (size_t k = 1; k < len && i + k < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
    }
    if (bad(cp)) return false;
    i += len;
  }
  return true;
}

// Subjects and addresses: no C0 (TAB too), DEL, C1, U+2028, U+2029.
bool headerSafe(std::string_view s) {
  return codePoints(s) && noCodePoint(s, [](uint32_t cp) {
           return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
         });
}

// SMS text: no C0 but LF, no DEL.
bool smsSafe(std::string_view s) {
  return noCodePoint(s, [](uint32_t cp) { return (cp < 0x20 && cp != '\n') || cp == 0x7F; });
}

// ---- checks on one validate call ----------------------------------------------

/** The answer of one call, copied (errors() views die at the next call). */
struct Answer {
  BodyStatus status;
  std::vector<std::pair<std::string, std::string>> errors;
  bool operator==(const Answer&) const = default;
};

Answer capture(BodyStatus status, std::span<const FieldError> errors) {
  Answer a{status, {}};
  for (const FieldError& e : errors) a.errors.emplace_back(e.field, e.code);
  return a;
}

// Field paths are built from our own names and indexes only (an unknown key
// is reported as its object's path): they can never carry client text.
bool isPathChar(char c) {
  return isAsciiLetter(c) || isAsciiDigit(c) || c == '_' || c == '.' || c == '[' || c == ']';
}

void checkErrorContract(const Answer& a) {
  require(a.errors.size() <= BodyValidator::kMaxErrors, "more than kMaxErrors errors");
  switch (a.status) {
    case BodyStatus::kOk: require(a.errors.empty(), "kOk with errors"); break;
    case BodyStatus::kMalformed:
      require(a.errors.size() == 1 && a.errors[0].first.empty(), "kMalformed needs exactly one \"\" error");
      break;
    case BodyStatus::kInvalid: require(!a.errors.empty(), "kInvalid without errors"); break;
  }
  for (const auto& [field, code] : a.errors) {
    require(!code.empty(), "error without a code");
    for (char c : field) require(isPathChar(c), "unsafe character in an error path", field);
  }
}

// "allowed" comes with unknown_field, names the object's own fields, and
// never with any other code; the path of an unknown_field is an object's.
void checkAllowed(std::span<const FieldError> errors) {
  for (const FieldError& e : errors) {
    const bool unknown = e.code == "unknown_field";
    require(unknown == !e.allowed.empty(), "allowed names on the wrong errors", e.code);
    if (unknown) {
      require(e.field.empty() || (e.field.starts_with("messages[") && e.field.back() == ']'),
              "unknown_field not reported at an object's path", e.field);
    }
  }
}

/** The answer must be the one the oracle's verdict demands. */
void checkAgainstOracle(const Verdict& v, size_t size, const Answer& a) {
  const std::string_view code = a.errors.empty() ? std::string_view{} : a.errors[0].second;
  if (size == 0 || !v.well_formed) {
    // Not JSON (or deeper than the oracle follows): always refused.
    require(a.status == BodyStatus::kMalformed, "a body that is not JSON was not kMalformed");
    return;
  }
  if (v.max_depth > BodyValidator::kMaxDepth) {
    require(a.status == BodyStatus::kMalformed && code == "too_deep", "deep JSON not refused as too_deep",
            code);
    return;
  }
  if (!v.root_is_object) {
    require(a.status == BodyStatus::kMalformed && code == "not_object",
            "a JSON non-object not refused as not_object", code);
    return;
  }
  require(a.status != BodyStatus::kMalformed, "a well-formed JSON object was refused as malformed", code);
}

// ---- accepted bodies: the DOM must agree with every output field ---------------

std::string_view domString(simdjson::dom::object obj, std::string_view key) {
  std::string_view s;
  // Absent (or, impossible for an accepted body, not a string): empty.
  if (obj[key].get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

// `obj` holds the message's other fields: the SMS object itself, or the bulk
// list form's top level (shared by every recipient); `to` is its recipient.
void checkAcceptedSms(const SmsMessage& m, simdjson::dom::object obj, std::string_view to) {
  const std::optional<std::string> e164 = e164Rule(to);
  require(e164.has_value(), "accepted sms: 'to' breaks the phone rules", to);
  require(m.to == *e164, "accepted sms: 'to' is not the DOM's number in E.164", m.to);
  require(m.message == domString(obj, "message"), "accepted sms: 'message' differs from the DOM's");
  require(m.template_id == domString(obj, "template_id"), "accepted sms: 'template_id' differs");
  require(m.sender_id == domString(obj, "sender_id"), "accepted sms: 'sender_id' differs");
  const std::string_view type = domString(obj, "type");
  require((m.type == pipeline::SmsType::kOtp) == (type == "otp"), "accepted sms: 'type' differs", type);
  require(m.template_id.empty() || templateIdRule(m.template_id), "accepted sms: bad template_id");
  require(m.sender_id.empty() || senderIdRule(m.sender_id), "accepted sms: bad sender_id");
  const std::optional<uint32_t> cps = codePoints(m.message);
  require(cps && *cps >= 1 && *cps <= BodyValidator::kMaxSmsCodePoints,
          "accepted sms: message is not 1-500 characters of valid UTF-8");
  require(m.text.valid_utf8 && m.text.code_points == *cps, "accepted sms: wrong code point count");
  require(smsSafe(m.message), "accepted sms: a control character in the message");
  // Segments: one part when it fits, else enough parts of the part size; a
  // part may lose one unit to a pair that must not be split, never more.
  const bool gsm = m.text.encoding == pipeline::SmsEncoding::kGsm7;
  const uint32_t single = gsm ? pipeline::kGsm7SingleSeptets : pipeline::kUcs2SingleUnits;
  const uint32_t part = gsm ? pipeline::kGsm7PartSeptets : pipeline::kUcs2PartUnits;
  const uint32_t units = m.text.units, segs = m.text.segments;
  require(units >= *cps && segs >= 1, "accepted sms: no units or segments");
  if (units <= single) {
    require(segs == 1, "accepted sms: a text that fits one SMS has several segments");
  } else {
    require(units <= uint64_t{segs} * part && units > uint64_t{segs - 1} * (part - 1),
            "accepted sms: segment count does not fit the units");
  }
}

void checkAcceptedEmail(const EmailMessage& e, simdjson::dom::object obj) {
  const std::pair<std::string_view, std::string_view> fields[] = {
      {"to", e.to}, {"subject", e.subject}, {"text", e.text}, {"html", e.html}, {"reply_to", e.reply_to}};
  for (const auto& [key, value] : fields) {
    require(value == domString(obj, key), "accepted email: a field differs from the DOM's", key);
  }
  require(emailRegexRule(e.to), "accepted email: 'to' breaks the documented regex", e.to);
  require(e.reply_to.empty() || emailRegexRule(e.reply_to), "accepted email: bad 'reply_to'", e.reply_to);
  const std::optional<uint32_t> subject = codePoints(e.subject);
  require(subject && *subject >= 1 && *subject <= BodyValidator::kMaxSubjectCodePoints,
          "accepted email: subject is not 1-255 characters");
  require(headerSafe(e.subject), "accepted email: subject could inject a mail header");
  require(headerSafe(e.to) && headerSafe(e.reply_to), "accepted email: an address could inject a header");
  for (std::string_view body : {e.text, e.html}) {
    const std::optional<uint32_t> n = codePoints(body);
    require(n && *n <= BodyValidator::kMaxEmailBodyCodePoints, "accepted email: bad text/html");
    require(body.find('\0') == std::string_view::npos, "accepted email: NUL in text/html");
  }
  require(!e.text.empty() || !e.html.empty(), "accepted email without text or html");
}

void checkAcceptedBulk(std::span<const SmsMessage> out, simdjson::dom::object obj) {
  require(!out.empty() && out.size() <= BodyValidator::kMaxBulkRecipients, "accepted bulk: bad count");
  simdjson::dom::array list;
  if (obj["messages"].get_array().get(list) == simdjson::SUCCESS) {
    // {"messages": [...]}: one SMS per item. Two items may go to one number
    // (they carry different texts), so there is no duplicate rule here.
    require(list.size() == out.size(), "accepted bulk: 'messages' count differs");
    size_t i = 0;
    for (simdjson::dom::element item : list) {
      simdjson::dom::object o;
      require(item.get_object().get(o) == simdjson::SUCCESS, "accepted bulk: an item is not an object");
      checkAcceptedSms(out[i++], o, domString(o, "to"));
    }
    return;
  }
  // {"to": [...], "message": ...}: one text to distinct recipients, compared
  // in E.164 ("9800000002" and "+919800000002" are one number).
  require(obj["to"].get_array().get(list) == simdjson::SUCCESS, "accepted bulk without a list");
  require(list.size() == out.size(), "accepted bulk: 'to' count differs");
  size_t i = 0;
  for (simdjson::dom::element item : list) {
    std::string_view to;
    require(item.get_string().get(to) == simdjson::SUCCESS, "accepted bulk: a recipient is not a string");
    checkAcceptedSms(out[i++], obj, to);
  }
  std::vector<std::string_view> keys;
  for (const SmsMessage& m : out) keys.push_back(m.to);
  std::sort(keys.begin(), keys.end());
  require(std::adjacent_find(keys.begin(), keys.end()) == keys.end(), "accepted bulk: duplicate recipient");
}

struct State {
  BodyValidator validator;
  simdjson::dom::parser dom;
};

simdjson::dom::object acceptedObject(State& st, const std::vector<char>& padded, size_t size) {
  simdjson::dom::element root;
  simdjson::dom::object obj;
  require(st.dom.parse(padded.data(), size, false).get(root) == simdjson::SUCCESS &&
              root.get_object().get(obj) == simdjson::SUCCESS,
          "an accepted body is not a JSON object for the DOM parser");
  return obj;
}

void fuzzOne(const uint8_t* data, size_t size) {
  static State* st = new State();  // one validator, reused like a worker's (never freed)

  // The validator reads up to SIMDJSON_PADDING bytes past the body. The
  // padding is '"' (not zeros) so that a read past the end that *uses* what
  // it reads is likely to change an answer, and the allocation is exact
  // (a sized vector) so ASan catches anything past the padding.
  std::vector<char> padded(size + simdjson::SIMDJSON_PADDING, '"');
  std::copy_n(data, size, padded.begin());
  const std::string_view body(padded.data(), size);

  const Verdict verdict = JsonOracle(body).run();

  SmsMessage sms;
  const Answer sms_answer = capture(st->validator.validateSms(body, &sms), st->validator.errors());
  checkErrorContract(sms_answer);
  checkAllowed(st->validator.errors());
  checkAgainstOracle(verdict, size, sms_answer);
  if (sms_answer.status == BodyStatus::kOk) {
    const simdjson::dom::object obj = acceptedObject(*st, padded, size);
    checkAcceptedSms(sms, obj, domString(obj, "to"));
  }

  std::span<const SmsMessage> bulk;
  const Answer bulk_answer = capture(st->validator.validateBulk(body, &bulk), st->validator.errors());
  checkErrorContract(bulk_answer);
  checkAllowed(st->validator.errors());
  checkAgainstOracle(verdict, size, bulk_answer);
  require((bulk_answer.status == BodyStatus::kOk) == !bulk.empty(),
          "bulk output present exactly when kOk");
  if (bulk_answer.status == BodyStatus::kOk) {
    checkAcceptedBulk(bulk, acceptedObject(*st, padded, size));
  }

  EmailMessage email;
  const Answer email_answer = capture(st->validator.validateEmail(body, &email), st->validator.errors());
  checkErrorContract(email_answer);
  checkAllowed(st->validator.errors());
  checkAgainstOracle(verdict, size, email_answer);
  if (email_answer.status == BodyStatus::kOk) {
    checkAcceptedEmail(email, acceptedObject(*st, padded, size));
  }

  // Same body, same answer, after the other schemas reused the parser.
  SmsMessage again;
  const Answer sms_again = capture(st->validator.validateSms(body, &again), st->validator.errors());
  require(sms_again == sms_answer, "validateSms is not repeatable");
}

}  // namespace
}  // namespace phigate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  phigate::fuzz::fuzzOne(data, size);
  return 0;
}
