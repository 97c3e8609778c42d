// The plaintext of an accepted SMS or email (api/sends.cpp seals it): what
// delivery needs and nothing else. Parsed after the payload is opened; the
// views point into the parser (its copy of the text, or its unescaped
// strings), valid until wipe(), which the consumer calls once it copied them.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

#include "delivery/sms_adapter.h"

namespace phigate::delivery {

struct SmsPayload {
  std::string_view to;
  std::string_view text;
  std::string_view template_id;
  std::string_view sender_id;
  bool otp = false;
  TextEncoding encoding = TextEncoding::kGsm7;
  bool test = false;  // a test key's message: never reaches a provider
};

struct EmailPayload {
  std::string_view to;
  std::string_view subject;
  std::string_view text;      // may be empty (then html is not)
  std::string_view html;      // may be empty
  std::string_view reply_to;  // may be empty: SMTP_REPLY_TO, or none
  bool test = false;
};

/** Parses payloads; one per consumer (simdjson's parser keeps its buffers). */
class PayloadParser {
 public:
  /** False when `plain` is not a payload api/sends.cpp writes. Views point into `plain`'s
   *  padded copy held here, valid until the next parse. */
  bool parse(std::string_view plain, SmsPayload* out);
  /** The same for an email payload. */
  bool parse(std::string_view plain, EmailPayload* out);
  /** Wipes the copy and what the parser unescaped from it (PHI). */
  void wipe();

 private:
  bool open(std::string_view plain, std::string_view channel, simdjson::ondemand::object* o);

  simdjson::ondemand::parser parser_;
  simdjson::ondemand::document doc_;
  std::string padded_;
};

}  // namespace phigate::delivery
