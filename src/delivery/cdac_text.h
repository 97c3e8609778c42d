// Text rules of the CDAC Mobile Seva protocol, as pure functions: the
// unicode content form, form encoding, and the mobile number form.
// docs/PROVIDERS.md says where each rule comes from.
#pragma once

#include <string>
#include <string_view>

namespace phigate::delivery {

/**
 * Appends `utf8` in CDAC's unicode content form: every character, ASCII
 * included, as "&#N;" with N the decimal value of each UTF-16 code unit --
 * what CDAC's Java sample does (`"&#" + (int) message.charAt(i) + ";"`), so a
 * character beyond the BMP becomes its surrogate pair, two entities
 * ("😀" -> "&#55357;&#56832;"). False (and `out` unspecified) when `utf8` is
 * not well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF).
 */
bool appendCdacUnicode(std::string_view utf8, std::string* out);

/**
 * Appends `value` form-encoded as Java's URLEncoder does (CDAC's sample
 * posts with UrlEncodedFormEntity): [A-Za-z0-9.*_-] as they are, space as
 * '+', every other byte as %XX (upper-case hex).
 */
void appendFormValue(std::string* out, std::string_view value);

/**
 * The number CDAC is sent for an E.164 recipient: the 10-digit national
 * number ("+919000000001" -> "9000000001"), the form CDAC's sample documents
 * ("99XXXXXXXX"). Empty when `e164` is not +91 followed by 10 digits with a
 * first digit 6-9 (CDAC sends to Indian mobiles only).
 */
std::string_view cdacMobile(std::string_view e164);

}  // namespace phigate::delivery
