#include "pipeline/authn.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/keys_file.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "net/http_request.h"
#include "pipeline/key_registry.h"
#include "pipeline/permissions.h"

namespace phigate::pipeline {
namespace {

// Obviously fake tokens (b64token characters only).
constexpr std::string_view kSmsEnvToken = "test-env-sms-token-0000000000000001";
constexpr std::string_view kAdminEnvToken = "test-env-admin-token-000000000000002";
constexpr std::string_view kFileToken = "test-file-token-clinic-00000000003";
constexpr std::string_view kRevokedToken = "test-file-token-revoked-0000000004";
constexpr std::string_view kUnknownToken = "test-unknown-token-00000000000000005";

std::string sha256Hex(std::string_view token) {
  const crypto::Sha256 h = crypto::sha256(token);
  std::string out(2 * h.size(), '\0');
  crypto::toHex(h, out.data());
  return out;
}

config::KeySpec spec(std::string id, std::string_view token, std::vector<std::string> roles) {
  config::KeySpec s;
  s.id = std::move(id);
  s.token_sha256 = sha256Hex(token);
  s.roles = std::move(roles);
  return s;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// A request built by hand; the header vector and strings live as long as it.
struct Request {
  std::vector<std::string> storage;
  std::vector<net::Header> headers;
  net::HttpRequest req;

  Request(Headers hs, std::string query = "") {
    storage.reserve(2 * hs.size() + 1);
    for (auto& [n, v] : hs) {
      storage.push_back(std::move(n));
      const std::string_view name = storage.back();
      storage.push_back(std::move(v));
      headers.push_back({name, storage.back()});
    }
    storage.push_back(std::move(query));
    req.method = net::Method::kPost;
    req.method_text = "POST";
    req.target = "/v1/sms";
    req.path = "/v1/sms";
    req.query = storage.back();
    req.headers = headers;
    req.body = R"({"to":"+910000000000","message":"fake"})";
  }
  // The views point into `storage`: never copy or move.
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
};

std::pair<std::string, std::string> bearer(std::string_view token) {
  return {"Authorization", "Bearer " + std::string(token)};
}

class AuthnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::initCrypto());
    config::KeySpec revoked = spec("revoked-app", kRevokedToken, {"sms"});
    revoked.revoked = true;
    std::string error;
    ASSERT_TRUE(KeyRegistry::build({spec("clinic-app", kFileToken, {"sms", "email"}), revoked},
                                   kSmsEnvToken, kAdminEnvToken, &keys_, &error))
        << error;
  }

  AuthFailure auth(const Request& r, const ApiKey** key) {
    return authenticate(r.req, keys_, key);
  }
  AuthFailure auth(const Request& r) {
    const ApiKey* key = nullptr;
    return authenticate(r.req, keys_, &key);
  }

  KeyRegistry keys_;
};

// ---- KeyRegistry ----

TEST_F(AuthnTest, RegistryHoldsFileAndEnvKeys) {
  EXPECT_EQ(keys_.size(), 4u);
  const ApiKey* sms = keys_.find(kSmsEnvToken);
  ASSERT_NE(sms, nullptr);
  EXPECT_EQ(sms->id, "env-sms");
  EXPECT_EQ(sms->permissions, bit(Permission::kSmsSend) | bit(Permission::kMessagesRead));
  EXPECT_FALSE(sms->revoked);
  EXPECT_FALSE(sms->test_mode);
  EXPECT_TRUE(sms->signing_secret.empty());
  EXPECT_TRUE(sms->allow.empty());

  const ApiKey* admin = keys_.find(kAdminEnvToken);
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(admin->id, "env-admin");
  EXPECT_EQ(admin->permissions, kAllPermissions);

  const ApiKey* clinic = keys_.find(kFileToken);
  ASSERT_NE(clinic, nullptr);
  EXPECT_EQ(clinic->id, "clinic-app");
  EXPECT_EQ(clinic->permissions, bit(Permission::kSmsSend) | bit(Permission::kEmailSend) |
                                     bit(Permission::kMessagesRead));
  EXPECT_EQ(clinic->token_hash, crypto::sha256(kFileToken));
}

TEST_F(AuthnTest, RegistryFindUnknownTokenIsNull) {
  EXPECT_EQ(keys_.find(kUnknownToken), nullptr);
  EXPECT_EQ(keys_.find(""), nullptr);
  // The hash itself is not a token.
  EXPECT_EQ(keys_.find(sha256Hex(kFileToken)), nullptr);
  // Near misses.
  EXPECT_EQ(keys_.find(std::string(kFileToken) + "x"), nullptr);
  EXPECT_EQ(keys_.find(kFileToken.substr(0, kFileToken.size() - 1)), nullptr);
}

TEST_F(AuthnTest, RegistryWithoutEnvTokensHasOnlyFileKeys) {
  KeyRegistry reg;
  std::string error;
  ASSERT_TRUE(KeyRegistry::build({spec("clinic-app", kFileToken, {"sms"})}, "", "", &reg, &error))
      << error;
  EXPECT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg.find(kSmsEnvToken), nullptr);
  EXPECT_EQ(reg.find(""), nullptr);

  ASSERT_TRUE(KeyRegistry::build({}, kSmsEnvToken, "", &reg, &error)) << error;
  EXPECT_EQ(reg.size(), 1u);
  ASSERT_NE(reg.find(kSmsEnvToken), nullptr);
  EXPECT_EQ(reg.find(kSmsEnvToken)->id, "env-sms");
}

TEST_F(AuthnTest, RegistryCopiesSpecFields) {
  config::KeySpec s = spec("lab-sys", kFileToken, {"bulk", "metrics"});
  s.test_mode = true;
  s.revoked = true;
  s.signing_secret = "test-signing-secret-fake-0123456789";
  s.limits = {{"bulk", 10}, {"daily", 500}};
  KeyRegistry reg;
  std::string error;
  ASSERT_TRUE(KeyRegistry::build({s}, "", "", &reg, &error)) << error;
  const ApiKey* k = reg.find(kFileToken);
  ASSERT_NE(k, nullptr);
  EXPECT_TRUE(k->test_mode);
  EXPECT_TRUE(k->revoked);
  EXPECT_EQ(std::string(k->signing_secret.begin(), k->signing_secret.end()), *s.signing_secret);
  EXPECT_EQ(k->limits, s.limits);
  EXPECT_EQ(k->permissions, bit(Permission::kSmsBulk) | bit(Permission::kMessagesRead) |
                                bit(Permission::kMetricsRead));
}

// A key with an allowlist must build, and the list must hold its blocks.
TEST_F(AuthnTest, RegistryCompilesAllowCidrs) {
  config::KeySpec s = spec("clinic-app", kFileToken, {"sms"});
  s.allow_cidrs = {"10.20.0.0/16", "2001:db8::/32"};
  KeyRegistry reg;
  std::string error;
  ASSERT_TRUE(KeyRegistry::build({s}, "", "", &reg, &error)) << error;
  const ApiKey* k = reg.find(kFileToken);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->allow.size(), 2u);
  IpAddress in, out;
  ASSERT_TRUE(parseIp("10.20.3.4", &in));
  ASSERT_TRUE(parseIp("10.21.3.4", &out));
  EXPECT_TRUE(k->allow.contains(in));
  EXPECT_FALSE(k->allow.contains(out));
}

TEST_F(AuthnTest, RegistryRejectsBadAllowCidr) {
  config::KeySpec s = spec("clinic-app", kFileToken, {"sms"});
  s.allow_cidrs = {"10.0.0.0/33"};
  KeyRegistry reg;
  std::string error;
  EXPECT_FALSE(KeyRegistry::build({s}, "", "", &reg, &error));
  EXPECT_NE(error.find("allow_cidrs"), std::string::npos) << error;
  EXPECT_NE(error.find("clinic-app"), std::string::npos) << error;
}

TEST_F(AuthnTest, RegistryManyKeysAllFound) {
  std::vector<config::KeySpec> specs;
  std::vector<std::string> tokens;
  for (int i = 0; i < 200; ++i) tokens.push_back("test-bulk-token-" + std::to_string(i));
  for (int i = 0; i < 200; ++i) specs.push_back(spec("k" + std::to_string(i), tokens[i], {"sms"}));
  KeyRegistry reg;
  std::string error;
  ASSERT_TRUE(KeyRegistry::build(specs, "", "", &reg, &error)) << error;
  ASSERT_EQ(reg.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    const ApiKey* k = reg.find(tokens[i]);
    ASSERT_NE(k, nullptr) << i;
    EXPECT_EQ(k->id, "k" + std::to_string(i));
  }
}

TEST_F(AuthnTest, RegistryDuplicateIdIsAnError) {
  KeyRegistry reg;
  std::string error;
  EXPECT_FALSE(KeyRegistry::build(
      {spec("dup-id", kFileToken, {"sms"}), spec("dup-id", kRevokedToken, {"sms"})}, "", "", &reg,
      &error));
  EXPECT_NE(error.find("dup-id"), std::string::npos) << error;

  // A file key may not take an env key's id either.
  EXPECT_FALSE(
      KeyRegistry::build({spec("env-sms", kFileToken, {"sms"})}, kSmsEnvToken, "", &reg, &error));
  EXPECT_NE(error.find("env-sms"), std::string::npos) << error;
}

TEST_F(AuthnTest, RegistryDuplicateTokenIsAnError) {
  KeyRegistry reg;
  std::string error;
  EXPECT_FALSE(KeyRegistry::build(
      {spec("one", kFileToken, {"sms"}), spec("two", kFileToken, {"admin"})}, "", "", &reg, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(error.find(kFileToken), std::string::npos) << "error echoes the token";
  EXPECT_EQ(error.find(sha256Hex(kFileToken).substr(0, 16)), std::string::npos);

  // A file key with an env key's token.
  error.clear();
  EXPECT_FALSE(
      KeyRegistry::build({spec("one", kSmsEnvToken, {"sms"})}, kSmsEnvToken, "", &reg, &error));
  EXPECT_EQ(error.find(kSmsEnvToken), std::string::npos) << "error echoes the token";

  // SMS_API_KEY == ADMIN_API_KEY.
  error.clear();
  EXPECT_FALSE(KeyRegistry::build({}, kAdminEnvToken, kAdminEnvToken, &reg, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(error.find(kAdminEnvToken), std::string::npos) << "error echoes the token";
}

TEST_F(AuthnTest, RegistryUnknownRoleOrBadHashIsAnError) {
  KeyRegistry reg;
  std::string error;
  EXPECT_FALSE(
      KeyRegistry::build({spec("k1", kFileToken, {"sms", "MARKERROLE"})}, "", "", &reg, &error));
  EXPECT_NE(error.find("unknown role"), std::string::npos) << error;

  config::KeySpec bad = spec("k1", kFileToken, {"sms"});
  bad.token_sha256 = "MARKERHASH";
  error.clear();
  EXPECT_FALSE(KeyRegistry::build({bad}, "", "", &reg, &error));
  EXPECT_EQ(error.find("MARKERHASH"), std::string::npos) << error;
}

// ---- authenticate() ----

TEST_F(AuthnTest, ValidBearerTokenYieldsItsKey) {
  const ApiKey* key = nullptr;
  EXPECT_EQ(auth(Request(Headers{bearer(kFileToken)}), &key), AuthFailure::kNone);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->id, "clinic-app");

  EXPECT_EQ(auth(Request(Headers{bearer(kSmsEnvToken)}), &key), AuthFailure::kNone);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->id, "env-sms");
}

TEST_F(AuthnTest, SchemeAndHeaderNameAreCaseInsensitive) {
  const ApiKey* key = nullptr;
  EXPECT_EQ(auth(Request(Headers{{"authorization", "bearer " + std::string(kFileToken)}}), &key),
            AuthFailure::kNone);
  EXPECT_NE(key, nullptr);
  EXPECT_EQ(auth(Request(Headers{{"AUTHORIZATION", "BEARER " + std::string(kFileToken)}}), &key),
            AuthFailure::kNone);
  EXPECT_NE(key, nullptr);
}

TEST_F(AuthnTest, OtherHeadersAreIgnored) {
  const ApiKey* key = nullptr;
  EXPECT_EQ(auth(Request(Headers{{"Host", "gw.example.test"},
                          {"X-Api-Key", std::string(kAdminEnvToken)},
                          bearer(kFileToken),
                          {"Content-Type", "application/json"}}),
                 &key),
            AuthFailure::kNone);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->id, "clinic-app");
}

TEST_F(AuthnTest, MissingAuthorizationHeader) {
  EXPECT_EQ(auth(Request(Headers{})), AuthFailure::kMissing);
  EXPECT_EQ(auth(Request(Headers{{"Host", "gw.example.test"}})), AuthFailure::kMissing);
  // A token in another header does not count.
  EXPECT_EQ(auth(Request(Headers{{"X-Api-Key", std::string(kFileToken)}})), AuthFailure::kMissing);
}

TEST_F(AuthnTest, TwoAuthorizationHeadersAreMalformed) {
  EXPECT_EQ(auth(Request(Headers{bearer(kFileToken), bearer(kFileToken)})), AuthFailure::kMalformed);
  EXPECT_EQ(auth(Request(Headers{bearer(kFileToken), {"authorization", "Bearer x"}})),
            AuthFailure::kMalformed);
  EXPECT_EQ(auth(Request(Headers{{"authorization", "Bearer x"}, bearer(kFileToken)})),
            AuthFailure::kMalformed);
}

TEST_F(AuthnTest, WrongSchemeIsMalformed) {
  EXPECT_EQ(auth(Request(Headers{{"Authorization", "Basic dGVzdDp0ZXN0"}})), AuthFailure::kMalformed);
  EXPECT_EQ(auth(Request(Headers{{"Authorization", "Token " + std::string(kFileToken)}})),
            AuthFailure::kMalformed);
  EXPECT_EQ(auth(Request(Headers{{"Authorization", std::string(kFileToken)}})), AuthFailure::kMalformed);
  EXPECT_EQ(auth(Request(Headers{{"Authorization", "Bearer:" + std::string(kFileToken)}})),
            AuthFailure::kMalformed);
  EXPECT_EQ(auth(Request(Headers{{"Authorization", "Bearer\t" + std::string(kFileToken)}})),
            AuthFailure::kMalformed);
  EXPECT_EQ(auth(Request(Headers{{"Authorization", "Bearer" + std::string(kFileToken)}})),
            AuthFailure::kMalformed);
}

TEST_F(AuthnTest, EmptyOrSpaceOnlyBearerTokenIsMalformed) {
  for (std::string_view v : {"Bearer", "Bearer ", "Bearer  ", "Bearer      ", "bearer ", ""}) {
    EXPECT_EQ(auth(Request(Headers{{"Authorization", std::string(v)}})), AuthFailure::kMalformed)
        << "value of length " << v.size();
  }
}

TEST_F(AuthnTest, ExtraSpacesBeforeTokenAreTolerated) {
  const ApiKey* key = nullptr;
  EXPECT_EQ(auth(Request(Headers{{"Authorization", "Bearer   " + std::string(kFileToken)}}), &key),
            AuthFailure::kNone);
  EXPECT_NE(key, nullptr);
}

TEST_F(AuthnTest, InvalidB64TokenCharactersAreMalformed) {
  for (std::string_view bad : {"abc def", "abc,def", "abc\"def", "abc;def", "abc\\def", "abc@def",
                               "abc:def", "=abc", "abc=def", "abc==d", "abc%20", "abc!",
                               "t\xc3\xa9st", "abc\x7f"}) {
    EXPECT_EQ(auth(Request(Headers{{"Authorization", "Bearer " + std::string(bad)}})),
              AuthFailure::kMalformed)
        << "case of length " << bad.size();
  }
  EXPECT_EQ(auth(Request(Headers{{"Authorization", "Bearer " + std::string("abc\0def", 7)}})),
            AuthFailure::kMalformed);
}

TEST_F(AuthnTest, AllB64TokenCharactersAndPaddingAreWellFormed) {
  // Well-formed but not registered: the format check passes, the lookup fails.
  EXPECT_EQ(auth(Request(Headers{bearer("AZaz09-._~+/")})), AuthFailure::kUnknown);
  EXPECT_EQ(auth(Request(Headers{bearer("abc=")})), AuthFailure::kUnknown);
  EXPECT_EQ(auth(Request(Headers{bearer("abc==")})), AuthFailure::kUnknown);
}

TEST_F(AuthnTest, TokenLengthLimit) {
  const std::string t512(512, 't');
  const std::string t513(513, 't');
  EXPECT_EQ(auth(Request(Headers{bearer(t512)})), AuthFailure::kUnknown);
  EXPECT_EQ(auth(Request(Headers{bearer(t513)})), AuthFailure::kMalformed);
  EXPECT_EQ(auth(Request(Headers{bearer(std::string(4096, 't'))})), AuthFailure::kMalformed);

  // A registered 512-char token is found.
  KeyRegistry reg;
  std::string error;
  ASSERT_TRUE(KeyRegistry::build({spec("long", t512, {"sms"})}, "", "", &reg, &error)) << error;
  const ApiKey* key = nullptr;
  EXPECT_EQ(authenticate(Request(Headers{bearer(t512)}).req, reg, &key), AuthFailure::kNone);
  EXPECT_NE(key, nullptr);
}

TEST_F(AuthnTest, UnknownToken) {
  const ApiKey* key = reinterpret_cast<const ApiKey*>(this);  // must be reset
  EXPECT_EQ(auth(Request(Headers{bearer(kUnknownToken)}), &key), AuthFailure::kUnknown);
  EXPECT_EQ(key, nullptr);
}

TEST_F(AuthnTest, RevokedToken) {
  const ApiKey* key = reinterpret_cast<const ApiKey*>(this);  // must be reset
  EXPECT_EQ(auth(Request(Headers{bearer(kRevokedToken)}), &key), AuthFailure::kRevoked);
  EXPECT_EQ(key, nullptr);
}

TEST_F(AuthnTest, TokenInQueryIsRefusedEvenWithAValidHeader) {
  for (std::string_view q :
       {"access_token=test-fake", "token=test-fake", "api_key=test-fake", "ACCESS_TOKEN=test-fake",
        "Token=test-fake", "Api_Key=test-fake", "page=2&token=test-fake",
        "page=2&access_token=test-fake&x=1", "token", "token=", "apikey=test-fake",
        "key=test-fake", "Authorization=Bearer%20x", "bearer=x", "auth=x"}) {
    const ApiKey* key = reinterpret_cast<const ApiKey*>(this);
    EXPECT_EQ(auth(Request(Headers{bearer(kFileToken)}, std::string(q)), &key), AuthFailure::kTokenInQuery)
        << "query case of length " << q.size();
    EXPECT_EQ(key, nullptr);
    EXPECT_EQ(auth(Request(Headers{}, std::string(q))), AuthFailure::kTokenInQuery);
  }
}

TEST_F(AuthnTest, HarmlessQueriesDoNotTrip) {
  for (std::string_view q : {"", "page=2", "tokens=3", "my_token=x", "x=token", "keyboard=1",
                             "a=1&b=2", "&", "=token", "tokenized=yes&api=1"}) {
    EXPECT_FALSE(queryHasCredential(q)) << q;
    const ApiKey* key = nullptr;
    EXPECT_EQ(auth(Request(Headers{bearer(kFileToken)}, std::string(q)), &key), AuthFailure::kNone) << q;
    EXPECT_NE(key, nullptr);
  }
}

TEST_F(AuthnTest, QueryHasCredentialDirect) {
  EXPECT_TRUE(queryHasCredential("access_token=x"));
  EXPECT_TRUE(queryHasCredential("a=1&TOKEN=x"));
  EXPECT_TRUE(queryHasCredential("a=1&&api_key=x"));
  EXPECT_FALSE(queryHasCredential("a=access_token"));
}

TEST_F(AuthnTest, FailureReasonsAreStable) {
  EXPECT_EQ(authFailureReason(AuthFailure::kNone), "");
  EXPECT_EQ(authFailureReason(AuthFailure::kMissing), "missing_token");
  EXPECT_EQ(authFailureReason(AuthFailure::kMalformed), "malformed_token");
  EXPECT_EQ(authFailureReason(AuthFailure::kUnknown), "unknown_token");
  EXPECT_EQ(authFailureReason(AuthFailure::kRevoked), "revoked_token");
  EXPECT_EQ(authFailureReason(AuthFailure::kTokenInQuery), "token_in_query");
}

}  // namespace
}  // namespace phigate::pipeline

namespace phigate::pipeline {
namespace {

TEST(QueryCredential, DetectsPercentEncodedNames) {
  EXPECT_TRUE(queryHasCredential("a=1&access%5Ftoken=x"));
  EXPECT_TRUE(queryHasCredential("%74oken=x"));
  EXPECT_TRUE(queryHasCredential("API_KEY=x"));
  EXPECT_FALSE(queryHasCredential("page=2&tokenize=1"));
  EXPECT_FALSE(queryHasCredential("a=%5"));
}

}  // namespace
}  // namespace phigate::pipeline
