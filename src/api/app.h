// The gateway application: the route table and the generic answers (404,
// 405 with Allow, OPTIONS) around the handlers.
#pragma once

#include <span>

#include "api/router.h"
#include "config/config.h"
#include "net/exchange.h"

namespace phigate::api {

/** phigate's routes (static table; see routes.cpp). */
std::span<const Route> gatewayRoutes();

class GatewayApp : public net::Application {
 public:
  GatewayApp(const config::Config& cfg, std::span<const Route> routes);

  void onHead(net::Exchange& ex) override;
  void onRequest(net::Exchange& ex) override;

 private:
  void notFound(net::Exchange& ex);
  void methodNotAllowed(net::Exchange& ex, uint8_t allowed);
  void options(net::Exchange& ex, uint8_t allowed);

  const config::Config& cfg_;
  Router router_;
};

/** Sends a problem+json response with a static problem description. */
void respondProblem(net::Exchange& ex, int status, std::string_view type,
                    std::string_view title, std::string_view detail,
                    std::span<const net::HeaderField> extra = {});

}  // namespace phigate::api
