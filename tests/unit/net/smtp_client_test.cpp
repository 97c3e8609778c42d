// HttpClient::sendMail (src/net/http_client.h) against a real SMTP server
// on 127.0.0.1: aiosmtpd (python3-aiosmtpd, which `make setup` installs),
// run by tests/support/smtp_helper.py with a certificate from a CA this
// test makes with the openssl CLI. The helper serves STARTTLS + AUTH, plain
// SMTP without STARTTLS, and implicit TLS (smtps); it answers 421 / 451 /
// 550 when the recipient asks for it, writes each delivered message to a
// file, and counts the connections it accepts. The suite is skipped (with
// the reason) only when no python3 on the machine can import aiosmtpd.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "net/http_client.h"
#include "support/helper_process.h"
#include "support/spawn.h"

namespace phigate::net {
namespace {

uint64_t nowMs() { return uv_hrtime() / 1'000'000; }

constexpr const char* kUser = "phigate-test";  // tests/support/smtp_helper.py's
constexpr const char* kPassword = "s3cret-test";

// Lines starting with "." (one alone on its line: an unstuffed one would end
// DATA there), a long line and 8-bit bytes: what arrives must be exactly this.
const std::string kMessage =
    "From: Gateway <noreply@phigate.test>\r\n"
    "To: someone@phigate.test\r\n"
    "Subject: test\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    ".starts with a dot\r\n"
    "..two dots\r\n"
    ".\r\n"
    "after the lone dot \xc3\xa9\r\n" +
    std::string(900, 'x') + "\r\n"
    "last line\r\n";

using test::countLines;
using test::findProgram;
using test::readFile;

struct Outcome {
  int calls = 0;
  HttpError error = HttpError::kOther;
  long status = -1;
  int curl_code = -1;
};

void record(void* ctx, const HttpResult& r) {
  auto* o = static_cast<Outcome*>(ctx);
  ++o->calls;
  o->error = r.error;
  o->status = r.status;
  o->curl_code = r.curl_code;
}

/** Once per suite: the CA, the server certificate (DNS:localhost) and the helper. */
class SmtpClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_.clear();
    skip_.clear();
    pid_ = -1;
    starttls_port_ = plain_port_ = smtps_port_ = 0;
    const std::string python = test::pythonWith("aiosmtpd");
    if (python.empty()) {
      skip_ = "no python3 can import aiosmtpd (make setup installs python3-aiosmtpd)";
      return;
    }
    const std::string openssl = findProgram("openssl");
    if (openssl.empty()) {
      skip_ = "needs openssl";
      return;
    }
    char tmpl[] = "/tmp/phigate-smtp-client-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      skip_ = "no temporary directory";
      return;
    }
    dir_ = tmpl;
    std::system(("mkdir '" + dir_ + "/out'").c_str());
    if (!test::makeTestCertificates(dir_, openssl, "localhost", "DNS:localhost")) {
      skip_ = "openssl could not make the test certificates";
      return;
    }
    std::string error;
    pid_ = test::spawnServer(
        {.args = {python, PHIGATE_SOURCE_DIR "/tests/support/smtp_helper.py", dir_ + "/srv.pem",
                  dir_ + "/srv.key", dir_ + "/out"},
         .output = dir_ + "/helper.out",
         .truncate_output = true},
        &error);
    // It imports aiosmtpd: a helper that does not start is a failure, not a skip.
    if (!test::waitForPorts(pid_, dir_ + "/helper.out", {&starttls_port_, &plain_port_, &smtps_port_})) {
      start_error_ = "the SMTP helper did not start: " + error;
    }
  }
  static void TearDownTestSuite() { test::stopHelper(&pid_, dir_); }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(start_error_.empty()) << start_error_;
    uv_loop_init(&loop_);
    loop_open_ = true;
  }
  void TearDown() override {
    if (!loop_open_) return;
    if (client_) {
      EXPECT_EQ(client_->stats().multi_errors, 0u);
    }
    client_.reset();
    const uint64_t end = nowMs() + 3000;
    for (int i = 0; i < 5 || (uv_loop_alive(&loop_) != 0 && nowMs() < end); ++i) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      if (i >= 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "the client left a handle open";
  }

  static HttpClientOptions tlsOptions() {
    HttpClientOptions o;
    o.ca_file = dir_ + "/ca.pem";
    return o;
  }
  HttpClient& client(HttpClientOptions o = tlsOptions()) {
    if (!client_) client_ = std::make_unique<HttpClient>(&loop_, std::move(o));
    return *client_;
  }

  static std::string url(const char* scheme, int port, const char* host = "localhost") {
    return std::string(scheme) + "://" + host + ":" + std::to_string(port);
  }
  /** STARTTLS + AUTH to `rcpt`. */
  static MailSpec mail(const std::string& u, std::string_view rcpt = "someone@phigate.test") {
    return MailSpec{.url = u,
                    .username = kUser,
                    .password = kPassword,
                    .mail_from = "noreply@phigate.test",
                    .rcpt_to = rcpt,
                    .message = kMessage,
                    .timeouts = {1000, 3000}};
  }

  Outcome sendOne(const MailSpec& m) {
    Outcome o;
    EXPECT_TRUE(client().sendMail(m, record, &o));
    EXPECT_EQ(o.calls, 0) << "done ran inside sendMail()";
    const uint64_t end = nowMs() + 5000;
    while (o.calls == 0 && nowMs() < end) uv_run(&loop_, UV_RUN_ONCE);
    EXPECT_EQ(o.calls, 1);
    return o;
  }

  static int connections() { return countLines(dir_ + "/out/connections"); }
  /** Messages the helper has delivered (written) so far. */
  static int delivered() {
    int n = 0;
    while (access((dir_ + "/out/msg-" + std::to_string(n + 1) + ".env").c_str(), F_OK) == 0) ++n;
    return n;
  }
  static std::string message(int n) { return readFile(dir_ + "/out/msg-" + std::to_string(n) + ".eml"); }
  static std::string envelope(int n) { return readFile(dir_ + "/out/msg-" + std::to_string(n) + ".env"); }

  uv_loop_t loop_{};
  bool loop_open_ = false;
  std::unique_ptr<HttpClient> client_;

  static inline std::string dir_;
  static inline std::string skip_;
  static inline std::string start_error_;
  static inline pid_t pid_ = -1;
  static inline int starttls_port_ = 0;
  static inline int plain_port_ = 0;
  static inline int smtps_port_ = 0;
};

TEST_F(SmtpClientTest, DeliveredOverStartTlsWithAuthExactlyAsGiven) {
  const int before = delivered();
  const std::string u = url("smtp", starttls_port_);
  const Outcome o = sendOne(mail(u));
  EXPECT_EQ(o.error, HttpError::kNone) << httpErrorName(o.error) << " curl " << o.curl_code;
  EXPECT_EQ(o.status, 250);
  ASSERT_EQ(delivered(), before + 1);
  // curl dot-stuffed the lines starting with "." (aiosmtpd undoes it): the
  // bytes are the caller's, byte for byte.
  EXPECT_TRUE(message(before + 1) == kMessage) << "the delivered message differs";
  EXPECT_EQ(envelope(before + 1), "noreply@phigate.test\nsomeone@phigate.test\n");
  EXPECT_GE(client().stats().dns_lookups, 1u) << "localhost went through uv_getaddrinfo";
}

TEST_F(SmtpClientTest, AMessageWithoutAFinalCrlfGetsOne) {
  const int before = delivered();
  const std::string u = url("smtp", starttls_port_);
  MailSpec m = mail(u);
  m.message = "Subject: x\r\n\r\nno final line break";
  EXPECT_EQ(sendOne(m).status, 250);
  ASSERT_EQ(delivered(), before + 1);
  EXPECT_TRUE(message(before + 1) == "Subject: x\r\n\r\nno final line break\r\n");
}

TEST_F(SmtpClientTest, ImplicitTlsSmtpsDelivers) {
  const int before = delivered();
  const std::string u = url("smtps", smtps_port_);
  const Outcome o = sendOne(mail(u));
  EXPECT_EQ(o.error, HttpError::kNone) << httpErrorName(o.error) << " curl " << o.curl_code;
  EXPECT_EQ(o.status, 250);
  ASSERT_EQ(delivered(), before + 1);
  EXPECT_TRUE(message(before + 1) == kMessage);
}

// curl 7.88 caches SMTP connections like HTTP ones (same host, port and
// credentials): the second mail goes on the first one's connection, with
// no new greeting, STARTTLS or AUTH.
TEST_F(SmtpClientTest, TwoMailsReuseOneConnection) {
  const int before = delivered();
  const int conns = connections();
  const std::string u = url("smtp", starttls_port_);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sendOne(mail(u)).status, 250);
  EXPECT_EQ(delivered(), before + 3);
  EXPECT_EQ(connections() - conns, 1);
}

// AUTH refused: curl says CURLE_LOGIN_DENIED and the reply is 535: a
// permanent answer (5xx), not a transport error; nothing is sent.
TEST_F(SmtpClientTest, AWrongPasswordIsA535Answer) {
  const int before = delivered();
  const std::string u = url("smtp", starttls_port_);
  MailSpec m = mail(u);
  m.password = "not-the-password";
  const Outcome o = sendOne(m);
  EXPECT_EQ(o.error, HttpError::kNone);
  EXPECT_EQ(o.status, 535);
  EXPECT_EQ(o.curl_code, CURLE_LOGIN_DENIED);
  EXPECT_EQ(delivered(), before);
}

// RCPT refused: CURLE_SEND_ERROR with the reply's code; after the message
// (".") refused: CURLE_WEIRD_SERVER_REPLY with it. 4xx: try later; 5xx: not.
TEST_F(SmtpClientTest, RejectionsAreAnswersWithTheirCode) {
  const int before = delivered();
  const std::string u = url("smtp", starttls_port_);
  struct Case {
    const char* rcpt;
    long status;
    int curl_code;
  };
  for (const Case& c : {Case{"rcpt451@phigate.test", 451, CURLE_SEND_ERROR},
                        Case{"rcpt550@phigate.test", 550, CURLE_SEND_ERROR},
                        Case{"rcpt421@phigate.test", 421, CURLE_SEND_ERROR},
                        Case{"data451@phigate.test", 451, CURLE_WEIRD_SERVER_REPLY},
                        Case{"data550@phigate.test", 550, CURLE_WEIRD_SERVER_REPLY}}) {
    const Outcome o = sendOne(mail(u, c.rcpt));
    EXPECT_EQ(o.error, HttpError::kNone) << c.rcpt << ": " << httpErrorName(o.error);
    EXPECT_EQ(o.status, c.status) << c.rcpt;
    EXPECT_EQ(o.curl_code, c.curl_code) << c.rcpt;
  }
  EXPECT_EQ(delivered(), before);
  // A rejection closes its connection; the next mail gets a new one.
  EXPECT_EQ(sendOne(mail(u)).status, 250);
  EXPECT_EQ(delivered(), before + 1);
}

TEST_F(SmtpClientTest, WithoutTheCaItIsATlsError) {
  client(HttpClientOptions{});  // the system store does not know the test CA
  const std::string starttls = url("smtp", starttls_port_);
  const std::string smtps = url("smtps", smtps_port_);
  const int before = delivered();
  EXPECT_EQ(sendOne(mail(starttls)).error, HttpError::kTls);
  EXPECT_EQ(sendOne(mail(smtps)).error, HttpError::kTls);
  EXPECT_EQ(delivered(), before);
}

TEST_F(SmtpClientTest, ANameTheCertificateDoesNotCarryIsATlsError) {
  const std::string u = url("smtp", starttls_port_, "127.0.0.1");  // no IP address in it
  EXPECT_EQ(sendOne(mail(u)).error, HttpError::kTls);
}

// STARTTLS required, the server does not offer it: CURLE_USE_SSL_FAILED,
// before MAIL FROM (and before AUTH: the password never goes in the clear).
TEST_F(SmtpClientTest, RequiredTlsAgainstAServerWithoutStartTlsIsATlsError) {
  const int before = delivered();
  const std::string u = url("smtp", plain_port_);
  const Outcome o = sendOne(mail(u));
  EXPECT_EQ(o.error, HttpError::kTls);
  EXPECT_EQ(o.curl_code, CURLE_USE_SSL_FAILED);
  EXPECT_EQ(delivered(), before);
}

TEST_F(SmtpClientTest, PlainSmtpOnlyInDevelopment) {
  const std::string u = url("smtp", plain_port_);
  MailSpec m = mail(u);
  m.require_tls = false;
  m.username = {};  // the plain server offers no AUTH
  EXPECT_EQ(sendOne(m).error, HttpError::kRefused);
  client_.reset();
  HttpClientOptions dev = tlsOptions();
  dev.allow_plain_http = true;
  client(dev);
  const int before = delivered();
  const Outcome o = sendOne(m);
  EXPECT_EQ(o.error, HttpError::kNone);
  EXPECT_EQ(o.status, 250);
  ASSERT_EQ(delivered(), before + 1);
  EXPECT_TRUE(message(before + 1) == kMessage);
}

TEST_F(SmtpClientTest, NoServerIsAConnectError) {
  // A port nothing listens on: bound, then closed.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  const std::string u = url("smtp", ntohs(addr.sin_port), "127.0.0.1");
  EXPECT_EQ(sendOne(mail(u)).error, HttpError::kConnect);
}

// TCP accepted (by the kernel's backlog) but no greeting ever comes.
TEST_F(SmtpClientTest, ASilentServerTimesOut) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string u = url("smtp", ntohs(addr.sin_port), "127.0.0.1");
  MailSpec m = mail(u);
  m.timeouts = {200, 300};
  const uint64_t start = nowMs();
  EXPECT_EQ(sendOne(m).error, HttpError::kTimeout);
  EXPECT_LT(nowMs() - start, 1500u);
  close(fd);
}

TEST_F(SmtpClientTest, SmtpSchemesOnlyThroughSendMail) {
  const std::string u = url("smtp", starttls_port_);
  const std::string s = url("smtps", smtps_port_);
  for (const std::string& target : {u, s}) {
    Outcome get;
    Outcome post;
    ASSERT_TRUE(client().send({.method = HttpMethod::kGet, .url = target}, record, &get));
    ASSERT_TRUE(client().send({.method = HttpMethod::kPost, .url = target, .body = "x"}, record, &post));
    while (get.calls == 0 || post.calls == 0) uv_run(&loop_, UV_RUN_ONCE);
    EXPECT_EQ(get.error, HttpError::kRefused);
    EXPECT_EQ(post.error, HttpError::kRefused);
  }
  client_.reset();
  HttpClientOptions dev = tlsOptions();
  dev.allow_plain_http = true;  // does not admit smtp:// to send() either
  client(dev);
  Outcome post;
  ASSERT_TRUE(client().send({.method = HttpMethod::kPost, .url = u, .body = "x"}, record, &post));
  while (post.calls == 0) uv_run(&loop_, UV_RUN_ONCE);
  EXPECT_EQ(post.error, HttpError::kRefused);
}

TEST_F(SmtpClientTest, BadMailsAreRefusedBeforeAnyConnection) {
  const int conns = connections();
  const std::string u = url("smtp", starttls_port_);
  const std::string https = "https://localhost:" + std::to_string(starttls_port_);
  const std::string imap = "imap://localhost:" + std::to_string(starttls_port_);
  EXPECT_EQ(sendOne(mail(https)).error, HttpError::kRefused);
  EXPECT_EQ(sendOne(mail(imap)).error, HttpError::kRefused);
  EXPECT_EQ(sendOne(mail(u, "")).error, HttpError::kRefused);
  EXPECT_EQ(sendOne(mail(u, "a@b\r\nRCPT TO:<c@d>")).error, HttpError::kRefused);
  MailSpec m = mail(u);
  m.mail_from = "a@b\nDATA";
  EXPECT_EQ(sendOne(m).error, HttpError::kRefused);
  EXPECT_EQ(connections(), conns);
}

// Destroying the client cancels a mail in flight: done runs once, kCancelled.
TEST_F(SmtpClientTest, DestroyingTheClientCancelsAMailInFlight) {
  const std::string u = url("smtp", starttls_port_);
  Outcome o;
  ASSERT_TRUE(client().sendMail(mail(u), record, &o));
  for (int i = 0; i < 3; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  client_.reset();
  EXPECT_EQ(o.calls, 1);
  EXPECT_EQ(o.error, HttpError::kCancelled);
}

}  // namespace
}  // namespace phigate::net
