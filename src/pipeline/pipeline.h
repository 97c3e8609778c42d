// Runs the security stages in order (DESIGN §2) and answers a rejection as
// problem+json. The stages themselves know nothing of responses or logs.
#pragma once

#include <array>

#include "pipeline/authn.h"
#include "pipeline/client_ip.h"
#include "pipeline/ip_access.h"
#include "pipeline/rbac.h"
#include "pipeline/replay.h"
#include "pipeline/stage.h"
#include "pipeline/validate.h"

namespace phigate::pipeline {

class Pipeline {
 public:
  explicit Pipeline(const PolicyConfig& cfg, int64_t (*now_s)() = nullptr);
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /**
   * Runs every stage over `ctx` (ex and policy must be set). True when the
   * request may go on to its handler; false when it has been answered.
   */
  bool run(RequestContext& ctx);

  /** Sends ctx.rejection as problem+json (also used by handlers). */
  static void respond(RequestContext& ctx);

 private:
  ClientIpStage client_ip_;
  IpAccessStage ip_access_;
  AuthnStage authn_;
  KeyIpAccessStage key_ip_access_;
  RbacStage rbac_;
  ReplayStage replay_;
  ValidateStage validate_;
  std::array<Stage*, 7> order_;
};

}  // namespace phigate::pipeline
