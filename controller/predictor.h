// The predictor across rungs: what a trial's result at a lower rung, together with its
// architecture, says about the AP it would reach at the top rung. It maps rung-k results onto the
// top rung's scale for the policy's reward (scheduler.h), ranks a rung's results for promotion
// when search.promotion is "predicted" (rungs.h), and, fitted on the architecture alone, ranks
// candidate proposals for search.guided_candidates (proposer.h). Closed form, no LibTorch.
//
// The model of rung k (below the top): a ridge regression
//
//   top AP ~ a + b x AP_k + w . f        f: the architecture's features (search_spaces/features.h)
//
// fitted on the trials measured at both rung k and the top rung ("pairs": the promoted trials),
// refitted whenever a pair arrives. It shrinks toward a prior, not toward zero: b toward 1 and w
// toward 0, the intercept a free, with the penalty lambda x sum_j s_j^2 (beta_j - prior_j)^2,
// s_j the standard deviation of column j over the pairs. lambda is in units of pairs: at lambda = n
// the prior weighs on each column as much as the n pairs do. So with too few pairs it degrades
// to the identity plus an offset:
//   0 pairs: the rung's AP itself (a = 0, b = 1, w = 0);
//   1 pair:  the rung's AP shifted by that pair's gap (top AP - AP_k); no column varies, so no
//            slope moves from its prior;
//   2 or more: the slope and the feature weights move away from the prior as far as the pairs
//            carry them; lambda is the one of kLambdaGrid with the least leave-one-out squared
//            error, or kDefaultLambda below kMinPairsForLambdaChoice pairs.
// Predictions are clipped to [0, 1] (an AP).
//
// Fit quality is measured on held-out pairs: each pair predicted by the model fitted on the
// others (leave-one-out, with the lambda chosen on all pairs, so slightly optimistic), then R^2
// and Kendall's tau-b of those predictions against the measured top AP. Beside it, the tau of the
// rung's AP alone (no fitting) says what the predictor adds.
//
// Deterministic: a pure function of the results added, in any order. Not thread-safe; the
// scheduler calls it under its state lock.
#ifndef VERTEBRA_CONTROLLER_PREDICTOR_H_
#define VERTEBRA_CONTROLLER_PREDICTOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "search_spaces/features.h"
#include "search_spaces/proxy.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::controller {

// Penalties tried, in pairs (see above), and the one used when there are too few pairs to choose.
inline constexpr double kLambdaGrid[] = {0.01, 0.1, 0.3, 1, 3, 10, 30, 100};
inline constexpr double kDefaultLambda = 10;
inline constexpr int kMinPairsForLambdaChoice = 5;

// y ~ intercept + coef . x.
struct RidgeModel {
  double intercept = 0;
  std::vector<double> coef;
  double lambda = 0;
  int rows = 0;  // Rows it was fitted on.
  double Predict(absl::Span<const double> x) const;
};

struct RidgeFit {
  RidgeModel model;
  // Per row, its prediction by the model fitted on the other rows with the same penalty (the
  // column scales of all rows); empty with fewer than two rows.
  std::vector<double> held_out;
};

// The ridge regression above with a fixed `lambda` (>= 0): rows `x` (each prior.size() long),
// targets `y`, shrinking coef toward `prior`; the intercept is not penalized. A column that does
// not vary over the rows keeps its prior coefficient. No rows: intercept 0, coef = prior.
RidgeFit FitRidge(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                  const std::vector<double>& prior, double lambda);

// FitRidge with the lambda of kLambdaGrid whose held-out squared error is least (the first on
// ties), or kDefaultLambda with fewer than kMinPairsForLambdaChoice rows.
RidgeFit FitRidgeChoosingLambda(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                                const std::vector<double>& prior);

// An architecture's features as the predictor reads them: search_spaces::ArchFeatures of its
// backbone as the proxy task builds it.
search_spaces::ArchFeatureVector ProxyFeatures(const search_spaces::ResolvedProxy& proxy);

// How well the model of one rung predicts the top rung, on held-out pairs.
struct PredictorQuality {
  int32_t rung = 0;
  int pairs = 0;               // Trials measured at this rung and the top one.
  double lambda = 0;
  double held_out_r2 = 0;      // NaN with fewer than three pairs.
  double held_out_tau = 0;     // Kendall's tau-b of the held-out predictions; NaN likewise.
  double rung_ap_tau = 0;      // Kendall's tau-b of the rung's AP alone against the top AP; NaN likewise.
};

class RungPredictor {
 public:
  // `rungs` >= 1 rungs; features are computed at `proxy`'s size and scaling.
  RungPredictor(int32_t rungs, const v1::ProxyTask& proxy);

  // Records a search trial's AP at `rung` (in [0, rungs)), and the top-scale AP its record gives
  // for that rung (RungResult.ap_at_top; the AP itself when the record has none) as the
  // candidate model's label once it is the trial's highest rung. Reused results are not added.
  void Add(const v1::Trial& trial, int32_t rung, double ap);

  // The expected top-rung AP of `trial` given `ap` at `rung`: `ap` at the top rung, else the
  // rung's model (refitted first if pairs arrived).
  double TopEstimate(const v1::Trial& trial, int32_t rung, double ap) const;

  // Per rung below the top, the fit quality (empty with one rung).
  std::vector<PredictorQuality> Quality() const;

  // The model of the top-scale AP from the features alone, fitted on every trial added (its
  // label: the top-scale AP of its highest rung); prior: every weight 0. Refitted when results
  // arrived since the last call.
  const RidgeModel& CandidateModel() const;

 private:
  struct Record {
    search_spaces::ArchFeatureVector features{};
    std::map<int32_t, double> ap;  // By rung.
    double label = 0;              // Top-scale AP of its highest rung.
  };
  // The features of `trial`, from the cache or computed; zeros when its spec does not resolve
  // (every proposal was priced by the same resolution, so this is not expected).
  search_spaces::ArchFeatureVector FeaturesOf(const v1::Trial& trial) const;
  // Rung k's pairs, by trial id: rows [AP_k, features...] and the top AP.
  void Pairs(int32_t k, std::vector<std::vector<double>>* x, std::vector<double>* y) const;
  const RidgeFit& FitOf(int32_t k) const;

  const int32_t rungs_;
  const v1::ProxyTask proxy_;
  std::map<int64_t, Record> records_;
  mutable std::map<int64_t, search_spaces::ArchFeatureVector> feature_cache_;  // Trials not added yet.
  // Per rung below the top, the fit over the pairs as they stood (refitted when the count changes).
  mutable std::vector<std::optional<RidgeFit>> fits_;
  int64_t top_results_ = 0;
  mutable std::vector<int64_t> fitted_at_;  // top_results_ when fits_[k] was made.
  int64_t added_ = 0;
  mutable std::optional<RidgeModel> candidate_;
  mutable int64_t candidate_at_ = -1;
};

// The quality of the predictor an experiment's results give, as the scheduler's own would be
// (search trials, reused results left out): for `vertebra status` and the report.
std::vector<PredictorQuality> PredictorQualityOf(const v1::ExperimentConfig& config,
                                                 const std::vector<v1::Trial>& trials);

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_PREDICTOR_H_
