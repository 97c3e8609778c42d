// Helpers the Redis store's files share: key names and reply fields.
// Internal to src/state/ (redis_store.cpp lists every key name).
#pragma once

#include <hiredis/hiredis.h>

#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>

namespace phigate::state::redis_keys {

// The status callbacks' consumer group (redis_callbacks.cpp reads with it;
// the outbox trim script prunes its stale consumers).
inline constexpr std::string_view kCallbackGroup = "phigate-cb";

// phigate:{<tag>}:<kind>[:<a>[:<b>]]
inline void makeKey(std::string* out, std::string_view tag, std::string_view kind, std::string_view a,
                    std::string_view b = {}) {
  out->assign("phigate:{").append(tag).append("}:").append(kind);
  if (!a.empty()) out->append(1, ':').append(a);
  if (!b.empty()) out->append(1, ':').append(b);
}

// Per request (eight arguments of every admit): to_chars, not printf.
inline std::string_view number(char (&buf)[24], uint64_t v) {
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, static_cast<size_t>(r.ptr - buf)};
}

inline long long integerAt(const redisReply* r, size_t i) {
  if (r->elements <= i) return 0;
  const redisReply* e = r->element[i];
  if (e->type == REDIS_REPLY_INTEGER) return e->integer;
  if (e->type == REDIS_REPLY_STRING) return strtoll(e->str, nullptr, 10);
  return 0;
}

inline std::string_view stringAt(const redisReply* r, size_t i) {
  if (r->elements <= i || r->element[i]->type != REDIS_REPLY_STRING) return {};
  return {r->element[i]->str, r->element[i]->len};
}

inline std::string_view text(const redisReply* r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
  return {r->str, r->len};
}

}  // namespace phigate::state::redis_keys
