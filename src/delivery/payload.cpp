#include "delivery/payload.h"

#include <sodium.h>

namespace phigate::delivery {

namespace {

bool stringField(simdjson::ondemand::object& o, std::string_view name, std::string_view* out) {
  simdjson::ondemand::value v;
  if (o.find_field_unordered(name).get(v) != simdjson::SUCCESS) return false;
  return v.get_string().get(*out) == simdjson::SUCCESS;
}

}  // namespace

bool PayloadParser::parse(std::string_view plain, SmsPayload* out) {
  wipe();
  padded_.assign(plain);
  padded_.resize(plain.size() + simdjson::SIMDJSON_PADDING, '\0');
  *out = SmsPayload{};
  simdjson::ondemand::document doc;
  if (parser_.iterate(padded_.data(), plain.size(), padded_.size()).get(doc) != simdjson::SUCCESS) {
    return false;
  }
  simdjson::ondemand::object o;
  if (doc.get_object().get(o) != simdjson::SUCCESS) return false;
  std::string_view channel, type, encoding;
  if (!stringField(o, "channel", &channel) || channel != "sms") return false;
  if (!stringField(o, "to", &out->to) || !stringField(o, "message", &out->text)) return false;
  stringField(o, "template_id", &out->template_id);
  stringField(o, "sender_id", &out->sender_id);
  if (!stringField(o, "type", &type) || !stringField(o, "encoding", &encoding)) return false;
  out->otp = type == "otp";
  out->encoding = encoding == "UCS-2" ? TextEncoding::kUcs2 : TextEncoding::kGsm7;
  bool test = false;
  simdjson::ondemand::value v;
  if (o.find_field_unordered("test").get(v) == simdjson::SUCCESS && v.get_bool().get(test) != simdjson::SUCCESS) {
    return false;
  }
  out->test = test;
  return !out->to.empty();
}

void PayloadParser::wipe() {
  if (!padded_.empty()) sodium_memzero(padded_.data(), padded_.size());
  padded_.clear();
}

}  // namespace phigate::delivery
