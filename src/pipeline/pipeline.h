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
   * Everything decidable from the head, run as soon as it is complete and
   * before a byte of the body is buffered (for every request but the
   * probe): client-ip, ip-access, authn, the key's allow_cidrs, rbac, the
   * replay headers and the content type. A blocked address learns nothing,
   * not even which routes exist; a client without a key cannot make a
   * worker hold a body. kReject leaves ctx.rejection for respond().
   */
  Verdict runHead(RequestContext& ctx);

  /**
   * The rest (the signature over the body, then the schema), once the body
   * is in. The read buffer may have moved (grown for the body) since the
   * head stages ran: the views they kept into it are taken again first.
   */
  Verdict runBody(RequestContext& ctx);

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
  ContentTypeStage content_type_;
  SignatureStage signature_;
  ValidateStage validate_;
  Verdict runStages(std::span<Stage* const> stages, RequestContext& ctx);

  std::array<Stage*, 7> head_;
  std::array<Stage*, 2> body_;
};

}  // namespace phigate::pipeline
