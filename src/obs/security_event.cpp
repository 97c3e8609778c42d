#include "obs/security_event.h"

namespace phigate::obs {

std::string_view securityEventName(SecurityEvent e) {
  static constexpr std::string_view kNames[] = {
#define PHIGATE_X(id, name) name,
      PHIGATE_SECURITY_EVENTS(PHIGATE_X)
#undef PHIGATE_X
  };
  auto i = static_cast<size_t>(e);
  return i < kSecurityEventCount ? kNames[i] : std::string_view{"unknown"};
}

}  // namespace phigate::obs
