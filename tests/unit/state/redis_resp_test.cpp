// The RESP encoder and the protocol-level rules of the Redis client
// (src/state/redis_resp.h): no server needed.
#include "state/redis_resp.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace phigate::state {
namespace {

using Argv = std::vector<std::string_view>;

std::string encoded(const Argv& argv) {
  std::string out;
  resp::encodeCommand(&out, argv);
  return out;
}

// What a server would see: hiredis's reader parses a command array exactly
// as it parses an array reply.
std::vector<std::string> parsed(const std::string& bytes) {
  redisReader* reader = redisReaderCreate();
  EXPECT_EQ(redisReaderFeed(reader, bytes.data(), bytes.size()), REDIS_OK);
  void* out = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader, &out), REDIS_OK);
  std::vector<std::string> items;
  auto* r = static_cast<redisReply*>(out);
  if (r != nullptr && r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) items.emplace_back(r->element[i]->str, r->element[i]->len);
  } else {
    ADD_FAILURE() << "not one whole array";
  }
  void* more = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader, &more), REDIS_OK);
  EXPECT_EQ(more, nullptr) << "bytes after the command";
  if (r != nullptr) freeReplyObject(r);
  redisReaderFree(reader);
  return items;
}

TEST(RedisResp, EncodesArgvAsOneArrayOfBulkStrings) {
  EXPECT_EQ(encoded({"SET", "k", "value"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n");
  EXPECT_EQ(encoded({"PING"}), "*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(encoded({}), "*0\r\n");
  EXPECT_EQ(encoded({""}), "*1\r\n$0\r\n\r\n");
}

TEST(RedisResp, ArgumentBytesAreNeverInterpreted) {
  // NUL, CR LF, RESP markers and format directives travel as bytes.
  static constexpr char kNasty[] = "a\0b\r\n*1\r\n$3\r\n%s%n%%";
  const std::string nasty(kNasty, sizeof kNasty - 1);
  ASSERT_EQ(nasty.size(), 19u);
  const std::string out = encoded({"SET", "%s", nasty});
  EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$2\r\n%s\r\n$19\r\n" + nasty + "\r\n");
  EXPECT_EQ(parsed(out), (std::vector<std::string>{"SET", "%s", nasty}));
}

TEST(RedisResp, RoundTripsEveryByteAndLongLengths) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const std::string big(100'003, '\xff');  // a six-digit length
  const std::string out = encoded({"SET", all, big});
  EXPECT_NE(out.find("$100003\r\n"), std::string::npos);
  EXPECT_EQ(parsed(out), (std::vector<std::string>{"SET", all, big}));
}

TEST(RedisResp, ReplacesTheBufferAndReusesItsCapacity) {
  std::string out = "left over from the last command";
  resp::encodeCommand(&out, Argv{"PING"});
  EXPECT_EQ(out, "*1\r\n$4\r\nPING\r\n");
  // The hot path encodes into one long-lived buffer: once it has grown,
  // another command of that size must not allocate.
  out.reserve(256);
  const char* storage = out.data();
  for (int i = 0; i < 100; ++i) {
    resp::encodeCommand(&out, Argv{"INCRBY", "some:key:" + std::to_string(i), "12345"});
    EXPECT_EQ(out.data(), storage);
  }
  const std::string_view keys[] = {"{t}:a", "{t}:b"};
  const std::string_view args[] = {"1", "2", "3"};
  resp::encodeEvalsha(&out, std::string(resp::kSha1HexLength, 'f'), keys, args);
  EXPECT_EQ(out.data(), storage);
}

TEST(RedisResp, EncodesEvalshaWithItsKeyCount) {
  const std::string sha(resp::kSha1HexLength, 'a');
  const std::string_view keys[] = {"{t}:k1", "{t}:k2"};
  const std::string_view args[] = {std::string_view("x\0y", 3), ""};
  std::string out;
  resp::encodeEvalsha(&out, sha, keys, args);
  EXPECT_EQ(out.rfind("*7\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha + "\r\n$1\r\n2\r\n", 0), 0u) << out;
  EXPECT_EQ(parsed(out), (std::vector<std::string>{"EVALSHA", sha, "2", "{t}:k1", "{t}:k2",
                                                   std::string("x\0y", 3), ""}));

  resp::encodeEvalsha(&out, sha, {}, {});
  EXPECT_EQ(parsed(out), (std::vector<std::string>{"EVALSHA", sha, "0"}));

  std::vector<std::string> many(12, "k");
  std::vector<std::string_view> many_keys(many.begin(), many.end());
  resp::encodeEvalsha(&out, sha, many_keys, {});
  EXPECT_EQ(parsed(out)[2], "12");
}

TEST(RedisResp, RefusesWhatWouldBreakTheSharedConnection) {
  for (const Argv& argv : std::vector<Argv>{
           {}, {"SUBSCRIBE", "ch"}, {"psubscribe", "*"}, {"SSubscribe", "c"}, {"UNSUBSCRIBE"},
           {"punsubscribe"}, {"sunsubscribe"}, {"Monitor"}, {"HELLO", "3"}, {"reset"},
           {"AUTH", "pw"}, {"select", "1"}, {"QUIT"}, {"MULTI"}, {"exec"}, {"DISCARD"},
           {"WATCH", "k"}, {"unwatch"}, {"CLIENT", "REPLY", "OFF"}, {"client", "Reply", "SKIP"}}) {
    EXPECT_TRUE(resp::refusedOnSharedConnection(argv)) << (argv.empty() ? "(empty)" : argv[0]);
  }
  for (const Argv& argv : std::vector<Argv>{
           {"GET", "k"}, {"EVALSHA", "x", "0"}, {"CLIENT", "INFO"}, {"CLIENT"}, {"PING"},
           {"SUBSCRIBED"}, {"SUB"}, {"AUTHX"}, {"TIME"}, {"SET", "MULTI", "EXEC"}}) {
    EXPECT_FALSE(resp::refusedOnSharedConnection(argv)) << argv[0];
  }
}

redisReply errorReply(std::string_view text) {
  redisReply r{};
  r.type = REDIS_REPLY_ERROR;
  r.str = const_cast<char*>(text.data());
  r.len = text.size();
  return r;
}

TEST(RedisResp, RecognisesNoscript) {
  redisReply noscript = errorReply("NOSCRIPT No matching script. Please use EVAL.");
  EXPECT_TRUE(resp::isNoScript(&noscript));
  redisReply other = errorReply("ERR NOSCRIPT is not the code here");
  EXPECT_FALSE(resp::isNoScript(&other));
  redisReply shorter = errorReply("NOSCRIP");
  EXPECT_FALSE(resp::isNoScript(&shorter));
  redisReply status{};
  status.type = REDIS_REPLY_STATUS;
  status.str = const_cast<char*>("NOSCRIPT");
  status.len = 8;
  EXPECT_FALSE(resp::isNoScript(&status)) << "only an error reply";
}

TEST(RedisResp, ErrorCodeNeverIncludesTheMessage) {
  redisReply wrongpass = errorReply("WRONGPASS invalid username-password pair hunter2");
  EXPECT_EQ(resp::errorCode(&wrongpass), "WRONGPASS");
  redisReply err = errorReply("ERR unknown command 'x', with args beginning with: 'secret'");
  EXPECT_EQ(resp::errorCode(&err), "ERR");
  redisReply bare = errorReply("NOAUTH");
  EXPECT_EQ(resp::errorCode(&bare), "NOAUTH");
  redisReply lower = errorReply("oops secret");
  EXPECT_EQ(resp::errorCode(&lower), "error");
  redisReply empty = errorReply("");
  EXPECT_EQ(resp::errorCode(&empty), "error");
  const std::string long_code = std::string(40, 'A') + " secret";
  redisReply shouting = errorReply(long_code);
  EXPECT_EQ(resp::errorCode(&shouting).size(), 24u) << "bounded";
}

}  // namespace
}  // namespace phigate::state
