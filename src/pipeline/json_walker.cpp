#include "pipeline/json_walker.h"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <limits>

namespace phigate::pipeline {
namespace {

namespace ondemand = simdjson::ondemand;
using JsonType = ondemand::json_type;

// Error codes: part of the API (clients branch on them), never change one.
constexpr std::string_view kMalformedJson = "malformed_json";
constexpr std::string_view kInvalidUtf8 = "invalid_utf8";
constexpr std::string_view kTooDeep = "too_deep";
constexpr std::string_view kNotObject = "not_object";
constexpr std::string_view kTooLarge = "too_large";
constexpr std::string_view kUnknownField = "unknown_field";
constexpr std::string_view kDuplicateField = "duplicate_field";
constexpr std::string_view kWrongType = "wrong_type";
constexpr std::string_view kRequired = "required";

constexpr int kMaxDepth = JsonWalker::kMaxDepth;

// Room for any path today's schemas build ("messages[2147483647].template_id"
// is 32). A longer one, only possible with long names nested deep, is cut
// short, never overflows.
constexpr size_t kPathCapacity = 96;

// simdjson's On-Demand front end does not enforce a depth limit itself: we
// never descend past kMaxDepth (see skipValue), and the parser's own depth
// (used only by its debug-build bookkeeping) needs room for index kMaxDepth.
constexpr size_t kParserMaxDepth = kMaxDepth + 1;

constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }

// simdjson reports a scalar token up to the next structural character, so
// whitespace before a ',' or '}' is part of it.
std::string_view trimJsonWhitespace(std::string_view s) {
  while (!s.empty()) {
    const char c = s.back();
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    s.remove_suffix(1);
  }
  return s;
}

// RFC 8259 §6 number grammar. Checked on the raw token rather than by
// converting: 1e999999 or a 30-digit integer are valid JSON (the client gets
// "wrong_type"), while simdjson's converters would reject them as errors.
bool isJsonNumber(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto digits = [&] {
    const size_t start = i;
    while (i < n && isDigit(s[i])) ++i;
    return i > start;
  };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') {
    ++i;
  } else if (i == n || s[i] < '1' || s[i] > '9' || !digits()) {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

bool isValidScalarToken(JsonType type, std::string_view raw) {
  const std::string_view token = trimJsonWhitespace(raw);
  switch (type) {
    case JsonType::number: return isJsonNumber(token);
    case JsonType::boolean: return token == "true" || token == "false";
    case JsonType::null: return token == "null";
    default: return false;
  }
}

// A token isJsonNumber accepted, as an int64_t: false when it has a fraction
// or an exponent, or does not fit.
bool parseJsonInteger(std::string_view token, int64_t* out) {
  const bool negative = token.front() == '-';
  if (negative) token.remove_prefix(1);
  const uint64_t limit = negative ? uint64_t{1} << 63 : uint64_t{std::numeric_limits<int64_t>::max()};
  uint64_t value = 0;
  for (char c : token) {
    if (!isDigit(c)) return false;  // '.', 'e' or 'E'
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (limit - digit) / 10) return false;
    value = value * 10 + digit;
  }
  // Two's complement: -(2^63) is the one value whose magnitude int64_t lacks.
  *out = negative ? static_cast<int64_t>(0 - value) : static_cast<int64_t>(value);
  return true;
}

int fieldIndex(std::span<const std::string_view> names, std::string_view key) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == key) return static_cast<int>(i);
  }
  return -1;
}

/**
 * Where a value lives, as a chain up to the top-level object (nullptr): a
 * member (a schema's name, never the client's key) or an array element.
 * The nodes live in the walk's stack frames, so building one costs nothing;
 * they are only turned into text when an error is recorded.
 */
struct PathNode {
  const PathNode* parent = nullptr;
  std::string_view name;  // a member; empty for an element
  int32_t index = -1;     // an element's index; -1 for a member
};

/** Writes a path into one error's slot. */
class PathWriter {
 public:
  explicit PathWriter(std::array<char, kPathCapacity>& slot) : dst_(slot.data()) {}

  // "messages[3].to": members joined by '.', elements as "[i]".
  void node(const PathNode* p) {
    if (p == nullptr) return;
    node(p->parent);  // bounded: one node per level, at most kMaxDepth + 1
    if (p->index >= 0) {
      put("[");
      number(static_cast<uint32_t>(p->index));
      put("]");
    } else {
      member(p->name);
    }
  }

  void member(std::string_view name) {
    if (name.empty()) return;
    if (n_ != 0) put(".");
    put(name);
  }

  std::string_view text() const { return {dst_, n_}; }

 private:
  void put(std::string_view s) {
    const size_t k = std::min(s.size(), kPathCapacity - n_);
    std::copy_n(s.data(), k, dst_ + n_);
    n_ += k;
  }

  void number(uint32_t v) {
    char digits[10];
    size_t d = 0;
    do {
      digits[d++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    std::reverse(digits, digits + d);
    put(std::string_view(digits, d));
  }

  char* dst_;
  size_t n_ = 0;
};

/**
 * All state of a JsonWalker: the parser and the error list. Member
 * functions returning bool return false on a fatal (kMalformed) error,
 * recorded in fatal_, and true otherwise: schema errors are recorded and the
 * walk goes on.
 */
class Walk {
 public:
  explicit Walk(size_t max_bytes) : max_bytes_(max_bytes), parser_(max_bytes) {
    // Without exceptions an allocation failure here can only end the process;
    // it happens when a worker starts, never per request.
    if (parser_.allocate(max_bytes, kParserMaxDepth) != simdjson::SUCCESS) std::abort();
  }

  BodyStatus run(std::string_view body, FunctionRef<void(JsonObject&)> readRoot);

  std::span<const FieldError> errors() const { return {errors_.data(), error_count_}; }

  bool fail(std::string_view code) {
    if (fatal_.empty()) fatal_ = code;
    return false;
  }

  bool failed() const { return !fatal_.empty(); }

  // `code` at `at`, or at its member `name` when that is not empty.
  void addError(const PathNode* at, std::string_view name, std::string_view code,
                std::span<const std::string_view> allowed = {}) {
    if (error_count_ == errors_.size()) return;
    PathWriter path(paths_[error_count_]);
    path.node(at);
    path.member(name);
    errors_[error_count_++] = FieldError{path.text(), code, allowed};
  }

  template <typename OnField>
  bool forEachField(ondemand::object& obj, OnField&& onField) {
    for (auto result : obj) {
      ondemand::field field;
      if (std::move(result).get(field) != simdjson::SUCCESS) return fail(kMalformedJson);
      // Unescaped, so "t\u006f" is "to": escapes cannot smuggle a duplicate.
      std::string_view key;
      if (field.unescaped_key().get(key) != simdjson::SUCCESS) return fail(kMalformedJson);
      if (!onField(key, field.value())) return false;
    }
    return true;
  }

  template <typename OnElement>
  bool forEachElement(ondemand::array& arr, OnElement&& onElement) {
    int32_t index = 0;
    for (auto result : arr) {
      ondemand::value value;
      if (std::move(result).get(value) != simdjson::SUCCESS) return fail(kMalformedJson);
      if (!onElement(index++, value)) return false;
    }
    return true;
  }

  bool skipValue(ondemand::value& v, int depth);

 private:
  bool start(std::string_view body, ondemand::document* doc, ondemand::object* root);
  bool rejectRoot(ondemand::document* doc, JsonType type);
  BodyStatus finish(ondemand::document& doc);
  BodyStatus malformed();

  const size_t max_bytes_;
  ondemand::parser parser_;
  std::array<FieldError, JsonWalker::kMaxErrors> errors_{};
  size_t error_count_ = 0;
  std::array<std::array<char, kPathCapacity>, JsonWalker::kMaxErrors> paths_{};
  std::string_view fatal_;
};

/** The JsonObject a schema's callback gets. */
class Object final : public JsonObject {
 public:
  Object(Walk& walk, ondemand::object& obj, const PathNode* path, int depth)
      : walk_(walk), obj_(obj), path_(path), depth_(depth) {}

  bool members(const JsonFields& fields, FunctionRef<void(size_t, JsonValue&)> onField) override;
  void reportUnknown(std::span<const std::string_view> allowed) override;
  void reportMissing(uint32_t required) override;
  uint32_t seen() const override { return seen_; }
  void addError(std::string_view name, std::string_view code) override { walk_.addError(path_, name, code); }

  // A schema that never called members() still gets its object walked.
  void finishUnread();

 private:
  bool member(std::string_view key, ondemand::value& v, FunctionRef<void(size_t, JsonValue&)> onField);
  bool hasMemberOutside(std::span<const std::string_view> allowed) const;

  Walk& walk_;
  ondemand::object& obj_;
  const PathNode* path_;  // nullptr: the top-level object
  int depth_;
  std::span<const std::string_view> names_;
  uint32_t seen_ = 0;
  bool unknown_ = false;  // some key was none of names_ (never kept: it is client data)
  bool walked_ = false;
};

/** The JsonValue a schema's callback gets. */
class Value final : public JsonValue {
 public:
  Value(Walk& walk, ondemand::value& v, PathNode path, int depth)
      : walk_(walk), v_(v), path_(path), depth_(depth) {}

  std::optional<std::string_view> string() override;
  std::optional<int64_t> integer() override;
  std::optional<bool> boolean() override;
  bool object(FunctionRef<void(JsonObject&)> onObject) override;
  bool array(FunctionRef<void(int32_t, JsonValue&)> onElement) override;
  void skip() override;
  void addError(std::string_view code) override { walk_.addError(&path_, {}, code); }
  void addElementError(int32_t index, std::string_view code) override;

  // A value the schema did not read is still walked (checked).
  void finishUnread() {
    if (!consumed_) skip();
  }

 private:
  bool take();
  bool typeIs(JsonType expected);

  Walk& walk_;
  ondemand::value& v_;
  PathNode path_;
  int depth_;  // of this value: the top-level object is 1
  bool consumed_ = false;
};

// ---------------------------------------------------------------- Walk

BodyStatus Walk::run(std::string_view body, FunctionRef<void(JsonObject&)> readRoot) {
  error_count_ = 0;
  fatal_ = {};
  ondemand::document doc;
  ondemand::object root;
  if (!start(body, &doc, &root)) return malformed();
  Object object(*this, root, nullptr, 1);
  readRoot(object);
  object.finishUnread();
  if (failed()) return malformed();
  return finish(doc);
}

// Parses `body` and positions `root` on its top-level object.
bool Walk::start(std::string_view body, ondemand::document* doc, ondemand::object* root) {
  // Empty: nothing to parse (and a default string_view has no padding).
  if (body.empty()) return fail(kMalformedJson);
  if (body.size() > max_bytes_) return fail(kTooLarge);
  const simdjson::padded_string_view padded(body.data(), body.size(),
                                            body.size() + simdjson::SIMDJSON_PADDING);
  // Stage 1 validates the UTF-8 of the whole body, unescaped control
  // characters in strings and unclosed strings.
  if (const auto err = parser_.iterate(padded).get(*doc); err != simdjson::SUCCESS) {
    return fail(err == simdjson::UTF8_ERROR ? kInvalidUtf8 : kMalformedJson);
  }
  JsonType type;
  if (doc->type().get(type) != simdjson::SUCCESS) return fail(kMalformedJson);
  if (type != JsonType::object) return rejectRoot(doc, type);
  if (doc->get_object().get(*root) != simdjson::SUCCESS) return fail(kMalformedJson);
  return true;
}

// A root that is not an object is still checked, so that a deep or broken
// document is reported as such rather than as "not_object".
bool Walk::rejectRoot(ondemand::document* doc, JsonType type) {
  if (type == JsonType::array) {
    ondemand::array arr;
    if (doc->get_array().get(arr) != simdjson::SUCCESS) return fail(kMalformedJson);
    if (!forEachElement(arr, [&](int32_t, ondemand::value& v) { return skipValue(v, 2); })) {
      return false;
    }
  } else if (type == JsonType::string) {
    std::string_view s;
    if (doc->get_string().get(s) != simdjson::SUCCESS) return fail(kMalformedJson);
  } else {
    std::string_view raw;
    if (doc->raw_json_token().get(raw) != simdjson::SUCCESS || !isValidScalarToken(type, raw)) {
      return fail(kMalformedJson);
    }
  }
  return fail(kNotObject);
}

// After the top-level object: anything left is trailing garbage.
BodyStatus Walk::finish(ondemand::document& doc) {
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    fail(kMalformedJson);
    return malformed();
  }
  return error_count_ == 0 ? BodyStatus::kOk : BodyStatus::kInvalid;
}

BodyStatus Walk::malformed() {
  errors_[0] = FieldError{"", fatal_};
  error_count_ = 1;
  return BodyStatus::kMalformed;
}

/*
 * Consumes a value we do not use, checking it completely. On-Demand only
 * checks what is read, so skipping would let "[1,,2]", a bad escape or
 * "tru" through, and it has no depth limit: depth is enforced here, before
 * descending. `depth` is the nesting depth of `v` (top-level object = 1).
 */
bool Walk::skipValue(ondemand::value& v, int depth) {
  JsonType type;
  if (v.type().get(type) != simdjson::SUCCESS) return fail(kMalformedJson);
  switch (type) {
    case JsonType::array: {
      if (depth > kMaxDepth) return fail(kTooDeep);
      ondemand::array arr;
      if (v.get_array().get(arr) != simdjson::SUCCESS) return fail(kMalformedJson);
      return forEachElement(arr, [&](int32_t, ondemand::value& e) { return skipValue(e, depth + 1); });
    }
    case JsonType::object: {
      if (depth > kMaxDepth) return fail(kTooDeep);
      ondemand::object obj;
      if (v.get_object().get(obj) != simdjson::SUCCESS) return fail(kMalformedJson);
      return forEachField(obj, [&](std::string_view, ondemand::value& e) { return skipValue(e, depth + 1); });
    }
    case JsonType::string: {
      std::string_view s;  // unescaping validates the escapes
      return v.get_string().get(s) == simdjson::SUCCESS || fail(kMalformedJson);
    }
    default:
      return isValidScalarToken(type, v.raw_json_token()) || fail(kMalformedJson);
  }
}

// ---------------------------------------------------------------- Object

bool Object::members(const JsonFields& fields, FunctionRef<void(size_t, JsonValue&)> onField) {
  // An On-Demand object can be iterated once; a second call has nothing to add.
  if (walked_) return !walk_.failed();
  walked_ = true;
  names_ = fields.names;
  return walk_.forEachField(obj_, [&](std::string_view key, ondemand::value& v) {
    return member(key, v, onField);
  });
}

// An unknown or repeated key is recorded and its value consumed; the first
// occurrence of a declared name is marked seen and handed to the schema.
bool Object::member(std::string_view key, ondemand::value& v,
                    FunctionRef<void(size_t, JsonValue&)> onField) {
  const int found = fieldIndex(names_, key);
  if (found < 0) {
    unknown_ = true;
    return walk_.skipValue(v, depth_ + 1);
  }
  const auto index = static_cast<size_t>(found);
  const uint32_t bit = 1u << index;
  if (seen_ & bit) {
    walk_.addError(path_, names_[index], kDuplicateField);
    return walk_.skipValue(v, depth_ + 1);
  }
  seen_ |= bit;
  Value value(walk_, v, PathNode{path_, names_[index], -1}, depth_ + 1);
  onField(index, value);
  value.finishUnread();
  return !walk_.failed();
}

// One error for the object, however many unknown keys it had: the client
// learns where and what is allowed, never which name it sent.
void Object::reportUnknown(std::span<const std::string_view> allowed) {
  if (unknown_ || hasMemberOutside(allowed)) walk_.addError(path_, {}, kUnknownField, allowed);
}

// A declared name the schema's chosen form leaves out (bulk's two forms).
bool Object::hasMemberOutside(std::span<const std::string_view> allowed) const {
  if (allowed.data() == names_.data() && allowed.size() == names_.size()) return false;  // the usual case
  for (size_t i = 0; i < names_.size(); ++i) {
    if (((seen_ >> i) & 1u) && std::find(allowed.begin(), allowed.end(), names_[i]) == allowed.end()) {
      return true;
    }
  }
  return false;
}

// Lowest bit first: name order. Usually nothing is missing and no loop runs.
void Object::reportMissing(uint32_t required) {
  for (uint32_t missing = required & ~seen_; missing != 0; missing &= missing - 1) {
    const auto index = static_cast<size_t>(std::countr_zero(missing));
    if (index < names_.size()) walk_.addError(path_, names_[index], kRequired);
  }
}

void Object::finishUnread() {
  if (walked_ || walk_.failed()) return;
  walked_ = true;
  walk_.forEachField(obj_, [&](std::string_view, ondemand::value& v) { return walk_.skipValue(v, depth_ + 1); });
}

// ---------------------------------------------------------------- Value

// A value is read once; after a fatal error nothing more is read at all.
bool Value::take() {
  if (consumed_ || walk_.failed()) return false;
  consumed_ = true;
  return true;
}

// False both for another type (consumed, reported as wrong_type) and for a
// malformed document.
inline bool Value::typeIs(JsonType expected) {
  JsonType type;
  if (v_.type().get(type) != simdjson::SUCCESS) return walk_.fail(kMalformedJson);
  if (type == expected) return true;
  if (walk_.skipValue(v_, depth_)) addError(kWrongType);
  return false;
}

std::optional<std::string_view> Value::string() {
  if (!take() || !typeIs(JsonType::string)) return std::nullopt;
  std::string_view s;
  if (v_.get_string().get(s) != simdjson::SUCCESS) {
    walk_.fail(kMalformedJson);
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> Value::integer() {
  if (!take() || !typeIs(JsonType::number)) return std::nullopt;
  const std::string_view token = trimJsonWhitespace(v_.raw_json_token());
  if (!isJsonNumber(token)) {
    walk_.fail(kMalformedJson);
    return std::nullopt;
  }
  int64_t n = 0;
  if (parseJsonInteger(token, &n)) return n;
  addError(kWrongType);
  return std::nullopt;
}

std::optional<bool> Value::boolean() {
  if (!take() || !typeIs(JsonType::boolean)) return std::nullopt;
  const std::string_view token = trimJsonWhitespace(v_.raw_json_token());
  if (token == "true") return true;
  if (token == "false") return false;
  walk_.fail(kMalformedJson);  // "tru", "falsey"
  return std::nullopt;
}

bool Value::object(FunctionRef<void(JsonObject&)> onObject) {
  if (!take() || !typeIs(JsonType::object)) return false;
  if (depth_ > kMaxDepth) return walk_.fail(kTooDeep);
  ondemand::object obj;
  if (v_.get_object().get(obj) != simdjson::SUCCESS) return walk_.fail(kMalformedJson);
  Object object(walk_, obj, &path_, depth_);
  onObject(object);
  object.finishUnread();
  return !walk_.failed();
}

bool Value::array(FunctionRef<void(int32_t, JsonValue&)> onElement) {
  if (!take() || !typeIs(JsonType::array)) return false;
  if (depth_ > kMaxDepth) return walk_.fail(kTooDeep);
  ondemand::array arr;
  if (v_.get_array().get(arr) != simdjson::SUCCESS) return walk_.fail(kMalformedJson);
  return walk_.forEachElement(arr, [&](int32_t i, ondemand::value& e) {
    Value element(walk_, e, PathNode{&path_, {}, i}, depth_ + 1);
    onElement(i, element);
    element.finishUnread();
    return !walk_.failed();
  });
}

void Value::skip() {
  if (take()) walk_.skipValue(v_, depth_);
}

void Value::addElementError(int32_t index, std::string_view code) {
  const PathNode element{&path_, {}, index};
  walk_.addError(&element, {}, code);
}

}  // namespace

// ---------------------------------------------------------------- JsonWalker

struct JsonWalker::Impl : Walk {
  using Walk::Walk;
};

JsonWalker::JsonWalker(size_t max_bytes) : impl_(std::make_unique<Impl>(max_bytes)) {}
JsonWalker::~JsonWalker() = default;
JsonWalker::JsonWalker(JsonWalker&&) noexcept = default;
JsonWalker& JsonWalker::operator=(JsonWalker&&) noexcept = default;

BodyStatus JsonWalker::walk(std::string_view body, FunctionRef<void(JsonObject&)> readRoot) {
  return impl_->run(body, readRoot);
}

std::span<const FieldError> JsonWalker::errors() const { return impl_->errors(); }

}  // namespace phigate::pipeline
