// application/x-www-form-urlencoded decoding for the mock provider: '+' is a
// space, %XX a byte, anything else as it is. Bounded: a fixed number of
// fields, and a decoded value is never longer than its encoded form.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace phigate::mock {

/** At most this many fields per form; more is a malformed form. */
inline constexpr size_t kMaxFormFields = 64;

/** Decodes one form component; false on a truncated or non-hex %XX. */
bool urlDecode(std::string_view in, std::string* out);

/** A decoded form: names and values in the order received. */
struct Form {
  std::vector<std::pair<std::string, std::string>> fields;

  /** The first field called `name`, or nullptr (absent). */
  const std::string* find(std::string_view name) const;
};

/** Splits on '&' and '=' and decodes each part; false when malformed or too many fields. */
bool parseForm(std::string_view body, Form* out);

}  // namespace phigate::mock
