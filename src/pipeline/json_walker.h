// The strict-JSON walker under every request-body schema (DESIGN §3): it walks
// one simdjson On-Demand document completely and strictly, and a schema only
// says which members each object has and what to do with their values.
//
// What the walker guarantees, whatever the schema does:
//  * the body is one well-formed JSON object (RFC 8259, UTF-8, no BOM, no
//    trailing bytes), at most kMaxDepth deep, at most max_bytes long;
//  * every value is walked, including the ones the schema does not read
//    (unknown members, repeats, array elements past a schema's limit), so a
//    late syntax error or a too-deep value is never hidden behind schema
//    errors found earlier: the answer is then kMalformed with one error;
//  * a repeated member is "duplicate_field" at its name (keys are compared
//    unescaped: "t\u006f" repeats "to"); an unknown one is never echoed, but
//    reported once per object as "unknown_field" with the names it accepts;
//  * a value of the wrong JSON type is "wrong_type" at its path (null too: an
//    optional member is omitted, not null);
//  * error paths are built from the schema's own names and array indexes,
//    never from client text; at most kMaxErrors errors are kept;
//  * no heap allocation per walk (the parser and buffers are allocated once).
//
// simdjson stays inside json_walker.cpp: schemas see only the interfaces
// below, so they cannot read a value in a way that skips these checks.
//
// A schema is a few lines. An admin "block an IP" body {"ip", "ttl_s"?}:
//
//   enum BlockField : size_t { kIp, kTtl };
//   constexpr std::array<std::string_view, 2> kBlockNames = {"ip", "ttl_s"};
//   constexpr JsonFields kBlockFields{kBlockNames, /*required=*/1u << kIp};
//
//   BodyStatus status = walker.walk(body, [&](JsonObject& root) {
//     root.read(kBlockFields, [&](size_t field, JsonValue& v) {
//       if (field == kIp) {
//         if (auto ip = v.string()) {
//           if (isIpAddress(*ip)) out.ip = *ip; else v.addError("invalid_ip");
//         }
//       } else if (auto ttl = v.integer()) {
//         if (*ttl < 1 || *ttl > 86'400) v.addError("out_of_range"); else out.ttl_s = *ttl;
//       }
//     });
//   });
//
// Unknown and repeated members, wrong types, "required" for a missing "ip",
// syntax, depth and size are the walker's; the schema only checks values.
// (isIpAddress stands for the check the real schema will make;
// tests/unit/pipeline/json_walker_test.cpp declares this schema, with its cases.)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "net/problem.h"

namespace phigate::pipeline {

/**
 * One validation problem: a JSON path of the field (e.g. "to",
 * "messages[3].to", "" for the whole body) and a stable code. Never the
 * rejected value, nor a name the client chose: an unknown field is reported
 * as its object's path with code "unknown_field" and `allowed`, the names
 * that object accepts (static text). Views into the walker's own storage
 * (or static text), valid until its next walk.
 */
using FieldError = net::ProblemFieldError;

/** Outcome of a walk: which answer the handler gives. */
enum class BodyStatus : uint8_t {
  kOk,
  kMalformed,  // → 400: not JSON, invalid UTF-8, too deep, not an object, too large
  kInvalid,    // → 422: well-formed JSON that breaks the schema
};

/**
 * A non-owning reference to a callable, like C++26's std::function_ref: the
 * walker's callbacks without std::function's possible allocation, and
 * without templates that would pull simdjson into every schema. Only for
 * parameters: it must not outlive the callable it was made from.
 */
template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
             std::is_invocable_r_v<R, F&, Args...>)
  FunctionRef(F&& f) noexcept  // implicit: a lambda is passed where a FunctionRef is expected
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

/**
 * The members one object declares: bit i of a mask stands for names[i].
 * The names must be static text: they become error paths and `allowed`.
 */
struct JsonFields {
  static constexpr size_t kMaxNames = 32;  // bits of a uint32_t mask

  template <size_t N>
  constexpr JsonFields(const std::array<std::string_view, N>& n, uint32_t required_mask = 0)
      : names(n), required(required_mask) {
    static_assert(N <= kMaxNames, "a mask holds at most 32 names");
  }

  std::span<const std::string_view> names;
  uint32_t required = 0;  // bits of the names that must be present
};

class JsonObject;

/**
 * One value inside the walk, handed to a schema's callback. Read it at most
 * once, with the reader for the type the schema expects; a reader that
 * meets another type records "wrong_type" at the value's path and consumes
 * the value (checking it). A value the callback does not read is skipped,
 * and still checked, when the callback returns.
 */
class JsonValue {
 public:
  /** The unescaped string (a view into the body or the parser's buffer), else nullopt. */
  virtual std::optional<std::string_view> string() = 0;

  /**
   * An integer that fits int64_t, written without fraction or exponent;
   * else nullopt. Other numbers (1.0, 1e3, 10^30) are well-formed JSON
   * with the wrong type, not malformed.
   */
  virtual std::optional<int64_t> integer() = 0;

  virtual std::optional<bool> boolean() = 0;

  /** Walks an object: onObject(object) reads its members. False unless it was one, walked to its end. */
  virtual bool object(FunctionRef<void(JsonObject&)> onObject) = 0;

  /**
   * Walks an array: onElement(index, element) for each element, in order.
   * False unless it was one, walked to its end (a schema checks counts
   * only then).
   */
  virtual bool array(FunctionRef<void(int32_t, JsonValue&)> onElement) = 0;

  /** Consumes the value unread (checking its syntax and depth). */
  virtual void skip() = 0;

  /** Records `code` (static text) at this value's path. */
  virtual void addError(std::string_view code) = 0;

  /** Records `code` at element `index` of this array: for checks made after the walk (repeats). */
  virtual void addElementError(int32_t index, std::string_view code) = 0;

 protected:
  ~JsonValue() = default;  // handles live on the walker's stack, never deleted through this
};

/** One object inside the walk, handed to a schema's callback. */
class JsonObject {
 public:
  /**
   * Walks every member, once per object. The first occurrence of a
   * declared name goes to onField(index in fields.names, value); a repeat
   * is "duplicate_field" at that name; any other name is only noted (see
   * reportUnknown). False if the document turned out malformed: the walk is
   * over and nothing else needs doing.
   */
  virtual bool members(const JsonFields& fields, FunctionRef<void(size_t, JsonValue&)> onField) = 0;

  /**
   * After members(): one "unknown_field" at this object, with `allowed` as
   * its names, if it had a member not in `allowed`. `allowed` is usually
   * fields.names; a schema whose objects take one of several forms passes
   * the names of the form it found (then declared names outside it count
   * as unknown too). Static text.
   */
  virtual void reportUnknown(std::span<const std::string_view> allowed) = 0;

  /** After members(): "required" at each name in `required` (a mask) that was absent, in name order. */
  virtual void reportMissing(uint32_t required) = 0;

  /** After members(): the mask of the declared names present. */
  virtual uint32_t seen() const = 0;

  /** Records `code` (static text) at this object's member `name` (static text), or at the object for "". */
  virtual void addError(std::string_view name, std::string_view code) = 0;

  /** The usual object: members(), then reportUnknown(fields.names) and reportMissing(fields.required). */
  bool read(const JsonFields& fields, FunctionRef<void(size_t, JsonValue&)> onField) {
    if (!members(fields, onField)) return false;
    reportUnknown(fields.names);
    reportMissing(fields.required);
    return true;
  }

  bool has(size_t index) const { return (seen() >> index) & 1u; }

 protected:
  ~JsonObject() = default;
};

/**
 * Walks request bodies. One per worker (not thread-safe): it owns a simdjson
 * parser and all buffers, allocated once in the constructor.
 *
 * `body` must be followed in memory by at least simdjson::SIMDJSON_PADDING
 * readable bytes (any content); it is parsed in place. Every string_view a
 * walk hands out, and every error, points into `body`, into the parser's
 * string buffer or into this object (or is static), and stays valid until
 * the next walk (and while `body` lives).
 */
class JsonWalker {
 public:
  /** Largest body accepted by default; larger ones are kMalformed "too_large". */
  static constexpr size_t kMaxBodyBytes = size_t{1} << 20;
  /** Maximum nesting of arrays/objects; the top-level object is depth 1. */
  static constexpr int kMaxDepth = 8;
  /** At most this many errors are kept per walk; further ones are dropped. */
  static constexpr size_t kMaxErrors = 32;

  /** The parser is sized for `max_bytes` (admin bodies need far less than the default). */
  explicit JsonWalker(size_t max_bytes = kMaxBodyBytes);
  ~JsonWalker();
  JsonWalker(JsonWalker&&) noexcept;
  JsonWalker& operator=(JsonWalker&&) noexcept;
  JsonWalker(const JsonWalker&) = delete;
  JsonWalker& operator=(const JsonWalker&) = delete;

  /**
   * Parses `body`, hands its top-level object to readRoot, then checks that
   * nothing follows it. kMalformed exactly when the body is not a single
   * well-formed object within the limits, whatever schema errors it also
   * has; else kInvalid when anything recorded an error, else kOk.
   */
  BodyStatus walk(std::string_view body, FunctionRef<void(JsonObject&)> readRoot);

  /** Problems found by the last walk: empty for kOk, exactly one (field "") for kMalformed. */
  std::span<const FieldError> errors() const;

 private:
  struct Impl;  // keeps <simdjson.h> out of every schema
  std::unique_ptr<Impl> impl_;
};

}  // namespace phigate::pipeline
