// The strict-JSON walker on its own, through toy schemas shaped like the
// admin bodies that come next: if these stay a few lines, the interface is
// right. body_schema_test.cpp covers the walker again through the real
// schemas.
#include "pipeline/json_walker.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace phigate::pipeline {
namespace {

using Errors = std::vector<std::pair<std::string, std::string>>;

// ---- toy schema 1: block an IP, {"ip": string, "ttl_s"?: integer 1..86400}

struct BlockIp {
  std::string_view ip;
  int64_t ttl_s = 0;
};

enum BlockField : size_t { kIp, kTtl };
constexpr std::array<std::string_view, 2> kBlockNames = {"ip", "ttl_s"};
constexpr JsonFields kBlockFields{kBlockNames, 1u << kIp};

BodyStatus validateBlock(JsonWalker& walker, std::string_view body, BlockIp* out) {
  *out = BlockIp{};
  return walker.walk(body, [&](JsonObject& root) {
    root.read(kBlockFields, [&](size_t field, JsonValue& v) {
      if (field == kIp) {
        if (auto ip = v.string()) {
          if (ip->empty()) v.addError("empty"); else out->ip = *ip;
        }
      } else if (auto ttl = v.integer()) {
        if (*ttl < 1 || *ttl > 86'400) v.addError("out_of_range"); else out->ttl_s = *ttl;
      }
    });
  });
}

// ---- toy schema 2: reload keys, {"dry_run"?: boolean}

constexpr std::array<std::string_view, 1> kReloadNames = {"dry_run"};

BodyStatus validateReload(JsonWalker& walker, std::string_view body, bool* dry_run) {
  *dry_run = false;
  return walker.walk(body, [&](JsonObject& root) {
    root.read(JsonFields{kReloadNames}, [&](size_t, JsonValue& v) {
      if (auto b = v.boolean()) *dry_run = *b;
    });
  });
}

// ---- toy schema 3: a list of objects, {"blocks": [{"ip", "ttl_s"?}, ...]}, at most 4,
// the first two not the same

constexpr std::array<std::string_view, 1> kListNames = {"blocks"};
constexpr size_t kMaxBlocks = 4;

class JsonWalkerTest : public ::testing::Test {
 protected:
  // As the server does: the body is followed by SIMDJSON_PADDING bytes of
  // whatever comes next, here JSON-significant junk that must never be read.
  std::string_view pad(std::string_view json) {
    buffer_.assign(json);
    static constexpr std::string_view kJunk = "\"}]1\\e\x80,";
    for (size_t i = 0; i < simdjson::SIMDJSON_PADDING; ++i) buffer_.push_back(kJunk[i % kJunk.size()]);
    return {buffer_.data(), json.size()};
  }

  BodyStatus block(std::string_view json) { return validateBlock(walker_, pad(json), &block_); }
  BodyStatus reload(std::string_view json) { return validateReload(walker_, pad(json), &dry_run_); }

  BodyStatus list(std::string_view json) {
    ips_.clear();
    return walker_.walk(pad(json), [&](JsonObject& root) {
      root.read(JsonFields{kListNames, 1u}, [&](size_t, JsonValue& blocks) {
        size_t count = 0;
        const bool walked = blocks.array([&](int32_t, JsonValue& item) {
          if (++count > kMaxBlocks) return item.skip();
          BlockIp b;
          item.object([&](JsonObject& obj) {
            obj.read(kBlockFields, [&](size_t field, JsonValue& v) {
              if (field == kIp) {
                if (auto ip = v.string()) b.ip = *ip;
              } else if (auto ttl = v.integer()) {
                b.ttl_s = *ttl;
              }
            });
          });
          ips_.emplace_back(b.ip);
        });
        if (!walked) return;
        if (count > kMaxBlocks) blocks.addError("too_many");
        if (count >= 2 && !ips_[0].empty() && ips_[0] == ips_[1]) blocks.addElementError(1, "duplicate");
      });
    });
  }

  // A schema that reads nothing at all: the walker must still check everything.
  BodyStatus ignoreAll(std::string_view json) {
    return walker_.walk(pad(json), [](JsonObject&) {});
  }

  Errors errs() const {
    Errors out;
    for (const FieldError& e : walker_.errors()) out.emplace_back(std::string(e.field), std::string(e.code));
    return out;
  }

  std::vector<std::string> allowedAt(std::string_view field) const {
    for (const FieldError& e : walker_.errors()) {
      if (e.field == field && e.code == "unknown_field") return {e.allowed.begin(), e.allowed.end()};
    }
    ADD_FAILURE() << "no unknown_field error at \"" << field << "\"";
    return {};
  }

  void expectMalformed(BodyStatus status, std::string_view code) {
    EXPECT_EQ(status, BodyStatus::kMalformed);
    EXPECT_EQ(errs(), (Errors{{"", std::string(code)}}));
  }

  JsonWalker walker_;
  std::string buffer_;
  BlockIp block_;
  bool dry_run_ = false;
  std::vector<std::string> ips_;
};

TEST_F(JsonWalkerTest, ToySchemaAccepts) {
  ASSERT_EQ(block(R"({"ip":"203.0.113.7","ttl_s":600})"), BodyStatus::kOk) << testing::PrintToString(errs());
  EXPECT_TRUE(walker_.errors().empty());
  EXPECT_EQ(block_.ip, "203.0.113.7");
  EXPECT_EQ(block_.ttl_s, 600);
  // Any order, whitespace, escapes in keys and values; the optional member absent.
  ASSERT_EQ(block(" {\n\"ttl_s\" : 1 , \"\\u0069p\" : \"2001:db8::\\u0031\" }\t"), BodyStatus::kOk);
  EXPECT_EQ(block_.ip, "2001:db8::1");
  EXPECT_EQ(block_.ttl_s, 1);
  ASSERT_EQ(block(R"({"ip":"x"})"), BodyStatus::kOk);
  EXPECT_EQ(block_.ttl_s, 0);
}

TEST_F(JsonWalkerTest, RequiredMembers) {
  EXPECT_EQ(block("{}"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"ip", "required"}}));
  EXPECT_EQ(block(R"({"ttl_s":60})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"ip", "required"}}));
  // A member present with an error is not also "required".
  EXPECT_EQ(block(R"({"ip":7})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"ip", "wrong_type"}}));
}

TEST_F(JsonWalkerTest, UnknownMembersAreOneErrorWithTheAllowedNames) {
  EXPECT_EQ(block(R"({"ip":"x","reason":"abuse from 198.51.100.9"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}}));
  EXPECT_EQ(allowedAt(""), (std::vector<std::string>{"ip", "ttl_s"}));
  // However many, never echoed, after the members' own errors, before "required".
  EXPECT_EQ(block(R"({"a":1,"IP":"x","ttl_s":0,"9800000002":{"deep":[1,{}]}})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"ttl_s", "out_of_range"}, {"", "unknown_field"}, {"ip", "required"}}));
  for (const FieldError& e : walker_.errors()) EXPECT_EQ(e.allowed.empty(), e.code != "unknown_field");
}

TEST_F(JsonWalkerTest, DuplicateMembers) {
  EXPECT_EQ(block(R"({"ip":"a","ip":"b"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"ip", "duplicate_field"}}));
  EXPECT_EQ(block_.ip, "a");  // the repeat is not read
  // Keys are compared unescaped.
  EXPECT_EQ(block(R"({"ip":"a","ttl_s":5,"ttl\u005fs":6})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"ttl_s", "duplicate_field"}}));
  EXPECT_EQ(block_.ttl_s, 5);
  // The repeated value is still checked.
  expectMalformed(block(R"({"ip":"a","ip":[1,,2]})"), "malformed_json");
}

TEST_F(JsonWalkerTest, WrongTypes) {
  EXPECT_EQ(block(R"({"ip":1,"ttl_s":"600"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"ip", "wrong_type"}, {"ttl_s", "wrong_type"}}));
  // null is a type, not "absent".
  EXPECT_EQ(block(R"({"ip":null,"ttl_s":null})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"ip", "wrong_type"}, {"ttl_s", "wrong_type"}}));
  EXPECT_EQ(block(R"({"ip":["x"],"ttl_s":{"s":1}})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"ip", "wrong_type"}, {"ttl_s", "wrong_type"}}));
  EXPECT_EQ(reload(R"({"dry_run":"true"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"dry_run", "wrong_type"}}));
  EXPECT_EQ(reload(R"({"dry_run":1})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"dry_run", "wrong_type"}}));
}

TEST_F(JsonWalkerTest, Integers) {
  for (const auto& [text, value] : std::vector<std::pair<std::string, int64_t>>{
           {"1", 1}, {"86400", 86'400}, {"-0", 0}, {"0", 0}}) {
    SCOPED_TRACE(text);
    const BodyStatus st = block(R"({"ip":"x","ttl_s":)" + text + "}");
    if (value >= 1) {
      ASSERT_EQ(st, BodyStatus::kOk);
      EXPECT_EQ(block_.ttl_s, value);
    } else {
      EXPECT_EQ(errs(), (Errors{{"ttl_s", "out_of_range"}}));  // read as 0, then the schema's range
    }
  }
  // int64_t's own limits are read exactly (the schema then refuses them).
  for (std::string_view text : {"9223372036854775807", "-9223372036854775808"}) {
    SCOPED_TRACE(std::string(text));
    EXPECT_EQ(block(R"({"ip":"x","ttl_s":)" + std::string(text) + "}"), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"ttl_s", "out_of_range"}}));
  }
  // Well-formed numbers that are not int64_t integers: the wrong type, not malformed.
  for (std::string_view text : {"1.0", "1.5", "1e3", "1E+2", "-1e-400", "9223372036854775808",
                                "-9223372036854775809", "123456789012345678901234567890", "1e999999"}) {
    SCOPED_TRACE(std::string(text));
    EXPECT_EQ(block(R"({"ip":"x","ttl_s":)" + std::string(text) + "}"), BodyStatus::kInvalid);
    EXPECT_EQ(errs(), (Errors{{"ttl_s", "wrong_type"}}));
  }
  for (std::string_view text : {"01", "1.", ".5", "+1", "-", "1e", "0x10", "NaN", "--1"}) {
    SCOPED_TRACE(std::string(text));
    expectMalformed(block(R"({"ip":"x","ttl_s":)" + std::string(text) + "}"), "malformed_json");
  }
}

TEST_F(JsonWalkerTest, Booleans) {
  ASSERT_EQ(reload(R"({"dry_run":true})"), BodyStatus::kOk);
  EXPECT_TRUE(dry_run_);
  ASSERT_EQ(reload(R"({"dry_run" : false })"), BodyStatus::kOk);
  EXPECT_FALSE(dry_run_);
  ASSERT_EQ(reload("{}"), BodyStatus::kOk);
  for (std::string_view text : {"tru", "truex", "True", "fals", "falsey", "t"}) {
    SCOPED_TRACE(std::string(text));
    expectMalformed(reload(R"({"dry_run":)" + std::string(text) + "}"), "malformed_json");
  }
}

TEST_F(JsonWalkerTest, NestedPathsAndElementErrors) {
  ASSERT_EQ(list(R"({"blocks":[{"ip":"a"},{"ip":"b","ttl_s":5}]})"), BodyStatus::kOk)
      << testing::PrintToString(errs());
  EXPECT_EQ(ips_, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(list(R"({"blocks":[{"ip":"a","x":1},{"ip":2},"c",{"ttl_s":1,"ttl_s":2}]})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"blocks[0]", "unknown_field"},
                            {"blocks[1].ip", "wrong_type"},
                            {"blocks[2]", "wrong_type"},
                            {"blocks[3].ttl_s", "duplicate_field"},
                            {"blocks[3].ip", "required"}}));
  EXPECT_EQ(list(R"({"blocks":[{"ip":"a"},{"ip":"b"},{"ip":"c"},{"ip":"d"},{"ip":"e"}]})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"blocks", "too_many"}}));
  // Checks made after the walk address an element.
  EXPECT_EQ(list(R"({"blocks":[{"ip":"a"},{"ip":"a"}]})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"blocks[1]", "duplicate"}}));
  EXPECT_EQ(list(R"({"blocks":{"ip":"a"}})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"blocks", "wrong_type"}}));
  // Elements the schema skips past its limit are still checked.
  expectMalformed(list(R"({"blocks":[{"ip":"a"},{"ip":"b"},{"ip":"c"},{"ip":"d"},[1,,2]]})"),
                  "malformed_json");
}

// Whatever a schema leaves unread is walked anyway: a schema cannot hide a
// syntax error, a too-deep value or trailing bytes by not looking.
TEST_F(JsonWalkerTest, UnreadValuesAreStillChecked) {
  EXPECT_EQ(ignoreAll(R"({"a":[1,{"b":"c"}],"d":null})"), BodyStatus::kOk);
  expectMalformed(ignoreAll(R"({"a":[1,,2]})"), "malformed_json");
  expectMalformed(ignoreAll(R"({"a":"\x"})"), "malformed_json");
  expectMalformed(ignoreAll(R"({"a":tru})"), "malformed_json");
  expectMalformed(ignoreAll(R"({"a":[[[[[[[[1]]]]]]]]})"), "too_deep");
  expectMalformed(ignoreAll(R"({"a":1} x)"), "malformed_json");
  expectMalformed(ignoreAll(R"([1])"), "not_object");
  // A declared member whose callback does not read it.
  const auto unread = [&](std::string_view json) {
    return walker_.walk(pad(json), [](JsonObject& root) { root.read(kBlockFields, [](size_t, JsonValue&) {}); });
  };
  EXPECT_EQ(unread(R"({"ip":{"x":[]}})"), BodyStatus::kOk);
  expectMalformed(unread(R"({"ip":[1,,2]})"), "malformed_json");
  expectMalformed(unread(R"({"ttl_s":[[[[[[[[1]]]]]]]]})"), "too_deep");
}

TEST_F(JsonWalkerTest, LateSyntaxErrorIsNeverHidden) {
  expectMalformed(block(R"({"ip":1,"ttl_s":"x","zz":2,"late":[1,,2]})"), "malformed_json");
  expectMalformed(block(R"({"ip":1,"zz":[[[[[[[[]]]]]]]]})"), "too_deep");
  expectMalformed(block(R"({"ip":1})" "\n,"), "malformed_json");
}

TEST_F(JsonWalkerTest, MalformedDocuments) {
  for (std::string_view body : {"", " ", "{", "{\"ip\":}", "{\"ip\":\"x\",}", "{\"ip\" \"x\"}", "{}{}",
                                "{'ip':'x'}", "\xEF\xBB\xBF{}", "{\"ip\":\"\\ud800\"}"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(body)));
    expectMalformed(block(body), "malformed_json");
  }
  expectMalformed(block("{\"ip\":\"\xC0\xAF\"}"), "invalid_utf8");
  for (std::string_view body : {"[]", "\"ip\"", "1", "null", "true"}) expectMalformed(block(body), "not_object");
  expectMalformed(walker_.walk(std::string_view(), [](JsonObject&) {}), "malformed_json");
}

TEST_F(JsonWalkerTest, SizeLimitIsTheWalkers) {
  JsonWalker small(32);
  BlockIp out;
  const std::string fits = R"({"ip":"x","ttl_s":60})" + std::string(32 - 21, ' ');
  ASSERT_EQ(fits.size(), 32u);
  EXPECT_EQ(validateBlock(small, pad(fits), &out), BodyStatus::kOk);
  EXPECT_EQ(validateBlock(small, pad(fits + " "), &out), BodyStatus::kMalformed);
  ASSERT_EQ(small.errors().size(), 1u);
  EXPECT_EQ(small.errors()[0].code, "too_large");
}

TEST_F(JsonWalkerTest, ErrorsAreCapped) {
  std::string body = R"({"blocks":[)";
  for (int i = 0; i < 3; ++i) body += std::string(i ? "," : "") + R"({"ip":1,"ttl_s":"s","a":1})";
  body += "]}";
  EXPECT_EQ(list(body), BodyStatus::kInvalid);
  EXPECT_EQ(errs().size(), 9u);
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += "\"ip\":1,";
  many += "\"ttl_s\":1}";
  EXPECT_EQ(block(many), BodyStatus::kInvalid);
  const Errors e = errs();
  ASSERT_EQ(e.size(), JsonWalker::kMaxErrors);
  EXPECT_EQ(e.front(), (std::pair<std::string, std::string>{"ip", "wrong_type"}));
  EXPECT_EQ(e.back(), (std::pair<std::string, std::string>{"ip", "duplicate_field"}));
}

// A schema whose objects take one of several forms declares every name, then
// says which were allowed once the form is known (bulk SMS does this).
TEST_F(JsonWalkerTest, AllowedNamesCanBeAFormsSubset) {
  static constexpr std::array<std::string_view, 3> kNames = {"items", "to", "message"};
  static constexpr std::array<std::string_view, 1> kItemsForm = {"items"};
  const auto walk = [&](std::string_view json) {
    return walker_.walk(pad(json), [](JsonObject& root) {
      if (!root.members(JsonFields{kNames}, [](size_t, JsonValue& v) { v.skip(); })) return;
      if (root.has(0)) {
        root.reportUnknown(kItemsForm);
      } else {
        root.reportUnknown(std::span(kNames).subspan(1));
        root.reportMissing(0b110);
      }
    });
  };
  EXPECT_EQ(walk(R"({"items":[]})"), BodyStatus::kOk);
  EXPECT_EQ(walk(R"({"items":[],"message":"m"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}}));
  EXPECT_EQ(allowedAt(""), std::vector<std::string>{"items"});
  EXPECT_EQ(walk(R"({"message":"m"})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"to", "required"}}));
  EXPECT_EQ(walk(R"({"message":"m","zz":1})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs(), (Errors{{"", "unknown_field"}, {"to", "required"}}));
  EXPECT_EQ(allowedAt(""), (std::vector<std::string>{"to", "message"}));
}

TEST_F(JsonWalkerTest, NothingLeaksBetweenWalks) {
  EXPECT_EQ(block(R"({"zz":1})"), BodyStatus::kInvalid);
  EXPECT_EQ(errs().size(), 2u);
  EXPECT_EQ(block(R"({"ip":"x"})"), BodyStatus::kOk);
  EXPECT_TRUE(walker_.errors().empty());
  expectMalformed(block("{"), "malformed_json");
  EXPECT_EQ(block(R"({"ip":"y","ttl_s":2})"), BodyStatus::kOk);
  EXPECT_TRUE(walker_.errors().empty());
  EXPECT_EQ(block_.ip, "y");
}

}  // namespace
}  // namespace phigate::pipeline
