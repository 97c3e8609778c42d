// The admit script and its C++ reader agree on what each status code means:
// the script names its codes on its first line, with the numbers of
// AdmitReply, and returns only names.
#include "state/redis_scripts.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace phigate::state {
namespace {

const std::pair<AdmitReply, std::string_view> kNames[] = {
    {AdmitReply::kAdmitted, "ADMITTED"},
    {AdmitReply::kRateLimited, "RATE_LIMITED"},
    {AdmitReply::kQuotaExceeded, "QUOTA_EXCEEDED"},
    {AdmitReply::kReplayed, "REPLAYED"},
    {AdmitReply::kIdempotentReplay, "IDEMPOTENT_REPLAY"},
    {AdmitReply::kIdempotencyMismatch, "IDEMPOTENCY_MISMATCH"},
    {AdmitReply::kExpired, "EXPIRED"},
};

std::vector<std::string> split(std::string_view s, std::string_view sep) {
  std::vector<std::string> out;
  for (size_t at; (at = s.find(sep)) != std::string_view::npos; s.remove_prefix(at + sep.size())) {
    out.emplace_back(s.substr(0, at));
  }
  out.emplace_back(s);
  return out;
}

TEST(AdmitScript, FirstLineNamesTheCodesOfAdmitReply) {
  std::string_view script = kAdmitScript;
  ASSERT_EQ(script.front(), '\n');
  script.remove_prefix(1);
  EXPECT_EQ(script.substr(0, script.find('\n')), kAdmitReplyNames);

  const std::string_view decl = kAdmitReplyNames.substr(std::string_view("local ").size());
  const size_t eq = decl.find(" = ");
  ASSERT_NE(eq, std::string_view::npos);
  const auto names = split(decl.substr(0, eq), ", ");
  const auto numbers = split(decl.substr(eq + 3), ", ");
  ASSERT_EQ(names.size(), std::size(kNames));
  ASSERT_EQ(numbers.size(), std::size(kNames));
  for (size_t i = 0; i < std::size(kNames); ++i) {
    EXPECT_EQ(names[i], kNames[i].second);
    EXPECT_EQ(std::stoll(numbers[i]), static_cast<long long>(kNames[i].first)) << names[i];
  }
}

TEST(AdmitScript, ReturnsOnlyNamedCodes) {
  const std::string_view script = kAdmitScript;
  size_t returns = 0;
  for (size_t at = script.find("return {"); at != std::string_view::npos;
       at = script.find("return {", at + 1)) {
    ++returns;
    const std::string_view code = script.substr(at + 8, script.find(',', at) - at - 8);
    bool named = false;
    for (const auto& [value, name] : kNames) named = named || code == name;
    EXPECT_TRUE(named) << "return {" << code << ", ...}";
  }
  EXPECT_GE(returns, 6u);
  EXPECT_NE(script.find("local result = {ADMITTED,"), std::string_view::npos);
}

}  // namespace
}  // namespace phigate::state
