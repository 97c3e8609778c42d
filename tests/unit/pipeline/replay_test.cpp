#include "pipeline/replay.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_request.h"
#include "pipeline/key_registry.h"

namespace phigate::pipeline {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr uint32_t kWindow = 300;
constexpr std::string_view kNonce = "test-nonce-0000000000000001";
constexpr std::string_view kBody = R"({"to":"+910000000000","message":"fake test message"})";
// Obviously fake signing secrets (>= 32 chars, as the keys file demands).
constexpr std::string_view kSecret = "test-signing-secret-fake-0123456789";
constexpr std::string_view kOtherSecret = "test-signing-secret-fake-9876543210";

std::string lowerHex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 0xf]);
  }
  return out;
}

// The client's side, computed independently of src/crypto with libsodium's
// one-shot API: hex HMAC-SHA256(secret, "METHOD\nPATH\nTS\nNONCE\nhex(sha256(body))").
std::string sign(std::string_view secret, std::string_view method, std::string_view path,
                 std::string_view ts, std::string_view nonce, std::string_view body) {
  unsigned char body_hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(body_hash, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  const std::string message = std::string(method) + "\n" + std::string(path) + "\n" +
                              std::string(ts) + "\n" + std::string(nonce) + "\n" +
                              lowerHex(body_hash, sizeof body_hash);
  // crypto_auth_hmacsha256() takes a fixed 32-byte key; the secret may be any
  // length, so use the init/update/final form (still libsodium, not src/).
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, mac);
  return lowerHex(mac, sizeof mac);
}

std::string ts(int64_t t) { return std::to_string(t); }

using Headers = std::vector<std::pair<std::string, std::string>>;

// A POST /v1/sms request built by hand; all views point into this object.
struct Request {
  std::vector<std::string> storage;
  std::vector<net::Header> headers;
  net::HttpRequest req;

  Request(Headers hs, std::string body = std::string(kBody),
          std::string method = "POST", std::string path = "/v1/sms") {
    storage.reserve(2 * hs.size() + 3);
    for (auto& [n, v] : hs) {
      storage.push_back(std::move(n));
      const std::string_view name = storage.back();
      storage.push_back(std::move(v));
      headers.push_back({name, storage.back()});
    }
    storage.push_back(std::move(body));
    req.body = storage.back();
    storage.push_back(std::move(method));
    req.method_text = storage.back();
    req.method = req.method_text == "POST" ? net::Method::kPost : net::Method::kOther;
    storage.push_back(std::move(path));
    req.path = storage.back();
    req.target = req.path;
    req.headers = headers;
    req.content_length = static_cast<int64_t>(req.body.size());
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
};

ApiKey keyWithSecret(std::string_view secret) {
  ApiKey k;
  k.id = "signing-app";
  k.signing_secret.assign(secret.begin(), secret.end());
  return k;
}

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }

  static ReplayFailure check(const Request& r, const ApiKey& key, ReplayToken* out = nullptr) {
    ReplayToken tmp;
    return checkReplay(r.req, key, kNow, kWindow, out != nullptr ? out : &tmp);
  }

  ApiKey plain_key_;  // no signing secret
  ApiKey signing_key_ = keyWithSecret(kSecret);
};

// ---- X-Timestamp ----

TEST_F(ReplayTest, ValidHeadersWithoutSecretAreAccepted) {
  const Request r(Headers{{"X-Timestamp", ts(kNow)}, {"X-Nonce", std::string(kNonce)}});
  ReplayToken out;
  EXPECT_EQ(check(r, plain_key_, &out), ReplayFailure::kNone);
  EXPECT_EQ(out.timestamp, kNow);
  EXPECT_EQ(out.nonce, kNonce);
}

TEST_F(ReplayTest, HeaderNamesAreCaseInsensitive) {
  const Request r(Headers{{"x-timestamp", ts(kNow)}, {"X-NONCE", std::string(kNonce)}});
  EXPECT_EQ(check(r, plain_key_), ReplayFailure::kNone);
}

TEST_F(ReplayTest, MissingTimestamp) {
  EXPECT_EQ(check(Request(Headers{{"X-Nonce", std::string(kNonce)}}), plain_key_),
            ReplayFailure::kMissingTimestamp);
  EXPECT_EQ(check(Request(Headers{}), plain_key_), ReplayFailure::kMissingTimestamp);
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", ""}, {"X-Nonce", std::string(kNonce)}}), plain_key_),
            ReplayFailure::kMissingTimestamp);
}

TEST_F(ReplayTest, NonNumericTimestamp) {
  for (std::string bad : {"abc", "-1700000000", "+1700000000", "1700000000.5", "1700000000s",
                          "1.7e9", "0x6553f100", "1700000000 ", " 1700000000", "17000 00000",
                          "Tue, 14 Nov 2023 22:13:20 GMT", "2023-11-14T22:13:20Z"}) {
    EXPECT_EQ(check(Request(Headers{{"X-Timestamp", bad}, {"X-Nonce", std::string(kNonce)}}), plain_key_),
              ReplayFailure::kMissingTimestamp)
        << bad;
  }
}

TEST_F(ReplayTest, TooLongTimestamp) {
  // Milliseconds (13 digits) are refused as not-a-timestamp, not as stale.
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", ts(kNow * 1000)}, {"X-Nonce", std::string(kNonce)}}),
                  plain_key_),
            ReplayFailure::kMissingTimestamp);
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", std::string(40, '9')}, {"X-Nonce", std::string(kNonce)}}),
                  plain_key_),
            ReplayFailure::kMissingTimestamp);
  // 12 digits still parse (and are stale).
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", "999999999999"}, {"X-Nonce", std::string(kNonce)}}),
                  plain_key_),
            ReplayFailure::kStaleTimestamp);
}

TEST_F(ReplayTest, WindowEdgesAreInclusive) {
  for (int64_t skew : {-300, -299, -1, 0, 1, 299, 300}) {
    ReplayToken out;
    EXPECT_EQ(check(Request(Headers{{"X-Timestamp", ts(kNow + skew)}, {"X-Nonce", std::string(kNonce)}}),
                    plain_key_, &out),
              ReplayFailure::kNone)
        << "skew " << skew;
    EXPECT_EQ(out.timestamp, kNow + skew);
  }
}

TEST_F(ReplayTest, OutsideTheWindowIsStale) {
  for (int64_t skew : {int64_t{-301}, int64_t{301}, int64_t{-3600}, int64_t{3600}, -kNow}) {
    EXPECT_EQ(check(Request(Headers{{"X-Timestamp", ts(kNow + skew)}, {"X-Nonce", std::string(kNonce)}}),
                    plain_key_),
              ReplayFailure::kStaleTimestamp)
        << "skew " << skew;
  }
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", "0"}, {"X-Nonce", std::string(kNonce)}}), plain_key_),
            ReplayFailure::kStaleTimestamp);
}

TEST_F(ReplayTest, StaleIsReportedBeforeABadNonce) {
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", ts(kNow - 301)}, {"X-Nonce", "short"}}), plain_key_),
            ReplayFailure::kStaleTimestamp);
}

TEST_F(ReplayTest, OtherWindowSizes) {
  const Request r(Headers{{"X-Timestamp", ts(kNow - 60)}, {"X-Nonce", std::string(kNonce)}});
  ReplayToken out;
  EXPECT_EQ(checkReplay(r.req, plain_key_, kNow, 60, &out), ReplayFailure::kNone);
  EXPECT_EQ(checkReplay(r.req, plain_key_, kNow, 59, &out), ReplayFailure::kStaleTimestamp);
  EXPECT_EQ(checkReplay(r.req, plain_key_, kNow - 60, 0, &out), ReplayFailure::kNone);
}

// ---- X-Nonce ----

TEST_F(ReplayTest, NonceLengthBounds) {
  const std::pair<size_t, ReplayFailure> cases[] = {{0, ReplayFailure::kMissingNonce},
                                                    {1, ReplayFailure::kMissingNonce},
                                                    {15, ReplayFailure::kMissingNonce},
                                                    {16, ReplayFailure::kNone},
                                                    {17, ReplayFailure::kNone},
                                                    {64, ReplayFailure::kNone},
                                                    {127, ReplayFailure::kNone},
                                                    {128, ReplayFailure::kNone},
                                                    {129, ReplayFailure::kMissingNonce},
                                                    {1000, ReplayFailure::kMissingNonce}};
  for (const auto& [len, want] : cases) {
    const std::string nonce(len, 'n');
    const Request r(Headers{{"X-Timestamp", ts(kNow)}, {"X-Nonce", nonce}});
    ReplayToken out;  // its nonce views r
    EXPECT_EQ(check(r, plain_key_, &out), want)
        << "length " << len;
    if (want == ReplayFailure::kNone) {
      EXPECT_EQ(out.nonce, nonce);
    }
    EXPECT_EQ(isValidNonce(nonce), want == ReplayFailure::kNone) << "length " << len;
  }
}

TEST_F(ReplayTest, MissingNonceHeader) {
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", ts(kNow)}}), plain_key_), ReplayFailure::kMissingNonce);
}

TEST_F(ReplayTest, NonceCharacters) {
  EXPECT_TRUE(isValidNonce("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"));
  const std::string base(20, 'n');
  for (char bad : {'.', '+', '/', '=', ' ', '!', ':', ',', '~', '%', '\t', '\0', '\x7f', '\xc3'}) {
    std::string nonce = base;
    nonce[10] = bad;
    EXPECT_FALSE(isValidNonce(nonce)) << "char " << int{static_cast<unsigned char>(bad)};
    EXPECT_EQ(check(Request(Headers{{"X-Timestamp", ts(kNow)}, {"X-Nonce", nonce}}), plain_key_),
              ReplayFailure::kMissingNonce)
        << "char " << int{static_cast<unsigned char>(bad)};
  }
}

// ---- X-Signature ----

TEST_F(ReplayTest, CorrectSignatureIsAccepted) {
  const std::string t = ts(kNow);
  const Request r(Headers{{"X-Timestamp", t},
                   {"X-Nonce", std::string(kNonce)},
                   {"X-Signature", sign(kSecret, "POST", "/v1/sms", t, kNonce, kBody)}});
  ReplayToken out;
  EXPECT_EQ(check(r, signing_key_, &out), ReplayFailure::kNone);
  EXPECT_EQ(out.timestamp, kNow);
  EXPECT_EQ(out.nonce, kNonce);
}

// With a secret of exactly crypto_auth_hmacsha256_KEYBYTES the one-shot
// libsodium call gives the expected signature directly.
TEST_F(ReplayTest, SignatureFromOneShotLibsodiumHmac) {
  const std::string secret(crypto_auth_hmacsha256_KEYBYTES, 'k');  // 32 fake bytes
  const std::string t = ts(kNow + 120);
  unsigned char body_hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(body_hash, reinterpret_cast<const unsigned char*>(kBody.data()), kBody.size());
  const std::string message = "POST\n/v1/sms\n" + t + "\n" + std::string(kNonce) + "\n" +
                              lowerHex(body_hash, sizeof body_hash);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), reinterpret_cast<const unsigned char*>(secret.data()));
  const std::string sig = lowerHex(mac, sizeof mac);
  EXPECT_EQ(sig, sign(secret, "POST", "/v1/sms", t, kNonce, kBody));
  const Request r(Headers{{"X-Timestamp", t}, {"X-Nonce", std::string(kNonce)}, {"X-Signature", sig}});
  EXPECT_EQ(check(r, keyWithSecret(secret)), ReplayFailure::kNone);
}

TEST_F(ReplayTest, UpperCaseHexSignatureIsAccepted) {
  const std::string t = ts(kNow);
  std::string sig = sign(kSecret, "POST", "/v1/sms", t, kNonce, kBody);
  for (char& c : sig) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  const Request r(Headers{{"X-Timestamp", t}, {"X-Nonce", std::string(kNonce)}, {"X-Signature", sig}});
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kNone);
}

TEST_F(ReplayTest, SignatureOverEmptyBody) {
  const std::string t = ts(kNow - 5);
  const Request r(Headers{{"X-Timestamp", t},
                   {"X-Nonce", std::string(kNonce)},
                   {"X-Signature", sign(kSecret, "POST", "/v1/sms", t, kNonce, "")}},
                  "");
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kNone);
}

TEST_F(ReplayTest, SignatureOfAnotherBodyIsBad) {
  const std::string t = ts(kNow);
  const Request r(Headers{{"X-Timestamp", t},
                   {"X-Nonce", std::string(kNonce)},
                   {"X-Signature", sign(kSecret, "POST", "/v1/sms", t, kNonce, kBody)}},
                  R"({"to":"+910000000000","message":"fake test messagE"})");
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature);
}

TEST_F(ReplayTest, SignatureOfAnotherPathIsBad) {
  const std::string t = ts(kNow);
  const Request r(Headers{{"X-Timestamp", t},
                   {"X-Nonce", std::string(kNonce)},
                   {"X-Signature", sign(kSecret, "POST", "/v1/sms", t, kNonce, kBody)}},
                  std::string(kBody), "POST", "/v1/sms/bulk");
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature);
}

// The signed target covers the query ("PATH?QUERY") when there is one; a
// request without one signs its path alone (as before queries were signed).
TEST_F(ReplayTest, TheQueryIsSignedWithThePath) {
  const std::string t = ts(kNow);
  Request r(Headers{{"X-Timestamp", t},
                    {"X-Nonce", std::string(kNonce)},
                    {"X-Signature", sign(kSecret, "POST", "/v1/sms?a=1&b=2", t, kNonce, kBody)}});
  r.req.query = "a=1&b=2";
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kNone);
  r.req.query = "a=1&b=3";  // tampered
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature);
  r.req.query = "";  // dropped
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature);
}

TEST_F(ReplayTest, ASignatureOverThePathAloneDoesNotCoverAQuery) {
  const std::string t = ts(kNow);
  Request r(Headers{{"X-Timestamp", t},
                    {"X-Nonce", std::string(kNonce)},
                    {"X-Signature", sign(kSecret, "POST", "/v1/sms", t, kNonce, kBody)}});
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kNone);  // no query: the path alone
  r.req.query = "added=1";
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature);
}

TEST_F(ReplayTest, SignatureOfAnotherMethodIsBad) {
  const std::string t = ts(kNow);
  const Request r(Headers{{"X-Timestamp", t},
                   {"X-Nonce", std::string(kNonce)},
                   {"X-Signature", sign(kSecret, "PUT", "/v1/sms", t, kNonce, kBody)}});
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature);
}

TEST_F(ReplayTest, SignatureOfAnotherNonceIsBad) {
  const std::string t = ts(kNow);
  const Request r(Headers{{"X-Timestamp", t},
                   {"X-Nonce", std::string(kNonce)},
                   {"X-Signature",
                    sign(kSecret, "POST", "/v1/sms", t, "test-nonce-0000000000000002", kBody)}});
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature);
}

TEST_F(ReplayTest, SignatureOfAnotherTimestampIsBad) {
  const Request r(Headers{{"X-Timestamp", ts(kNow)},
                   {"X-Nonce", std::string(kNonce)},
                   {"X-Signature", sign(kSecret, "POST", "/v1/sms", ts(kNow - 1), kNonce, kBody)}});
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature);
}

TEST_F(ReplayTest, SignatureWithAnotherSecretIsBad) {
  const std::string t = ts(kNow);
  const Request r(Headers{{"X-Timestamp", t},
                   {"X-Nonce", std::string(kNonce)},
                   {"X-Signature", sign(kOtherSecret, "POST", "/v1/sms", t, kNonce, kBody)}});
  EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature);
}

TEST_F(ReplayTest, EveryFlippedSignatureDigitIsBad) {
  const std::string t = ts(kNow);
  const std::string good = sign(kSecret, "POST", "/v1/sms", t, kNonce, kBody);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string sig = good;
    sig[i] = sig[i] == '0' ? '1' : '0';
    const Request r(Headers{{"X-Timestamp", t}, {"X-Nonce", std::string(kNonce)}, {"X-Signature", sig}});
    EXPECT_EQ(check(r, signing_key_), ReplayFailure::kBadSignature) << "digit " << i;
  }
}

TEST_F(ReplayTest, MissingOrMalformedSignature) {
  const std::string t = ts(kNow);
  const std::string good = sign(kSecret, "POST", "/v1/sms", t, kNonce, kBody);
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", t}, {"X-Nonce", std::string(kNonce)}}), signing_key_),
            ReplayFailure::kMissingSignature);
  for (const std::string& bad : {std::string(), std::string(64, 'z'), good.substr(0, 63),
                                 good + "0", good.substr(0, 62), "sha256=" + good,
                                 good.substr(0, 63) + "g", std::string(128, 'a')}) {
    const Request r(Headers{{"X-Timestamp", t}, {"X-Nonce", std::string(kNonce)}, {"X-Signature", bad}});
    EXPECT_EQ(check(r, signing_key_), ReplayFailure::kMissingSignature) << "length " << bad.size();
  }
}

TEST_F(ReplayTest, KeyWithoutSecretIgnoresSignature) {
  const std::string t = ts(kNow);
  for (const std::string& sig : {std::string(64, 'z'), std::string(64, '0'), std::string("junk"),
                                 sign(kOtherSecret, "POST", "/v1/sms", t, kNonce, kBody)}) {
    const Request r(Headers{{"X-Timestamp", t}, {"X-Nonce", std::string(kNonce)}, {"X-Signature", sig}});
    EXPECT_EQ(check(r, plain_key_), ReplayFailure::kNone);
  }
}

TEST_F(ReplayTest, SignedKeyStillNeedsTimestampAndNonce) {
  const std::string t = ts(kNow);
  const std::string sig = sign(kSecret, "POST", "/v1/sms", t, kNonce, kBody);
  EXPECT_EQ(check(Request(Headers{{"X-Nonce", std::string(kNonce)}, {"X-Signature", sig}}), signing_key_),
            ReplayFailure::kMissingTimestamp);
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", t}, {"X-Signature", sig}}), signing_key_),
            ReplayFailure::kMissingNonce);
  const std::string old = ts(kNow - 301);
  EXPECT_EQ(check(Request(Headers{{"X-Timestamp", old},
                           {"X-Nonce", std::string(kNonce)},
                           {"X-Signature", sign(kSecret, "POST", "/v1/sms", old, kNonce, kBody)}}),
                  signing_key_),
            ReplayFailure::kStaleTimestamp);
}

TEST_F(ReplayTest, FailureReasonsAreStable) {
  EXPECT_EQ(replayFailureReason(ReplayFailure::kNone), "");
  EXPECT_EQ(replayFailureReason(ReplayFailure::kMissingTimestamp), "missing_timestamp");
  EXPECT_EQ(replayFailureReason(ReplayFailure::kStaleTimestamp), "stale_timestamp");
  EXPECT_EQ(replayFailureReason(ReplayFailure::kMissingNonce), "missing_nonce");
  EXPECT_EQ(replayFailureReason(ReplayFailure::kMissingSignature), "missing_signature");
  EXPECT_EQ(replayFailureReason(ReplayFailure::kBadSignature), "bad_signature");
}

}  // namespace
}  // namespace phigate::pipeline
