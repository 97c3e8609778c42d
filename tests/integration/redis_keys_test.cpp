// What a Redis key name may reveal (issue 7, item 6): anyone who can run SCAN
// or MONITOR, or read an RDB/AOF file or a replica, sees every key name for as
// long as the key lives. So no name may hold a value the client chose (the
// X-Nonce, the Idempotency-Key, a message id from a request path) or one that
// identifies the client (its address): those appear as keyed pseudonyms, from
// SECRET_KEY. Two phigate processes sharing one Redis with the same
// SECRET_KEY still find each other's nonces, idempotency records and
// per-address windows.
//
// The client values here are made-up markers; a failure names the kind of
// value a key name leaked, with the value itself masked.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "security_fixture.h"
#include "support/redis_server.h"

namespace phigate::test {
namespace {

// Test keys, not secrets: both processes get the same ones.
const std::string kSecretKey = "5b1f0e2d4c3a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const std::string kEncryptionKey = "a0b1c2d3e4f5061728394a5b6c7d8e9ff9e8d7c6b5a4938271605f4e3d2c1b0a";

const std::string kNonce = "PHInonceMarker7Q2w9Zx4Lp";
const std::string kIdempotencyKey = "PHI-idem-Marker order #4711";
const std::string kClientV4 = "203.0.113.77";
const std::string kFailingV4 = "198.51.100.78";   // one auth failure: below the threshold
const std::string kBlockedV4 = "198.51.100.79";   // enough failures to be blocked
const std::string kClientV6 = "2001:db8:4711:1::5";
const std::string kClientV6Prefix = "2001:db8:4711:1";  // its /64, as the subject spells it

struct Leak {
  const char* what;
  std::string value;
};

const std::vector<Leak> kLeaks = {
    {"the X-Nonce", kNonce},
    {"the Idempotency-Key", kIdempotencyKey},
    {"a client address", kClientV4},
    {"a failing client address", kFailingV4},
    {"a blocked client address", kBlockedV4},
    {"an IPv6 client's /64", kClientV6Prefix},
    {"the token", tokenFor("clinic")},
    {"the recipient", "919876543210"},
};

std::string keysJson() {
  return "{\"keys\": [{\"id\": \"clinic\", \"token_sha256\": \"" + sha256Hex(tokenFor("clinic")) +
         "\", \"roles\": [\"sms\"], \"mode\": \"live\"}]}\n";
}

std::string from(const std::string& ip) { return "X-Forwarded-For: " + ip + "\r\n"; }

/** `key` with every marker replaced by <what>: safe to print. */
std::string masked(std::string key) {
  for (const Leak& l : kLeaks) {
    for (size_t at; (at = key.find(l.value)) != std::string::npos;) {
      key.replace(at, l.value.size(), std::string("<") + l.what + ">");
    }
  }
  return key;
}

/** `key` with every run of exactly 32 lower-case hex characters as <P>. */
std::string pseudonymsMarked(const std::string& key) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  std::string out;
  for (size_t i = 0; i < key.size();) {
    size_t j = i;
    while (j < key.size() && hex(key[j])) ++j;
    if (j - i == 32) {
      out += "<P>";
    } else {
      out.append(key, i, j - i);
    }
    if (j == i) out += key[j++];
    i = j;
  }
  return out;
}

class RedisKeyNamesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<RedisServer>();
    ASSERT_TRUE(redis_->ready()) << redis_->error();
    for (auto* slot : {&a_, &b_}) {
      *slot = std::make_unique<Server>(ServerOptions{
          .workers = 1,
          .env = {{"RATELIMIT_STORAGE_URI", redis_->uri()},
                  {"SECRET_KEY", kSecretKey},
                  {"ENCRYPTION_KEY", kEncryptionKey},
                  {"API_KEYS_FILE", "keys.json"},
                  {"TRUSTED_PROXIES", "127.0.0.1/32"},
                  {"PHIGATE_AUTH_FAILURE_LIMIT", "2"},
                  // Behaviour, not deadlines: a loaded machine must not turn a 202 into a 503.
                  {"PHIGATE_STORE_TIMEOUT_MS", "2000"}},
          .files = {{"keys.json", keysJson()}}});
      ASSERT_TRUE((*slot)->ready()) << "phigate did not start";
      ASSERT_TRUE((*slot)->waitForLine({"\"event\":\"store_ready\""}, 10000)) << "no store_ready";
    }
  }

  /** Every key in the Redis (SCAN to the end). */
  std::vector<std::string> allKeys() const {
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
      const auto r = redis_->command({"SCAN", cursor, "COUNT", "1000"});
      if (!r || r->type != RedisReply::Type::kArray || r->elements.size() != 2) {
        ADD_FAILURE() << "SCAN failed";
        return keys;
      }
      cursor = r->elements[0].str;
      for (const RedisReply& k : r->elements[1].elements) keys.push_back(k.str);
    } while (cursor != "0");
    return keys;
  }

  Response sms(const Server& s, ApiRequest& req) { return call(s.port(), req); }

  std::unique_ptr<RedisServer> redis_;  // declared first: outlives the servers
  std::unique_ptr<Server> a_, b_;
};

TEST_F(RedisKeyNamesTest, NoClientValueInAnyKeyNameAndSharingStillWorks) {
  // A send with a known nonce and Idempotency-Key, through process A.
  ApiRequest first = post("/v1/sms", kSmsBody, tokenFor("clinic"));
  first.nonce = kNonce;
  first.extra_headers = "Idempotency-Key: " + kIdempotencyKey + "\r\n" + from(kClientV4);
  const Response r1 = sms(*a_, first);
  ASSERT_EQ(r1.status, 202) << r1.body;
  const std::string id = jsonField(r1.body, "id");
  ASSERT_EQ(id.size(), 32u);

  // Process B recognises the nonce: the exact request again, without the
  // Idempotency-Key, is a replay.
  ApiRequest replay = post("/v1/sms", kSmsBody, tokenFor("clinic"));
  replay.nonce = kNonce;
  replay.timestamp = first.timestamp;
  replay.extra_headers = from(kClientV4);
  expectProblem(sms(*b_, replay), 409, "replayed");

  // ... and the Idempotency-Key: a retry with a fresh nonce gets A's answer.
  ApiRequest retry = post("/v1/sms", kSmsBody, tokenFor("clinic"));
  retry.extra_headers = "Idempotency-Key: " + kIdempotencyKey + "\r\n" + from(kClientV4);
  const Response r2 = sms(*b_, retry);
  ASSERT_EQ(r2.status, 202) << r2.body;
  EXPECT_EQ(r2.header("idempotent-replayed"), "true");
  EXPECT_EQ(r2.body, r1.body);
  // With another payload it is a mismatch, on either process.
  ApiRequest other = post("/v1/sms", R"({"to":"+919876543211","message":"Another text"})",
                          tokenFor("clinic"));
  other.extra_headers = "Idempotency-Key: " + kIdempotencyKey + "\r\n";
  expectProblem(sms(*a_, other), 422, "idempotency-mismatch");

  // The message reads back through B (its id is phigate's, so its key name may hold it).
  const Response status = callGet(b_->port(), "/v1/messages/" + id, tokenFor("clinic"));
  EXPECT_EQ(status.status, 200) << status.body;

  // A per-address route: /health's window is per client address, shared.
  auto health = [](const Server& s, const std::string& ip) {
    auto r = request(s.port(), get("/health", from(ip)));
    return r ? *r : Response{};
  };
  EXPECT_EQ(health(*a_, kClientV4).header("ratelimit"), "\"health\";r=4;t=60");
  const Response h2 = health(*b_, kClientV4);
  EXPECT_EQ(h2.status, 200);
  EXPECT_TRUE(h2.header("ratelimit").starts_with("\"health\";r=3;")) << h2.header("ratelimit");
  EXPECT_TRUE(health(*a_, kClientV6).header("ratelimit").starts_with("\"health\";r=4;"));
  EXPECT_TRUE(health(*b_, "2001:db8:4711:1::6").header("ratelimit").starts_with("\"health\";r=3;"))
      << "the /64 is one subject on both processes";

  // The address about to be blocked asks for /health first, so its window
  // exists however fast the block arrives (a blocked address's probe is
  // refused before it reaches the rate limit).
  EXPECT_EQ(health(*a_, kBlockedV4).status, 200);
  // Authentication failures: one from an address (its counter stays), two
  // from another (blocked, on the other process too).
  expectUnauthorized(callGet(a_->port(), "/v1/messages/" + id, "tok_nobody_Zq7Wm2Xk9Pv4Rt8Ys3Bn6Hd1",
                             from(kFailingV4)));
  for (const Server* s : {a_.get(), b_.get()}) {
    expectUnauthorized(callGet(s->port(), "/v1/messages/" + id, "tok_nobody_Zq7Wm2Xk9Pv4Rt8Ys3Bn6Hd1",
                               from(kBlockedV4)));
  }
  const int64_t deadline = nowMs() + 3000;
  Response blocked;
  do {
    blocked = health(*a_, kBlockedV4);
  } while (blocked.status != 403 && nowMs() < deadline);
  EXPECT_EQ(blocked.status, 403) << "the two failures did not block the address";

  // Now every key: none may name a client value.
  const std::vector<std::string> keys = allKeys();
  ASSERT_FALSE(keys.empty());
  std::map<std::string, int> shapes;

  for (const std::string& key : keys) {
    for (const Leak& l : kLeaks) {
      EXPECT_EQ(key.find(l.value), std::string::npos) << "a key name holds " << l.what << ": " << masked(key);
    }
    // The shapes README documents, pseudonyms as 32 hex characters.
    std::string shape = pseudonymsMarked(key);
    if (shape == "phigate:{clinic}:m:<P>") shape = "phigate:{clinic}:m:<id>";
    ++shapes[shape];
  }
  for (const char* want : {"phigate:{clinic}:n:<P>", "phigate:{clinic}:i:<P>",
                           "phigate:{clinic}:w:sms:clinic", "phigate:{clinic}:w:messages:clinic",
                           "phigate:{clinic}:outbox", "phigate:{clinic}:m:<id>",
                           "phigate:{ip:<P>}:w:health:ip:<P>", "phigate:{blocks}:f:<P>",
                           "phigate:{blocks}"}) {
    EXPECT_EQ(shapes.count(want), 1u) << "no key of the shape " << want;
  }
  std::string unexpected;
  for (const auto& [shape, n] : shapes) {
    // phigate:{wm}: the workers' watermarks, fields named by worker (redis_settle.cpp).
    if (shape.find("<P>") == std::string::npos && shape.find("{clinic}") == std::string::npos &&
        shape != "phigate:{blocks}" && shape != "phigate:{wm}") {
      unexpected += " " + masked(shape);
    }
  }
  EXPECT_TRUE(unexpected.empty()) << "unexpected key shapes:" << unexpected;
  // One /health window per subject: the IPv4 client, the IPv6 /64, and the
  // blocked address (probed before its block).
  EXPECT_EQ(shapes["phigate:{ip:<P>}:w:health:ip:<P>"], 3);
  // The idempotency record's fingerprint is keyed: an unkeyed hash of a
  // short body (an OTP to a known number) could be guessed back from it.
  for (const std::string& key : keys) {
    if (key.find(":i:") == std::string::npos) continue;
    const auto fp = redis_->cli("HGET", key, "fp");
    ASSERT_TRUE(fp && fp->type == RedisReply::Type::kString);
    EXPECT_EQ(fp->str.size(), 64u);
    EXPECT_NE(fp->str, sha256Hex("POST\n/v1/sms\n" + kSmsBody)) << "an unkeyed fingerprint";
  }
  // The block list still holds the address itself: operators list it.
  const auto members = redis_->cli("ZRANGE", "phigate:{blocks}", "0", "-1");
  ASSERT_TRUE(members && members->type == RedisReply::Type::kArray);
  bool listed = false;
  for (const RedisReply& m : members->elements) listed = listed || m.str == kBlockedV4;
  EXPECT_TRUE(listed) << "the block list does not name the blocked address";
}

// A message id from the URL path is only used (and only becomes part of a key
// name) when it has the server's own format; anything else is the same 404
// and leaves no trace in Redis.
TEST_F(RedisKeyNamesTest, MessageIdFromThePathMustHaveTheServersFormat) {
  for (const std::string& bad : {std::string("PHIlookupMarker"), std::string(32, 'G'),
                                 std::string("0123456789ABCDEF0123456789ABCDEF"),
                                 std::string(33, 'a')}) {
    const Response r = callGet(a_->port(), "/v1/messages/" + bad, tokenFor("clinic"));
    expectProblem(r, 404, "not-found");
    for (const std::string& key : allKeys()) EXPECT_EQ(key.find(bad), std::string::npos);
  }
}

}  // namespace
}  // namespace phigate::test
