// Recipient phone numbers, normalised to E.164 ("+" and 6–15 digits) before
// they are stored, sealed and sent, so that one subscriber is one string.
// Hand-written, like the other matchers (validators.h): no regex engine and
// no libphonenumber, whose parse runs regular expressions and allocates on
// every call and which brings protobuf, ICU or RE2 and every country's
// metadata; phigate only needs the mobile plans of the regions it serves,
// which fit in the small table phoneRegions().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace phigate::pipeline {

/** How the mobile numbers of one country look (a row of phoneRegions()). */
struct PhoneRegion {
  std::string_view name;             // ISO 3166-1 alpha-2, as PHIGATE_DEFAULT_REGION names it
  std::string_view country_code;     // E.164 calling code, digits only ("91")
  char trunk_prefix;                 // dialled before a national number at home ('0'); '\0': none
  uint8_t mobile_digits;             // national significant number of a mobile (10)
  std::string_view mobile_leads;     // digits a mobile's national number may start with
  std::string_view not_mobile_code;  // the 422 code of a number under country_code that is not one
};

/** Every region phigate knows (PHIGATE_DEFAULT_REGION accepts their names). */
std::span<const PhoneRegion> phoneRegions();

/** The region named `name` (ASCII case-insensitive), nullptr if unknown. */
const PhoneRegion* findPhoneRegion(std::string_view name);

/** "IN": PHIGATE_DEFAULT_REGION's default. */
const PhoneRegion& defaultPhoneRegion();

/** Room for the longest E.164 number: '+' and 15 digits. */
inline constexpr size_t kE164Capacity = 16;
using E164Buffer = std::array<char, kE164Capacity>;

enum class PhoneStatus : uint8_t {
  kOk,
  kInvalid,    // not digits with an optional leading '+', or outside ^\+?[1-9]\d{5,14}$
  kNotMobile,  // under a known region's country code (or national) but not one of its mobiles
  kNeedsPlus,  // no '+', and not a home-region number: an international number must say so
};

struct NormalizedPhone {
  PhoneStatus status = PhoneStatus::kInvalid;
  std::string_view e164;              // kOk: the number, a view into the caller's buffer
  const PhoneRegion* region = nullptr;  // kNotMobile: whose rule refused it (its error code)
};

/**
 * Normalises `input` to E.164 in `out`. With a leading '+' the digits are
 * international: under a known region's country code they must be one of its
 * mobiles, anything else must match the floor ^[1-9]\d{5,14}$. Without '+': a
 * number starting with `home`'s trunk prefix, or exactly as long as its
 * mobiles, is national and must be a `home` mobile ("09800000002",
 * "9800000002" → "+919800000002"); any other is read as international digits
 * without the '+' ("919800000002" → "+919800000002", "441632960000" →
 * "+441632960000"), under the same rules. Linear, no allocation.
 */
NormalizedPhone normalizePhone(std::string_view input, const PhoneRegion& home, E164Buffer& out);

}  // namespace phigate::pipeline
