#include "pipeline/body_schema.h"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

namespace phigate::pipeline {
namespace {

// Error codes: part of the API (clients branch on them), never change one.
// The structural ones (malformed_json, unknown_field, wrong_type, required,
// ...) are the walker's.
constexpr std::string_view kEmpty = "empty";
constexpr std::string_view kTooLong = "too_long";
constexpr std::string_view kInvalidValue = "invalid_value";
constexpr std::string_view kInvalidUtf8 = "invalid_utf8";
constexpr std::string_view kInvalidPhone = "invalid_phone";
constexpr std::string_view kCountryCodeRequired = "country_code_required";
constexpr std::string_view kInvalidEmail = "invalid_email";
constexpr std::string_view kInvalidTemplateId = "invalid_template_id";
constexpr std::string_view kInvalidSenderId = "invalid_sender_id";
constexpr std::string_view kTooManyRecipients = "too_many_recipients";
constexpr std::string_view kDuplicateRecipient = "duplicate_recipient";
constexpr std::string_view kTextOrHtmlRequired = "text_or_html_required";
constexpr std::string_view kControlCharacter = "control_character";

constexpr size_t kMaxBulkRecipients = BodyValidator::kMaxBulkRecipients;

constexpr uint32_t bit(size_t field) { return 1u << field; }

// SMS object members, in the order of their bits.
enum SmsField : size_t { kSmsTo, kSmsMessage, kSmsTemplateId, kSmsType, kSmsSenderId, kSmsFieldCount };
constexpr std::array<std::string_view, kSmsFieldCount> kSmsFieldNames = {
    "to", "message", "template_id", "type", "sender_id"};
constexpr JsonFields kSmsFields{kSmsFieldNames, bit(kSmsTo) | bit(kSmsMessage)};

// A bulk body's top level: "messages" (one form), or the SMS members with a
// list of recipients as "to" (the other). Both forms are declared, so either
// is walked and repeats are found; which names are *allowed* is decided once
// the form is known (readBulk).
enum BulkField : size_t { kBulkMessages, kBulkTo, kBulkMessage };
constexpr std::array<std::string_view, kSmsFieldCount + 1> kBulkFieldNames = {
    "messages", "to", "message", "template_id", "type", "sender_id"};
constexpr JsonFields kBulkFields{kBulkFieldNames};
constexpr std::array<std::string_view, 1> kBulkMessagesFormNames = {"messages"};

// The list form's members past "messages" are the SMS ones, in SmsField order.
constexpr bool bulkNamesFollowSmsNames() {
  for (size_t i = 0; i < kSmsFieldCount; ++i) {
    if (kBulkFieldNames[i + 1] != kSmsFieldNames[i]) return false;
  }
  return true;
}
static_assert(bulkNamesFollowSmsNames());
static_assert(kBulkFieldNames[kBulkTo] == kSmsFieldNames[kSmsTo]);

enum EmailField : size_t { kEmailTo, kEmailSubject, kEmailText, kEmailHtml, kEmailReplyTo, kEmailFieldCount };
constexpr std::array<std::string_view, kEmailFieldCount> kEmailFieldNames = {
    "to", "subject", "text", "html", "reply_to"};
constexpr JsonFields kEmailFields{kEmailFieldNames, bit(kEmailTo) | bit(kEmailSubject)};

}  // namespace

/** All state of a BodyValidator: the walker, and buffers the schemas fill. */
struct BodyValidator::Impl {
  const PhoneRegion& home_;  // national numbers are this region's
  JsonWalker walker_;
  // Bulk output, reserved once: never grows past kMaxBulkRecipients.
  std::vector<SmsMessage> bulk_;
  bool list_form_ = false;
  SmsMessage shared_;  // the list form's message, template_id, type, sender_id
  // Bulk list form: the recipients and whether each is a valid phone.
  std::array<std::string_view, kMaxBulkRecipients> recipients_{};
  std::array<bool, kMaxBulkRecipients> recipient_ok_{};
  size_t recipient_count_ = 0;
  std::array<uint16_t, kMaxBulkRecipients> order_{};
  std::array<bool, kMaxBulkRecipients> duplicate_{};
  // The recipients' E.164 forms, one slot per SMS of a body (the bulk item
  // or list element's index; 0 for a single SMS): SmsMessage::to views
  // these, not the request.
  std::array<E164Buffer, kMaxBulkRecipients> phones_{};

  explicit Impl(const PhoneRegion& home) : home_(home) {
    // Without exceptions an allocation failure can only end the process; it
    // happens at worker start, not per request.
    bulk_.reserve(kMaxBulkRecipients);
  }

  // ------------------------------------------------------------ SMS

  // The recipient's E.164 form in phones_[slot], or an empty view after
  // recording why not. Elements past kMaxBulkRecipients are never read, so
  // `slot` is always in range.
  std::string_view checkPhone(std::string_view s, JsonValue& v, size_t slot) {
    const NormalizedPhone phone = normalizePhone(s, home_, phones_[slot]);
    switch (phone.status) {
      case PhoneStatus::kOk: return phone.e164;
      case PhoneStatus::kInvalid: v.addError(kInvalidPhone); break;
      case PhoneStatus::kNotMobile: v.addError(phone.region->not_mobile_code); break;
      case PhoneStatus::kNeedsPlus: v.addError(kCountryCodeRequired); break;
    }
    return {};
  }

  static void checkMessage(std::string_view s, JsonValue& v, SmsMessage* out) {
    const SmsText text = analyzeSmsText(s);
    if (!text.valid_utf8) {
      v.addError(kInvalidUtf8);
    } else if (text.code_points == 0) {
      v.addError(kEmpty);
    } else if (text.code_points > kMaxSmsCodePoints) {
      v.addError(kTooLong);
    } else if (hasSmsUnsafeChar(s)) {
      v.addError(kControlCharacter);
    } else {
      out->message = s;
      out->text = text;
    }
  }

  static void checkType(std::string_view s, JsonValue& v, SmsMessage* out) {
    if (s == "otp") {
      out->type = SmsType::kOtp;
    } else if (s == "transactional") {
      out->type = SmsType::kTransactional;
    } else {
      v.addError(kInvalidValue);
    }
  }

  // One SMS member; the bulk list form's "to" is readRecipients instead.
  void readSmsField(SmsField field, JsonValue& v, size_t slot, SmsMessage* out) {
    const std::optional<std::string_view> s = v.string();
    if (!s) return;
    switch (field) {
      case kSmsTo: out->to = checkPhone(*s, v, slot); break;
      case kSmsMessage: checkMessage(*s, v, out); break;
      case kSmsTemplateId:
        if (isValidTemplateId(*s)) out->template_id = *s; else v.addError(kInvalidTemplateId);
        break;
      case kSmsType: checkType(*s, v, out); break;
      case kSmsSenderId:
        if (isValidSenderId(*s)) out->sender_id = *s; else v.addError(kInvalidSenderId);
        break;
      case kSmsFieldCount: break;
    }
  }

  // An SMS object: the single-SMS body, or bulk item `slot`.
  bool readSmsObject(JsonObject& obj, size_t slot, SmsMessage* out) {
    return obj.read(kSmsFields, [&](size_t field, JsonValue& v) {
      readSmsField(static_cast<SmsField>(field), v, slot, out);
    });
  }

  // ------------------------------------------------------------ bulk

  static void checkCount(size_t count, JsonValue& list) {
    if (count == 0) list.addError(kEmpty);
    if (count > kMaxBulkRecipients) list.addError(kTooManyRecipients);
  }

  // {"messages": [...]}: items past the limit are only checked for syntax.
  void readMessages(JsonValue& v) {
    size_t count = 0;
    const bool walked = v.array([&](int32_t i, JsonValue& item) {
      if (++count > kMaxBulkRecipients) return item.skip();
      const auto slot = static_cast<size_t>(i);
      SmsMessage message;
      const bool read = item.object([&](JsonObject& obj) { readSmsObject(obj, slot, &message); });
      if (read) bulk_.push_back(message);  // within the reserved capacity: count ≤ 200
    });
    if (walked) checkCount(count, v);
  }

  // {"to": [phone, ...]}: one recipient per element.
  void readRecipients(JsonValue& v) {
    size_t count = 0;
    const bool walked = v.array([&](int32_t i, JsonValue& item) {
      if (++count > kMaxBulkRecipients) return item.skip();
      const auto slot = static_cast<size_t>(i);
      recipients_[slot] = {};
      if (const std::optional<std::string_view> phone = item.string()) {
        recipients_[slot] = checkPhone(*phone, item, slot);
      }
      recipient_ok_[slot] = !recipients_[slot].empty();
    });
    if (!walked) return;
    recipient_count_ = std::min(count, kMaxBulkRecipients);
    checkCount(count, v);
    if (count <= kMaxBulkRecipients) flagDuplicateRecipients(v);
  }

  // Sorting indices (no allocation) finds every repeat; all but the first
  // occurrence of a number are reported, in request order. Numbers are
  // compared in E.164, so "9800000002" repeats "+919800000002".
  void flagDuplicateRecipients(JsonValue& list) {
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
      if (duplicate_[i]) list.addElementError(static_cast<int32_t>(i), kDuplicateRecipient);
    }
  }

  void readBulkField(size_t field, JsonValue& v) {
    switch (field) {
      case kBulkMessages: readMessages(v); break;
      case kBulkTo: readRecipients(v); break;
      default: readSmsField(static_cast<SmsField>(field - 1), v, 0, &shared_); break;
    }
  }

  // Which form the body took decides what its top level allows and requires.
  void readBulk(JsonObject& root) {
    if (!root.members(kBulkFields, [&](size_t field, JsonValue& v) { readBulkField(field, v); })) {
      return;
    }
    if (root.has(kBulkMessages)) {
      // The two forms do not mix: next to "messages", list-form keys are unknown too.
      root.reportUnknown(kBulkMessagesFormNames);
    } else if (root.seen() == 0) {
      root.reportUnknown(kBulkFieldNames);
      root.reportMissing(bit(kBulkMessages));
    } else {
      list_form_ = true;
      root.reportUnknown(kSmsFieldNames);
      root.reportMissing(bit(kBulkTo) | bit(kBulkMessage));
    }
  }

  // The list form's output: one SMS per recipient, sharing everything else.
  void expandList() {
    for (size_t i = 0; i < recipient_count_; ++i) {
      SmsMessage m = shared_;
      m.to = recipients_[i];
      bulk_.push_back(m);  // within the reserved capacity: recipient_count_ ≤ 200
    }
  }

  // ------------------------------------------------------------ email

  // Sets `*has_body` when text or html is a non-empty string, even one with
  // its own error (too long): "text_or_html_required" would only add noise.
  static void readEmailField(EmailField field, JsonValue& v, EmailMessage* out, bool* has_body) {
    const std::optional<std::string_view> s = v.string();
    if (!s) return;
    if ((field == kEmailText || field == kEmailHtml) && !s->empty()) *has_body = true;
    const std::optional<uint32_t> code_points = countCodePoints(*s);
    if (!code_points) {
      v.addError(kInvalidUtf8);
    } else if (field == kEmailTo || field == kEmailReplyTo) {
      checkAddress(*s, v, field == kEmailTo ? &out->to : &out->reply_to);
    } else if (field == kEmailSubject) {
      checkSubject(*s, *code_points, v, out);
    } else {
      checkEmailBody(*s, *code_points, v, field == kEmailText ? &out->text : &out->html);
    }
  }

  // Addresses become headers: a line break or control there is reported as
  // such (header injection), before the address syntax, which refuses it too.
  static void checkAddress(std::string_view s, JsonValue& v, std::string_view* out) {
    if (hasHeaderUnsafeChar(s)) {
      v.addError(kControlCharacter);
    } else if (!isValidEmail(s)) {
      v.addError(kInvalidEmail);
    } else {
      *out = s;
    }
  }

  static void checkSubject(std::string_view s, uint32_t code_points, JsonValue& v, EmailMessage* out) {
    if (code_points == 0) {
      v.addError(kEmpty);
    } else if (code_points > kMaxSubjectCodePoints) {
      v.addError(kTooLong);
    } else if (hasHeaderUnsafeChar(s)) {
      v.addError(kControlCharacter);
    } else {
      out->subject = s;
    }
  }

  // Bodies are not headers: line breaks are their content. NUL alone is
  // refused (C strings in mail libraries and SMTP servers end at it).
  static void checkEmailBody(std::string_view s, uint32_t code_points, JsonValue& v, std::string_view* out) {
    if (code_points > kMaxEmailBodyCodePoints) {
      v.addError(kTooLong);
    } else if (hasNul(s)) {
      v.addError(kControlCharacter);
    } else {
      *out = s;
    }
  }

  static void readEmail(JsonObject& root, EmailMessage* out) {
    bool has_body = false;
    const bool walked = root.read(kEmailFields, [&](size_t field, JsonValue& v) {
      readEmailField(static_cast<EmailField>(field), v, out, &has_body);
    });
    if (walked && !has_body) root.addError({}, kTextOrHtmlRequired);
  }
};

BodyValidator::BodyValidator(const PhoneRegion& home) : impl_(std::make_unique<Impl>(home)) {}
BodyValidator::~BodyValidator() = default;
BodyValidator::BodyValidator(BodyValidator&&) noexcept = default;
BodyValidator& BodyValidator::operator=(BodyValidator&&) noexcept = default;

BodyStatus BodyValidator::validateSms(std::string_view body, SmsMessage* out) {
  Impl& s = *impl_;
  *out = SmsMessage{};
  return s.walker_.walk(body, [&](JsonObject& root) { s.readSmsObject(root, 0, out); });
}

BodyStatus BodyValidator::validateBulk(std::string_view body, std::span<const SmsMessage>* out) {
  Impl& s = *impl_;
  *out = {};
  s.bulk_.clear();
  s.list_form_ = false;
  s.shared_ = SmsMessage{};
  s.recipient_count_ = 0;
  const BodyStatus status = s.walker_.walk(body, [&](JsonObject& root) { s.readBulk(root); });
  if (status != BodyStatus::kOk) return status;
  if (s.list_form_) s.expandList();
  *out = std::span<const SmsMessage>(s.bulk_.data(), s.bulk_.size());
  return status;
}

BodyStatus BodyValidator::validateEmail(std::string_view body, EmailMessage* out) {
  *out = EmailMessage{};
  return impl_->walker_.walk(body, [&](JsonObject& root) { Impl::readEmail(root, out); });
}

std::span<const FieldError> BodyValidator::errors() const { return impl_->walker_.errors(); }

}  // namespace phigate::pipeline
