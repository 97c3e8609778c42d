// Status callbacks' pure parts: the body, the signature (against a vector
// computed with Python's hmac module, the docs' receiver example), the
// address rules of the SSRF check, and the in-process queue.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include <string>
#include <vector>

#include "delivery/callback_signature.h"
#include "delivery/callbacks.h"
#include "state/memory_callbacks.h"

namespace phigate::delivery {
namespace {

const std::string kSecretText = "callback-secret-fake-0123456789abcdef";
std::span<const uint8_t> secret() {
  return {reinterpret_cast<const uint8_t*>(kSecretText.data()), kSecretText.size()};
}

state::CallbackEvent event() {
  state::CallbackEvent e;
  e.key_id = "clinic";
  e.message_id = "0123456789abcdef0123456789abcdef";
  e.channel = "sms";
  e.status = "delivered";
  e.attempts = 2;
  e.provider_message_id = "prov-77";
  e.updated_unix_ms = 1'700'000'000'123;
  return e;
}

TEST(CallbackBody, HasTheFieldsAndNothingElse) {
  Buffer b;
  appendCallbackBody(b, event());
  EXPECT_EQ(b.view(),
            R"({"id":"0123456789abcdef0123456789abcdef","channel":"sms","status":"delivered",)"
            R"("attempts":2,"provider_message_id":"prov-77","updated_at":"2023-11-14T22:13:20.123Z"})");
  state::CallbackEvent f = event();
  f.status = "failed";
  f.provider_message_id = {};
  f.error_code = "provider-rejected";
  b.clear();
  appendCallbackBody(b, f);
  EXPECT_NE(b.view().find(R"("error_code":"provider-rejected")"), std::string_view::npos);
  EXPECT_EQ(b.view().find("provider_message_id"), std::string_view::npos);
}

TEST(CallbackSignature, MatchesAnIndependentHmac) {
  Buffer h;
  appendSignatureHeader(h, secret(), 1'700'000'000, R"({"id":"x"})");
  // python3: hmac.new(secret, b'1700000000.{"id":"x"}', hashlib.sha256).hexdigest()
  EXPECT_EQ(h.view(), "X-Phigate-Signature: t=1700000000,v1="
                      "fba46c971d66018aff686e6e3fe9e99fd9741690e0fdbbe04b98873d307cfc3e");
}

// The receiver's verifier docs/CALLBACKS.md gives, run as written (taken
// from the doc's python block) against phigate's own signer: a reader who
// copies it gets a working check.
TEST(CallbackSignature, TheDocumentedPythonVerifierAcceptsOursAndRefusesTampering) {
  std::ifstream doc(PHIGATE_SOURCE_DIR "/docs/CALLBACKS.md");
  std::stringstream all;
  all << doc.rdbuf();
  const std::string text = all.str();
  const size_t start = text.find("```python\n");
  ASSERT_NE(start, std::string::npos) << "no python block in docs/CALLBACKS.md";
  const size_t end = text.find("```", start + 10);
  const std::string code = text.substr(start + 10, end - start - 10);
  if (std::system("python3 -c 'import hmac' >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  const std::string secret = "cb-secret-for-tests-0123456789abcdef";
  const std::string body = R"({"id":"00000000000000000000000000000000","status":"delivered"})";
  Buffer header;
  const int64_t now = time(nullptr);
  appendSignatureHeader(header, {reinterpret_cast<const uint8_t*>(secret.data()), secret.size()}, now, body);
  const std::string value(header.view().substr(kSignatureHeader.size() + 2));
  char dir[] = "/tmp/phigate-cbdoc-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string d = dir;
  std::ofstream(d + "/verify.py") << code << "\nimport sys\n"
                                  << "ok = verify(open(sys.argv[1],'rb').read(), open(sys.argv[2]).read(),"
                                     " open(sys.argv[3],'rb').read())\nsys.exit(0 if ok else 3)\n";
  std::ofstream(d + "/secret", std::ios::binary) << secret;
  std::ofstream(d + "/header") << value;
  std::ofstream(d + "/body", std::ios::binary) << body;
  std::ofstream(d + "/tampered", std::ios::binary) << body.substr(0, body.size() - 1) << " }";
  auto run = [&](const std::string& body_file) {
    const std::string cmd = "python3 " + d + "/verify.py " + d + "/secret " + d + "/header " + d + "/" + body_file;
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(run("body"), 0) << "the documented verifier refuses a genuine callback";
  EXPECT_EQ(run("tampered"), 3) << "the documented verifier accepts a tampered body";
  std::ofstream(d + "/header") << "t=" << (now - 3600) << value.substr(value.find(','));
  EXPECT_EQ(run("body"), 3) << "an hour-old timestamp is accepted";
  std::ofstream(d + "/header") << "t=\xc2\xb2,v1=" << std::string(64, 'a');
  EXPECT_EQ(run("body"), 3) << "a malformed header must be refused, not raise";
  std::system(("rm -rf '" + d + "'").c_str());
}

TEST(CallbackSignature, VerifyRejectsTamperingAndOldTimestamps) {
  const std::string body = R"({"id":"x"})";
  Buffer h;
  appendSignatureHeader(h, secret(), 1'700'000'000, body);
  const std::string_view value = h.view().substr(kSignatureHeader.size() + 2);
  EXPECT_TRUE(verifySignature(value, secret(), body, 1'700'000'000));
  EXPECT_TRUE(verifySignature(value, secret(), body, 1'700'000'299));
  EXPECT_FALSE(verifySignature(value, secret(), body, 1'700'000'301)) << "older than 5 minutes";
  EXPECT_FALSE(verifySignature(value, secret(), body + " ", 1'700'000'000));
  const std::string other = "another-secret-fake-0123456789abcdef";
  EXPECT_FALSE(verifySignature(value, {reinterpret_cast<const uint8_t*>(other.data()), other.size()}, body,
                               1'700'000'000));
  EXPECT_FALSE(verifySignature("t=1700000000", secret(), body, 1'700'000'000));
  EXPECT_FALSE(verifySignature("", secret(), body, 1'700'000'000));
}

// ---- the SSRF address rules -------------------------------------------------

bool allowed(const char* text, const char* allow = "") {
  uint8_t a[16] = {};
  if (inet_pton(AF_INET, text, a + 12) == 1) {
    a[10] = a[11] = 0xff;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text, a), 1) << text;
  }
  pipeline::CidrList list;
  std::string error;
  EXPECT_TRUE(pipeline::CidrList::parse(allow, &list, &error)) << error;
  return callbackAddressAllowed(a, list);
}

TEST(CallbackAddress, RefusesEveryInternalRange) {
  for (const char* a :
       {"127.0.0.1", "127.255.0.9", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1",
        "239.255.255.250", "255.255.255.255", "240.0.0.1", "198.18.0.1", "::", "::1", "fc00::1",
        "fd00:ec2::254", "fe80::1", "febf::1", "fec0::1", "feff::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3",
        "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "2002:7f00:1::1",
        "::127.0.0.1"}) {
    EXPECT_FALSE(allowed(a)) << a;
  }
}

// Each range beyond the private ones, at its edges where it has a public neighbour.
TEST(CallbackAddress, RefusesTranslatorTunnelAndPlatformRanges) {
  for (const char* a : {
           "64:ff9b:1::1", "64:ff9b:1:ffff::808:808",            // local-use NAT64, RFC 8215
           "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",    // Teredo
           "2002:808:808::1", "2002::1",                         // 6to4, public inside too
           "::ffff:0:808:808", "::ffff:0:0:1",                   // IPv4-translated
           "168.63.129.16", "::ffff:168.63.129.16",              // Azure's platform address
           "0.1.2.3", "198.19.255.255", "240.0.0.0", "255.255.255.255",
           "64:ff9b::a00:1", "64:ff9b::c0a8:101",                // NAT64 of private ones
           "fec0::1", "feff:ffff::1"}) {                         // site-local
    EXPECT_FALSE(allowed(a)) << a;
  }
  for (const char* a : {"168.63.129.15", "168.63.129.17", "2001:1::1", "2001:4860:4860::8888",
                        "2003::1", "64:ff9b:2::1", "64:ff9b::808:808"}) {
    EXPECT_TRUE(allowed(a)) << a;
  }
}

TEST(CallbackAddress, AllowsPublicAddresses) {
  for (const char* a : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1",
                        "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_TRUE(allowed(a)) << a;
  }
}

TEST(CallbackAddress, TheAllowListOpensExactlyWhatItLists) {
  EXPECT_TRUE(allowed("127.0.0.1", "127.0.0.1/32"));
  EXPECT_TRUE(allowed("::ffff:127.0.0.1", "127.0.0.1/32"));
  EXPECT_FALSE(allowed("127.0.0.2", "127.0.0.1/32"));
  EXPECT_FALSE(allowed("::1", "127.0.0.1/32"));
  EXPECT_TRUE(allowed("10.20.30.40", "10.20.0.0/16"));
  EXPECT_FALSE(allowed("169.254.169.254", "10.20.0.0/16"));
}

// ---- the setup ----------------------------------------------------------------

TEST(CallbackSetup, AKeyGetsAQuarterOfTheSlots) {
  pipeline::KeyRegistry keys;
  for (const auto& [concurrency, per_key] :
       std::vector<std::pair<uint32_t, uint32_t>>{{16, 4}, {64, 16}, {7, 1}, {4, 1}, {1, 1}}) {
    config::Config cfg;
    cfg.delivery.callback_concurrency = concurrency;
    CallbackSetup setup;
    std::string error;
    ASSERT_TRUE(makeCallbackSetup(cfg, keys, &setup, &error)) << error;
    EXPECT_EQ(setup.options.per_key_in_flight, per_key) << concurrency;
  }
}

// ---- the retry schedule ------------------------------------------------------

// With the defaults the 8 tries (7 delays) span at least an hour, whatever
// the jitter, and at most half as much again.
TEST(CallbackRetryDelay, EightTriesSpanAnHourWithTheDefaults) {
  const CallbackOptions o;
  ASSERT_EQ(o.max_tries, 8u);
  for (uint64_t seed : {uint64_t{1}, uint64_t{0x9e3779b97f4a7c15}, uint64_t{12345}, ~uint64_t{0}}) {
    uint64_t rng = seed;
    for (int round = 0; round < 100; ++round) {
      uint64_t total = 0;
      for (uint32_t tries = 1; tries < o.max_tries; ++tries) {
        const uint32_t d = callbackRetryDelay(o, tries, &rng);
        const uint64_t step = std::min<uint64_t>(o.retry_max_ms, uint64_t{o.retry_min_ms} << (tries - 1));
        EXPECT_GE(d, step) << tries;
        EXPECT_LE(d, step + step / 2) << tries;
        total += d;
      }
      EXPECT_GE(total, 3'600'000u) << "the 8 tries span less than an hour";
      EXPECT_LE(total, 3'690'000u * 3 / 2);
    }
  }
}

// ---- the in-process queue ----------------------------------------------------

struct Reader {
  std::vector<std::string> statuses, entries;
  std::vector<uint32_t> tries;
  static void done(void* ctx, bool ok, std::span<const state::CallbackEvent> events) {
    auto* r = static_cast<Reader*>(ctx);
    ASSERT_TRUE(ok);
    for (const auto& e : events) {
      r->statuses.emplace_back(e.status);
      r->entries.emplace_back(e.entry_id);
      r->tries.push_back(e.tries);
    }
  }
};

void ignore(void*, bool ok) { EXPECT_TRUE(ok); }

TEST(MemoryCallbackQueue, OnlyEnabledKeysQueueAndRetriesComeBackWhenDue) {
  int64_t now = 1'000'000;
  state::MemoryCallbackQueue q([&now] { return now; });
  q.setKeys({"clinic"});
  q.push("other", "m1", "sms", "sent", 1, "", "", now);
  EXPECT_EQ(q.size("other"), 0u);
  q.push("clinic", "m1", "sms", "sent", 1, "p1", "", now);
  q.push("clinic", "m1", "sms", "delivered", 1, "p1", "", now);
  const std::string_view keys[] = {"clinic"};
  Reader r;
  q.read(keys, 10, 0, &r, Reader::done);
  ASSERT_EQ(r.statuses, (std::vector<std::string>{"sent", "delivered"}));
  const std::string_view second[] = {r.entries[1]};
  q.ack("clinic", second, nullptr, ignore);
  state::CallbackEvent e;
  e.key_id = "clinic";
  e.entry_id = r.entries[0];
  q.retry(e, 1, 5'000, nullptr, ignore);
  Reader none;
  q.promote("clinic", 10, nullptr, ignore);
  q.read(keys, 10, 0, &none, Reader::done);
  EXPECT_TRUE(none.statuses.empty()) << "a retry came back before its time";
  now += 5'000;
  q.promote("clinic", 10, nullptr, ignore);
  Reader again;
  q.read(keys, 10, 0, &again, Reader::done);
  ASSERT_EQ(again.statuses, (std::vector<std::string>{"sent"}));
  EXPECT_EQ(again.tries, (std::vector<uint32_t>{1}));
  const std::string_view first[] = {again.entries[0]};
  q.ack("clinic", first, nullptr, ignore);
  EXPECT_EQ(q.size("clinic"), 0u);
}

TEST(MemoryCallbackQueue, IsBoundedPerKey) {
  state::MemoryCallbackQueue q([] { return int64_t{0}; });
  q.setKeys({"clinic"});
  for (size_t i = 0; i < state::kMaxCallbacksPerKey + 10; ++i) q.push("clinic", "m", "sms", "sent", 1, "", "", 0);
  EXPECT_EQ(q.size("clinic"), state::kMaxCallbacksPerKey);
  EXPECT_EQ(q.dropped(), 10u);
}

}  // namespace
}  // namespace phigate::delivery
