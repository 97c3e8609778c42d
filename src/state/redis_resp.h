// The protocol-level pieces of the Redis client that hiredis does not do for
// us: RESP encoding of binary-safe argv (we hand hiredis ready bytes with
// redisAsyncFormattedCommand, so no format string ever meets user bytes), the
// commands a shared connection must refuse, and reading error replies.
//
// Everything appends to or rewrites a caller-owned std::string, so a buffer
// that is reused keeps its capacity: no allocation per command once it has
// grown to the largest command seen.
#pragma once

#include <hiredis/hiredis.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace phigate::state::resp {

/** SCRIPT LOAD's reply and EVALSHA's first argument: a SHA-1 in hex. */
inline constexpr size_t kSha1HexLength = 40;

/** Appends `<type><n>\r\n` ('*' for an array header, '$' for a bulk length). */
void appendCount(std::string* out, char type, size_t n);
/** Appends one bulk string: `$<len>\r\n<bytes>\r\n`. */
void appendBulk(std::string* out, std::string_view s);

/** Replaces `*out` with argv as a RESP array of bulk strings. */
void encodeCommand(std::string* out, std::span<const std::string_view> argv);
/** Replaces `*out` with `EVALSHA sha numkeys keys... args...`. */
void encodeEvalsha(std::string* out, std::string_view sha, std::span<const std::string_view> keys,
                   std::span<const std::string_view> args);

/**
 * True for what a connection shared by every caller of a worker must not
 * send: an empty argv; commands that change what the connection means for
 * the others (AUTH, SELECT, RESET, QUIT, HELLO, MULTI/EXEC/DISCARD/WATCH/
 * UNWATCH); and commands that break hiredis 0.14's one-reply-per-command
 * bookkeeping ((P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, MONITOR, CLIENT REPLY).
 * Command names are matched case-insensitively.
 */
bool refusedOnSharedConnection(std::span<const std::string_view> argv);

/** A NOSCRIPT error reply: the server's script cache does not hold the SHA. */
bool isNoScript(const redisReply* r);
/**
 * The leading upper-case code of an error reply ("WRONGPASS", "NOAUTH",
 * "ERR"; at most 24 characters), or "error" when there is none: the rest of
 * an error message can quote what was sent, so only the code may be logged.
 */
std::string_view errorCode(const redisReply* r);

}  // namespace phigate::state::resp
