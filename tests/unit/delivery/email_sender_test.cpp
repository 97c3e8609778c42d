// EmailSender (src/delivery/email_sender.h): what an SMTP outcome means for
// the lifecycle, that the message it builds names the configured sender and
// a Message-ID of phigate's id, and the email payload parser.
#include <gtest/gtest.h>

#include <string>

#include "delivery/email_sender.h"
#include "delivery/payload.h"

namespace phigate::delivery {
namespace {

SmtpOptions options() {
  SmtpOptions o;
  o.url = "smtps://mail.hospital.test:465";
  o.username = "gateway";
  o.password = "fake-password-for-tests";
  o.from = "noreply@hospital.test";
  o.reply_to = "desk@hospital.test";
  return o;
}

net::HttpResult reply(long code) {
  net::HttpResult r;
  r.error = net::HttpError::kNone;
  r.status = code;
  return r;
}

TEST(EmailSenderTest, RepliesMapToSentRetryAndFailedWithTheCodeOnly) {
  const EmailSender s(options());
  EXPECT_EQ(s.classify(reply(250)).outcome, Outcome::kSent);
  EXPECT_TRUE(s.classify(reply(250)).error_code.empty());
  for (long code : {421L, 450L, 451L, 452L}) {
    const SendVerdict v = s.classify(reply(code));
    EXPECT_EQ(v.outcome, Outcome::kRetry) << code;
    EXPECT_EQ(v.error_code, "smtp-" + std::to_string(code));
  }
  for (long code : {500L, 550L, 552L, 554L}) {
    const SendVerdict v = s.classify(reply(code));
    EXPECT_EQ(v.outcome, Outcome::kPermanent) << code;
    EXPECT_EQ(v.error_code, "smtp-" + std::to_string(code));
  }
  // Something that is no SMTP reply at all is not retried forever.
  EXPECT_EQ(s.classify(reply(0)).outcome, Outcome::kPermanent);
  EXPECT_EQ(s.classify(reply(0)).error_code, "smtp-other");
}

// Our account, not the message: retried (and counted by the circuit), so a
// wrong password after a deploy fails no queued email for good.
TEST(EmailSenderTest, AuthRefusalsAreRetriedNotFinal) {
  const EmailSender s(options());
  for (long code : {530L, 534L, 535L, 538L}) {
    const SendVerdict v = s.classify(reply(code));
    EXPECT_EQ(v.outcome, Outcome::kRetry) << code;
    EXPECT_EQ(v.error_code, "smtp-" + std::to_string(code));
  }
  net::HttpResult denied = reply(550);
  denied.curl_code = CURLE_LOGIN_DENIED;
  EXPECT_EQ(s.classify(denied).outcome, Outcome::kRetry);
}

TEST(EmailSenderTest, NoAnswerIsRetriedLikeAnyTransportFailure) {
  const EmailSender s(options());
  for (auto [e, code] : {std::pair{net::HttpError::kConnect, "connect"}, std::pair{net::HttpError::kTimeout, "timeout"},
                         std::pair{net::HttpError::kTls, "tls"}, std::pair{net::HttpError::kDns, "dns"}}) {
    net::HttpResult r;
    r.error = e;
    const SendVerdict v = s.classify(r);
    EXPECT_EQ(v.outcome, Outcome::kRetry) << code;
    EXPECT_EQ(v.error_code, code);
  }
}

TEST(EmailSenderTest, ReplyCodeTextIsStatic) {
  const std::string_view a = smtpReplyCode(451);
  const std::string_view b = smtpReplyCode(451);
  EXPECT_EQ(a, "smtp-451");
  EXPECT_EQ(a.data(), b.data()) << "the same static text, not a temporary";
  EXPECT_EQ(smtpReplyCode(199), "smtp-other");
  EXPECT_EQ(smtpReplyCode(600), "smtp-other");
}

TEST(EmailSenderTest, BuildsFromTheConfiguredSenderWithPhigatesId) {
  const EmailSender s(options());
  const std::string id(32, 'a');
  EmailToSend m{.message_id = id, .to = "patient@example.test", .subject = "Report", .text = "Ready."};
  m.date_unix_s = 1'700'000'000;
  std::string out;
  std::string_view error;
  ASSERT_TRUE(s.build(m, &out, &error)) << error;
  EXPECT_NE(out.find("From: noreply@hospital.test\r\n"), std::string::npos);
  EXPECT_NE(out.find("Reply-To: desk@hospital.test\r\n"), std::string::npos) << "SMTP_REPLY_TO by default";
  EXPECT_NE(out.find("Message-ID: <" + id + "@hospital.test>\r\n"), std::string::npos);
  m.reply_to = "ward@hospital.test";
  ASSERT_TRUE(s.build(m, &out, &error));
  EXPECT_NE(out.find("Reply-To: ward@hospital.test\r\n"), std::string::npos) << "the message's own wins";
  m.to = "a@b.test\r\nBcc: x@y.test";
  EXPECT_FALSE(s.build(m, &out, &error));
  EXPECT_EQ(error, "bad-to");
  const net::MailSpec spec = s.spec("patient@example.test", "msg", {});
  EXPECT_EQ(spec.mail_from, "noreply@hospital.test");
  EXPECT_EQ(spec.rcpt_to, "patient@example.test");
  EXPECT_TRUE(spec.require_tls);
}

TEST(EmailPayloadTest, ParsesWhatSendsSealsAndRefusesAnSmsPayload) {
  PayloadParser p;
  EmailPayload e;
  ASSERT_TRUE(p.parse(std::string_view(R"({"channel":"email","to":"a@b.test","subject":"S\u00e9","html":"<p>x</p>","test":true})"), &e));
  EXPECT_EQ(e.to, "a@b.test");
  EXPECT_EQ(e.subject, "S\xc3\xa9");
  EXPECT_TRUE(e.text.empty());
  EXPECT_EQ(e.html, "<p>x</p>");
  EXPECT_TRUE(e.test);
  EXPECT_FALSE(p.parse(std::string_view(R"({"channel":"sms","to":"+919800000001","message":"x","type":"otp","encoding":"GSM-7"})"), &e));
  EXPECT_FALSE(p.parse(std::string_view(R"({"channel":"email","to":"a@b.test","subject":"no body"})"), &e));
  SmsPayload sms;
  EXPECT_FALSE(p.parse(std::string_view(R"({"channel":"email","to":"a@b.test","subject":"S","text":"x"})"), &sms));
}

}  // namespace
}  // namespace phigate::delivery
