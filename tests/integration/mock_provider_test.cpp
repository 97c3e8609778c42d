// phigate-mock-provider as a black box: the CDAC Mobile Seva form (SHA-1
// password, SHA-512 key), the generic JSON provider, and the record file.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace phigate::test {
namespace {

constexpr const char* kUser = "hospital-user";
constexpr const char* kPassword = "fake-password-1";
constexpr const char* kSecureKey = "fake-secure-key-1";
constexpr const char* kSender = "HOSPTL";
constexpr const char* kToken = "fake-provider-token-1";
constexpr const char* kText = "Your OTP is 123456 & valid 10 min";

// The client's side of the digests, computed independently of the mock's code.
std::string hexDigest(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += kHex[out[i] >> 4];
    hex += kHex[out[i] & 15];
  }
  return hex;
}

std::string formEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct CdacFields {
  std::string username = kUser;
  std::string password = hexDigest(EVP_sha1(), kPassword);
  std::string senderid = kSender;
  std::string content = kText;
  std::string type = "otpmsg";
  std::string mobileno = "9800000001";
  std::string templateid = "1107000000000000001";
  std::string key = hexDigest(EVP_sha512(), std::string(kUser) + kSender + kText + kSecureKey);
  bool omit_templateid = false;

  std::string body() const {
    std::string b = "username=" + formEncode(username) + "&password=" + password +
                    "&senderid=" + formEncode(senderid) + "&content=" + formEncode(content) +
                    "&smsservicetype=" + type + "&mobileno=" + mobileno + "&key=" + key;
    if (!omit_templateid) b += "&templateid=" + templateid;
    return b;
  }
};

std::string post(const std::string& path, const std::string& type, const std::string& body,
                 const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

// The mock with the test account, a record file and `extra` switches.
ServerOptions mockOptions(const std::vector<std::string>& extra = {}) {
  ServerOptions o{.workers = 0,
                  .args = {"--cdac-username", kUser, "--cdac-password", kPassword,
                           "--cdac-secure-key", kSecureKey, "--cdac-sender-id", kSender,
                           "--http-token", kToken, "--record", "record.jsonl"},
                  .bin = mockProviderBin(),
                  .listen_flag = true};
  o.args.insert(o.args.end(), extra.begin(), extra.end());
  return o;
}

class MockProviderTest : public ::testing::Test {
 protected:
  explicit MockProviderTest(const std::vector<std::string>& extra = {}) : mock_(mockOptions(extra)) {}

  std::string cdac(const CdacFields& f) {
    auto r = request(mock_.port(), post("/esms/sendsmsrequestDLT",
                                        "application/x-www-form-urlencoded", f.body()));
    EXPECT_TRUE(r.has_value());
    if (!r) return "";
    EXPECT_EQ(r->status, 200);  // CDAC says everything in the body
    return r->body;
  }

  std::optional<Response> json(const std::string& body, const std::string& token) {
    const std::string auth = token.empty() ? "" : "Authorization: Bearer " + token + "\r\n";
    return request(mock_.port(), post("/v1/messages", "application/json", body, auth));
  }

  std::string jsonSend(const std::string& id, const std::string& to = "+919000000001") {
    return R"({"id":")" + id + R"(","to":")" + to + R"(","text":"Clinic visit at 10","type":"transactional"})";
  }

  // The CDAC report for `msgid`, as phigate's adapter polls it.
  std::string report(const std::string& msgid, const std::string& password = kPassword) {
    auto r = request(mock_.port(), get("/XMLForReportG/reportXMLNew?userid=" + formEncode(kUser) +
                                       "&password=" + formEncode(password) + "&msgid=" + msgid));
    EXPECT_TRUE(r.has_value());
    return r ? r->body : "";
  }

  std::optional<Response> control(const std::string& body) {
    return request(mock_.port(), post("/_mock/control", "application/json", body));
  }

  // Sends `raw` and reports whether the connection closed without an answer.
  bool droppedUnanswered(const std::string& raw) {
    Client c(mock_.port());
    if (!c.connected() || !c.sendAll(raw)) return false;
    const ReadResult r = c.readUntilClosed(3000);
    return r.closed() && r.data.empty();
  }

  std::vector<std::string> recordLines() {
    std::ifstream in(mock_.dir() + "/record.jsonl");
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }

  Server mock_;
};

TEST_F(MockProviderTest, AcceptsACorrectCdacForm) {
  ASSERT_TRUE(mock_.ready());
  const std::string a = cdac({});
  EXPECT_EQ(a.rfind("402,MsgID = ", 0), 0u) << a;
  const std::string b = cdac({});
  EXPECT_EQ(b.rfind("402,MsgID = ", 0), 0u) << b;
  EXPECT_NE(a, b);  // a fresh id per request
}

TEST_F(MockProviderTest, RefusesAWrongPasswordHash) {
  ASSERT_TRUE(mock_.ready());
  CdacFields f;
  f.password = hexDigest(EVP_sha1(), "not-the-password");
  EXPECT_EQ(cdac(f).rfind("ERROR : 401", 0), 0u);
}

TEST_F(MockProviderTest, RefusesAWrongKey) {
  ASSERT_TRUE(mock_.ready());
  CdacFields f;
  f.content = "Another text than the one hashed";
  EXPECT_EQ(cdac(f).rfind("ERROR : 403", 0), 0u);
}

TEST_F(MockProviderTest, RefusesAMissingField) {
  ASSERT_TRUE(mock_.ready());
  CdacFields f;
  f.omit_templateid = true;
  EXPECT_EQ(cdac(f).rfind("ERROR : 404", 0), 0u);
}

TEST_F(MockProviderTest, RefusesAnInvalidMobileNumber) {
  ASSERT_TRUE(mock_.ready());
  CdacFields f;
  f.mobileno = "12345";
  EXPECT_EQ(cdac(f).rfind("ERROR : 406", 0), 0u);
}

TEST_F(MockProviderTest, JsonProviderNeedsItsTokenAndIsIdempotent) {
  ASSERT_TRUE(mock_.ready());
  const std::string body = R"({"id":"msg-0001","to":"+919800000001","text":"Appointment at 10"})";
  auto none = json(body, "");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  auto wrong = json(body, "fake-provider-token-2");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);

  auto first = json(body, kToken);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 202);
  const std::string id = jsonField(first->body, "provider_message_id");
  EXPECT_FALSE(id.empty()) << first->body;
  auto again = json(body, kToken);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 202);
  EXPECT_EQ(jsonField(again->body, "provider_message_id"), id);
}

TEST_F(MockProviderTest, RecordsOneLinePerAcceptedMessageWithoutItsText) {
  ASSERT_TRUE(mock_.ready());
  EXPECT_EQ(cdac({}).rfind("402", 0), 0u);
  CdacFields bad;
  bad.key = std::string(128, '0');
  EXPECT_EQ(cdac(bad).rfind("ERROR : 403", 0), 0u);  // refused: not recorded
  const std::string body = R"({"id":"msg-0002","to":"+919800000002","text":"Report ready"})";
  ASSERT_TRUE(json(body, kToken));
  ASSERT_TRUE(json(body, kToken));  // the repeat is the same message

  auto count = request(mock_.port(), get("/_mock/received"));
  ASSERT_TRUE(count);
  EXPECT_EQ(count->status, 200);
  EXPECT_EQ(jsonField(count->body, "count"), "2") << count->body;  // the repeat is not a new message
  EXPECT_EQ(jsonField(count->body, "cdac"), "1") << count->body;
  EXPECT_EQ(jsonField(count->body, "http"), "1") << count->body;
  EXPECT_EQ(jsonField(count->body, "duplicates"), "1") << count->body;

  // The repeat is recorded, marked, so a test can count duplicate sends.
  const std::vector<std::string> lines = recordLines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("\"to\":\"9800000001\""), std::string::npos);
  EXPECT_NE(lines[0].find("\"service\":\"otpmsg\""), std::string::npos);
  EXPECT_NE(lines[0].find(hexDigest(EVP_sha256(), kText)), std::string::npos);
  EXPECT_NE(lines[1].find("\"id\":\"msg-0002\""), std::string::npos);
  EXPECT_NE(lines[1].find("\"duplicate\":false"), std::string::npos);
  EXPECT_NE(lines[2].find("\"id\":\"msg-0002\""), std::string::npos);
  EXPECT_NE(lines[2].find("\"duplicate\":true"), std::string::npos);
  for (const std::string& l : lines) {
    EXPECT_TRUE(isJsonObject(l));
    EXPECT_EQ(l.find("OTP"), std::string::npos);
    EXPECT_EQ(l.find("Report"), std::string::npos);
  }
}

std::string msgIdOf(const std::string& reply) {
  const std::string prefix = "402,MsgID = ";
  return reply.rfind(prefix, 0) == 0 ? reply.substr(prefix.size()) : "";
}

TEST_F(MockProviderTest, ReportsDeliveredAndTheMagicNumberUndelivered) {
  ASSERT_TRUE(mock_.ready());
  const std::string delivered = msgIdOf(cdac({}));
  CdacFields magic;
  magic.mobileno = "9000000009";
  const std::string undelivered = msgIdOf(cdac(magic));
  ASSERT_FALSE(delivered.empty());
  ASSERT_FALSE(undelivered.empty());

  const std::string d = report(delivered);
  EXPECT_NE(d.find("<msgid>" + delivered + "</msgid>"), std::string::npos);
  EXPECT_NE(d.find("<delvSMSCount>1</delvSMSCount><fldSMSCount>0</fldSMSCount>"), std::string::npos);
  const std::string u = report(undelivered);
  EXPECT_NE(u.find("<delvSMSCount>0</delvSMSCount><fldSMSCount>1</fldSMSCount>"), std::string::npos);
  const std::string unknown = report("mock999none");
  EXPECT_NE(unknown.find("<delvSMSCount>0</delvSMSCount><fldSMSCount>0</fldSMSCount><subSMSCount>0"),
            std::string::npos);
  EXPECT_EQ(report(delivered, "not-the-password").rfind("ERROR : 401", 0), 0u);
}

TEST_F(MockProviderTest, ControlChangesTheBehaviourAtRuntime) {
  ASSERT_TRUE(mock_.ready());
  auto now = request(mock_.port(), get("/_mock/control"));
  ASSERT_TRUE(now);
  EXPECT_EQ(now->status, 200);
  EXPECT_EQ(jsonField(now->body, "fail_code"), "409");

  auto bad = control(R"({"error_rate":2})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);

  auto set = control(R"({"permanent_next":1,"permanent_code":411,"fail_next":1,"fail_code":405})");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->status, 200);
  EXPECT_EQ(jsonField(set->body, "permanent_next"), "1");
  EXPECT_EQ(cdac({}).rfind("ERROR : 411", 0), 0u);  // permanent first
  EXPECT_EQ(cdac({}).rfind("ERROR : 405", 0), 0u);  // then temporary
  EXPECT_EQ(cdac({}).rfind("402,", 0), 0u);

  ASSERT_TRUE(control(R"({"latency_ms":300})"));
  const int64_t start = nowMs();
  EXPECT_EQ(cdac({}).rfind("402,", 0), 0u);
  EXPECT_GE(nowMs() - start, 290);
  ASSERT_TRUE(control(R"({"latency_ms":0,"error_rate":1})"));
  EXPECT_EQ(cdac({}).rfind("ERROR : 405", 0), 0u);  // the fail_code set above still holds
  auto j = json(jsonSend("msg-ctl-1"), kToken);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->status, 503);
}

TEST_F(MockProviderTest, DropsAfterTakingAndCountsTheRetryAsADuplicate) {
  ASSERT_TRUE(mock_.ready());
  ASSERT_TRUE(control(R"({"drop_rate":1})"));
  const std::string body = jsonSend("msg-drop-1");
  const std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
  EXPECT_TRUE(droppedUnanswered(post("/v1/messages", "application/json", body, auth)));
  CdacFields f;
  EXPECT_TRUE(droppedUnanswered(post("/esms/sendsmsrequestDLT", "application/x-www-form-urlencoded", f.body())));

  ASSERT_TRUE(control(R"({"drop_rate":0})"));
  auto retry = json(body, kToken);  // the client never heard: it sends again
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->status, 202);
  auto counts = request(mock_.port(), get("/_mock/received"));
  ASSERT_TRUE(counts);
  EXPECT_EQ(jsonField(counts->body, "http"), "1") << counts->body;
  EXPECT_EQ(jsonField(counts->body, "cdac"), "1") << counts->body;
  EXPECT_EQ(jsonField(counts->body, "duplicates"), "1") << counts->body;
  const std::vector<std::string> lines = recordLines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[2].find("\"id\":\"msg-drop-1\""), std::string::npos);
  EXPECT_NE(lines[2].find("\"duplicate\":true"), std::string::npos);
  EXPECT_NE(lines[2].find("\"service\":\"transactional\""), std::string::npos);

  // A drop waiting behind the latency timer resets the connection just the same.
  ASSERT_TRUE(control(R"({"drop_rate":1,"latency_ms":100})"));
  EXPECT_TRUE(droppedUnanswered(post("/esms/sendsmsrequestDLT", "application/x-www-form-urlencoded", f.body())));
  ASSERT_TRUE(control(R"({"drop_rate":0,"latency_ms":0})"));
  auto live = request(mock_.port(), get("/livez"));  // the mock is still serving
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
}

TEST_F(MockProviderTest, JsonPermanentErrorsAndAMismatchedIdempotencyKey) {
  ASSERT_TRUE(mock_.ready());
  ASSERT_TRUE(control(R"({"permanent_next":1})"));
  auto rejected = json(jsonSend("msg-perm-1"), kToken);
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->status, 422);
  auto taken = json(jsonSend("msg-perm-1"), kToken);  // not taken before: no duplicate
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->status, 202);
  const std::string extra = std::string("Authorization: Bearer ") + kToken + "\r\nIdempotency-Key: other\r\n";
  auto mismatch = request(mock_.port(), post("/v1/messages", "application/json", jsonSend("msg-perm-2"), extra));
  ASSERT_TRUE(mismatch);
  EXPECT_EQ(mismatch->status, 400);
}

class MockProviderSwitchesTest : public MockProviderTest {
 protected:
  MockProviderSwitchesTest()
      : MockProviderTest({"--report-delay-ms", "400", "--undelivered-rate", "1", "--seed", "7",
                          "--permanent-next", "1", "--fail-next", "1"}) {}
};

TEST_F(MockProviderSwitchesTest, FlagsSetTheStartingBehaviour) {
  ASSERT_TRUE(mock_.ready());
  EXPECT_EQ(cdac({}).rfind("ERROR : 406", 0), 0u);  // --permanent-next's default code
  EXPECT_EQ(cdac({}).rfind("ERROR : 409", 0), 0u);  // --fail-next's default code
  const std::string id = msgIdOf(cdac({}));
  ASSERT_FALSE(id.empty());
  const std::string early = report(id);
  EXPECT_NE(early.find("<subSMSCount>1</subSMSCount>"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  const std::string late = report(id);
  EXPECT_NE(late.find("<fldSMSCount>1</fldSMSCount>"), std::string::npos);  // rate 1
}

TEST(MockProviderFlags, RefusesBadRatesAndCodes) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--error-rate", "1.5"}, {"--drop-rate", "x"},
                                             {"--permanent-next", "1", "405"}, {"--fail-next", "1", "406"}}) {
    ServerOptions o = mockOptions(args);
    o.wait_ready = false;
    Server s(o);
    const std::optional<int> st = s.waitExit(3000);
    ASSERT_TRUE(st.has_value()) << args[0];
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 2) << args[0];
  }
}

}  // namespace
}  // namespace phigate::test
