#include "delivery/cdac_adapter.h"

#include <sodium.h>

#include "common/ascii.h"
#include "crypto/digest_hex.h"
#include "delivery/cdac_reply.h"
#include "delivery/cdac_text.h"
#include "delivery/verdicts.h"

namespace phigate::delivery {

namespace {

// smsservicetype and the field that carries the number. Unicode follows
// CDAC's Java sample: sendUnicodeSMS posts `unicodemsg` with `bulkmobno`
// (for one number as for many), sendUnicodeOtpSMS `unicodeotpmsg` with
// `mobileno`. CDAC has no separate bulk unicode type.
struct ServiceType {
  std::string_view type;
  std::string_view number_field;
};

ServiceType serviceType(SmsKind kind, TextEncoding enc) {
  const bool ucs2 = enc == TextEncoding::kUcs2;
  switch (kind) {
    case SmsKind::kOtp: return {ucs2 ? "unicodeotpmsg" : "otpmsg", "mobileno"};
    case SmsKind::kBulk: return {ucs2 ? "unicodemsg" : "bulkmsg", "bulkmobno"};
    case SmsKind::kTransactional: break;
  }
  return ucs2 ? ServiceType{"unicodemsg", "bulkmobno"} : ServiceType{"singlemsg", "mobileno"};
}

void appendField(std::string* body, std::string_view name, std::string_view value) {
  if (!body->empty()) body->push_back('&');
  body->append(name);
  body->push_back('=');
  appendFormValue(body, value);
}

void wipe(std::string* s) {
  if (!s->empty()) sodium_memzero(s->data(), s->size());
  s->clear();
}

}  // namespace

CdacAdapter::CdacAdapter(const CdacOptions& opts)
    : url_(opts.url),
      username_(trimControl(opts.username)),
      password_sha1_(crypto::sha1Hex(opts.password)),
      sender_id_(trimControl(opts.sender_id)),
      secure_key_(trimControl(opts.secure_key)) {
  if (!opts.report_url.empty()) {
    report_prefix_ = opts.report_url;
    report_prefix_.append(opts.report_url.find('?') == std::string::npos ? "?" : "&");
    report_prefix_.append("userid=");
    appendFormValue(&report_prefix_, username_);
    report_prefix_.append("&password=");
    appendFormValue(&report_prefix_, opts.password);
    report_prefix_.append("&msgid=");
  }
}

CdacAdapter::~CdacAdapter() {
  wipe(&report_prefix_);  // holds the password in clear
  wipe(&secure_key_);
  wipe(&content_);
}

bool CdacAdapter::build(const SmsToSend& m, OutboundRequest* out, std::string_view* error_code) const {
  out->clear();
  *error_code = {};
  const std::string_view mobile = cdacMobile(m.to);
  if (mobile.empty()) return *error_code = "not-indian-mobile", false;
  if (trimControl(m.template_id).empty()) return *error_code = "no-template", false;
  // CDAC's sample trims the text before sending (and before the unicode
  // conversion); the key then hashes exactly the content sent.
  const std::string_view text = trimControl(m.text);
  if (text.empty()) return *error_code = "empty-text", false;
  content_.clear();
  if (m.encoding == TextEncoding::kUcs2) {
    if (!appendCdacUnicode(text, &content_)) return *error_code = "bad-text", false;
  } else {
    content_.assign(text);
  }
  const std::string_view sender = trimControl(m.sender_id.empty() ? sender_id_ : m.sender_id);
  const ServiceType st = serviceType(m.kind, m.encoding);

  out->method = HttpMethod::kPost;
  out->url = url_;
  out->headers.emplace_back("Content-Type: application/x-www-form-urlencoded");
  std::string& b = out->body;
  appendField(&b, "username", username_);
  appendField(&b, "password", password_sha1_);
  appendField(&b, "senderid", sender);
  appendField(&b, "content", content_);
  appendField(&b, "smsservicetype", st.type);
  appendField(&b, st.number_field, mobile);
  appendField(&b, "templateid", trimControl(m.template_id));
  // trim() of each part as CDAC's hashGenerator does; content is trimmed already.
  appendField(&b, "key", crypto::sha512Hex({username_, sender, content_, secure_key_}));
  wipe(&content_);  // the message text: not left behind until the next send
  return true;
}

SendVerdict CdacAdapter::classify(const net::HttpResult& r) const {
  if (r.error != net::HttpError::kNone) return transportVerdict(r.error);
  // CDAC answers every outcome of a send with 200; anything else is its web
  // server or something in front of it speaking.
  if (r.status != 200) return statusVerdict(r.status);
  return cdacReplyVerdict(r.body);
}

void CdacAdapter::buildReport(std::span<const std::string_view> provider_ids, OutboundRequest* out) const {
  out->clear();
  if (provider_ids.empty() || report_prefix_.empty()) return;
  out->method = HttpMethod::kGet;
  out->url = report_prefix_;
  appendFormValue(&out->url, provider_ids.front());
}

bool CdacAdapter::parseReport(const net::HttpResult& r, std::vector<ReportItem>* out) const {
  out->clear();
  if (r.error != net::HttpError::kNone || r.status != 200) return false;
  ReportItem item;
  if (!parseCdacReport(r.body, &item)) return false;
  out->push_back(std::move(item));
  return true;
}

}  // namespace phigate::delivery
