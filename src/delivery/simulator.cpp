#include "delivery/simulator.h"

namespace phigate::delivery {

SimulatedOutcome simulate(std::string_view to, uint32_t attempt) {
  using state::FinishKind;
  if (to == "+919000000001" && attempt <= 1) return {FinishKind::kRetry, "test-temporary"};
  if (to == "+919000000002") return {FinishKind::kFailed, "test-permanent"};
  if (to == "+919000000003") return {FinishKind::kUndelivered, "test-undelivered"};
  // Email: the codes a real server would give (email_sender.h).
  if (to == "temporary-failure@simulator.phigate.test" && attempt <= 1) return {FinishKind::kRetry, "smtp-451"};
  if (to == "permanent-failure@simulator.phigate.test") return {FinishKind::kFailed, "smtp-550"};
  return {FinishKind::kDelivered, {}};
}

}  // namespace phigate::delivery
