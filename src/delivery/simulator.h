// Simulated delivery: what a test key's messages (and every message with
// SMS_PROVIDER=mock) get instead of a provider. Documented magic recipients
// let integrators exercise their error handling, as GOV.UK Notify's and
// Twilio's test numbers do (README.md, "Test keys"):
//   +919000000001  a temporary failure on the first attempt, then delivered
//   +919000000002  a permanent failure (failed, test-permanent)
//   +919000000003  sent, then undelivered (test-undelivered)
//   temporary-failure@simulator.phigate.test   a temporary failure on the
//                  first attempt ("smtp-451"), then delivered
//   permanent-failure@simulator.phigate.test   a permanent failure (failed,
//                  "smtp-550")
//   anything else  delivered
#pragma once

#include <string_view>

#include "delivery/sms_adapter.h"
#include "state/outbox.h"

namespace phigate::delivery {

inline constexpr std::string_view kSimulatedProvider = "simulated";

struct SimulatedOutcome {
  state::FinishKind kind = state::FinishKind::kDelivered;
  std::string_view error_code;  // kRetry / kFailed / kUndelivered
};

SimulatedOutcome simulate(std::string_view to, uint32_t attempt);

}  // namespace phigate::delivery
