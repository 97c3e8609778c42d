#include "api/app.h"

#include <string>

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
constexpr RoutePolicy kSendSms{Permission::kSmsSend, true, true, BodyKind::kSms};
constexpr RoutePolicy kSendBulk{Permission::kSmsBulk, true, true, BodyKind::kBulk};
constexpr RoutePolicy kSendEmail{Permission::kEmailSend, true, true, BodyKind::kEmail};
constexpr RoutePolicy kReadMessages{Permission::kMessagesRead, true, false, BodyKind::kNone};

// Per-route body limits: far below MAX_CONTENT_LENGTH (the ceiling). An email
// may carry 10,000 characters of text and of html, each up to 6 bytes once
// JSON-escaped; a single SMS is at most 500 characters.
constexpr Route kRoutes[] = {
    {kGet, "/livez", "livez", handleLivez, 0, kProbe},
    {kGet, "/health", "health", handleHealth, 0, kPublic},
    {kPost, "/v1/sms", "sms", handleSms, 64 * kKiB, kSendSms},
    {kPost, "/v1/sms/bulk", "sms_bulk", handleSmsBulk, 1024 * kKiB, kSendBulk},
    {kPost, "/v1/email", "email", handleEmail, 256 * kKiB, kSendEmail},
    {kGet, "/v1/messages/{id}", "message_status", handleMessageStatus, 0, kReadMessages},
};

}  // namespace

std::span<const Route> gatewayRoutes() { return kRoutes; }

GatewayApp::GatewayApp(const config::Config& cfg, const pipeline::PolicyConfig& policy,
                       const crypto::KeyRing& key_ring, std::unique_ptr<state::StateStore> store,
                       std::span<const Route> routes)
    : cfg_(cfg),
      router_(routes),
      store_(std::move(store)),
      services_{cfg, policy, key_ring, *store_},
      pipeline_(policy) {}

// Routing happens as soon as the head is complete, so the body limit is the
// route's own and an unknown route never gets its body read. The address
// checks run here too, before any answer that would say what exists.
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
  if (!pipeline_.runHead(st->ctx)) return;  // answered: the connection closes
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
  if (!m.route->policy.bypass && !pipeline_.runBody(st->ctx)) return;  // answered
  Call call{*st, services_, std::span<const std::string_view>(m.params.data(), m.param_count)};
  m.route->handler(call);
}

// The exchange is over: answered, or its connection closed first. In the
// second case an asynchronous call may still hold the state; it sees
// `aborted` and returns the state to the pool itself.
void GatewayApp::onDone(net::Exchange& ex) {
  auto* st = static_cast<CallState*>(ex.app_data);
  if (st == nullptr) return;
  ex.app_data = nullptr;
  if (ex.responded()) {
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
