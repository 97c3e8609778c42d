// The gateway application: route table, the security pipeline in front of
// every handler, and the generic answers (404, 405 with Allow, OPTIONS).
#pragma once

#include <uv.h>

#include <memory>
#include <span>

#include "api/call.h"
#include "api/router.h"
#include "config/config.h"
#include "delivery/service.h"
#include "net/exchange.h"
#include "pipeline/pipeline.h"
#include "upstream/ehospital_proxy.h"

namespace phigate::api {

/** phigate's routes (static table). */
std::span<const Route> gatewayRoutes();

/**
 * The most body a route can accept under `cfg` (the eHospital write route's
 * comes from EHOSPITAL_MAX_REQUEST_BYTES, 0 when the pass-through is off).
 */
uint64_t routeMaxBody(const Route& route, const config::Config& cfg);

class GatewayApp : public net::Application {
 public:
  GatewayApp(const config::Config& cfg, const pipeline::PolicyConfig& policy,
             const crypto::KeyRing& key_ring, std::unique_ptr<state::StateStore> store,
             std::span<const Route> routes, delivery::DeliverySetup delivery = {.enabled = false});
  ~GatewayApp() override;

  void onHead(net::Exchange& ex) override;
  void onRequest(net::Exchange& ex) override;
  void onDone(net::Exchange& ex) override;
  void onStart(net::Worker& worker) override;
  void onStop() override;
  bool sharedPeer(const unsigned char (&bytes)[16]) const override;

  state::StateStore& store() { return *store_; }
  const delivery::DeliveryService& delivery() const { return delivery_; }

 private:
  void notFound(net::Exchange& ex);
  void methodNotAllowed(net::Exchange& ex, uint8_t allowed);
  void options(net::Exchange& ex, uint8_t allowed);
  static void onBlocksTimer(uv_timer_t* t);
  static void onAuthFailure(void* self, std::string_view subject);
  void refreshBlocks();

  const config::Config& cfg_;
  Router router_;
  std::unique_ptr<state::StateStore> store_;
  delivery::DeliveryService delivery_;
  Services services_;
  upstream::EhospitalSetup ehospital_setup_;
  std::unique_ptr<upstream::EhospitalProxy> ehospital_;
  pipeline::Pipeline pipeline_;
  CallPool pool_;
  uv_timer_t blocks_timer_;
  bool started_ = false;
  bool refreshing_ = false;
};

}  // namespace phigate::api
