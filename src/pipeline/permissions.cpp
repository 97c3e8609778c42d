#include "pipeline/permissions.h"

namespace phigate::pipeline {

PermissionSet permissionsForRole(std::string_view role) {
  if (role == "sms") return bit(Permission::kSmsSend) | bit(Permission::kMessagesRead);
  if (role == "bulk") return bit(Permission::kSmsBulk) | bit(Permission::kMessagesRead);
  if (role == "email") return bit(Permission::kEmailSend) | bit(Permission::kMessagesRead);
  if (role == "ehospital") return bit(Permission::kEhospitalRead);
  if (role == "ehospital-write") return bit(Permission::kEhospitalWrite);
  if (role == "metrics") return bit(Permission::kMetricsRead);
  if (role == "admin") return kAllPermissions;
  return 0;
}

bool permissionsForRoles(std::span<const std::string> roles, PermissionSet* out,
                         std::string_view* unknown) {
  PermissionSet set = 0;
  for (const std::string& r : roles) {
    const PermissionSet p = permissionsForRole(r);
    if (p == 0) {
      *unknown = r;
      return false;
    }
    set |= p;
  }
  *out = set;
  return true;
}

std::string_view permissionName(Permission p) {
  switch (p) {
    case Permission::kNone: return "none";
    case Permission::kSmsSend: return "sms:send";
    case Permission::kSmsBulk: return "sms:bulk";
    case Permission::kEmailSend: return "email:send";
    case Permission::kMessagesRead: return "messages:read";
    case Permission::kEhospitalRead: return "ehospital:read";
    case Permission::kEhospitalWrite: return "ehospital:write";
    case Permission::kMetricsRead: return "metrics:read";
    case Permission::kAdmin: return "admin";
  }
  return "unknown";
}

}  // namespace phigate::pipeline
