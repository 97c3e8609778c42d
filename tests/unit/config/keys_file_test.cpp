#include "config/keys_file.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace phigate::config {
namespace {

// Obviously fake hashes (never a real token's SHA-256).
const std::string kHash1 = std::string(64, 'a');
const std::string kHash2 = std::string(64, 'b');
const std::string kHash3 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kSecret = "test-signing-secret-fake-0123456789";  // 35 chars

// A minimal valid key object with `extra` spliced in (",\"field\": value").
std::string keyJson(std::string_view id, std::string_view hash, std::string_view extra = "") {
  return "{\"id\": \"" + std::string(id) + "\", \"token_sha256\": \"" + std::string(hash) +
         "\", \"roles\": [\"sms\"]" + std::string(extra) + "}";
}

std::string file(std::initializer_list<std::string> keys) {
  std::string out = "{\"keys\": [";
  bool first = true;
  for (const std::string& k : keys) {
    if (!first) out += ", ";
    out += k;
    first = false;
  }
  return out + "]}";
}

struct Result {
  bool ok;
  std::vector<KeySpec> keys;
  std::string error;
};

Result parse(std::string_view json) {
  Result r;
  r.ok = parseKeysFile(json, &r.keys, &r.error);
  return r;
}

// Parses and expects a failure whose message contains `want` and none of `secrets`.
void expectError(std::string_view json, std::string_view want,
                 std::initializer_list<std::string_view> secrets = {}) {
  const Result r = parse(json);
  EXPECT_FALSE(r.ok) << "accepted: " << json;
  EXPECT_NE(r.error.find(want), std::string::npos) << "error: " << r.error << "\nwanted: " << want;
  for (std::string_view s : secrets) {
    EXPECT_EQ(r.error.find(s), std::string::npos) << "error echoes an input value: " << r.error;
  }
}

// ---- valid files ----

TEST(KeysFile, ValidFileWithAllFields) {
  const std::string json = R"({"keys": [
    {"id": "clinic-app", "token_sha256": ")" + kHash1 + R"(", "roles": ["sms", "email"],
     "allow_cidrs": ["10.20.0.0/16", "2001:db8::/32"], "mode": "live",
     "signing_secret": null, "limits": {"sms": 1000, "daily": 50000}, "revoked": false},
    {"id": "Lab_Sys.2", "token_sha256": ")" + kHash2 + R"(", "roles": ["bulk", "admin"],
     "allow_cidrs": [], "mode": "test", "signing_secret": ")" + kSecret + R"(",
     "limits": {}, "revoked": true}
  ]})";
  const Result r = parse(json);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.keys.size(), 2u);

  const KeySpec& a = r.keys[0];
  EXPECT_EQ(a.id, "clinic-app");
  EXPECT_EQ(a.token_sha256, kHash1);
  EXPECT_EQ(a.roles, (std::vector<std::string>{"sms", "email"}));
  EXPECT_EQ(a.allow_cidrs, (std::vector<std::string>{"10.20.0.0/16", "2001:db8::/32"}));
  EXPECT_FALSE(a.test_mode);
  EXPECT_FALSE(a.signing_secret.has_value());
  ASSERT_EQ(a.limits.size(), 2u);
  EXPECT_EQ(a.limits[0], (std::pair<std::string, uint32_t>{"sms", 1000}));
  EXPECT_EQ(a.limits[1], (std::pair<std::string, uint32_t>{"daily", 50000}));
  EXPECT_FALSE(a.revoked);

  const KeySpec& b = r.keys[1];
  EXPECT_EQ(b.id, "Lab_Sys.2");
  EXPECT_EQ(b.token_sha256, kHash2);
  EXPECT_EQ(b.roles, (std::vector<std::string>{"bulk", "admin"}));
  EXPECT_TRUE(b.allow_cidrs.empty());
  EXPECT_TRUE(b.test_mode);
  ASSERT_TRUE(b.signing_secret.has_value());
  EXPECT_EQ(*b.signing_secret, kSecret);
  EXPECT_TRUE(b.limits.empty());
  EXPECT_TRUE(b.revoked);
}

TEST(KeysFile, MinimalKeyGetsDefaults) {
  const Result r = parse(file({keyJson("k1", kHash3)}));
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].id, "k1");
  EXPECT_TRUE(r.keys[0].allow_cidrs.empty());
  EXPECT_FALSE(r.keys[0].test_mode);
  EXPECT_FALSE(r.keys[0].signing_secret.has_value());
  EXPECT_TRUE(r.keys[0].limits.empty());
  EXPECT_FALSE(r.keys[0].revoked);
}

TEST(KeysFile, EveryRoleIsAccepted) {
  for (std::string_view role : kRoles) {
    const Result r = parse(file({keyJson("k1", kHash1).replace(
        keyJson("k1", kHash1).find("\"sms\""), 5, "\"" + std::string(role) + "\"")}));
    ASSERT_TRUE(r.ok) << role << ": " << r.error;
    EXPECT_EQ(r.keys[0].roles, (std::vector<std::string>{std::string(role)}));
  }
}

TEST(KeysFile, EveryLimitClassIsAccepted) {
  for (std::string_view cls : kLimitClasses) {
    const Result r =
        parse(file({keyJson("k1", kHash1, ", \"limits\": {\"" + std::string(cls) + "\": 7}")}));
    ASSERT_TRUE(r.ok) << cls << ": " << r.error;
    ASSERT_EQ(r.keys[0].limits.size(), 1u);
    EXPECT_EQ(r.keys[0].limits[0].first, cls);
    EXPECT_EQ(r.keys[0].limits[0].second, 7u);
  }
}

TEST(KeysFile, LimitUpperBound) {
  EXPECT_TRUE(parse(file({keyJson("k1", kHash1, R"(, "limits": {"sms": 1000000})")})).ok);
  expectError(file({keyJson("k1", kHash1, R"(, "limits": {"sms": 1000001})")}),
              "limits must be positive integers", {"1000001"});
  EXPECT_TRUE(parse(file({keyJson("k1", kHash1, R"(, "limits": {"daily": 1000000000})")})).ok);
  expectError(file({keyJson("k1", kHash1, R"(, "limits": {"daily": 1000000001})")}),
              "limits must be positive integers", {"1000000001"});
}

TEST(KeysFile, EmptyKeyListIsValid) {
  const Result r = parse(R"({"keys": []})");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.keys.empty());
}

TEST(KeysFile, IdsOfExactly64AndAllAllowedCharacters) {
  const std::string id64(64, 'x');
  const Result r = parse(file({keyJson(id64, kHash1), keyJson("aZ09._-", kHash2)}));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.keys[0].id, id64);
  EXPECT_EQ(r.keys[1].id, "aZ09._-");
}

TEST(KeysFile, NullSigningSecretIsAccepted) {
  const Result r = parse(file({keyJson("k1", kHash1, R"(, "signing_secret": null)")}));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.keys[0].signing_secret.has_value());
}

TEST(KeysFile, SigningSecretOfExactly32Characters) {
  const std::string s32(32, 's');
  const Result r = parse(file({keyJson("k1", kHash1, ", \"signing_secret\": \"" + s32 + "\"")}));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.keys[0].signing_secret, s32);
}

TEST(KeysFile, IsValidKeyId) {
  EXPECT_TRUE(isValidKeyId("a"));
  EXPECT_TRUE(isValidKeyId("clinic-app.v2_test"));
  EXPECT_TRUE(isValidKeyId(std::string(64, 'Z')));
  EXPECT_FALSE(isValidKeyId(""));
  EXPECT_FALSE(isValidKeyId(std::string(65, 'Z')));
  for (std::string_view bad : {"a b", "a/b", "a:b", "a\"b", "a\nb", "a@b", "é", "a+b", "a~b"}) {
    EXPECT_FALSE(isValidKeyId(bad)) << bad;
  }
  EXPECT_FALSE(isValidKeyId(std::string_view("a\0b", 3)));
}

// ---- top-level errors ----

TEST(KeysFile, BadJson) {
  for (std::string_view bad : {"", "{", "not json MARKERJSON", R"({"keys": [}])",
                               R"({"keys": []} trailing)", R"({"keys": [], })",
                               R"({'keys': []})"}) {
    const Result r = parse(bad);
    EXPECT_FALSE(r.ok) << bad;
    EXPECT_EQ(r.error.find("MARKERJSON"), std::string::npos) << r.error;
    EXPECT_FALSE(r.error.empty());
  }
  expectError("{\"keys\": [MARKERJSON]}", "not valid JSON", {"MARKERJSON"});
}

TEST(KeysFile, MissingOrNonListKeys) {
  for (std::string_view bad : {R"({})", R"([])", R"("keys")", R"(42)", R"(null)",
                               R"({"keys": {}})", R"({"keys": null})", R"({"keys": "x"})",
                               R"({"Keys": []})"}) {
    expectError(bad, "\"keys\" list");
  }
}

TEST(KeysFile, UnknownTopLevelField) {
  expectError(R"({"keys": [], "MARKERFIELD": "MARKERVALUE"})", "unknown top-level field",
              {"MARKERFIELD", "MARKERVALUE"});
  expectError(R"({"MARKERFIELD": 1, "keys": []})", "unknown top-level field", {"MARKERFIELD"});
}

// A second "keys" list is ambiguous (simdjson's lookup sees the first, other
// JSON parsers keep the last): a revocation appended as a second list would be
// silently ignored. It must be refused like a duplicate key field.
TEST(KeysFile, DuplicateTopLevelKeysListIsRefused) {
  const std::string json = "{\"keys\": [" + keyJson("k1", kHash1) + "], \"keys\": [" +
                           keyJson("k1", kHash1, R"(, "revoked": true)") + "]}";
  const Result r = parse(json);
  EXPECT_FALSE(r.ok) << "duplicate top-level \"keys\" accepted; parsed " << r.keys.size()
                     << " key(s), revoked=" << (r.keys.empty() ? false : r.keys[0].revoked);
}

TEST(KeysFile, KeyThatIsNotAnObject) {
  expectError(R"({"keys": ["MARKERSTRING"]})", "key 1: must be an object", {"MARKERSTRING"});
  expectError(file({keyJson("k1", kHash1), "[]"}), "key 2: must be an object");
  expectError(file({keyJson("k1", kHash1), "null"}), "key 2: must be an object");
}

// ---- per-key errors ----

TEST(KeysFile, UnknownKeyField) {
  expectError(file({keyJson("k1", kHash1, R"(, "MARKERFIELD": "MARKERVALUE")")}),
              "key 1: unknown field", {"MARKERFIELD", "MARKERVALUE"});
  // "token" (a plaintext token) must never be a field.
  expectError(file({keyJson("k1", kHash1, R"(, "token": "MARKERTOKEN")")}), "unknown field",
              {"MARKERTOKEN"});
}

TEST(KeysFile, DuplicateField) {
  expectError(file({keyJson("k1", kHash1, R"(, "id": "MARKERID")")}), "key 1: duplicate field",
              {"MARKERID", "k1"});
  expectError(file({keyJson("k1", kHash1, ", \"token_sha256\": \"" + kHash2 + "\"")}),
              "duplicate field", {kHash1, kHash2});
  expectError(file({keyJson("k1", kHash1, R"(, "revoked": false, "revoked": true)")}),
              "duplicate field");
  expectError(file({keyJson("k1", kHash1, R"(, "roles": ["admin"])")}), "duplicate field");
}

TEST(KeysFile, ErrorNamesTheKeyByOneBasedPosition) {
  expectError(file({keyJson("k1", kHash1), keyJson("k2", kHash2), keyJson("k3", kHash3, ", \"x\": 1")}),
              "API_KEYS_FILE: key 3: unknown field");
}

TEST(KeysFile, BadIdCharacters) {
  for (std::string_view bad : {"MARKER id", "MARKER/id", "MARKER:id", "MARKER@id", "MARKER\\u00e9"}) {
    expectError(file({keyJson(bad, kHash1)}), "key 1: id must be 1-64", {"MARKER"});
  }
}

TEST(KeysFile, BadIdLength) {
  expectError(file({keyJson("", kHash1)}), "id must be 1-64");
  expectError(file({keyJson("MARKER" + std::string(59, 'x'), kHash1)}), "id must be 1-64",
              {"MARKER"});
}

TEST(KeysFile, IdOfWrongType) {
  expectError(R"({"keys": [{"id": 12345678, "token_sha256": ")" + kHash1 + R"(", "roles": ["sms"]}]})",
              "wrong type", {"12345678"});
}

TEST(KeysFile, MissingRequiredFields) {
  expectError("{\"keys\": [{\"token_sha256\": \"" + kHash1 + "\", \"roles\": [\"sms\"]}]}",
              "id is required", {kHash1});
  expectError(R"({"keys": [{"id": "k1", "roles": ["sms"]}]})", "token_sha256 is required");
  expectError("{\"keys\": [{\"id\": \"k1\", \"token_sha256\": \"" + kHash1 + "\"}]}",
              "roles must name at least one role", {kHash1});
  expectError(R"({"keys": [{}]})", "is required");
}

TEST(KeysFile, TokenHashMustBe64LowerCaseHex) {
  const std::string marker_upper = "ABCDEF" + std::string(58, 'A');         // upper case
  const std::string marker_nonhex = "deadbeefg" + std::string(55, '0');     // 'g'
  const std::string marker_short = "cafe" + std::string(59, '0');           // 63
  const std::string marker_long = "f00d" + std::string(61, '0');            // 65
  const std::string marker_mixed = "Cafe" + std::string(60, '0');           // one upper
  for (const std::string& bad :
       {marker_upper, marker_nonhex, marker_short, marker_long, marker_mixed, std::string()}) {
    const std::string json = file({keyJson("k1", bad)});
    const Result r = parse(json);
    EXPECT_FALSE(r.ok) << "accepted token_sha256 of length " << bad.size();
    EXPECT_NE(r.error.find("token_sha256 must be 64 lower-case hex"), std::string::npos) << r.error;
    if (!bad.empty()) {
      EXPECT_EQ(r.error.find(bad), std::string::npos) << "error echoes the hash";
      EXPECT_EQ(r.error.find(bad.substr(0, 8)), std::string::npos) << "error echoes the hash";
    }
  }
  expectError(R"({"keys": [{"id": "k1", "token_sha256": 123, "roles": ["sms"]}]})", "wrong type");
}

TEST(KeysFile, UnknownRole) {
  expectError(file({keyJson("k1", kHash1, "").replace(keyJson("k1", kHash1).find("\"sms\""), 5,
                                                      "\"MARKERROLE\"")}),
              "key 1: unknown role", {"MARKERROLE"});
  // Role names are case-sensitive.
  expectError(file({keyJson("k1", kHash1).replace(keyJson("k1", kHash1).find("\"sms\""), 5,
                                                  "\"SMS\"")}),
              "unknown role", {"SMS"});
}

TEST(KeysFile, RolesMustBeANonEmptyListOfStrings) {
  const std::string base = "{\"keys\": [{\"id\": \"k1\", \"token_sha256\": \"" + kHash1 + "\", ";
  expectError(base + "\"roles\": []}]}", "roles must name at least one role");
  expectError(base + "\"roles\": \"sms\"}]}", "expected a list of strings");
  expectError(base + "\"roles\": [\"sms\", 7]}]}", "wrong type");
  expectError(base + "\"roles\": null}]}", "expected a list of strings");
}

TEST(KeysFile, AllowCidrsMustBeAListOfStrings) {
  expectError(file({keyJson("k1", kHash1, R"(, "allow_cidrs": "10.0.0.0/8")")}),
              "expected a list of strings");
  expectError(file({keyJson("k1", kHash1, R"(, "allow_cidrs": [10])")}), "wrong type");
}

TEST(KeysFile, BadMode) {
  for (std::string_view bad : {"\"MARKERMODE\"", "\"LIVE\"", "\"Test\"", "\"\""}) {
    expectError(file({keyJson("k1", kHash1, ", \"mode\": " + std::string(bad))}),
                "mode must be live or test", {"MARKERMODE"});
  }
  expectError(file({keyJson("k1", kHash1, R"(, "mode": true)")}), "wrong type");
  expectError(file({keyJson("k1", kHash1, R"(, "mode": null)")}), "wrong type");
}

TEST(KeysFile, ShortSigningSecret) {
  const std::string marker = "MARKERSECRET-" + std::string(18, 'x');  // 31 chars
  ASSERT_EQ(marker.size(), 31u);
  expectError(file({keyJson("k1", kHash1, ", \"signing_secret\": \"" + marker + "\"")}),
              "signing_secret must be at least 32 characters", {"MARKERSECRET", marker});
  expectError(file({keyJson("k1", kHash1, R"(, "signing_secret": "")")}),
              "signing_secret must be at least 32 characters");
  expectError(file({keyJson("k1", kHash1, R"(, "signing_secret": 123456789)")}), "wrong type",
              {"123456789"});
}

TEST(KeysFile, LimitsUnknownClass) {
  expectError(file({keyJson("k1", kHash1, R"(, "limits": {"MARKERCLASS": 5})")}),
              "key 1: unknown limit class", {"MARKERCLASS"});
  expectError(file({keyJson("k1", kHash1, R"(, "limits": {"SMS": 5})")}), "unknown limit class");
}

TEST(KeysFile, LimitsMustBePositiveIntegers) {
  for (std::string_view bad : {"0", "-5", "1.5", "\"10\"", "null", "true", "1e3", "[1]",
                               "18446744073709551615"}) {
    expectError(file({keyJson("k1", kHash1, ", \"limits\": {\"sms\": " + std::string(bad) + "}")}),
                "limits must be positive integers");
  }
  expectError(file({keyJson("k1", kHash1, R"(, "limits": {"sms": 987654321})")}),
              "limits must be positive integers", {"987654321"});
}

TEST(KeysFile, LimitsMustBeAnObject) {
  expectError(file({keyJson("k1", kHash1, R"(, "limits": [1000])")}), "limits must be an object");
  expectError(file({keyJson("k1", kHash1, R"(, "limits": 1000)")}), "limits must be an object");
}

// The same limit class twice is as ambiguous as a duplicate key field (which
// one does the rate limiter apply?): it must be refused, not stored twice.
TEST(KeysFile, DuplicateLimitClassIsRefused) {
  const Result r = parse(file({keyJson("k1", kHash1, R"(, "limits": {"sms": 5, "sms": 5000})")}));
  EXPECT_FALSE(r.ok) << "duplicate limit class accepted; stored " << r.keys[0].limits.size()
                     << " entries";
}

TEST(KeysFile, RevokedMustBeBool) {
  for (std::string_view bad : {"\"true\"", "1", "0", "null", "\"MARKERREVOKED\""}) {
    expectError(file({keyJson("k1", kHash1, ", \"revoked\": " + std::string(bad))}),
                "revoked must be true or false", {"MARKERREVOKED"});
  }
}

TEST(KeysFile, DuplicateIds) {
  expectError(file({keyJson("MARKERDUP", kHash1), keyJson("MARKERDUP", kHash2)}),
              "key 2: duplicate id", {kHash1, kHash2});
}

TEST(KeysFile, DuplicateTokenHashes) {
  const std::string marker_hash = "feedface" + std::string(56, '9');
  expectError(file({keyJson("k1", kHash1), keyJson("k2", marker_hash), keyJson("k3", marker_hash)}),
              "key 3: token_sha256 used by another key", {marker_hash, marker_hash.substr(0, 8)});
}


// ---- status callbacks ----

namespace callbacks {

const std::string kCbSecret = "callback-secret-fake-0123456789abcdef";  // 37 chars

std::string withCallback(std::string_view url, std::string_view secret = kCbSecret) {
  return file({keyJson("k1", kHash1, ", \"status_callback_url\": \"" + std::string(url) +
                                         "\", \"callback_secret\": \"" + std::string(secret) + "\"")});
}

TEST(KeysFileCallbacks, HttpsUrlAndSecretAreKept) {
  const Result r = parse(withCallback("https://app.example.org:8443/hooks/phigate?t=abc"));
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_TRUE(r.keys[0].status_callback_url.has_value());
  EXPECT_EQ(*r.keys[0].status_callback_url, "https://app.example.org:8443/hooks/phigate?t=abc");
  ASSERT_TRUE(r.keys[0].callback_secret.has_value());
  EXPECT_EQ(*r.keys[0].callback_secret, kCbSecret);
}

TEST(KeysFileCallbacks, NullMeansNone) {
  const Result r = parse(file({keyJson(
      "k1", kHash1, R"(, "status_callback_url": null, "callback_secret": null)")}));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.keys[0].status_callback_url.has_value());
  EXPECT_FALSE(r.keys[0].callback_secret.has_value());
}

TEST(KeysFileCallbacks, HttpOnlyInDevelopment) {
  const std::string json = withCallback("http://127.0.0.1:9000/cb");
  expectError(json, "status_callback_url must be an https:// URL", {"127.0.0.1", "9000"});
  std::vector<KeySpec> keys;
  std::string error;
  EXPECT_TRUE(parseKeysFile(json, &keys, &error, /*allow_http_callbacks=*/true)) << error;
  // Other schemes never.
  keys.clear();
  EXPECT_FALSE(parseKeysFile(withCallback("ftp://127.0.0.1/cb"), &keys, &error, true));
}

TEST(KeysFileCallbacks, BadUrlsAreRefusedWithoutEcho) {
  for (std::string_view url :
       {"https://user:pw@app.example/cb", "https://user@app.example/cb", "https://app.example/cb#zzfr",
        "https:///cb", "app.example/cb", "https://app.example/c b", "https://app.example/\\u0001",
        "HTTPS://app.example/cb", "https://", "gopher://app.example/", "file:///etc/passwd",
        "https://[fe80::1%25eth0]/cb", "https://app.example./cb", "https://app.example.:8443/cb",
        "https://app.example.?q=1", ""}) {
    SCOPED_TRACE(url);
    expectError(withCallback(url), "status_callback_url must be", {"app.example", "pw", "zzfr"});
  }
  expectError(withCallback("https://app.example/" + std::string(kMaxCallbackUrl, 'a')),
              "status_callback_url must be");
}

TEST(KeysFileCallbacks, SecretRules) {
  expectError(withCallback("https://app.example/cb", "short-secret-fake"),
              "callback_secret must be at least 32 characters", {"short-secret-fake"});
  expectError(file({keyJson("k1", kHash1, R"(, "status_callback_url": "https://app.example/cb")")}),
              "status_callback_url and callback_secret go together", {"app.example"});
  expectError(file({keyJson("k1", kHash1, ", \"callback_secret\": \"" + kCbSecret + "\"")}),
              "status_callback_url and callback_secret go together", {kCbSecret});
  expectError(file({keyJson("k1", kHash1, R"(, "status_callback_url": 7, "callback_secret": "x")")}),
              "wrong type");
}

}  // namespace callbacks

}  // namespace
}  // namespace phigate::config
