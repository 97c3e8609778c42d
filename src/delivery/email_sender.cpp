#include "delivery/email_sender.h"

#include <array>

#include "delivery/mime.h"
#include "delivery/verdicts.h"

namespace phigate::delivery {

namespace {

// "smtp-200" .. "smtp-599", built once: a verdict's error code must be
// static text (it outlives the reply, and lands in records).
struct ReplyCodes {
  std::array<std::array<char, 8>, 400> text{};
  ReplyCodes() {
    for (int code = 200; code < 600; ++code) {
      std::array<char, 8>& t = text[static_cast<size_t>(code - 200)];
      const char prefix[] = "smtp-";
      for (size_t i = 0; i < 5; ++i) t[i] = prefix[i];
      t[5] = static_cast<char>('0' + code / 100);
      t[6] = static_cast<char>('0' + code / 10 % 10);
      t[7] = static_cast<char>('0' + code % 10);
    }
  }
};

const ReplyCodes& replyCodes() {
  static const ReplyCodes codes;
  return codes;
}

}  // namespace

std::string_view smtpReplyCode(long code) {
  if (code < 200 || code >= 600) return "smtp-other";
  const std::array<char, 8>& t = replyCodes().text[static_cast<size_t>(code - 200)];
  return {t.data(), t.size()};
}

EmailSender::EmailSender(SmtpOptions options) : o_(std::move(options)) {
  const size_t at = o_.from.rfind('@');
  domain_ = at == std::string::npos ? std::string("localhost") : o_.from.substr(at + 1);
  replyCodes();  // built before any worker forks
}

bool EmailSender::validAddress(std::string_view address) { return isPlainAddress(address); }

bool EmailSender::build(const EmailToSend& m, std::string* out, std::string_view* error) const {
  MailMessage mail;
  mail.from = o_.from;
  mail.to = m.to;
  mail.reply_to = m.reply_to.empty() ? std::string_view(o_.reply_to) : m.reply_to;
  mail.subject = m.subject;
  mail.text = m.text;
  mail.html = m.html;
  mail.message_id_left = m.message_id;
  mail.domain = domain_;
  mail.date_unix_s = m.date_unix_s;
  return buildMail(mail, out, error);
}

net::MailSpec EmailSender::spec(std::string_view rcpt_to, std::string_view message,
                                net::HttpTimeouts timeouts) const {
  net::MailSpec s;
  s.url = o_.url;
  s.username = o_.username;
  s.password = o_.password;
  s.mail_from = o_.from;
  s.rcpt_to = rcpt_to;
  s.message = message;
  s.require_tls = o_.require_tls;
  s.timeouts = timeouts;
  return s;
}

SendVerdict EmailSender::classify(const net::HttpResult& r) const {
  if (r.error != net::HttpError::kNone) return transportVerdict(r.error);
  SendVerdict v;
  if (r.status >= 200 && r.status < 300) {
    v.outcome = Outcome::kSent;
    return v;
  }
  // Our account, not this message: AUTH refused (curl says so, or the
  // server answers 530 "authentication required" / 534 / 535 / 538). A
  // wrong password after a deploy must not fail every queued email at full
  // speed: it is retried, and counts against the circuit like an outage.
  const bool account = r.curl_code == CURLE_LOGIN_DENIED || r.curl_code == CURLE_AUTH_ERROR ||
                       r.status == 530 || r.status == 534 || r.status == 535 || r.status == 538;
  if (account) {
    v.outcome = Outcome::kRetry;
    v.error_code = smtpReplyCode(r.status);
    return v;
  }
  // 4xx: "try again later" (421 closing, 450/451/452 busy, greylisting);
  // 5xx and anything unexpected: the server will not take this message.
  v.outcome = r.status >= 400 && r.status < 500 ? Outcome::kRetry : Outcome::kPermanent;
  v.error_code = smtpReplyCode(r.status);
  return v;
}

}  // namespace phigate::delivery
