// The mock provider as a net::Application: CDAC Mobile Seva (send and
// delivery report), a generic JSON provider, and the test hooks, on
// phigate's own HTTP/1.1 server.
#pragma once

#include <uv.h>

#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>

#include "mock/behaviour.h"
#include "mock/cdac.h"
#include "mock/delivery_book.h"
#include "mock/recorder.h"
#include "net/exchange.h"

namespace phigate::mock {

struct MockOptions {
  CdacAccount cdac;
  std::string http_token;  // Bearer token of POST /v1/messages
  MockBehaviour behaviour;
  uint64_t seed = 0;       // for the random rates; see `seeded`
  bool seeded = false;     // false: a seed from std::random_device
};

class MockApp : public net::Application {
 public:
  MockApp(MockOptions opts, Recorder& recorder);

  void onHead(net::Exchange& ex) override;
  void onRequest(net::Exchange& ex) override;
  void onDone(net::Exchange& ex) override;
  void onStart(net::Worker& worker) override;

 private:
  struct Pending;
  /** What a valid send gets before (or instead of) being taken. */
  enum class Injected { kNone, kTemporary, kPermanent };

  void handleCdac(net::Exchange& ex);
  void handleReport(net::Exchange& ex);
  void handleJson(net::Exchange& ex);
  void handleReceived(net::Exchange& ex);
  void handleControl(net::Exchange& ex);
  /** Answers now, or after the latency when one is set; `drop` resets the connection instead. */
  void answer(net::Exchange& ex, int status, std::string_view type, std::string body, bool drop = false);
  /** --permanent-next, then --fail-next, then --error-rate (counting the "next" ones down). */
  Injected takeInjected();
  bool chance(double p);
  uint64_t nowMs() const;
  std::string freshId(std::string_view prefix);
  static void onLatencyTimer(uv_timer_t* t);

  MockOptions opts_;
  MockBehaviour& b_;  // opts_.behaviour
  Recorder& recorder_;
  uv_loop_t* loop_ = nullptr;
  uint64_t next_id_ = 1;
  std::mt19937_64 rng_;
  DeliveryBook book_;
  // Our message id -> the provider id it got: a repeat gets the same answer.
  std::unordered_map<std::string, std::string> seen_;
};

}  // namespace phigate::mock
