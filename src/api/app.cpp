#include "api/app.h"

#include <string>

#include "api/health.h"
#include "net/problem.h"
#include "net/worker.h"

namespace phigate::api {

namespace {

constexpr Route kRoutes[] = {
    {kGet, "/livez", "livez", handleLivez, 0},
    {kGet, "/health", "health", handleHealth, 0},
};

}  // namespace

std::span<const Route> gatewayRoutes() { return kRoutes; }

void respondProblem(net::Exchange& ex, int status, std::string_view type,
                    std::string_view title, std::string_view detail,
                    std::span<const net::HeaderField> extra) {
  net::Buffer& body = ex.worker().scratch();
  body.clear();
  net::writeProblem(body, net::Problem{status, type, title, detail}, ex.ensureRequestId());
  ex.respond(status, net::kProblemType, body.view(), extra);
}

GatewayApp::GatewayApp(const config::Config& cfg, std::span<const Route> routes)
    : cfg_(cfg), router_(routes) {}

// Routing happens as soon as the head is complete, so the body limit is the
// route's own and an unknown route never gets its body read.
void GatewayApp::onHead(net::Exchange& ex) {
  const net::HttpRequest& req = ex.request();
  const RouteMatch m = router_.find(req.method, req.path);
  if (m.route != nullptr) {
    ex.route = m.route;
    ex.route_name = m.route->name;
    ex.body_limit = m.route->max_body;
    return;
  }
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
  if (m.route != nullptr) {
    m.route->handler(ex, m);
  } else if (m.allowed == 0) {
    notFound(ex);
  } else if (req.method == net::Method::kOptions) {
    options(ex, m.allowed);
  } else {
    methodNotAllowed(ex, m.allowed);
  }
}

void GatewayApp::notFound(net::Exchange& ex) {
  respondProblem(ex, 404, "not-found", "Not Found", "No such resource.");
}

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
