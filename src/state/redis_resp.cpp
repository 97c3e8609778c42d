#include "state/redis_resp.h"

#include <charconv>
#include <cstring>

#include "common/ascii.h"

namespace phigate::state::resp {

// Length-prefixed throughout: the bytes of an argument are never interpreted.
void appendCount(std::string* out, char type, size_t n) {
  char num[24];
  const auto r = std::to_chars(num, num + sizeof num, n);
  out->push_back(type);
  out->append(num, r.ptr);
  out->append("\r\n");
}

void appendBulk(std::string* out, std::string_view s) {
  appendCount(out, '$', s.size());
  out->append(s);
  out->append("\r\n");
}

void encodeCommand(std::string* out, std::span<const std::string_view> argv) {
  out->clear();
  appendCount(out, '*', argv.size());
  for (std::string_view a : argv) appendBulk(out, a);
}

void encodeEvalsha(std::string* out, std::string_view sha, std::span<const std::string_view> keys,
                   std::span<const std::string_view> args) {
  char num[24];
  const auto nk = std::to_chars(num, num + sizeof num, keys.size());
  out->clear();
  appendCount(out, '*', 3 + keys.size() + args.size());
  appendBulk(out, "EVALSHA");
  appendBulk(out, sha);
  appendBulk(out, std::string_view(num, static_cast<size_t>(nk.ptr - num)));
  for (std::string_view k : keys) appendBulk(out, k);
  for (std::string_view a : args) appendBulk(out, a);
}

// One connection is shared by every caller, its commands interleaved, so a
// command may not change what the connection means for the others: no
// transactions (other callers' commands would land inside them: use a
// script), no AUTH / SELECT / RESET / QUIT. And hiredis 0.14 keeps one
// callback per command except for (un)subscribe and monitor, whose callbacks
// live on (and it asserts on the unsolicited replies of the sharded variants
// it does not know); CLIENT REPLY makes the server skip replies; HELLO 3
// switches to RESP3, which 0.14 cannot parse.
bool refusedOnSharedConnection(std::span<const std::string_view> argv) {
  static constexpr std::string_view kRefused[] = {
      "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
      "monitor", "hello", "reset", "auth", "select", "quit", "multi", "exec", "discard",
      "watch", "unwatch"};
  if (argv.empty()) return true;
  for (std::string_view r : kRefused) {
    if (equalsLower(argv[0], r)) return true;
  }
  return argv.size() > 1 && equalsLower(argv[0], "client") && equalsLower(argv[1], "reply");
}

bool isNoScript(const redisReply* r) {
  return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

std::string_view errorCode(const redisReply* r) {
  std::string_view s(r->str, r->len);
  size_t n = 0;
  while (n < s.size() && n < 24 && s[n] >= 'A' && s[n] <= 'Z') ++n;
  return n == 0 ? std::string_view("error") : s.substr(0, n);
}

}  // namespace phigate::state::resp
