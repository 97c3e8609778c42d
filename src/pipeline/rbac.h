// Role-based access control: every protected route names the one permission
// it needs; the authenticated key's roles must grant it, else 403.
#pragma once

#include "pipeline/permissions.h"
#include "pipeline/stage.h"

namespace phigate::pipeline {

/** 403 unless the key's roles grant the route's permission. */
class RbacStage : public Stage {
 public:
  Verdict run(RequestContext& ctx) override;
};

}  // namespace phigate::pipeline
