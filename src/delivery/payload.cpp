#include "delivery/payload.h"

#include <sodium.h>

namespace phigate::delivery {

namespace {

bool stringField(simdjson::ondemand::object& o, std::string_view name, std::string_view* out) {
  simdjson::ondemand::value v;
  if (o.find_field_unordered(name).get(v) != simdjson::SUCCESS) return false;
  return v.get_string().get(*out) == simdjson::SUCCESS;
}

bool testFlag(simdjson::ondemand::object& o, bool* out) {
  simdjson::ondemand::value v;
  if (o.find_field_unordered("test").get(v) != simdjson::SUCCESS) return true;
  return v.get_bool().get(*out) == simdjson::SUCCESS;
}

}  // namespace

// The padded copy is parsed in place; the document lives in doc_ so the
// views stay valid until the next parse.
bool PayloadParser::open(std::string_view plain, std::string_view channel, simdjson::ondemand::object* o) {
  wipe();
  padded_.assign(plain);
  padded_.resize(plain.size() + simdjson::SIMDJSON_PADDING, '\0');
  if (parser_.iterate(padded_.data(), plain.size(), padded_.size()).get(doc_) != simdjson::SUCCESS) {
    return false;
  }
  if (doc_.get_object().get(*o) != simdjson::SUCCESS) return false;
  std::string_view c;
  return stringField(*o, "channel", &c) && c == channel;
}

bool PayloadParser::parse(std::string_view plain, SmsPayload* out) {
  *out = SmsPayload{};
  simdjson::ondemand::object o;
  if (!open(plain, "sms", &o)) return false;
  std::string_view type, encoding;
  if (!stringField(o, "to", &out->to) || !stringField(o, "message", &out->text)) return false;
  stringField(o, "template_id", &out->template_id);
  stringField(o, "sender_id", &out->sender_id);
  if (!stringField(o, "type", &type) || !stringField(o, "encoding", &encoding)) return false;
  out->otp = type == "otp";
  out->encoding = encoding == "UCS-2" ? TextEncoding::kUcs2 : TextEncoding::kGsm7;
  if (!testFlag(o, &out->test)) return false;
  return !out->to.empty();
}

bool PayloadParser::parse(std::string_view plain, EmailPayload* out) {
  *out = EmailPayload{};
  simdjson::ondemand::object o;
  if (!open(plain, "email", &o)) return false;
  if (!stringField(o, "to", &out->to) || !stringField(o, "subject", &out->subject)) return false;
  stringField(o, "text", &out->text);
  stringField(o, "html", &out->html);
  stringField(o, "reply_to", &out->reply_to);
  if (!testFlag(o, &out->test)) return false;
  return !out->to.empty() && (!out->text.empty() || !out->html.empty());
}

// simdjson unescapes every string it is asked for into the parser's own
// buffer, front to back, which outlives the parse: the recipient, subject
// and body would stay there until a later message overwrote them. So the
// buffer is overwritten now, by parsing one string of as many bytes as the
// payload had (no string of it can unescape to more), then the copy goes.
void PayloadParser::wipe() {
  if (padded_.empty()) return;
  const size_t n = padded_.size() - simdjson::SIMDJSON_PADDING;
  sodium_memzero(padded_.data(), padded_.size());
  padded_.assign(n + 2, ' ');
  padded_.front() = '"';
  padded_.back() = '"';
  padded_.resize(n + 2 + simdjson::SIMDJSON_PADDING, '\0');
  simdjson::ondemand::document scrub;
  std::string_view ignored;
  if (parser_.iterate(padded_.data(), n + 2, padded_.size()).get(scrub) == simdjson::SUCCESS) {
    if (scrub.get_string().get(ignored) != simdjson::SUCCESS) ignored = {};
  }
  padded_.clear();
}

}  // namespace phigate::delivery
