#include "delivery/cdac_reply.h"

#include <optional>

#include "common/ascii.h"

namespace phigate::delivery {

namespace {

struct CdacCode {
  int code;
  std::string_view name;
  Outcome outcome;
};

// CDAC's answer codes. 405/407/408/409 are network-side trouble at CDAC or
// its SMSC: retried. Everything else is the request or the account (bad
// credentials, key, parameters, numbers, sender id, template, spam, limits):
// retrying the same request gets the same answer, so it is permanent.
// 409 reads "SMSC response timed out, message will be submitted": CDAC may
// still send it, so a retry can duplicate (docs/PROVIDERS.md).
constexpr CdacCode kCodes[] = {
    {401, "cdac-401", Outcome::kPermanent},  // credentials (username / password hash)
    {403, "cdac-403", Outcome::kPermanent},  // invalid key (also seen: credits not available)
    {404, "cdac-404", Outcome::kPermanent},  // missing or invalid parameter
    {405, "cdac-405", Outcome::kRetry},      // internal networking error
    {406, "cdac-406", Outcome::kPermanent},  // invalid or duplicate numbers
    {407, "cdac-407", Outcome::kRetry},      // network error on SMSC
    {408, "cdac-408", Outcome::kRetry},      // network error on SMSC
    {409, "cdac-409", Outcome::kRetry},      // SMSC response timed out
    {410, "cdac-410", Outcome::kPermanent},  // internal limit exceeded
    {411, "cdac-411", Outcome::kPermanent},  // sender id not approved
    {412, "cdac-412", Outcome::kPermanent},  // sender id not approved
    {413, "cdac-413", Outcome::kPermanent},  // suspected spam
    {414, "cdac-414", Outcome::kPermanent},  // rejected by the operator (DND, spam)
    {415, "cdac-415", Outcome::kPermanent},  // secure key not available
    {416, "cdac-416", Outcome::kPermanent},  // hash does not match
    {418, "cdac-418", Outcome::kPermanent},  // daily limit exceeded
    {498, "cdac-498", Outcome::kPermanent},  // message already sent
    {499, "cdac-499", Outcome::kPermanent},  // no phone number
};

constexpr bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view skipSpaces(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  return s;
}

// Consumes `token` (ASCII case-insensitive, lower-case given) after optional spaces.
bool consume(std::string_view* s, std::string_view lower_token) {
  const std::string_view t = skipSpaces(*s);
  if (t.size() < lower_token.size() || !equalsLower(t.substr(0, lower_token.size()), lower_token)) {
    return false;
  }
  *s = t.substr(lower_token.size());
  return true;
}

// 1..4 decimal digits after optional spaces.
std::optional<int> consumeNumber(std::string_view* s) {
  std::string_view t = skipSpaces(*s);
  int v = 0;
  size_t n = 0;
  while (n < t.size() && n < 5 && t[n] >= '0' && t[n] <= '9') v = v * 10 + (t[n++] - '0');
  if (n == 0 || n > 4) return std::nullopt;
  *s = t.substr(n);
  return v;
}

SendVerdict verdict(Outcome o, std::string_view code) {
  SendVerdict v;
  v.outcome = o;
  v.error_code = code;
  return v;
}

// "<tag>text</tag>" -> text; "<tag/>" -> ""; absent -> nullopt.
std::optional<std::string_view> element(std::string_view xml, std::string_view tag) {
  std::string open = "<";
  open.append(tag);
  const size_t at = xml.find(open);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = xml.substr(at + open.size());
  if (rest.starts_with("/>")) return std::string_view();
  if (!rest.starts_with(">")) return element(rest, tag);  // a longer tag name sharing the prefix
  rest.remove_prefix(1);
  const std::string close = "</" + std::string(tag) + ">";
  const size_t end = rest.find(close);
  if (end == std::string_view::npos) return std::nullopt;
  return rest.substr(0, end);
}

std::optional<int> count(std::string_view xml, std::string_view tag) {
  std::optional<std::string_view> text = element(xml, tag);
  if (!text) return std::nullopt;
  std::string_view t = trimControl(*text);
  std::optional<int> n = consumeNumber(&t);
  if (!n || !t.empty()) return std::nullopt;
  return n;
}

}  // namespace

SendVerdict cdacErrorVerdict(int code) {
  for (const CdacCode& c : kCodes) {
    if (c.code == code) return verdict(c.outcome, c.name);
  }
  return verdict(Outcome::kPermanent, "cdac-unknown");
}

// "402,MsgID = 150620161466003974245msdgsms" (spaces around ',' and '='
// tolerated), or "ERROR : 405 Internal Networking Error".
SendVerdict cdacReplyVerdict(std::string_view body) {
  std::string_view s = body;
  if (std::optional<int> code = consumeNumber(&s); code && *code == 402 && consume(&s, ",")) {
    SendVerdict v = verdict(Outcome::kSent, {});
    std::string_view id;
    if (consume(&s, "msgid") && consume(&s, "=")) {
      id = skipSpaces(s);
      size_t end = 0;
      while (end < id.size() && !isSpace(id[end]) && id[end] != ',') ++end;
      id = id.substr(0, end);
    }
    // Accepted even without a readable id: a retry would send it again.
    v.provider_message_id = sanitizeProviderId(id);
    return v;
  }
  s = body;
  if (consume(&s, "error") && consume(&s, ":")) {
    if (std::optional<int> code = consumeNumber(&s)) return cdacErrorVerdict(*code);
  }
  // A 200 that is neither: a proxy's or maintenance page, most likely, so the
  // message probably was not taken; retried (for an OTP a duplicate costs
  // less than a loss).
  return verdict(Outcome::kRetry, "malformed");
}

bool parseCdacReport(std::string_view body, ReportItem* item) {
  const size_t dept = body.find("<dept");
  if (dept == std::string_view::npos) return false;
  const std::string_view xml = body.substr(dept);
  const std::optional<std::string_view> msgid = element(xml, "msgid");
  const std::optional<int> delivered = count(xml, "delvSMSCount");
  const std::optional<int> failed = count(xml, "fldSMSCount");
  if (!msgid || trimControl(*msgid).empty() || !delivered || !failed) return false;
  item->provider_message_id = sanitizeProviderId(trimControl(*msgid));
  item->error_code = {};
  const auto listsANumber = [&](std::string_view tag) {
    const std::optional<std::string_view> list = element(xml, tag);
    return list && list->find("<no") != std::string_view::npos;
  };
  if (*delivered > 0) {
    item->state = ReportState::kDelivered;
  } else if (*failed > 0 || listsANumber("fld")) {
    item->state = ReportState::kUndelivered;
    item->error_code = "cdac-failed";
  } else if (listsANumber("undelv")) {
    item->state = ReportState::kUndelivered;
    item->error_code = "cdac-undelivered";
  } else {
    item->state = ReportState::kPending;
  }
  return true;
}

}  // namespace phigate::delivery
