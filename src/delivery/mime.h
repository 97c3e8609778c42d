// The RFC 5322 / MIME message an email delivery hands to SMTP, as a pure
// function: no I/O, no logging, no clock (the date is passed in). The only
// outside input is the random multipart boundary (crypto/random.h), and a
// caller may fix that too.
//
// What comes out:
//   Date: Thu, 01 Jan 1970 00:00:00 +0000           (RFC 5322 §3.3, always UTC)
//   From: <from>  To: <to>  [Reply-To: <reply_to>]   (one bare addr-spec each)
//   Subject: ...      printable ASCII folded at spaces into lines <= 78, else RFC 2047
//                     =?UTF-8?B?...?= words, each <= 75 chars, one per line,
//                     never splitting a UTF-8 character
//   Message-ID: <message_id_left@domain>
//   MIME-Version: 1.0
//   text only -> text/plain; charset=UTF-8, html only -> text/html; charset=UTF-8,
//   both -> multipart/alternative (text first, then html), every part
//   quoted-printable (RFC 2045 §6.7: lines <= 76, soft breaks, '=', non-ASCII
//   and line-final whitespace escaped). Bare CR and bare LF in a body become
//   CRLF before encoding.
//
// Every line ends in CRLF and none is longer than 998 octets (checked before
// returning; most are <= 78). The message ends in CRLF.
//
// SMTP dot-stuffing: NOT applied, and not needed. libcurl's SMTP upload
// (CURLOPT_UPLOAD with CURLOPT_MAIL_FROM/CURLOPT_MAIL_RCPT) doubles every
// line-initial '.' itself and appends the final "CRLF.CRLF" (lib/smtp.c: the
// cr_eob client reader, cr_eob_read(), in current curl; Curl_smtp_escape_eob()
// in older ones, leading dots doubled since the May 2012 fix 7ba07c8; curl's
// test901 "SMTP with CRLF-dot-CRLF in data" uploads "." lines and expects ".."
// on the wire), so a message stuffed here would arrive with doubled dots. On
// top of that no line of the output starts with '.' at all: headers start
// with a name or a folding space, boundaries with "--", and quoted-printable
// writes a '.' that would begin an encoded line as "=2E" (and "From " there
// as "=46rom ", for mbox readers). The message is
// therefore the same whether or not a transport stuffs dots, and no flag is
// offered.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace phigate::delivery {

struct MailMessage {
  std::string_view from;             // one addr-spec: local@domain, printable ASCII
  std::string_view to;               // one addr-spec
  std::string_view reply_to;         // one addr-spec, or empty for no Reply-To
  std::string_view subject;          // UTF-8, non-empty, no control characters
  std::string_view text;             // UTF-8 plain-text body, or empty
  std::string_view html;             // UTF-8 HTML body, or empty (not both empty)
  std::string_view message_id_left;  // e.g. phigate's 32-hex message id
  std::string_view domain;           // right side of Message-ID (SMTP_FROM's domain)
  int64_t date_unix_s = 0;           // 0 .. 253402300799 (year 9999)
  /** Multipart boundary, [A-Za-z0-9._-]{1,70}; empty: "phigate-" + 32 random
   *  hex digits (redrawn when it occurs in a part). Set only by tests. */
  std::string_view boundary;
};

/**
 * Builds the whole message (headers, blank line, body) into `*out`, replacing
 * its contents. False, with `*error` one of the fixed codes below and `*out`
 * empty, when an input is refused:
 *   "bad-from", "bad-to", "bad-reply-to": not exactly one local@domain of
 *       printable ASCII, or holding whitespace, a control, or any of <>,;":()[]\
 *       (so no header injection and no second recipient);
 *   "bad-subject": empty, not valid UTF-8, or holding a control (CR, LF, NUL,
 *       TAB, any C0, DEL);
 *   "bad-message-id": left or domain empty or not [A-Za-z0-9._-] dot-atoms;
 *   "bad-date": date_unix_s out of range;
 *   "no-body": text and html both empty;  "bad-body": a NUL in text or html;
 *   "bad-boundary": a given boundary malformed or found inside a part;
 *   "line-too-long": a line over 998 octets (cannot happen; checked anyway).
 * The output holds PHI: the caller wipes it when done.
 */
bool buildMail(const MailMessage& m, std::string* out, std::string_view* error);

/** One addr-spec (local@domain) as buildMail accepts for From, To and Reply-To. */
bool isPlainAddress(std::string_view address);

/** Appends `data` quoted-printable encoded as buildMail does (input line ends
 *  normalised to CRLF); exposed for tests. */
void appendQuotedPrintable(std::string* out, std::string_view data);

/** Appends "Subject: ..." with its CRLF (folded, encoded when needed) as
 *  buildMail does; false when `subject` is refused ("bad-subject"). */
bool appendSubjectHeader(std::string* out, std::string_view subject);

}  // namespace phigate::delivery
