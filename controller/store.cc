#include "controller/store.h"

namespace vertebra::controller {

std::optional<double> BestAp(const v1::Trial& trial) {
  const v1::RungResult* best = nullptr;
  // `>=`: if a rung was reported twice (a retried lease whose first report also arrived), the later
  // report is the one the controller acted on.
  for (const v1::RungResult& result : trial.results()) {
    if (best == nullptr || result.rung() >= best->rung()) best = &result;
  }
  if (best == nullptr || best->ap().stats().empty()) return std::nullopt;
  return best->ap().stats(0);
}

}  // namespace vertebra::controller
