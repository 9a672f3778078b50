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

void TrialCounts::Add(int state, int64_t n) {
  switch (state) {
    case v1::PENDING: pending += n; break;
    case v1::LEASED: leased += n; break;
    case v1::DONE: done += n; break;
    case v1::FAILED: failed += n; break;
    case v1::REJECTED: rejected += n; break;
    case v1::STOPPED: stopped += n; break;
    default: break;  // TRIAL_STATE_UNSPECIFIED and unknown values count nowhere.
  }
}

}  // namespace vertebra::controller
