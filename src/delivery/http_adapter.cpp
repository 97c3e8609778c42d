#include "delivery/http_adapter.h"

#include <sodium.h>
#include <simdjson.h>

#include "common/ascii.h"
#include "common/json_text.h"
#include "delivery/verdicts.h"

namespace phigate::delivery {

namespace {

std::string_view kindName(SmsKind k) {
  switch (k) {
    case SmsKind::kOtp: return "otp";
    case SmsKind::kBulk: return "bulk";
    case SmsKind::kTransactional: break;
  }
  return "transactional";
}

}  // namespace

HttpAdapter::HttpAdapter(const HttpOptions& opts)
    : url_(opts.url),
      authorization_("Authorization: Bearer " + opts.token),
      parser_(std::make_unique<simdjson::dom::parser>()) {}

HttpAdapter::~HttpAdapter() {
  sodium_memzero(authorization_.data(), authorization_.size());  // holds the token
}

bool HttpAdapter::build(const SmsToSend& m, OutboundRequest* out, std::string_view* error_code) const {
  out->clear();
  *error_code = {};
  if (!isIdentifier(m.message_id, 64)) return *error_code = "bad-id", false;
  out->method = HttpMethod::kPost;
  out->url = url_;
  out->headers.emplace_back("Content-Type: application/json");
  out->headers.push_back(authorization_);
  out->headers.emplace_back("Idempotency-Key: ").append(m.message_id);

  // The text is the client's validated UTF-8; appendJsonString escapes
  // quotes, backslashes and control bytes.
  body_.clear();
  body_.append("{\"id\":");
  appendJsonString(body_, m.message_id);
  body_.append(",\"to\":");
  appendJsonString(body_, m.to);
  body_.append(",\"text\":");
  appendJsonString(body_, m.text);
  if (!m.template_id.empty()) {
    body_.append(",\"template_id\":");
    appendJsonString(body_, m.template_id);
  }
  if (!m.sender_id.empty()) {
    body_.append(",\"sender_id\":");
    appendJsonString(body_, m.sender_id);
  }
  body_.append(",\"type\":\"");
  body_.append(kindName(m.kind));
  body_.append("\"}");
  out->body.assign(body_.view());
  // The body holds the message text: not left behind in the scratch buffer.
  sodium_memzero(body_.data(), body_.size());
  body_.clear();
  return true;
}

SendVerdict HttpAdapter::classify(const net::HttpResult& r) const {
  if (r.error != net::HttpError::kNone) return transportVerdict(r.error);
  if (r.status < 200 || r.status > 299) return statusVerdict(r.status);
  SendVerdict v;
  v.outcome = Outcome::kSent;
  // A 2xx is an acceptance whatever its body says: without a readable id
  // the message is sent with "-" (retrying would only ask again).
  std::string_view id;
  simdjson::dom::element doc;
  if (parser_->parse(r.body.data(), r.body.size()).get(doc) == simdjson::SUCCESS &&
      doc["provider_message_id"].get(id) == simdjson::SUCCESS) {
    v.provider_message_id = sanitizeProviderId(id);
  } else {
    v.provider_message_id = "-";
  }
  return v;
}

}  // namespace phigate::delivery
