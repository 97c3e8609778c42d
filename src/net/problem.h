// RFC 9457 problem details: the one writer every layer answers errors with
// (the net layer for framing and limits, the pipeline for its stages, the
// handlers for store outcomes). Bodies never echo what the client sent: a
// problem holds a type, a fixed title, a detail built only from static text
// and numbers phigate chose (limits, the server's clock), the request id, and
// optional extension members and field errors of the same kind.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/buffer.h"
#include "common/json_text.h"
#include "obs/security_event.h"

namespace phigate::net {

inline constexpr std::string_view kProblemBase = "https://phigate.dev/problems/";

/** An extension member: a number, or static / validated text (never client bytes). */
struct ProblemMember {
  std::string_view name;
  std::string_view text;
  int64_t number = 0;
  bool is_number = false;

  static constexpr ProblemMember num(std::string_view n, int64_t v) { return {n, {}, v, true}; }
  static constexpr ProblemMember str(std::string_view n, std::string_view v) { return {n, v, 0, false}; }
};

/** One validation problem: where (a JSON path phigate wrote) and a stable code. */
struct ProblemFieldError {
  std::string_view field;
  std::string_view code;
  // "unknown_field" only: the names the object accepts (static), so the
  // client can fix its request without its own key being echoed.
  std::span<const std::string_view> allowed;
};

/** A problem to answer; every view must outlive writeProblem(). */
struct Problem {
  int status = 0;
  std::string_view type;    // slug under kProblemBase
  std::string_view title;
  std::string_view detail;  // may be empty
  std::string_view code;    // stable reason code (an extension member), may be empty
  std::span<const ProblemMember> members;
  std::span<const ProblemFieldError> errors;  // "errors":[{field, code}], if any
};

/** The problem a framing/limit violation is answered with (code = the event's name). */
Problem problemForViolation(obs::SecurityEvent e);

/** Serialises `p` as one problem+json object. */
void writeProblem(Buffer& out, const Problem& p, std::string_view request_id);

/**
 * Formats a detail from static pieces and numbers into `buf` (truncating at
 * its size): the only way a detail carries anything but static text.
 */
class DetailText {
 public:
  DetailText(char* buf, size_t cap) : buf_(buf), cap_(cap) {}
  DetailText& operator<<(std::string_view s);
  DetailText& operator<<(int64_t v);
  std::string_view view() const { return {buf_, len_}; }

 private:
  char* buf_;
  size_t cap_;
  size_t len_ = 0;
};

}  // namespace phigate::net
