// phigate-mock-provider as a black box: the CDAC Mobile Seva form (SHA-1
// password, SHA-512 key), the generic JSON provider, and the record file.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <string>
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

class MockProviderTest : public ::testing::Test {
 protected:
  MockProviderTest()
      : mock_({.workers = 0,
               .args = {"--cdac-username", kUser, "--cdac-password", kPassword,
                        "--cdac-secure-key", kSecureKey, "--cdac-sender-id", kSender,
                        "--http-token", kToken, "--record", "record.jsonl"},
               .bin = mockProviderBin(),
               .listen_flag = true}) {}

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

}  // namespace
}  // namespace phigate::test
