#include "pipeline/body_schema.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <utility>
#include <vector>

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
constexpr std::string_view kEmpty = "empty";
constexpr std::string_view kTooLong = "too_long";
constexpr std::string_view kInvalidValue = "invalid_value";
constexpr std::string_view kInvalidPhone = "invalid_phone";
constexpr std::string_view kInvalidEmail = "invalid_email";
constexpr std::string_view kInvalidTemplateId = "invalid_template_id";
constexpr std::string_view kInvalidSenderId = "invalid_sender_id";
constexpr std::string_view kTooManyRecipients = "too_many_recipients";
constexpr std::string_view kDuplicateRecipient = "duplicate_recipient";
constexpr std::string_view kTextOrHtmlRequired = "text_or_html_required";
constexpr std::string_view kControlCharacter = "control_character";

constexpr std::string_view kMessagesKey = "messages";

// Longest path we build: "messages" + "[2147483647]" + "." + our longest name.
constexpr size_t kPathCapacity = 96;

// simdjson's On-Demand front end does not enforce a depth limit itself: we
// never descend past kMaxDepth (see skipValue), and the parser's own depth
// (used only by its debug-build bookkeeping) needs room for index kMaxDepth.
constexpr size_t kParserMaxDepth = BodyValidator::kMaxDepth + 1;

// SMS object fields, in the order of the bits of a "seen" mask.
enum SmsField : uint8_t {
  kSmsTo, kSmsMessage, kSmsTemplateId, kSmsType, kSmsSenderId, kSmsFieldCount
};
constexpr std::array<std::string_view, kSmsFieldCount> kSmsFieldNames = {
    "to", "message", "template_id", "type", "sender_id"};
constexpr uint32_t kMessagesBit = 1u << kSmsFieldCount;  // bulk's "messages" key

// What a bulk body's top level accepts: either form's names until the form is
// known, then only that form's (kSmsFieldNames for the list form).
constexpr std::array<std::string_view, kSmsFieldCount + 1> kBulkFieldNames = {
    "messages", "to", "message", "template_id", "type", "sender_id"};
constexpr std::array<std::string_view, 1> kBulkMessagesFormNames = {"messages"};

enum EmailField : uint8_t {
  kEmailTo, kEmailSubject, kEmailText, kEmailHtml, kEmailReplyTo, kEmailFieldCount
};
constexpr std::array<std::string_view, kEmailFieldCount> kEmailFieldNames = {
    "to", "subject", "text", "html", "reply_to"};

template <size_t N>
int fieldIndex(const std::array<std::string_view, N>& names, std::string_view key) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == key) return static_cast<int>(i);
  }
  return -1;
}

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

/** Where a field lives: `parent[index].name`; parent "" and index -1 for the top level. */
struct Path {
  std::string_view parent;
  int32_t index = -1;
};

/**
 * What the walk over one object has seen. An unknown key's name is client
 * data (it could be a phone number or a patient's name typed into the wrong
 * place): it is never echoed, only counted, and reported once per object.
 */
struct Fields {
  uint32_t seen = 0;     // bits of the known names already read
  bool unknown = false;  // some key was none of them
};

enum class Got : uint8_t { kString, kOtherType, kFatal };
enum class Admit : uint8_t { kRead, kSkipped, kFatal };

}  // namespace

/**
 * All state of a BodyValidator. Member functions return false on a fatal
 * (kMalformed) error, recorded in fatal_, and true otherwise: schema errors
 * are recorded and the walk goes on.
 */
struct BodyValidator::Impl {
  const PhoneRegion& home_;  // national numbers are this region's
  ondemand::parser parser_{kMaxBodyBytes};
  std::array<FieldError, kMaxErrors> errors_{};
  size_t error_count_ = 0;
  std::array<std::array<char, kPathCapacity>, kMaxErrors> paths_{};
  std::string_view fatal_;
  // Bulk output, reserved once: never grows past kMaxBulkRecipients.
  std::vector<SmsMessage> bulk_;
  // Bulk list form: the recipients and whether each is a valid phone.
  std::array<std::string_view, kMaxBulkRecipients> recipients_{};
  std::array<bool, kMaxBulkRecipients> recipient_ok_{};
  size_t recipient_count_ = 0;
  std::array<uint16_t, kMaxBulkRecipients> order_{};
  std::array<bool, kMaxBulkRecipients> duplicate_{};
  // The recipients' E.164 forms, one slot per SMS of a body (see phoneSlot):
  // SmsMessage::to views these, not the request.
  std::array<E164Buffer, kMaxBulkRecipients> phones_{};

  explicit Impl(const PhoneRegion& home) : home_(home) {
    // Without exceptions an allocation failure here can only end the process,
    // as reserve() below would; it happens at worker start, not per request.
    if (parser_.allocate(kMaxBodyBytes, kParserMaxDepth) != simdjson::SUCCESS) std::abort();
    bulk_.reserve(kMaxBulkRecipients);
  }

  // ------------------------------------------------------------ errors

  bool fail(std::string_view code) {
    if (fatal_.empty()) fatal_ = code;
    return false;
  }

  BodyStatus malformed() {
    errors_[0] = FieldError{"", fatal_};
    error_count_ = 1;
    return BodyStatus::kMalformed;
  }

  void addError(const Path& at, std::string_view name, std::string_view code,
                std::span<const std::string_view> allowed = {}) {
    if (error_count_ == kMaxErrors) return;
    char* const dst = paths_[error_count_].data();
    size_t n = 0;
    auto put = [&](std::string_view s) {
      const size_t k = std::min(s.size(), kPathCapacity - n);  // never taken: see kPathCapacity
      std::copy_n(s.data(), k, dst + n);
      n += k;
    };
    put(at.parent);
    if (at.index >= 0) {
      char digits[12];
      size_t d = 0;
      uint32_t v = static_cast<uint32_t>(at.index);
      do {
        digits[d++] = static_cast<char>('0' + v % 10);
        v /= 10;
      } while (v != 0);
      std::reverse(digits, digits + d);
      put("[");
      put(std::string_view(digits, d));
      put("]");
    }
    if (!name.empty()) {
      if (n != 0) put(".");
      put(name);
    }
    errors_[error_count_++] = FieldError{std::string_view(dst, n), code, allowed};
  }

  // One error for the object at `at`, however many unknown keys it had:
  // the client learns where and what is allowed, never which name it sent.
  void reportUnknown(const Fields& f, const Path& at, std::span<const std::string_view> allowed) {
    if (f.unknown) addError(at, {}, kUnknownField, allowed);
  }

  // ------------------------------------------------------------ document

  void reset() {
    error_count_ = 0;
    fatal_ = {};
  }

  // Parses `body` and positions `root` on its top-level object.
  bool start(std::string_view body, ondemand::document* doc, ondemand::object* root) {
    reset();
    // Empty: nothing to parse (and a default string_view has no padding).
    if (body.empty()) return fail(kMalformedJson);
    if (body.size() > kMaxBodyBytes) return fail(kTooLarge);
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
  bool rejectRoot(ondemand::document* doc, JsonType type) {
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
  BodyStatus finish(ondemand::document& doc) {
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
      fail(kMalformedJson);
      return malformed();
    }
    return error_count_ == 0 ? BodyStatus::kOk : BodyStatus::kInvalid;
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

  /*
   * Consumes a value we do not use, checking it completely. On-Demand only
   * checks what is read, so skipping would let "[1,,2]", a bad escape or
   * "tru" through, and it has no depth limit: depth is enforced here, before
   * descending. `depth` is the nesting depth of `v` (top-level object = 1).
   */
  bool skipValue(ondemand::value& v, int depth) {
    JsonType type;
    if (v.type().get(type) != simdjson::SUCCESS) return fail(kMalformedJson);
    switch (type) {
      case JsonType::array: {
        if (depth > kMaxDepth) return fail(kTooDeep);
        ondemand::array arr;
        if (v.get_array().get(arr) != simdjson::SUCCESS) return fail(kMalformedJson);
        return forEachElement(arr, [&](int32_t, ondemand::value& e) {
          return skipValue(e, depth + 1);
        });
      }
      case JsonType::object: {
        if (depth > kMaxDepth) return fail(kTooDeep);
        ondemand::object obj;
        if (v.get_object().get(obj) != simdjson::SUCCESS) return fail(kMalformedJson);
        return forEachField(obj, [&](std::string_view, ondemand::value& e) {
          return skipValue(e, depth + 1);
        });
      }
      case JsonType::string: {
        std::string_view s;  // unescaping validates the escapes
        return v.get_string().get(s) == simdjson::SUCCESS || fail(kMalformedJson);
      }
      default:
        return isValidScalarToken(type, v.raw_json_token()) || fail(kMalformedJson);
    }
  }

  // Reads a string value; any other (well-formed) value is consumed and
  // reported as kOtherType. Null counts as another type: an optional field is
  // omitted, not null.
  Got readString(ondemand::value& v, int depth, std::string_view* out) {
    JsonType type;
    if (v.type().get(type) != simdjson::SUCCESS) {
      fail(kMalformedJson);
      return Got::kFatal;
    }
    if (type == JsonType::string) {
      if (v.get_string().get(*out) == simdjson::SUCCESS) return Got::kString;
      fail(kMalformedJson);
      return Got::kFatal;
    }
    return skipValue(v, depth) ? Got::kOtherType : Got::kFatal;
  }

  // Decides what to do with an object member: an unknown or repeated key is
  // recorded and its value consumed (kSkipped); a first occurrence of a known
  // key is marked in `f->seen` and left for the caller to read (kRead, `*index`).
  template <size_t N>
  Admit admitField(const std::array<std::string_view, N>& names, std::string_view key, Fields* f,
                   const Path& at, ondemand::value& v, int depth, int* index) {
    *index = fieldIndex(names, key);
    if (*index < 0) {
      f->unknown = true;
    } else if (f->seen & (1u << *index)) {
      addError(at, names[static_cast<size_t>(*index)], kDuplicateField);
    } else {
      f->seen |= 1u << *index;
      return Admit::kRead;
    }
    return skipValue(v, depth) ? Admit::kSkipped : Admit::kFatal;
  }

  // ------------------------------------------------------------ SMS

  // Where the recipient of the SMS at `at` gets its E.164 form: the bulk item
  // or list element's index; the single SMS (index -1) uses slot 0.
  E164Buffer& phoneSlot(const Path& at) {
    const auto i = static_cast<size_t>(std::max(at.index, int32_t{0}));
    // Never clamps: elements past kMaxBulkRecipients are only skipped, never read.
    return phones_[std::min(i, kMaxBulkRecipients - 1)];
  }

  // The recipient's E.164 form, or an empty view after recording why not.
  std::string_view checkPhone(std::string_view s, const Path& at, std::string_view name) {
    const NormalizedPhone phone = normalizePhone(s, home_, phoneSlot(at));
    switch (phone.status) {
      case PhoneStatus::kOk: return phone.e164;
      case PhoneStatus::kInvalid: addError(at, name, kInvalidPhone); break;
      case PhoneStatus::kNotMobile: addError(at, name, phone.region->not_mobile_code); break;
    }
    return {};
  }

  void checkMessage(std::string_view s, const Path& at, SmsMessage* out) {
    const SmsText text = analyzeSmsText(s);
    const std::string_view name = kSmsFieldNames[kSmsMessage];
    if (!text.valid_utf8) {
      addError(at, name, kInvalidUtf8);
    } else if (text.code_points == 0) {
      addError(at, name, kEmpty);
    } else if (text.code_points > kMaxSmsCodePoints) {
      addError(at, name, kTooLong);
    } else if (hasSmsUnsafeChar(s)) {
      addError(at, name, kControlCharacter);
    } else {
      out->message = s;
      out->text = text;
    }
  }

  // One SMS field other than the bulk list form's "to".
  bool readSmsField(SmsField field, ondemand::value& v, const Path& at, int depth,
                    SmsMessage* out) {
    const std::string_view name = kSmsFieldNames[field];
    std::string_view s;
    switch (readString(v, depth, &s)) {
      case Got::kFatal: return false;
      case Got::kOtherType: addError(at, name, kWrongType); return true;
      case Got::kString: break;
    }
    switch (field) {
      case kSmsTo:
        out->to = checkPhone(s, at, name);
        break;
      case kSmsMessage:
        checkMessage(s, at, out);
        break;
      case kSmsTemplateId:
        if (isValidTemplateId(s)) out->template_id = s; else addError(at, name, kInvalidTemplateId);
        break;
      case kSmsType:
        if (s == "otp") {
          out->type = SmsType::kOtp;
        } else if (s == "transactional") {
          out->type = SmsType::kTransactional;
        } else {
          addError(at, name, kInvalidValue);
        }
        break;
      case kSmsSenderId:
        if (isValidSenderId(s)) out->sender_id = s; else addError(at, name, kInvalidSenderId);
        break;
      case kSmsFieldCount: break;
    }
    return true;
  }

  void requireSmsFields(uint32_t seen, const Path& at) {
    for (SmsField f : {kSmsTo, kSmsMessage}) {
      if (!(seen & (1u << f))) addError(at, kSmsFieldNames[f], kRequired);
    }
  }

  // An SMS object (the single-SMS body or a bulk "messages" item) at `depth`.
  bool readSmsObject(ondemand::object& obj, const Path& at, int depth, SmsMessage* out) {
    Fields f;
    const bool ok = forEachField(obj, [&](std::string_view key, ondemand::value& v) {
      int index = -1;
      const Admit admit = admitField(kSmsFieldNames, key, &f, at, v, depth + 1, &index);
      if (admit != Admit::kRead) return admit == Admit::kSkipped;
      return readSmsField(static_cast<SmsField>(index), v, at, depth + 1, out);
    });
    if (!ok) return false;
    reportUnknown(f, at, kSmsFieldNames);
    requireSmsFields(f.seen, at);
    return true;
  }

  // ------------------------------------------------------------ bulk

  // Opens the array value of top-level key `name`. Any other type is consumed
  // and reported as wrong_type, with *is_array false.
  bool openArray(ondemand::value& v, int depth, std::string_view name, ondemand::array* arr,
                 bool* is_array) {
    JsonType type;
    if (v.type().get(type) != simdjson::SUCCESS) return fail(kMalformedJson);
    *is_array = type == JsonType::array;
    if (!*is_array) {
      if (!skipValue(v, depth)) return false;
      addError(Path{}, name, kWrongType);
      return true;
    }
    if (depth > kMaxDepth) return fail(kTooDeep);
    return v.get_array().get(*arr) == simdjson::SUCCESS || fail(kMalformedJson);
  }

  void checkCount(size_t count, std::string_view name) {
    if (count == 0) addError(Path{}, name, kEmpty);
    if (count > kMaxBulkRecipients) addError(Path{}, name, kTooManyRecipients);
  }

  // {"messages": [...]}: items past the limit are only checked for syntax.
  bool readMessages(ondemand::value& v, int depth) {
    ondemand::array arr;
    bool is_array = false;
    if (!openArray(v, depth, kMessagesKey, &arr, &is_array)) return false;
    if (!is_array) return true;
    size_t count = 0;
    const bool ok = forEachElement(arr, [&](int32_t i, ondemand::value& item) {
      if (++count > kMaxBulkRecipients) return skipValue(item, depth + 1);
      const Path at{kMessagesKey, i};
      JsonType type;
      if (item.type().get(type) != simdjson::SUCCESS) return fail(kMalformedJson);
      if (type != JsonType::object) {
        if (!skipValue(item, depth + 1)) return false;
        addError(at, {}, kWrongType);
        return true;
      }
      if (depth + 1 > kMaxDepth) return fail(kTooDeep);
      ondemand::object obj;
      if (item.get_object().get(obj) != simdjson::SUCCESS) return fail(kMalformedJson);
      SmsMessage message;
      if (!readSmsObject(obj, at, depth + 1, &message)) return false;
      bulk_.push_back(message);  // within the reserved capacity: count ≤ 200
      return true;
    });
    if (ok) checkCount(count, kMessagesKey);
    return ok;
  }

  // {"to": [phone, ...]}: one recipient per element.
  bool readRecipients(ondemand::value& v, int depth) {
    const std::string_view name = kSmsFieldNames[kSmsTo];
    ondemand::array arr;
    bool is_array = false;
    if (!openArray(v, depth, name, &arr, &is_array)) return false;
    if (!is_array) return true;
    size_t count = 0;
    const bool ok = forEachElement(arr, [&](int32_t i, ondemand::value& item) {
      if (++count > kMaxBulkRecipients) return skipValue(item, depth + 1);
      const Path at{name, i};
      std::string_view phone;
      const auto slot = static_cast<size_t>(i);
      recipients_[slot] = {};
      recipient_ok_[slot] = false;
      switch (readString(item, depth + 1, &phone)) {
        case Got::kFatal: return false;
        case Got::kOtherType: addError(at, {}, kWrongType); return true;
        case Got::kString: break;
      }
      recipients_[slot] = checkPhone(phone, at, {});
      recipient_ok_[slot] = !recipients_[slot].empty();
      return true;
    });
    if (!ok) return false;
    recipient_count_ = std::min(count, kMaxBulkRecipients);
    checkCount(count, name);
    if (count <= kMaxBulkRecipients) flagDuplicateRecipients();
    return true;
  }

  // Sorting indices (no allocation) finds every repeat; all but the first
  // occurrence of a number are reported, in request order. Numbers are
  // compared in E.164, so "9800000002" repeats "+919800000002".
  void flagDuplicateRecipients() {
    size_t n = 0;
    for (size_t i = 0; i < recipient_count_; ++i) {
      duplicate_[i] = false;
      if (recipient_ok_[i]) order_[n++] = static_cast<uint16_t>(i);
    }
    const auto key = [&](uint16_t i) { return recipients_[i]; };
    std::sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n),
              [&](uint16_t a, uint16_t b) { return key(a) != key(b) ? key(a) < key(b) : a < b; });
    for (size_t k = 1; k < n; ++k) {
      if (key(order_[k]) == key(order_[k - 1])) duplicate_[order_[k]] = true;
    }
    for (size_t i = 0; i < recipient_count_; ++i) {
      const Path at{kSmsFieldNames[kSmsTo], static_cast<int32_t>(i)};
      if (duplicate_[i]) addError(at, {}, kDuplicateRecipient);
    }
  }

  bool readBulk(ondemand::object& root) {
    bulk_.clear();
    recipient_count_ = 0;
    Fields f;
    SmsMessage shared;  // the list form's message, template_id, type, sender_id
    const bool ok = forEachField(root, [&](std::string_view key, ondemand::value& v) {
      if (key == kMessagesKey) {
        if (f.seen & kMessagesBit) {
          addError(Path{}, kMessagesKey, kDuplicateField);
          return skipValue(v, 2);
        }
        f.seen |= kMessagesBit;
        return readMessages(v, 2);
      }
      int index = -1;
      const Admit admit = admitField(kSmsFieldNames, key, &f, Path{}, v, 2, &index);
      if (admit != Admit::kRead) return admit == Admit::kSkipped;
      if (index == kSmsTo) return readRecipients(v, 2);
      return readSmsField(static_cast<SmsField>(index), v, Path{}, 2, &shared);
    });
    if (!ok) return false;
    if (f.seen & kMessagesBit) {
      // The two forms do not mix: next to "messages", list-form keys are unknown too.
      f.unknown = f.unknown || (f.seen & ~kMessagesBit) != 0;
      reportUnknown(f, Path{}, kBulkMessagesFormNames);
    } else if (f.seen == 0) {
      reportUnknown(f, Path{}, kBulkFieldNames);
      addError(Path{}, kMessagesKey, kRequired);
    } else {
      reportUnknown(f, Path{}, kSmsFieldNames);
      requireSmsFields(f.seen, Path{});
      if (error_count_ == 0) expandList(shared);
    }
    return true;
  }

  // The list form's output: one SMS per recipient, sharing everything else.
  void expandList(const SmsMessage& shared) {
    for (size_t i = 0; i < recipient_count_; ++i) {
      SmsMessage m = shared;
      m.to = recipients_[i];
      bulk_.push_back(m);  // within the reserved capacity: recipient_count_ ≤ 200
    }
  }

  // ------------------------------------------------------------ email

  // `*non_empty` tells the caller whether the value was a non-empty string.
  bool readEmailField(EmailField field, ondemand::value& v, int depth, EmailMessage* out,
                      bool* non_empty) {
    const Path top;
    const std::string_view name = kEmailFieldNames[field];
    std::string_view s;
    switch (readString(v, depth, &s)) {
      case Got::kFatal: return false;
      case Got::kOtherType: addError(top, name, kWrongType); return true;
      case Got::kString: break;
    }
    *non_empty = !s.empty();
    const std::optional<uint32_t> code_points = countCodePoints(s);
    if (!code_points) {
      addError(top, name, kInvalidUtf8);
    } else if (field == kEmailTo || field == kEmailReplyTo) {
      checkAddress(s, name, field == kEmailTo ? &out->to : &out->reply_to);
    } else if (field == kEmailSubject) {
      checkSubject(s, *code_points, out);
    } else {
      checkEmailBody(s, *code_points, name, field == kEmailText ? &out->text : &out->html);
    }
    return true;
  }

  // Addresses become headers: a line break or control there is reported as
  // such (header injection), before the address syntax, which refuses it too.
  void checkAddress(std::string_view s, std::string_view name, std::string_view* out) {
    if (hasHeaderUnsafeChar(s)) {
      addError(Path{}, name, kControlCharacter);
    } else if (!isValidEmail(s)) {
      addError(Path{}, name, kInvalidEmail);
    } else {
      *out = s;
    }
  }

  void checkSubject(std::string_view s, uint32_t code_points, EmailMessage* out) {
    const std::string_view name = kEmailFieldNames[kEmailSubject];
    if (code_points == 0) {
      addError(Path{}, name, kEmpty);
    } else if (code_points > kMaxSubjectCodePoints) {
      addError(Path{}, name, kTooLong);
    } else if (hasHeaderUnsafeChar(s)) {
      addError(Path{}, name, kControlCharacter);
    } else {
      out->subject = s;
    }
  }

  // Bodies are not headers: line breaks are their content. NUL alone is
  // refused (C strings in mail libraries and SMTP servers end at it).
  void checkEmailBody(std::string_view s, uint32_t code_points, std::string_view name,
                      std::string_view* out) {
    if (code_points > kMaxEmailBodyCodePoints) {
      addError(Path{}, name, kTooLong);
    } else if (hasNul(s)) {
      addError(Path{}, name, kControlCharacter);
    } else {
      *out = s;
    }
  }

  bool readEmail(ondemand::object& root, EmailMessage* out) {
    Fields f;
    // A body is there when text or html is a non-empty string, even one with
    // its own error (too long): "text_or_html_required" would only add noise.
    bool has_body = false;
    const bool ok = forEachField(root, [&](std::string_view key, ondemand::value& v) {
      int index = -1;
      const Admit admit = admitField(kEmailFieldNames, key, &f, Path{}, v, 2, &index);
      if (admit != Admit::kRead) return admit == Admit::kSkipped;
      bool non_empty = false;
      if (!readEmailField(static_cast<EmailField>(index), v, 2, out, &non_empty)) return false;
      if (index == kEmailText || index == kEmailHtml) has_body = has_body || non_empty;
      return true;
    });
    if (!ok) return false;
    reportUnknown(f, Path{}, kEmailFieldNames);
    for (EmailField required : {kEmailTo, kEmailSubject}) {
      if (!(f.seen & (1u << required))) addError(Path{}, kEmailFieldNames[required], kRequired);
    }
    if (!has_body) addError(Path{}, {}, kTextOrHtmlRequired);
    return true;
  }
};

BodyValidator::BodyValidator(const PhoneRegion& home) : impl_(std::make_unique<Impl>(home)) {}
BodyValidator::~BodyValidator() = default;
BodyValidator::BodyValidator(BodyValidator&&) noexcept = default;
BodyValidator& BodyValidator::operator=(BodyValidator&&) noexcept = default;

BodyStatus BodyValidator::validateSms(std::string_view body, SmsMessage* out) {
  Impl& s = *impl_;
  *out = SmsMessage{};
  ondemand::document doc;
  ondemand::object root;
  if (!s.start(body, &doc, &root) || !s.readSmsObject(root, Path{}, 1, out)) return s.malformed();
  return s.finish(doc);
}

BodyStatus BodyValidator::validateBulk(std::string_view body, std::span<const SmsMessage>* out) {
  Impl& s = *impl_;
  *out = {};
  ondemand::document doc;
  ondemand::object root;
  if (!s.start(body, &doc, &root) || !s.readBulk(root)) return s.malformed();
  const BodyStatus status = s.finish(doc);
  if (status == BodyStatus::kOk) *out = std::span<const SmsMessage>(s.bulk_.data(), s.bulk_.size());
  return status;
}

BodyStatus BodyValidator::validateEmail(std::string_view body, EmailMessage* out) {
  Impl& s = *impl_;
  *out = EmailMessage{};
  ondemand::document doc;
  ondemand::object root;
  if (!s.start(body, &doc, &root) || !s.readEmail(root, out)) return s.malformed();
  return s.finish(doc);
}

std::span<const FieldError> BodyValidator::errors() const {
  return {impl_->errors_.data(), impl_->error_count_};
}

}  // namespace phigate::pipeline
