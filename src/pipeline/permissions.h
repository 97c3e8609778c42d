// Permissions and the roles that grant them (DESIGN §8).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace phigate::pipeline {

/** One permission bit. */
enum class Permission : uint32_t {
  kNone = 0,
  kSmsSend = 1u << 0,
  kSmsBulk = 1u << 1,
  kEmailSend = 1u << 2,
  kMessagesRead = 1u << 3,
  kEhospitalRead = 1u << 4,
  kEhospitalWrite = 1u << 5,
  kMetricsRead = 1u << 6,
  kAdmin = 1u << 7,
};

/** A set of permissions. */
using PermissionSet = uint32_t;

inline constexpr PermissionSet bit(Permission p) { return static_cast<PermissionSet>(p); }
inline constexpr PermissionSet kAllPermissions = (1u << 8) - 1;

/** Permissions granted by one role name; 0 for an unknown role. */
PermissionSet permissionsForRole(std::string_view role);

/** Union over roles; false (and `unknown` set) if a role is not known. */
bool permissionsForRoles(std::span<const std::string> roles, PermissionSet* out,
                         std::string_view* unknown);

/** "sms:send" etc., for audit lines and docs. */
std::string_view permissionName(Permission p);

/** True when `granted` includes `needed` (kNone is always granted). */
inline bool allows(PermissionSet granted, Permission needed) {
  return (granted & bit(needed)) == bit(needed);
}

}  // namespace phigate::pipeline
