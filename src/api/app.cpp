#include "api/app.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "api/admission.h"
#include "api/ehospital.h"
#include "api/health.h"
#include "api/messages.h"
#include "api/problems.h"
#include "api/sends.h"
#include "net/worker.h"

namespace phigate::api {

namespace {

using pipeline::BodyKind;
using pipeline::Permission;
using pipeline::RoutePolicy;

constexpr uint64_t kKiB = 1024;
constexpr RoutePolicy kProbe{.bypass = true};
constexpr RoutePolicy kPublic{};
constexpr RoutePolicy kHealth{.rate_class = "health", .rate_per_ip = true};
constexpr RoutePolicy kSendSms{.permission = Permission::kSmsSend,
                               .authenticated = true,
                               .state_changing = true,
                               .body = BodyKind::kSms,
                               .rate_class = "sms"};
constexpr RoutePolicy kSendBulk{.permission = Permission::kSmsBulk,
                                .authenticated = true,
                                .state_changing = true,
                                .body = BodyKind::kBulk,
                                .rate_class = "bulk"};
constexpr RoutePolicy kSendEmail{.permission = Permission::kEmailSend,
                                 .authenticated = true,
                                 .state_changing = true,
                                 .body = BodyKind::kEmail,
                                 .rate_class = "email"};
constexpr RoutePolicy kReadMessages{.permission = Permission::kMessagesRead,
                                    .authenticated = true,
                                    .rate_class = "messages"};
// Cancelling changes state: X-Timestamp and X-Nonce, like a send.
constexpr RoutePolicy kCancelMessage{.permission = Permission::kMessagesRead,
                                     .authenticated = true,
                                     .state_changing = true,
                                     .rate_class = "messages"};

// eHospital: GET/HEAD read, the rest write (a nonce like any state change).
// The rate class is per key; the body cap comes from the configuration.
constexpr RoutePolicy kEhospitalRead{.permission = Permission::kEhospitalRead,
                                     .authenticated = true,
                                     .rate_class = "ehospital"};
constexpr RoutePolicy kEhospitalWrite{.permission = Permission::kEhospitalWrite,
                                      .authenticated = true,
                                      .state_changing = true,
                                      .rate_class = "ehospital",
                                      .upstream_answers = true};

// Per-route body limits: far below MAX_CONTENT_LENGTH (the ceiling). An email
// may carry 10,000 characters of text and of html, each up to 6 bytes once
// JSON-escaped; a single SMS is at most 500 characters.
constexpr Route kRoutes[] = {
    {.methods = kGet, .pattern = "/livez", .name = "livez", .handler = handleLivez, .max_body = 0,
     .policy = kProbe},
    {.methods = kGet, .pattern = "/health", .name = "health", .handler = handleHealth, .max_body = 0,
     .policy = kHealth},
    {.methods = kPost, .pattern = "/v1/sms", .name = "sms", .handler = handleSms,
     .max_body = 64 * kKiB, .policy = kSendSms},
    {.methods = kPost, .pattern = "/v1/sms/bulk", .name = "sms_bulk", .handler = handleSmsBulk,
     .max_body = 1024 * kKiB, .policy = kSendBulk},
    {.methods = kPost, .pattern = "/v1/email", .name = "email", .handler = handleEmail,
     .max_body = 256 * kKiB, .policy = kSendEmail},
    {.methods = kGet, .pattern = "/v1/messages/{id}", .name = "message_status",
     .handler = handleMessageStatus, .max_body = 0, .policy = kReadMessages},
    {.methods = kDelete, .pattern = "/v1/messages/{id}", .name = "message_cancel",
     .handler = handleMessageCancel, .max_body = 0, .policy = kCancelMessage},
    {.methods = kGet, .pattern = "/v1/ehospital/{path...}", .name = "ehospital_read",
     .handler = handleEhospital, .max_body = 0, .policy = kEhospitalRead,
     .head_check = checkEhospitalHead},
    {.methods = kPost | kPut | kPatch | kDelete, .pattern = "/v1/ehospital/{path...}",
     .name = "ehospital_write", .handler = handleEhospital, .max_body = kEhospitalMaxBody,
     .policy = kEhospitalWrite, .head_check = checkEhospitalHead},
};

}  // namespace

std::span<const Route> gatewayRoutes() { return kRoutes; }

uint64_t routeMaxBody(const Route& route, const config::Config& cfg) {
  if (route.head_check != checkEhospitalHead) return route.max_body;
  if (!cfg.ehospital.configured()) return 0;
  return std::min<uint64_t>(route.max_body, cfg.ehospital.max_request_bytes);
}

namespace {
// A key of its own for fingerprints, so SECRET_KEY itself keys nothing but
// derivations.
crypto::Sha256 fingerprintKey(std::string_view secret_key) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(secret_key.data());
  return crypto::hmacSha256({bytes, secret_key.size()}, {"phigate/idempotency-fingerprint/v1"});
}
}  // namespace

GatewayApp::GatewayApp(const config::Config& cfg, const pipeline::PolicyConfig& policy,
                       const crypto::KeyRing& key_ring, std::unique_ptr<state::StateStore> store,
                       std::span<const Route> routes, delivery::DeliverySetup delivery)
    : cfg_(cfg),
      router_(routes),
      store_(std::move(store)),
      delivery_(std::move(delivery)),
      services_{cfg, policy, key_ring, *store_, fingerprintKey(cfg.secret_key)},
      pipeline_(policy) {
  pipeline_.setAuthFailureHook(this, onAuthFailure);
  // The configuration was validated at load: this cannot fail then.
  if (std::string error; !upstream::makeEhospitalSetup(cfg, &ehospital_setup_, &error)) {
    ehospital_setup_.configured = false;
  }
}

GatewayApp::~GatewayApp() = default;

// Behind a trusted proxy every client arrives on the proxy's connections;
// the per-client limits that matter there are the pipeline's, keyed by the
// address X-Forwarded-For resolves to.
bool GatewayApp::sharedPeer(const unsigned char (&bytes)[16]) const {
  pipeline::IpAddress ip;
  memcpy(ip.bytes.data(), bytes, ip.bytes.size());
  return services_.policy.trusted_proxies.contains(ip);
}

namespace {
// How often a worker copies the store's dynamic block list: an admin's block
// or an automatic one reaches every worker within this time.
constexpr uint64_t kBlocksRefreshMs = 500;
}  // namespace

void GatewayApp::onStart(net::Worker& worker) {
  store_->start(worker.loop());
  delivery_.start(worker.loop(), store_->outbox(), services_.key_ring, store_->callbacks());
  if (ehospital_setup_.configured) {
    ehospital_ = std::make_unique<upstream::EhospitalProxy>(worker.loop(), ehospital_setup_);
    services_.ehospital = ehospital_.get();
  }
  uv_timer_init(worker.loop(), &blocks_timer_);
  blocks_timer_.data = this;
  uv_timer_start(&blocks_timer_, onBlocksTimer, 0, kBlocksRefreshMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(&blocks_timer_));
  started_ = true;
}

void GatewayApp::onStop() {
  if (!started_) return;
  started_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&blocks_timer_), nullptr);
  // Calls still in flight upstream end now (503); the loop closes the handles.
  services_.ehospital = nullptr;
  ehospital_.reset();
  // Messages in flight to a provider are finished and recorded first; the
  // store goes after (the consumer needs it to record them).
  delivery_.stop(cfg_.limits.drain_timeout_ms, this,
                 [](void* p) { static_cast<GatewayApp*>(p)->store_->stop(); });
}

void GatewayApp::onBlocksTimer(uv_timer_t* t) { static_cast<GatewayApp*>(t->data)->refreshBlocks(); }

void GatewayApp::refreshBlocks() {
  if (refreshing_) return;  // the previous answer is still on its way
  refreshing_ = true;
  store_->listBlocks(this, [](void* p, bool ok, std::span<const state::BlockEntry> blocks) {
    auto* self = static_cast<GatewayApp*>(p);
    self->refreshing_ = false;
    // A failed read keeps the last known list: blocks never silently lapse.
    if (ok) self->pipeline_.blocks().replace(blocks);
  });
}

// Containment: every authentication failure is counted against its address;
// the store decides when it becomes a block, and the next refresh applies it.
void GatewayApp::onAuthFailure(void* p, std::string_view subject) {
  auto* self = static_cast<GatewayApp*>(p);
  const config::StatePolicy& sp = self->cfg_.state;
  const state::ContainmentPolicy policy{sp.auth_failure_limit, sp.auth_failure_window_s, sp.auto_block_s};
  self->store_->recordAuthFailure(subject, policy, self, [](void* q, bool ok) {
    if (ok) static_cast<GatewayApp*>(q)->refreshBlocks();
  });
}

// Routing happens as soon as the head is complete, so the body limit is the
// route's own and an unknown route never gets its body read. Every stage
// that needs only the head runs here too: the address checks before any
// answer that would say what exists, then authentication, RBAC, the replay
// headers and the content type, so nobody without a valid key (or with a
// request that will be refused anyway) makes the worker buffer a body.
void GatewayApp::onHead(net::Exchange& ex) {
  const net::HttpRequest& req = ex.request();
  const RouteMatch m = router_.find(req.method, req.path);
  if (m.route != nullptr) {
    ex.route = m.route;
    ex.route_name = m.route->name;
    ex.body_limit = m.route->max_body;
    if (m.route->policy.bypass) return;
  }
  CallState* st = pool_.acquire();
  st->reset(&ex, m.route);
  st->ctx.policy = m.route != nullptr ? &m.route->policy : &kPublic;
  ex.app_data = st;
  const bool refused =
      pipeline_.runHead(st->ctx) != pipeline::Verdict::kContinue ||
      (st->ctx.policy->state_changing && !checkIdempotencyHeader(req, &st->ctx.rejection)) ||
      (m.route != nullptr && m.route->head_check != nullptr &&
       !m.route->head_check(services_, ex, std::span(m.params.data(), m.param_count),
                            &st->ctx.rejection));
  if (refused) {
    // With a body: answer now; the body is never read (the connection
    // closes). Without one the message is already complete: the answer
    // waits for onRequest and the connection stays usable.
    if (req.hasBody()) {
      pipeline::Pipeline::respond(st->ctx);
    } else {
      st->head_rejected = true;
    }
    return;
  }
  if (m.route != nullptr) return;
  // No handler: a body would be read only to be thrown away. Answer now (the
  // connection closes, since the body stays unread); without a body the
  // answer waits for onRequest and the connection stays usable.
  if (!req.hasBody()) return;
  if (req.method == net::Method::kOptions && m.allowed != 0) return;
  if (m.allowed == 0) {
    notFound(ex);
  } else {
    methodNotAllowed(ex, m.allowed);
  }
}

void GatewayApp::onRequest(net::Exchange& ex) {
  const net::HttpRequest& req = ex.request();
  if (auto* early = static_cast<CallState*>(ex.app_data); early != nullptr && early->head_rejected) {
    early->ctx.ex = &ex;
    pipeline::Pipeline::respond(early->ctx);
    return;
  }
  if (req.method == net::Method::kOptions && req.path == "*") {
    options(ex, kGet | kPost | kPut | kDelete);
    return;
  }
  const RouteMatch m = router_.find(req.method, req.path);
  if (m.route == nullptr) {
    if (m.allowed == 0) {
      notFound(ex);
    } else if (req.method == net::Method::kOptions) {
      options(ex, m.allowed);
    } else {
      methodNotAllowed(ex, m.allowed);
    }
    return;
  }
  if (m.route->policy.bypass) {
    CallState* st = pool_.acquire();
    st->reset(&ex, m.route);
    st->ctx.policy = &m.route->policy;
    ex.app_data = st;
  }
  auto* st = static_cast<CallState*>(ex.app_data);
  st->ctx.ex = &ex;  // the same exchange; its request views were rebuilt
  if (!m.route->policy.bypass && pipeline_.runBody(st->ctx) != pipeline::Verdict::kContinue) {
    pipeline::Pipeline::respond(st->ctx);
    return;
  }
  Call call{*st, services_, std::span<const std::string_view>(m.params.data(), m.param_count)};
  m.route->handler(call);
}

// The exchange is over: answered, or its connection closed first (possibly
// before its body even arrived). Only a store call still in flight keeps the
// state alive: it sees `aborted` and returns the state to the pool itself.
void GatewayApp::onDone(net::Exchange& ex) {
  auto* st = static_cast<CallState*>(ex.app_data);
  if (st == nullptr) return;
  ex.app_data = nullptr;
  if (ex.responded() || !st->in_call) {
    pool_.release(st);
  } else {
    st->aborted = true;
    st->ctx.ex = nullptr;
  }
}

void GatewayApp::notFound(net::Exchange& ex) { respondNotFound(ex); }

void GatewayApp::methodNotAllowed(net::Exchange& ex, uint8_t allowed) {
  const std::string allow = Router::allowHeader(allowed);
  const net::HeaderField extra[] = {{"Allow", allow}};
  respondProblem(ex, 405, "method-not-allowed", "Method Not Allowed",
                 "The resource does not support this method.", extra);
}

void GatewayApp::options(net::Exchange& ex, uint8_t allowed) {
  const std::string allow = Router::allowHeader(allowed);
  const net::HeaderField extra[] = {{"Allow", allow}};
  ex.respond(204, net::kJsonType, {}, extra);
}

}  // namespace phigate::api
