// The stages that decide from the context alone (no request bytes): the
// global and per-key address checks and RBAC.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "pipeline/ip_access.h"
#include "pipeline/rbac.h"
#include "support/ip_literals.h"

namespace phigate::pipeline {
namespace {

using test::cidrs;
using test::ip;

constexpr int64_t kLater = 4'102'444'800'000;  // 2100-01-01, unix ms

RequestContext from(const char* addr) {
  RequestContext ctx;
  ctx.client.ip = ip(addr);
  return ctx;
}

TEST(IpAccessStage, DenylistWinsThenAllowlistLimits) {
  PolicyConfig cfg;
  cfg.ip_allowlist = cidrs("10.0.0.0/8, 2001:db8::/32");
  cfg.ip_denylist = cidrs("10.6.6.0/24");
  BlockList blocks;
  IpAccessStage stage(cfg, blocks);
  for (const char* ok : {"10.1.2.3", "2001:db8::7"}) {
    RequestContext ctx = from(ok);
    EXPECT_EQ(stage.run(ctx), Verdict::kContinue) << ok;
  }
  RequestContext denied = from("10.6.6.1");
  EXPECT_EQ(stage.run(denied), Verdict::kReject);
  EXPECT_EQ(denied.rejection.status, 403);
  EXPECT_EQ(denied.rejection.reason, "denylist");
  EXPECT_EQ(denied.rejection.event, obs::SecurityEvent::kIpBlocked);
  RequestContext outside = from("192.0.2.1");
  EXPECT_EQ(stage.run(outside), Verdict::kReject);
  EXPECT_EQ(outside.rejection.reason, "not_in_allowlist");
}

// Containment blocks an IPv6 client's whole /64 (formatSubject()), so it
// cannot step past the block by rotating its interface identifier; an exact
// IPv6 entry (an admin's) blocks that address only.
TEST(IpAccessStage, Ipv6BlocksCoverTheirSlash64) {
  PolicyConfig cfg;
  BlockList blocks;
  const state::BlockEntry listed[] = {{"2001:db8:1:2::/64", kLater}, {"2001:db8:9::5", kLater},
                                      {"10.0.0.0/64", kLater},        {"2001:db8:7::/48", kLater},
                                      {"64:ff9b::/64", kLater},       {"64:ff9b::cb00:7107", kLater}};
  blocks.replace(listed);
  EXPECT_EQ(blocks.size(), 3u) << "only IPv6 /64s (not NAT64's) and addresses are block entries";
  IpAccessStage stage(cfg, blocks);
  for (const char* in : {"2001:db8:1:2::1", "2001:db8:1:2:dead:beef:0:1", "2001:db8:9::5",
                         "64:ff9b::203.0.113.7"}) {
    RequestContext ctx = from(in);
    EXPECT_EQ(stage.run(ctx), Verdict::kReject) << in;
  }
  for (const char* out : {"2001:db8:1:3::1", "2001:db8:9::6", "2001:db8:7::1", "10.0.0.1",
                          "64:ff9b::203.0.113.8"}) {
    RequestContext ctx = from(out);
    EXPECT_EQ(stage.run(ctx), Verdict::kContinue) << out;
  }
}

TEST(IpAccessStage, EmptyListsAllowEveryone) {
  PolicyConfig cfg;
  BlockList blocks;
  IpAccessStage stage(cfg, blocks);
  RequestContext ctx = from("203.0.113.9");
  EXPECT_EQ(stage.run(ctx), Verdict::kContinue);
}

// A dynamic block refuses even inside the allow list, and says when it lapses.
TEST(IpAccessStage, DynamicBlocksRefuseWithRetryAfter) {
  PolicyConfig cfg;
  cfg.ip_allowlist = cidrs("203.0.113.0/24");
  BlockList blocks;
  const state::BlockEntry listed[] = {{"203.0.113.9", kLater}, {"not an address", kLater}, {"2001:db8::1", kLater}};
  blocks.replace(listed);
  EXPECT_EQ(blocks.size(), 2u);
  IpAccessStage stage(cfg, blocks);
  RequestContext ctx = from("203.0.113.9");
  EXPECT_EQ(stage.run(ctx), Verdict::kReject);
  EXPECT_EQ(ctx.rejection.reason, "blocked");
  EXPECT_EQ(ctx.rejection.code, "blocked");
  ASSERT_EQ(ctx.rejection.headers.size(), 1u);
  EXPECT_EQ(ctx.rejection.headers[0].name, "Retry-After");
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const state::BlockEntry soon[] = {{"203.0.113.9", now_ms + 90'500}};
  blocks.replace(soon);
  RequestContext timed = from("203.0.113.9");
  EXPECT_EQ(stage.run(timed), Verdict::kReject);
  ASSERT_EQ(timed.rejection.headers.size(), 1u);
  const std::string retry(timed.rejection.headers[0].value);
  EXPECT_TRUE(retry == "91" || retry == "90") << retry;
  blocks.replace(listed);
  RequestContext other = from("203.0.113.10");
  EXPECT_EQ(stage.run(other), Verdict::kContinue);
  blocks.replace({});
  RequestContext again = from("203.0.113.9");
  EXPECT_EQ(stage.run(again), Verdict::kContinue);
}

TEST(KeyIpAccessStage, OnlyKeysWithAListAreLimited) {
  KeyIpAccessStage stage;
  ApiKey open;
  ApiKey office;
  office.allow = cidrs("10.20.0.0/16");
  RequestContext a = from("192.0.2.1");
  a.key = &open;
  EXPECT_EQ(stage.run(a), Verdict::kContinue);
  RequestContext b = from("10.20.9.9");
  b.key = &office;
  EXPECT_EQ(stage.run(b), Verdict::kContinue);
  RequestContext c = from("10.21.9.9");
  c.key = &office;
  EXPECT_EQ(stage.run(c), Verdict::kReject);
  EXPECT_EQ(c.rejection.reason, "not_in_key_allowlist");
}

TEST(RbacStage, RoutePermissionMustBeGranted) {
  RbacStage stage;
  RoutePolicy send{Permission::kSmsSend, true, true, BodyKind::kSms};
  RoutePolicy open{};
  ApiKey sms;
  sms.permissions = permissionsForRole("sms");
  ApiKey email;
  email.permissions = permissionsForRole("email");
  RequestContext ok;
  ok.policy = &send;
  ok.key = &sms;
  EXPECT_EQ(stage.run(ok), Verdict::kContinue);
  RequestContext no;
  no.policy = &send;
  no.key = &email;
  EXPECT_EQ(stage.run(no), Verdict::kReject);
  EXPECT_EQ(no.rejection.status, 403);
  EXPECT_EQ(no.rejection.reason, "sms:send");
  EXPECT_EQ(no.rejection.event, obs::SecurityEvent::kRbacViolation);
  RequestContext anonymous;
  anonymous.policy = &send;
  EXPECT_EQ(stage.run(anonymous), Verdict::kReject);
  RequestContext probe;
  probe.policy = &open;
  EXPECT_EQ(stage.run(probe), Verdict::kContinue);
}

}  // namespace
}  // namespace phigate::pipeline
