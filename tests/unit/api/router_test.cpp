#include "api/router.h"

#include <gtest/gtest.h>

namespace phigate::api {
namespace {

void noop(Call&) {}

constexpr Route kTable[] = {
    {kGet, "/livez", "livez", noop, 0},
    {kPost, "/v1/sms", "sms", noop, 64 * 1024},
    {kPost, "/v1/sms/bulk", "sms_bulk", noop, 1 << 20},
    {kGet, "/v1/messages/{id}", "message", noop, 0},
    {kGet | kPost | kPut | kDelete, "/v1/ehospital/{path...}", "ehospital", noop, 1 << 20},
    {kGet, "/", "root", noop, 0},
};

TEST(Router, ValidatesPatterns) {
  EXPECT_EQ(Router::validate(kTable), "");
  const Route bad1[] = {{kGet, "livez", "x", noop, 0}};
  EXPECT_NE(Router::validate(bad1), "");
  const Route bad2[] = {{kGet, "/a//b", "x", noop, 0}};
  EXPECT_NE(Router::validate(bad2), "");
  const Route bad3[] = {{kGet, "/a/{rest...}/b", "x", noop, 0}};
  EXPECT_NE(Router::validate(bad3), "");
  const Route bad4[] = {{0, "/a", "x", noop, 0}};
  EXPECT_NE(Router::validate(bad4), "");
}

TEST(Router, MatchesLiteralAndMethod) {
  Router r(kTable);
  RouteMatch m = r.find(net::Method::kGet, "/livez");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->name, "livez");
  m = r.find(net::Method::kHead, "/livez");
  ASSERT_NE(m.route, nullptr) << "HEAD is served by GET routes";
  m = r.find(net::Method::kPost, "/livez");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed, kGet);
  m = r.find(net::Method::kGet, "/nope");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed, 0);
}

TEST(Router, DistinguishesPrefixes) {
  Router r(kTable);
  EXPECT_EQ(r.find(net::Method::kPost, "/v1/sms").route->name, "sms");
  EXPECT_EQ(r.find(net::Method::kPost, "/v1/sms/bulk").route->name, "sms_bulk");
  EXPECT_EQ(r.find(net::Method::kPost, "/v1/sms/bulk/x").route, nullptr);
  EXPECT_EQ(r.find(net::Method::kPost, "/v1/sm").route, nullptr);
  EXPECT_EQ(r.find(net::Method::kPost, "/v1/sms/").route, nullptr);
  EXPECT_EQ(r.find(net::Method::kGet, "/livez/").route, nullptr);
  EXPECT_EQ(r.find(net::Method::kGet, "//livez").route, nullptr);
  EXPECT_EQ(r.find(net::Method::kGet, "/").route->name, "root");
}

TEST(Router, ExtractsParameters) {
  Router r(kTable);
  RouteMatch m = r.find(net::Method::kGet, "/v1/messages/abc123");
  ASSERT_NE(m.route, nullptr);
  ASSERT_EQ(m.param_count, 1u);
  EXPECT_EQ(m.params[0], "abc123");
  EXPECT_EQ(r.find(net::Method::kGet, "/v1/messages/").route, nullptr);
  EXPECT_EQ(r.find(net::Method::kGet, "/v1/messages/a/b").route, nullptr);
  m = r.find(net::Method::kPut, "/v1/ehospital/patients/42/records");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params[0], "patients/42/records");
  EXPECT_EQ(r.find(net::Method::kGet, "/v1/ehospital/").route, nullptr);
  EXPECT_EQ(r.find(net::Method::kGet, "/v1/ehospital").route, nullptr);
}

TEST(Router, AllowHeader) {
  EXPECT_EQ(Router::allowHeader(kGet), "GET, HEAD, OPTIONS");
  EXPECT_EQ(Router::allowHeader(kPost), "POST, OPTIONS");
  EXPECT_EQ(Router::allowHeader(kGet | kPost | kPut | kDelete),
            "GET, HEAD, POST, PUT, DELETE, OPTIONS");
}

}  // namespace
}  // namespace phigate::api
