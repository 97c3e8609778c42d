// Request-body validation for /v1/sms, /v1/sms/bulk and /v1/email (DESIGN §3):
// the schemas, written on the strict-JSON walker (json_walker.h), reporting
// {field, code} problems that never contain the rejected value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "pipeline/json_walker.h"
#include "pipeline/phone.h"
#include "pipeline/validators.h"

namespace phigate::pipeline {

/** The two SMS kinds the gateway routes differently. */
enum class SmsType : uint8_t { kTransactional, kOtp };

/** A validated SMS. Absent optional fields are empty views. */
struct SmsMessage {
  std::string_view to;  // E.164 ("+919800000001"), normalised: what is stored and sent
  std::string_view message;
  std::string_view template_id;
  std::string_view sender_id;
  SmsType type = SmsType::kTransactional;
  SmsText text;
};

/** A validated email. Absent optional fields are empty views. */
struct EmailMessage {
  std::string_view to;
  std::string_view subject;
  std::string_view text;
  std::string_view html;
  std::string_view reply_to;
};

/**
 * Validates request bodies. One per worker (not thread-safe): it owns a
 * JsonWalker and all buffers, allocated once in the constructor, so a
 * validate call never touches the heap.
 *
 * `body` must be followed in memory by at least simdjson::SIMDJSON_PADDING
 * readable bytes (any content); it is parsed in place. Every string_view in
 * the outputs and in errors() points into `body`, into the parser's string
 * buffer or into this object, and stays valid until the next validate call
 * (and while `body` lives).
 *
 * A body is kMalformed exactly when it is not a single well-formed JSON
 * object within the limits, whatever schema errors it also has: the whole
 * document is always walked, so a syntax error late in a body is never
 * hidden behind schema errors found earlier.
 */
class BodyValidator {
 public:
  /** Largest body accepted; larger ones are kMalformed "too_large" (route limits must be ≤). */
  static constexpr size_t kMaxBodyBytes = JsonWalker::kMaxBodyBytes;
  /** Maximum nesting of arrays/objects; the top-level object is depth 1. */
  static constexpr int kMaxDepth = JsonWalker::kMaxDepth;
  /** At most this many errors are kept per call; further ones are dropped. */
  static constexpr size_t kMaxErrors = JsonWalker::kMaxErrors;
  static constexpr size_t kMaxBulkRecipients = 200;
  static constexpr uint32_t kMaxSmsCodePoints = 500;
  static constexpr uint32_t kMaxSubjectCodePoints = 255;
  static constexpr uint32_t kMaxEmailBodyCodePoints = 10'000;

  /** National numbers (no '+', see normalizePhone) are read as `home`'s (PHIGATE_DEFAULT_REGION). */
  explicit BodyValidator(const PhoneRegion& home = defaultPhoneRegion());
  ~BodyValidator();
  BodyValidator(BodyValidator&&) noexcept;
  BodyValidator& operator=(BodyValidator&&) noexcept;
  BodyValidator(const BodyValidator&) = delete;
  BodyValidator& operator=(const BodyValidator&) = delete;

  /** {to, message, template_id?, type?, sender_id?}. */
  BodyStatus validateSms(std::string_view body, SmsMessage* out);

  /**
   * {messages: [sms object, ...]} or {to: [phone, ...], message, template_id?,
   * type?, sender_id?}; 1..200 recipients. `out` gets one SmsMessage per
   * recipient, in request order.
   */
  BodyStatus validateBulk(std::string_view body, std::span<const SmsMessage>* out);

  /** {to, subject, text?, html?, reply_to?}. */
  BodyStatus validateEmail(std::string_view body, EmailMessage* out);

  /** Problems found by the last call: empty for kOk, exactly one (field "") for kMalformed. */
  std::span<const FieldError> errors() const;

 private:
  struct Impl;  // the walker and the schemas' buffers, behind one pointer
  std::unique_ptr<Impl> impl_;
};

}  // namespace phigate::pipeline
