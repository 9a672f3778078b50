// The rungs of asynchronous successive halving: which trials have a result at each rung, which
// one to promote next, and the top-rung AP a lower rung's result predicts (predictor.h).
//
// Rungs: rungs.steps = [s0, s1, ...]. A trial whose result at rung k is in the top
// floor(n_k / eta) of the n_k results at rung k (by AP, or by Pareto rank of AP against MACs for
// the ap_macs objective, common/pareto.h) and that has not been promoted yet is promoted to rung
// k + 1; higher rungs are served first. With search.promotion "predicted", the AP that ranks is
// the top-rung AP the predictor expects from the rung's AP and the architecture, as it stands when
// the quota is asked for (it is refitted as pairs arrive, so a quota may change as it does).
//
// Not thread-safe: the scheduler calls it with its state lock held. It reads the scheduler's
// trial records, which it does not own.
#ifndef VERTEBRA_CONTROLLER_RUNGS_H_
#define VERTEBRA_CONTROLLER_RUNGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "controller/predictor.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::controller {

// The trial's result at `rung`, or null when it has none.
const v1::RungResult* ResultAt(const v1::Trial& trial, int32_t rung);

class Rungs {
 public:
  // The rung count and the promotion rule (eta, objective) come from `config`.
  explicit Rungs(const v1::ExperimentConfig& config);

  int32_t count() const { return static_cast<int32_t>(trials_.size()); }

  // Records a trained search trial's AP at `rung` (in [0, count())); `trial` is its record with
  // that result. Reused results are not recorded.
  void Add(const v1::Trial& trial, int32_t rung, double ap);

  // The trial to lease at the next rung: at the highest rung k that has one, a trial in rung k's
  // promotion quota that is still at rung k and DONE there. `trials` holds every trial recorded
  // with Add, by id.
  std::optional<int64_t> FindPromotion(const std::map<int64_t, v1::Trial>& trials) const;
  // Every trial FindPromotion could return, in the order it prefers them: from the highest rung
  // down, each rung's quota best first.
  std::vector<int64_t> Promotions(const std::map<int64_t, v1::Trial>& trials) const;

  // The expected top-rung AP of `trial` given `ap` at `rung` (RungPredictor::TopEstimate): `ap`
  // itself at the top rung.
  double TopEstimate(const v1::Trial& trial, int32_t rung, double ap) const {
    return predictor_.TopEstimate(trial, rung, ap);
  }

  const RungPredictor& predictor() const { return predictor_; }

  // Rung `rung`'s promotion quota: the top floor(n / eta) of its n results by the promotion
  // order (AP or predicted top-rung AP, or Pareto rank of that against MACs, then AP, then id),
  // best first, whether promoted yet or not.
  // `extra`, when given, is a trial record with a result at `rung` that is not recorded yet:
  // the quota is computed as if it were (the scheduler asks before it commits the result).
  std::vector<int64_t> Quota(int32_t rung, const std::map<int64_t, v1::Trial>& trials,
                             const v1::Trial* extra = nullptr) const;

  // How many results each rung holds.
  std::vector<int64_t> ResultsPerRung() const;

 private:
  const int eta_;
  const bool pareto_;                     // ap_macs: promote by Pareto rank of AP against MACs.
  const bool predicted_;                  // search.promotion "predicted".
  RungPredictor predictor_;
  std::vector<std::vector<int64_t>> trials_;  // Trials with a result at each rung, in order.
  // Per rung, the results ordered best first: (-AP, trial id). Promotion by AP reads its top.
  std::vector<std::set<std::pair<double, int64_t>>> order_;
};

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_RUNGS_H_
