#include "delivery/simulator.h"

namespace phigate::delivery {

SimulatedOutcome simulate(std::string_view to, uint32_t attempt) {
  using state::FinishKind;
  if (to == "+919000000001" && attempt <= 1) return {FinishKind::kRetry, "test-temporary"};
  if (to == "+919000000002") return {FinishKind::kFailed, "test-permanent"};
  if (to == "+919000000003") return {FinishKind::kUndelivered, "test-undelivered"};
  return {FinishKind::kDelivered, {}};
}

}  // namespace phigate::delivery
