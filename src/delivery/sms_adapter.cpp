#include "delivery/sms_adapter.h"

namespace phigate::delivery {

namespace {

constexpr size_t kMaxProviderIdLength = 64;

// ':' beyond the identifier set: some providers use "batch:seq" ids.
constexpr bool providerIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':';
}

}  // namespace

// All or nothing: a truncated or partly cleaned id would look valid and
// match nothing in the provider's reports, which is worse than an obvious "-".
std::string sanitizeProviderId(std::string_view id) {
  if (id.empty() || id.size() > kMaxProviderIdLength) return "-";
  for (char c : id) {
    if (!providerIdChar(c)) return "-";
  }
  return std::string(id);
}

}  // namespace phigate::delivery
