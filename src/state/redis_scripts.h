// The Lua scripts of the Redis store, loaded once per connection (SCRIPT
// LOAD) and run with EVALSHA. Each request's state work is one script run:
// atomic, and one round trip. Time comes from Redis (TIME), so every worker
// on every host sees one clock. Every key a script touches is passed in KEYS
// and shares one hash tag, so the scripts run unchanged on Redis Cluster.
#pragma once

#include <string_view>

namespace phigate::state {

/**
 * admit. KEYS: 1 rate window (ZSET), 2 daily counter, 3 nonce, 4 idempotency
 * record (HASH), 5 outbox stream (the entries' lane), 6 looked-up message,
 * 7 retry schedule, 8 retry payloads (redis_outbox_scripts.h), 9.. one
 * message record per entry. ARGV: 1 limit, 2 window ms, 3 daily quota,
 * 4 member, 5 nonce ttl ms (0: no nonce), 6 idempotency (1/0),
 * 7 fingerprint, 8 sealed response, 9 idempotency ttl ms, 10 lookup (0 none,
 * 1 read, 2 cancel if queued), 11 message ttl ms, 12 entry count,
 * 13 deadline (Redis clock, ms), 14 retention ms (a cancelled record),
 * 15 the admitting worker (stored with each entry: redis_settle.cpp), then
 * per entry: id, channel, sealed payload, segments. A cancel (lookup 2) of a
 * key with a status callback URL adds its callback stream as the last KEY
 * and "+callbacks" as the last ARGV (redis_callbacks.h); a full one (stream
 * + retry set at 100000) increments <stream>:dropped instead.
 * Returns {status, limit, remaining, reset ms, retry-after ms, ...}:
 * status 0 admitted (+ the looked-up message record, one string
 * (message_record.h), one command per message; + 1 when this call cancelled
 * it), 1 rate limited, 2 quota exceeded, 3 nonce replayed,
 * 4 idempotent replay (+ stored response), 5 idempotency mismatch,
 * 6 expired: the script ran after the caller had given up on it (a paused
 * or overloaded Redis catching up); it did nothing, matching the 503 the
 * client already got.
 *
 * The checks only read. Past maxmemory, Redis refuses a script's first write
 * that may grow memory (ZADD, INCR, SET, HSET, XADD: an OOM error, nothing
 * written) but lets every later write through, since it cannot stop a script
 * half-way. A trim (ZREMRANGEBYSCORE) as the first write would take the whole
 * admit past maxmemory, so the window is trimmed after its ZADD.
 */
/**
 * The admit script's status codes, by name on both sides: the script's first
 * line declares the same names with the same numbers (kAdmitReplyNames below;
 * a unit test checks the two agree).
 */
enum class AdmitReply : long long {
  kAdmitted = 0,
  kRateLimited = 1,
  kQuotaExceeded = 2,
  kReplayed = 3,
  kIdempotentReplay = 4,
  kIdempotencyMismatch = 5,
  kExpired = 6,
};

/** The Lua line that names the codes, exactly as the script begins. */
inline constexpr std::string_view kAdmitReplyNames =
    "local ADMITTED, RATE_LIMITED, QUOTA_EXCEEDED, REPLAYED, IDEMPOTENT_REPLAY, IDEMPOTENCY_MISMATCH, "
    "EXPIRED = 0, 1, 2, 3, 4, 5, 6";

inline constexpr std::string_view kAdmitScript = R"lua(
local ADMITTED, RATE_LIMITED, QUOTA_EXCEEDED, REPLAYED, IDEMPOTENT_REPLAY, IDEMPOTENCY_MISMATCH, EXPIRED = 0, 1, 2, 3, 4, 5, 6
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local member, nonce_ttl = ARGV[4], tonumber(ARGV[5])
local idem, fp, idem_ttl = ARGV[6] == '1', ARGV[7], tonumber(ARGV[9])
local lookup, message_ttl, n = ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12])
if now > tonumber(ARGV[13]) then return {EXPIRED, 0, 0, 0, 0} end

if idem then
  local rec = redis.call('HMGET', KEYS[4], 'fp', 'resp')
  if rec[1] then
    if rec[1] ~= fp then return {IDEMPOTENCY_MISMATCH, 0, 0, 0, 0} end
    return {IDEMPOTENT_REPLAY, 0, 0, 0, 0, rec[2]}
  end
end
if nonce_ttl > 0 and redis.call('EXISTS', KEYS[3]) == 1 then return {REPLAYED, 0, 0, 0, 0} end
local count, oldest = 0, now
if limit > 0 then
  local live = '(' .. (now - window)
  count = redis.call('ZCOUNT', KEYS[1], live, '+inf')
  if count > 0 then
    oldest = tonumber(redis.call('ZRANGEBYSCORE', KEYS[1], live, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2])
  end
  if count >= limit then
    local retry = oldest + window - now
    return {RATE_LIMITED, limit, 0, retry, retry}
  end
end
-- The daily quota counts messages: a bulk request uses one per recipient.
local cost = math.max(n, 1)
if quota > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') + cost > quota then
  return {QUOTA_EXCEEDED, limit, 0, 0, 0}
end

local remaining, reset = 0, 0
if limit > 0 then
  redis.call('ZADD', KEYS[1], now, member)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  redis.call('PEXPIRE', KEYS[1], window)
  remaining = limit - count - 1
  reset = oldest + window - now
end
if quota > 0 then
  redis.call('INCRBY', KEYS[2], cost)
  redis.call('EXPIRE', KEYS[2], 172800)
end
if nonce_ttl > 0 then redis.call('SET', KEYS[3], '1', 'PX', nonce_ttl) end
local a = 16
for i = 1, n do
  redis.call('SET', KEYS[8 + i], 'queued|' .. ARGV[a + 1] .. '|' .. now .. '|' .. ARGV[a + 3] ..
             '|0|' .. now .. '|||', 'PX', message_ttl)
  redis.call('XADD', KEYS[5], '*', 'id', ARGV[a], 'channel', ARGV[a + 1], 'payload', ARGV[a + 2],
             'w', ARGV[15])
  a = a + 4
end
if idem then
  redis.call('HSET', KEYS[4], 'fp', fp, 'resp', ARGV[8])
  redis.call('PEXPIRE', KEYS[4], idem_ttl)
end
local result = {ADMITTED, limit, remaining, reset, 0}
if lookup ~= '0' then
  local m = redis.call('GET', KEYS[6])
  if m then
    result[6], result[7] = m, 0
    if lookup == '2' and string.sub(m, 1, 7) == 'queued|' then
      local f = {}
      for v in (m .. '|'):gmatch('([^|]*)|') do f[#f + 1] = v end
      for i = #f + 1, 9 do f[i] = '' end
      f[1], f[6] = 'cancelled', now
      result[6], result[7] = table.concat(f, '|', 1, 9), 1
      redis.call('SET', KEYS[6], result[6], 'PX', tonumber(ARGV[14]))
      local cb = ARGV[#ARGV] == '+callbacks' and KEYS[#KEYS] or nil
      -- Bounded as the finish script's (redis_outbox_scripts.h): counted, never trimmed.
      if cb and redis.call('XLEN', cb) + redis.call('ZCARD', cb .. ':r') >= 100000 then
        redis.call('INCR', cb .. ':dropped')
      elseif cb then
        redis.call('XADD', cb, '*', 'id', string.sub(KEYS[6], -32),
                   'ch', f[2], 'st', 'cancelled', 'a', f[5], 'p', f[8], 'e', f[9], 'u', now)
      end
      local id = string.sub(KEYS[6], -32)
      redis.call('ZREM', KEYS[7], '0' .. id, '1' .. id, '2' .. id)  -- every lane's retry
      redis.call('HDEL', KEYS[8], id)
    end
  end
end
return result
)lua";

/**
 * auth failure. KEYS: 1 the address's failure times (ZSET), 2 the block list
 * (ZSET address -> expiry ms). ARGV: 1 address, 2 threshold, 3 window ms,
 * 4 block ms, 5 member. Returns 1 when this failure blocked the address.
 */
inline constexpr std::string_view kAuthFailureScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[5])  -- the first write: refused whole when out of memory
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
)lua";

/** set block. KEYS: 1 the block list. ARGV: 1 address, 2 ttl ms (0 unblocks). */
inline constexpr std::string_view kSetBlockScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[2]) == 0 then return redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
)lua";

/**
 * list blocks. KEYS: 1 the block list. Returns {Redis time in ms, then each
 * address blocked now followed by its expiry (Redis ms)}; the time keeps each
 * worker's clock offset fresh, the expiries give Retry-After.
 */
inline constexpr std::string_view kListBlocksScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ips = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
table.insert(ips, 1, now)
return ips
)lua";

}  // namespace phigate::state
