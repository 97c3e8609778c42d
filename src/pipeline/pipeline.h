// Runs the security stages in order (DESIGN §2) and answers a rejection as
// problem+json. The stages themselves know nothing of responses or logs.
#pragma once

#include <array>
#include <span>

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
   * The stages that need only the head (client-ip, ip-access), run as soon as
   * the head is complete, for every request but the probe: a blocked address
   * learns nothing, not even which routes exist or what their limits are.
   * True when the request may go on; false when it has been answered.
   */
  bool runHead(RequestContext& ctx);

  /** The rest (authn, key ip-access, rbac, replay, validate), once the body is in. */
  bool runBody(RequestContext& ctx);

  /** Sends ctx.rejection as problem+json (also used by handlers). */
  static void respond(RequestContext& ctx);

  /** The worker's copy of the dynamic block list (refreshed from the store). */
  BlockList& blocks() { return blocks_; }

  /** Called on every authentication failure with the client's subject (formatSubject()). */
  using AuthFailureHook = void (*)(void* ctx, std::string_view subject);
  void setAuthFailureHook(void* ctx, AuthFailureHook hook) {
    hook_ctx_ = ctx;
    hook_ = hook;
  }

 private:
  const PolicyConfig& cfg_;
  BlockList blocks_;
  void* hook_ctx_ = nullptr;
  AuthFailureHook hook_ = nullptr;
  ClientIpStage client_ip_;
  IpAccessStage ip_access_;
  AuthnStage authn_;
  KeyIpAccessStage key_ip_access_;
  RbacStage rbac_;
  ReplayStage replay_;
  ValidateStage validate_;
  bool runStages(std::span<Stage* const> stages, RequestContext& ctx);

  std::array<Stage*, 2> head_;
  std::array<Stage*, 5> body_;
};

}  // namespace phigate::pipeline
