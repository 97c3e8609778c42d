#include "pipeline/phone.h"

#include <algorithm>
#include <cstddef>

#include "pipeline/validators.h"

namespace phigate::pipeline {
namespace {

// Adding a region is one row. India: TRAI's National Numbering Plan gives
// mobiles 10 digits starting 6-9; national dialling puts a 0 in front.
constexpr std::array<PhoneRegion, 1> kRegions = {{
    {"IN", "91", '0', 10, "6789", "not_indian_mobile"},
}};

constexpr size_t kMaxE164Digits = kE164Capacity - 1;

constexpr bool rowsFitE164() {
  for (const PhoneRegion& r : kRegions) {
    if (r.country_code.empty() || r.country_code.size() + r.mobile_digits > kMaxE164Digits) return false;
  }
  return true;
}
static_assert(rowsFitE164(), "a region's mobile numbers must fit in E.164's 15 digits");

// E.164 country codes are prefix-free; two rows breaking that would make
// the first one win silently.
constexpr bool countryCodesPrefixFree() {
  for (const PhoneRegion& a : kRegions) {
    for (const PhoneRegion& b : kRegions) {
      if (&a != &b && b.country_code.starts_with(a.country_code)) return false;
    }
  }
  return true;
}
static_assert(countryCodesPrefixFree(), "country codes must be prefix-free");

constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }

constexpr char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool allDigits(std::string_view s) { return std::all_of(s.begin(), s.end(), isDigit); }

bool isMobile(const PhoneRegion& r, std::string_view national) {
  return national.size() == r.mobile_digits &&
         r.mobile_leads.find(national.front()) != std::string_view::npos;
}

// The known region whose country code starts `digits`, if any.
const PhoneRegion* regionOf(std::string_view digits) {
  for (const PhoneRegion& r : kRegions) {
    if (digits.starts_with(r.country_code)) return &r;
  }
  return nullptr;
}

// '+' country_code national, into `out`. Callers keep it within 15 digits.
std::string_view writeE164(E164Buffer& out, std::string_view country_code, std::string_view national) {
  out[0] = '+';
  std::copy(country_code.begin(), country_code.end(), out.begin() + 1);
  std::copy(national.begin(), national.end(), out.begin() + 1 + static_cast<std::ptrdiff_t>(country_code.size()));
  return {out.data(), 1 + country_code.size() + national.size()};
}

// `digits` (all ASCII digits) with the country code first.
NormalizedPhone international(std::string_view digits, E164Buffer& out) {
  if (const PhoneRegion* r = regionOf(digits)) {
    if (!isMobile(*r, digits.substr(r->country_code.size()))) {
      return {PhoneStatus::kNotMobile, {}, r};
    }
  } else if (!isValidPhone(digits)) {  // the guide's floor
    return {};
  }
  return {PhoneStatus::kOk, writeE164(out, {}, digits), nullptr};
}

// `national` (all ASCII digits) as dialled inside `home`, trunk prefix removed.
NormalizedPhone national(std::string_view national, const PhoneRegion& home, E164Buffer& out) {
  if (!isMobile(home, national)) return {PhoneStatus::kNotMobile, {}, &home};
  return {PhoneStatus::kOk, writeE164(out, home.country_code, national), nullptr};
}

}  // namespace

std::span<const PhoneRegion> phoneRegions() { return kRegions; }

const PhoneRegion* findPhoneRegion(std::string_view name) {
  for (const PhoneRegion& r : kRegions) {
    const bool same = name.size() == r.name.size() &&
                      std::equal(name.begin(), name.end(), r.name.begin(),
                                 [](char a, char b) { return upper(a) == b; });
    if (same) return &r;
  }
  return nullptr;
}

const PhoneRegion& defaultPhoneRegion() { return kRegions[0]; }

NormalizedPhone normalizePhone(std::string_view input, const PhoneRegion& home, E164Buffer& out) {
  const bool plus = input.starts_with('+');
  const std::string_view digits = input.substr(plus ? 1 : 0);
  if (digits.empty() || !allDigits(digits)) return {};
  if (plus) return international(digits, out);
  // A trunk prefix only ever starts a national number (no country code is 0...).
  if (home.trunk_prefix != '\0' && digits.front() == home.trunk_prefix) {
    return national(digits.substr(1), home, out);
  }
  if (digits.size() == home.mobile_digits) return national(digits, home, out);
  // The home country code without its '+' ("91" + a mobile) is unambiguous.
  if (digits.starts_with(home.country_code) &&
      digits.size() == home.country_code.size() + home.mobile_digits) {
    return international(digits, out);
  }
  // Anything else without '+' is a guess: a national number with a digit too
  // many or too few would otherwise read as another country's (98000000021 as
  // Iran's +98...), and the message would go abroad. Refuse it instead.
  if (!isValidPhone(digits)) return {};  // not a number under the guide's floor either
  return {PhoneStatus::kNeedsPlus, {}, nullptr};
}

}  // namespace phigate::pipeline
