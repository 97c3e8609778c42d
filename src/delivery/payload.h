// The plaintext of an accepted SMS (api/sends.cpp seals it): what delivery
// needs and nothing else. Parsed after the payload is opened; the views
// point into the opened text, which the consumer wipes after the call.
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

/** Parses payloads; one per consumer (simdjson's parser keeps its buffers). */
class PayloadParser {
 public:
  /** False when `plain` is not a payload api/sends.cpp writes. Views point into `plain`'s
   *  padded copy held here, valid until the next parse. */
  bool parse(std::string_view plain, SmsPayload* out);
  /** Wipes the copy (PHI). */
  void wipe();

 private:
  simdjson::ondemand::parser parser_;
  std::string padded_;
};

}  // namespace phigate::delivery
