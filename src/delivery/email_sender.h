// Email delivery's provider: SMTP through the worker's HTTP client (libcurl
// on the loop, net/http_client.h sendMail). Like an SMS adapter it owns no
// socket and does no I/O: it builds the message (delivery/mime.h) and says
// what the server's reply means for the message's lifecycle.
//
// SMTP replies (the last reply code curl saw, at whatever step):
//   2xx          sent (accepted for delivery; SMTP has no delivery report
//                here, so `sent` is the last state)
//   4xx          retried ("smtp-421", "smtp-451", ...: the server asks us to
//                come back later)
//   5xx          failed at once ("smtp-550", ...), never retried
//   no reply     the transport's classes (connect, timeout, tls, dns, ...)
//                are retried, as for SMS (delivery/verdicts.h)
// Only the code is kept, never the server's text: a rejection such as
// "550 5.1.1 <someone@example.org>: Recipient address rejected" echoes the
// address.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "delivery/sms_adapter.h"
#include "net/http_client.h"

namespace phigate::delivery {

struct SmtpOptions {
  std::string url;       // smtp://host:587 (STARTTLS) or smtps://host:465
  std::string username;  // empty: no AUTH
  std::string password;
  std::string from;      // SMTP_FROM: envelope sender and From header
  std::string reply_to;  // SMTP_REPLY_TO: the Reply-To of messages without their own
  bool require_tls = true;  // false only in development (SMTP_TLS=off)
};

/** One email as the consumer hands it over (views valid during the call). */
struct EmailToSend {
  std::string_view message_id;  // phigate's id: the Message-ID's left part
  std::string_view to;
  std::string_view subject;
  std::string_view text;
  std::string_view html;
  std::string_view reply_to;    // empty: SmtpOptions::reply_to (may be empty too)
  int64_t date_unix_s = 0;
};

class EmailSender {
 public:
  explicit EmailSender(SmtpOptions options);

  /** Stored in the message record as its provider. */
  std::string_view name() const { return "smtp"; }

  /**
   * The whole RFC 5322 message for `m` into `*out` (replaced). False with a
   * fixed `*error` (mime.h's codes) when it cannot be built: a permanent
   * failure, since the same input never builds.
   */
  bool build(const EmailToSend& m, std::string* out, std::string_view* error) const;

  /** The transfer for `message` (built by build(); must outlive the call's callback). */
  net::MailSpec spec(std::string_view rcpt_to, std::string_view message, net::HttpTimeouts timeouts) const;

  /** What the server's answer (or its absence) means; see the table above. */
  SendVerdict classify(const net::HttpResult& r) const;

  /** Whether SMTP_FROM (or a Reply-To) is an address the message builder takes. */
  static bool validAddress(std::string_view address);

 private:
  SmtpOptions o_;
  std::string domain_;  // SMTP_FROM's domain: the Message-ID's right part
};

/** "smtp-451" for a reply code 200..599, else "smtp-other" (static text). */
std::string_view smtpReplyCode(long code);

}  // namespace phigate::delivery
