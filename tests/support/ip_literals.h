// IP helpers for the pipeline's unit tests: literals in, text out, failing
// the test (not crashing) on a literal that does not parse.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "pipeline/cidr.h"

namespace phigate::test {

inline pipeline::IpAddress ip(std::string_view text) {
  pipeline::IpAddress out;
  EXPECT_TRUE(pipeline::parseIp(text, &out)) << text;
  return out;
}

inline std::string format(const pipeline::IpAddress& address) {
  char buffer[pipeline::kIpTextCapacity];
  return std::string(pipeline::formatIp(address, buffer));
}

inline pipeline::CidrList cidrs(std::string_view text) {
  pipeline::CidrList out;
  std::string error;
  EXPECT_TRUE(pipeline::CidrList::parse(text, &out, &error)) << text << ": " << error;
  return out;
}

}  // namespace phigate::test
