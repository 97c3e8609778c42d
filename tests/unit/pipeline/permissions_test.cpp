#include "pipeline/permissions.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/keys_file.h"

namespace phigate::pipeline {
namespace {

constexpr Permission kEvery[] = {Permission::kSmsSend,       Permission::kSmsBulk,
                                 Permission::kEmailSend,     Permission::kMessagesRead,
                                 Permission::kEhospitalRead, Permission::kEhospitalWrite,
                                 Permission::kMetricsRead,   Permission::kAdmin};

PermissionSet set(std::initializer_list<Permission> ps) {
  PermissionSet s = 0;
  for (Permission p : ps) s |= bit(p);
  return s;
}

// Role -> permission names, exactly as DESIGN §8 lists them.
std::vector<std::string> names(PermissionSet s) {
  std::vector<std::string> out;
  for (Permission p : kEvery) {
    if (allows(s, p)) out.emplace_back(permissionName(p));
  }
  return out;
}

using Names = std::vector<std::string>;

TEST(Permissions, SmsRole) {
  EXPECT_EQ(permissionsForRole("sms"), set({Permission::kSmsSend, Permission::kMessagesRead}));
  EXPECT_EQ(names(permissionsForRole("sms")), (Names{"sms:send", "messages:read"}));
}

TEST(Permissions, BulkRole) {
  EXPECT_EQ(permissionsForRole("bulk"), set({Permission::kSmsBulk, Permission::kMessagesRead}));
  EXPECT_EQ(names(permissionsForRole("bulk")), (Names{"sms:bulk", "messages:read"}));
}

TEST(Permissions, EmailRole) {
  EXPECT_EQ(permissionsForRole("email"), set({Permission::kEmailSend, Permission::kMessagesRead}));
  EXPECT_EQ(names(permissionsForRole("email")), (Names{"email:send", "messages:read"}));
}

TEST(Permissions, EhospitalRole) {
  EXPECT_EQ(permissionsForRole("ehospital"), set({Permission::kEhospitalRead}));
  EXPECT_EQ(names(permissionsForRole("ehospital")), (Names{"ehospital:read"}));
}

TEST(Permissions, EhospitalWriteRole) {
  EXPECT_EQ(permissionsForRole("ehospital-write"), set({Permission::kEhospitalWrite}));
  EXPECT_EQ(names(permissionsForRole("ehospital-write")), (Names{"ehospital:write"}));
}

TEST(Permissions, MetricsRole) {
  EXPECT_EQ(permissionsForRole("metrics"), set({Permission::kMetricsRead}));
  EXPECT_EQ(names(permissionsForRole("metrics")), (Names{"metrics:read"}));
}

TEST(Permissions, AdminRoleHasAllEight) {
  const PermissionSet admin = permissionsForRole("admin");
  EXPECT_EQ(admin, kAllPermissions);
  for (Permission p : kEvery) EXPECT_TRUE(allows(admin, p)) << permissionName(p);
  EXPECT_EQ(names(admin).size(), 8u);
  EXPECT_EQ(kAllPermissions, set({Permission::kSmsSend, Permission::kSmsBulk,
                                  Permission::kEmailSend, Permission::kMessagesRead,
                                  Permission::kEhospitalRead, Permission::kEhospitalWrite,
                                  Permission::kMetricsRead, Permission::kAdmin}));
}

TEST(Permissions, OnlyAdminGrantsAdmin) {
  for (std::string_view role : config::kRoles) {
    if (role == "admin") continue;
    EXPECT_FALSE(allows(permissionsForRole(role), Permission::kAdmin)) << role;
  }
}

TEST(Permissions, UnknownRoleGrantsNothing) {
  for (std::string_view role : {"", "SMS", "Admin", "admin ", " admin", "sms:send", "root",
                                "ehospital_write", "ehospital-read", "superuser", "*"}) {
    EXPECT_EQ(permissionsForRole(role), 0u) << "'" << role << "'";
  }
  EXPECT_EQ(permissionsForRole(std::string_view("admin\0", 6)), 0u);
}

TEST(Permissions, EveryRoleTheKeysFileAcceptsGrantsSomething) {
  for (std::string_view role : config::kRoles) {
    EXPECT_NE(permissionsForRole(role), 0u) << role;
  }
}

TEST(Permissions, RolesUnion) {
  const std::vector<std::string> roles{"sms", "email", "metrics"};
  PermissionSet out = 0;
  std::string_view unknown;
  ASSERT_TRUE(permissionsForRoles(roles, &out, &unknown));
  EXPECT_EQ(out, set({Permission::kSmsSend, Permission::kEmailSend, Permission::kMessagesRead,
                      Permission::kMetricsRead}));
  EXPECT_TRUE(unknown.empty());
}

TEST(Permissions, RolesWithUnknownFails) {
  const std::vector<std::string> roles{"sms", "MARKERROLE", "admin"};
  PermissionSet out = 12345;
  std::string_view unknown;
  EXPECT_FALSE(permissionsForRoles(roles, &out, &unknown));
  EXPECT_EQ(unknown, "MARKERROLE");
  EXPECT_EQ(out, 12345u) << "output changed on failure";
}

TEST(Permissions, EmptyRoleListGrantsNothing) {
  PermissionSet out = 99;
  std::string_view unknown;
  EXPECT_TRUE(permissionsForRoles(std::vector<std::string>{}, &out, &unknown));
  EXPECT_EQ(out, 0u);
}

TEST(Permissions, AllowsChecksTheBit) {
  const PermissionSet sms = permissionsForRole("sms");
  EXPECT_TRUE(allows(sms, Permission::kSmsSend));
  EXPECT_TRUE(allows(sms, Permission::kMessagesRead));
  EXPECT_FALSE(allows(sms, Permission::kSmsBulk));
  EXPECT_FALSE(allows(sms, Permission::kEmailSend));
  EXPECT_FALSE(allows(0, Permission::kSmsSend));
  EXPECT_TRUE(allows(0, Permission::kNone));
  EXPECT_TRUE(allows(sms, Permission::kNone));
}

TEST(Permissions, NamesAreStable) {
  EXPECT_EQ(permissionName(Permission::kNone), "none");
  EXPECT_EQ(permissionName(Permission::kSmsSend), "sms:send");
  EXPECT_EQ(permissionName(Permission::kSmsBulk), "sms:bulk");
  EXPECT_EQ(permissionName(Permission::kEmailSend), "email:send");
  EXPECT_EQ(permissionName(Permission::kMessagesRead), "messages:read");
  EXPECT_EQ(permissionName(Permission::kEhospitalRead), "ehospital:read");
  EXPECT_EQ(permissionName(Permission::kEhospitalWrite), "ehospital:write");
  EXPECT_EQ(permissionName(Permission::kMetricsRead), "metrics:read");
  EXPECT_EQ(permissionName(Permission::kAdmin), "admin");
}

TEST(Permissions, BitsAreDistinct) {
  PermissionSet seen = 0;
  for (Permission p : kEvery) {
    EXPECT_EQ(seen & bit(p), 0u) << permissionName(p);
    EXPECT_NE(bit(p), 0u);
    seen |= bit(p);
  }
  EXPECT_EQ(seen, kAllPermissions);
}

}  // namespace
}  // namespace phigate::pipeline
