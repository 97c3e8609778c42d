// The delivery side's Lua scripts (see redis_scripts.h for the admit side).
// One run covers the messages of one key: every KEY shares the key's hash
// tag, so they run unchanged on Redis Cluster. Time comes from Redis (TIME).
//
// A message record is one string, "status|channel|created ms|segments|
// attempts|updated ms|provider|provider id|error code" (records written
// before delivery existed have only the first four fields). Provider ids and
// error codes never contain '|': adapters sanitise them.
#pragma once

#include <string_view>

namespace phigate::state {

/** Shared head of every script below: the clock and the record's fields. */
#define PHIGATE_LUA_PRELUDE                                                            \
  "local t = redis.call('TIME')\n"                                                      \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"            \
  "local function fields(s)\n"                                                          \
  "  local f = {}\n"                                                                    \
  "  for v in (s .. '|'):gmatch('([^|]*)|') do f[#f + 1] = v end\n"                     \
  "  for i = #f + 1, 9 do f[i] = '' end\n"                                              \
  "  return f\n"                                                                        \
  "end\n"                                                                               \
  "local function record(f)\n"                                                          \
  "  return table.concat(f, '|', 1, 9)\n"                                               \
  "end\n"                                                                               \
  "local FINAL = {delivered = true, undelivered = true, failed = true, expired = true,\n" \
  "               cancelled = true}\n"                                                  \
  "local CHANNEL = {['0'] = 'sms', ['1'] = 'sms', ['2'] = 'email'}\n"

/**
 * Every script's first KEYS are the key's lane streams: 1 priority, 2 bulk,
 * 3 email (a lane digit 0/1/2 indexes them as KEYS[1 + lane]).
 *
 * begin: claim messages before their provider call. KEYS: 1-3 the lane
 * streams, then per item its record and its cancel marker (written for an
 * admit answered 503: cancel.h). ARGV: 1 group, 2 this consumer, 3
 * provider, 4 message ttl ms, 5 item count, then per item: message id,
 * entry id, lane (0/1/2), attempt. Returns one code per item:
 * 0 go (record now `sending`), 1 cancelled, 2 gone.
 *
 * "Gone" covers an entry this consumer no longer owns (it held the entry
 * past the visibility timeout and another consumer took it over: that one
 * sends) and a message already final (acknowledged and deleted here).
 */
inline constexpr std::string_view kBeginScript = PHIGATE_LUA_PRELUDE R"lua(
local GO, CANCELLED, GONE = 0, 1, 2
local group, me, provider, ttl, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local out, a = {}, 6
for i = 1, n do
  local entry, lane = ARGV[a + 1], ARGV[a + 2]
  local stream, attempt = KEYS[1 + tonumber(lane)], ARGV[a + 3]
  local rk, xk = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  a = a + 4
  local p = redis.call('XPENDING', stream, group, entry, entry, 1)
  if #p == 0 or p[1][2] ~= me then
    out[i] = GONE
  else
    local rec = redis.call('GET', rk)
    local f = fields(rec or '')
    if f[1] == 'cancelled' or redis.call('EXISTS', xk) == 1 then
      if f[1] ~= 'cancelled' and rec then
        f[1], f[6] = 'cancelled', now
        redis.call('SET', rk, record(f), 'KEEPTTL')
      end
      redis.call('XACK', stream, group, entry)
      redis.call('XDEL', stream, entry)
      out[i] = CANCELLED
    elseif FINAL[f[1]] or f[1] == 'sent' then
      redis.call('XACK', stream, group, entry)
      redis.call('XDEL', stream, entry)
      out[i] = GONE
    else
      if not rec then
        -- No record (it expired, or was never written): the entry is all we
        -- have, and an accepted message is delivered, not dropped.
        f = {'queued', CHANNEL[lane], string.match(entry, '^(%d+)'), '0', '0', now, '', '', ''}
      end
      f[1], f[5], f[6], f[7] = 'sending', attempt, now, provider
      -- The visibility timeout counts from now: no consumer may take the
      -- entry over while this attempt can still be running.
      redis.call('XCLAIM', stream, group, me, 0, entry, 'JUSTID')
      if rec then
        redis.call('SET', rk, record(f), 'KEEPTTL')
      else
        redis.call('SET', rk, record(f), 'PX', ttl)
      end
      out[i] = GO
    end
  end
end
return out
)lua";

/**
 * finish: record outcomes. KEYS: 1-3 the lane streams, 4 retry schedule
 * (ZSET "<lane><id>" -> due ms), 5 retry payloads (HASH id ->
 * "created|attempts|sealed"), 6 awaiting reports (ZSET "<id>|<provider id>"
 * -> sent ms), 7 dead letters (ZSET id -> ms), then one record per item. ARGV: 1 group,
 * 2 retention ms (final records), 3 message ttl ms (records still moving),
 * 4 item count, then per item: entry id ("" for a report), lane, status
 * (the record's new status; "queued" for a retry), attempts, provider,
 * provider id, error code, flags ("d" dead letter, "r" now awaiting a
 * report, "u" no longer awaiting one),
 * retry at (Redis ms; for a report wait, when it was first sent), sealed
 * payload, created ms, expectation ("*" any status not final, "sending:<n>"
 * exactly that attempt, "sent").
 *
 * Status callbacks (redis_callbacks.h): when the last ARGV is "+callbacks",
 * the last KEY is the key's callback stream, and each change written gets
 * one entry there, in this same run. Bounded: when the stream and the retry
 * set (<stream>:r) hold kMaxCallbacksPerKey (100000) together, the entry is
 * not added and <stream>:dropped is incremented instead (the dispatcher
 * reports it: never a silent trim). Both derive from the stream's name, so
 * they share its hash slot.
 *
 * Compare and set: an item whose record no longer says what it expects (a
 * repeated finish whose first run went through, a late one for an entry
 * another consumer took over) writes nothing and acknowledges nothing. A
 * record never goes back: a final one stays as it is.
 */
inline constexpr std::string_view kFinishScript = PHIGATE_LUA_PRELUDE R"lua(
local group, retention, ttl, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local cb = ARGV[#ARGV] == '+callbacks' and KEYS[#KEYS] or nil
local a = 5
local done = {{}, {}, {}}  -- entry ids per stream: acknowledged and deleted together below
for i = 1, n do
  local entry, lane, status, attempts = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local provider, pid, err, flags = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local retry_at, sealed, created, expect = ARGV[a + 8], ARGV[a + 9], ARGV[a + 10], ARGV[a + 11]
  local rk = KEYS[7 + i]
  local id = string.sub(rk, -32)
  a = a + 12
  local rec = redis.call('GET', rk)
  local f = fields(rec or '')
  if not rec then f = {'queued', CHANNEL[lane], created, '0', '0', now, '', '', ''} end
  local ok
  if expect == '*' then
    ok = not FINAL[f[1]] and f[1] ~= 'sent'
  elseif expect == 'sent' then
    ok = f[1] == 'sent'
  else
    ok = rec ~= nil and expect == 'sending:' .. f[5] and f[1] == 'sending'
  end
  if not ok then
    entry = ''  -- not ours to acknowledge
  elseif not FINAL[f[1]] then
    f[1], f[6] = status, now
    if attempts ~= '0' then f[5] = attempts end
    if provider ~= '' then f[7] = provider end
    if pid ~= '' then f[8] = pid end
    if err ~= '' or status == 'sent' or status == 'delivered' then f[9] = err end
    local keep = (FINAL[status] or status == 'sent') and retention or ttl
    redis.call('SET', rk, record(f), 'PX', keep)
    if cb then
      if redis.call('XLEN', cb) + redis.call('ZCARD', cb .. ':r') >= 100000 then
        redis.call('INCR', cb .. ':dropped')
      else
        redis.call('XADD', cb, '*', 'id', id, 'ch', f[2], 'st', status,
                   'a', f[5], 'p', f[8], 'e', f[9], 'u', now)
      end
    end
    if status == 'queued' then
      redis.call('ZADD', KEYS[4], retry_at, lane .. id)
      redis.call('HSET', KEYS[5], id, created .. '|' .. attempts .. '|' .. sealed)
    end
    -- Report waits: "<id>|<provider id>|<sent ms>", scored by when to ask
    -- (again); the member keeps the first send time for giving up.
    local first = retry_at ~= '0' and retry_at or now
    if string.find(flags, 'r', 1, true) then
      redis.call('ZADD', KEYS[6], now, id .. '|' .. pid .. '|' .. first)
    end
    if string.find(flags, 'd', 1, true) then redis.call('ZADD', KEYS[7], now, id) end
    if string.find(flags, 'u', 1, true) then redis.call('ZREM', KEYS[6], id .. '|' .. pid .. '|' .. first) end
  end
  if entry ~= '' then
    local d = done[1 + tonumber(lane)]
    d[#d + 1] = entry
  end
end
-- One XACK and one XDEL per stream (in slices: unpack's stack is bounded)
-- instead of two commands per message: the script is atomic, so nothing
-- can tell the difference.
for s = 1, 3 do
  local d = done[s]
  for i = 1, #d, 1000 do
    local j = math.min(i + 999, #d)
    redis.call('XACK', KEYS[s], group, unpack(d, i, j))
    redis.call('XDEL', KEYS[s], unpack(d, i, j))
  end
end
return n
)lua";

/**
 * requeue: messages a stopping consumer read but never began go back as new
 * entries. KEYS: 1-3 the lane streams. ARGV: 1 group, 2 this
 * consumer, 3 count, then per item: entry id, lane, message id, payload,
 * created ms, attempts. An entry no longer this consumer's is left alone.
 */
inline constexpr std::string_view kRequeueScript = R"lua(
local CHANNEL = {['0'] = 'sms', ['1'] = 'sms', ['2'] = 'email'}
local group, me, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local a, moved = 4, 0
for i = 1, n do
  local entry, stream = ARGV[a], KEYS[1 + tonumber(ARGV[a + 1])]
  local p = redis.call('XPENDING', stream, group, entry, entry, 1)
  if #p > 0 and p[1][2] == me then
    redis.call('XADD', stream, '*', 'id', ARGV[a + 2], 'channel', CHANNEL[ARGV[a + 1]], 'payload', ARGV[a + 3],
               'c', ARGV[a + 4], 'a', ARGV[a + 5])
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    moved = moved + 1
  end
  a = a + 6
end
return moved
)lua";

/**
 * promote: retries whose time has come go back into their lane. KEYS:
 * 1-3 the lane streams, 4 retry schedule, 5 retry payloads.
 * ARGV: 1 most to move. Returns how many moved.
 */
inline constexpr std::string_view kPromoteScript = PHIGATE_LUA_PRELUDE R"lua(
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
  local lane, id = string.sub(m, 1, 1), string.sub(m, 2)
  local v = redis.call('HGET', KEYS[5], id)
  if v then
    local c = string.find(v, '|', 1, true)
    local d = string.find(v, '|', c + 1, true)
    redis.call('XADD', KEYS[1 + tonumber(lane)], '*', 'id', id, 'channel', CHANNEL[lane],
               'payload', string.sub(v, d + 1), 'c', string.sub(v, 1, c - 1),
               'a', string.sub(v, c + 1, d - 1))
  end
  redis.call('ZREM', KEYS[4], m)
  redis.call('HDEL', KEYS[5], id)
end
return #due
)lua";

/**
 * trim: KEYS: 1-3 the lane streams, 4 awaiting reports, 5 dead letters,
 * 6 the status-callback stream (ARGV 4 its group: its consumers of workers
 * long gone are forgotten too). ARGV: 1 group, 2 retention ms, 3 report give-up ms. Final
 * messages are deleted one by one (XDEL in finish); this drops what is left
 * below the group's progress, which no consumer can still need: entries
 * older than both the oldest pending one and the last delivered one (Redis
 * 7.0 has no acknowledgement-aware XTRIM, so the safe point is computed).
 */
inline constexpr std::string_view kTrimScript = PHIGATE_LUA_PRELUDE R"lua(
-- Consumers of workers long gone, with nothing pending: forgotten.
local function prune(stream, group)
  local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', stream, group)
  if not ok then return end
  for _, c in ipairs(consumers) do
    local cname, cpending, cidle
    for j = 1, #c, 2 do
      if c[j] == 'name' then cname = c[j + 1] end
      if c[j] == 'pending' then cpending = c[j + 1] end
      if c[j] == 'idle' then cidle = c[j + 1] end
    end
    if cname and cpending == 0 and cidle and cidle > 86400000 then
      redis.call('XGROUP', 'DELCONSUMER', stream, group, cname)
    end
  end
end
local trimmed = 0
for s = 1, 3 do
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[s])
  if ok then
    for _, g in ipairs(groups) do
      local name, last
      for j = 1, #g, 2 do
        if g[j] == 'name' then name = g[j + 1] end
        if g[j] == 'last-delivered-id' then last = g[j + 1] end
      end
      if name == ARGV[1] and last then
        -- MINID keeps entries >= safe: the oldest pending one and everything
        -- after it; with nothing pending, everything not yet read.
        local safe
        local p = redis.call('XPENDING', KEYS[s], ARGV[1])
        if p[1] > 0 then
          safe = p[2]
        else
          local ms, seq = string.match(last, '^(%d+)-(%d+)$')
          safe = ms .. '-' .. (tonumber(seq) + 1)
        end
        trimmed = trimmed + redis.call('XTRIM', KEYS[s], 'MINID', safe)
        prune(KEYS[s], ARGV[1])
      end
    end
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[3]))
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[2]))
if redis.call('EXISTS', KEYS[6]) == 1 then prune(KEYS[6], ARGV[4]) end
return trimmed
)lua";

/**
 * cancel (redis_settle.cpp): KEYS: pairs of (record, cancel marker), all of
 * one key's tag. ARGV: 1 marker ttl ms, 2 retention ms (a cancelled record).
 */
inline constexpr std::string_view kCancelScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS, 2 do
  redis.call('SET', KEYS[i + 1], '1', 'PX', ARGV[1])
  local rec = redis.call('GET', KEYS[i])
  if rec and string.sub(rec, 1, 7) == 'queued|' then
    local f = {}
    for v in (rec .. '|'):gmatch('([^|]*)|') do f[#f + 1] = v end
    for j = #f + 1, 9 do f[j] = '' end
    f[1], f[6], f[9] = 'cancelled', now, 'store-timeout'
    redis.call('SET', KEYS[i], table.concat(f, '|', 1, 9), 'PX', ARGV[2])
  end
end
return #KEYS / 2
)lua";

/** How often a worker writes its cancels and its watermark (redis_settle.cpp). */
inline constexpr uint64_t kUpkeepMs = 20;

#undef PHIGATE_LUA_PRELUDE

}  // namespace phigate::state
