// The test helper that runs a real redis-server (tests/support/redis_server.h):
// the suites that use it rely on each of these behaviours.
#include "support/redis_server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace phigate::test {
namespace {

int64_t elapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since)
      .count();
}

TEST(RedisServerHelper, StartsAndAnswersCommands) {
  RedisServer redis;
  ASSERT_TRUE(redis.ready()) << redis.error();
  EXPECT_GT(redis.port(), 0);
  EXPECT_EQ(redis.uri(), "redis://127.0.0.1:" + std::to_string(redis.port()));

  auto pong = redis.cli("PING");
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->type, RedisReply::Type::kStatus);
  EXPECT_EQ(pong->str, "PONG");

  const std::string binary("a\0b\r\n$3\r\n", 9);  // arguments are binary-safe
  ASSERT_TRUE(redis.cli("SET", "k", binary));
  auto got = redis.cli("GET", "k");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->type, RedisReply::Type::kString);
  EXPECT_EQ(got->str, binary);
  auto missing = redis.cli("GET", "nope");
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->isNil());
  auto n = redis.cli("INCR", "counter");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->type, RedisReply::Type::kInteger);
  EXPECT_EQ(n->integer, 1);
  ASSERT_TRUE(redis.cli("RPUSH", "list", "x", "y"));
  auto list = redis.cli("LRANGE", "list", "0", "-1");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->type, RedisReply::Type::kArray);
  ASSERT_EQ(list->elements.size(), 2u);
  EXPECT_EQ(list->text(), "1) x\n2) y");
  auto err = redis.cli("NOSUCHCOMMAND");
  ASSERT_TRUE(err);
  EXPECT_TRUE(err->isError());

  // Persistence is off.
  auto save = redis.cli("CONFIG", "GET", "save");
  ASSERT_TRUE(save);
  ASSERT_EQ(save->elements.size(), 2u);
  EXPECT_EQ(save->elements[1].str, "");
  auto aof = redis.cli("CONFIG", "GET", "appendonly");
  ASSERT_TRUE(aof);
  ASSERT_EQ(aof->elements.size(), 2u);
  EXPECT_EQ(aof->elements[1].str, "no");
}

TEST(RedisServerHelper, CommandStats) {
  RedisServer redis;
  ASSERT_TRUE(redis.ready()) << redis.error();
  ASSERT_TRUE(redis.resetStats());
  ASSERT_TRUE(redis.cli("SET", "a", "1"));
  ASSERT_TRUE(redis.cli("SET", "b", "2"));
  EXPECT_NE(redis.commandstats().find("cmdstat_set:calls=2"), std::string::npos) << redis.commandstats();
  EXPECT_EQ(redis.commandCalls("SET"), 2);
  EXPECT_EQ(redis.commandCalls("evalsha"), 0);
  ASSERT_TRUE(redis.resetStats());
  EXPECT_EQ(redis.commandCalls("set"), 0);
  ASSERT_TRUE(redis.flushAll());
  auto size = redis.cli("DBSIZE");
  ASSERT_TRUE(size);
  EXPECT_EQ(size->integer, 0);
}

TEST(RedisServerHelper, PauseStallsAndResumeAnswers) {
  RedisServer redis;
  ASSERT_TRUE(redis.ready()) << redis.error();
  ASSERT_TRUE(redis.pause());
  EXPECT_TRUE(redis.paused());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(redis.command({"PING"}, 200)) << "a stopped server must not answer";
  EXPECT_GE(elapsedMs(t0), 150);
  ASSERT_TRUE(redis.resume());
  auto pong = redis.cli("PING");
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->str, "PONG");
}

TEST(RedisServerHelper, KillAndRestartOnTheSamePort) {
  RedisServer redis;
  ASSERT_TRUE(redis.ready()) << redis.error();
  const uint16_t port = redis.port();
  ASSERT_TRUE(redis.cli("SET", "k", "v"));
  ASSERT_TRUE(redis.kill());
  EXPECT_FALSE(redis.ready());
  EXPECT_FALSE(redis.running());
  EXPECT_FALSE(redis.command({"PING"}, 200));
  ASSERT_TRUE(redis.restart()) << redis.error();
  EXPECT_TRUE(redis.ready());
  EXPECT_EQ(redis.port(), port);
  auto gone = redis.cli("GET", "k");
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->isNil()) << "no persistence: a restart starts empty";
  // A paused server can be killed and restarted too.
  ASSERT_TRUE(redis.pause());
  ASSERT_TRUE(redis.restart()) << redis.error();
  EXPECT_FALSE(redis.paused());
}

TEST(RedisServerHelper, RequirePass) {
  RedisServer redis({.password = "test-password-0123456789"});
  ASSERT_TRUE(redis.ready()) << redis.error();
  EXPECT_EQ(redis.uri(), "redis://:test-password-0123456789@127.0.0.1:" + std::to_string(redis.port()));
  auto pass = redis.cli("CONFIG", "GET", "requirepass");  // cli() authenticates first
  ASSERT_TRUE(pass);
  ASSERT_EQ(pass->elements.size(), 2u);
  EXPECT_EQ(pass->elements[1].str, "test-password-0123456789");
}

TEST(RedisServerHelper, TwoServersGetTwoPorts) {
  RedisServer a, b;
  ASSERT_TRUE(a.ready()) << a.error();
  ASSERT_TRUE(b.ready()) << b.error();
  EXPECT_NE(a.port(), b.port());
  ASSERT_TRUE(a.cli("SET", "k", "a"));
  auto in_b = b.cli("GET", "k");
  ASSERT_TRUE(in_b);
  EXPECT_TRUE(in_b->isNil());
}

}  // namespace
}  // namespace phigate::test
