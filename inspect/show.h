// What the inspection commands print about trials: one trial in full (`vertebra show`), the
// summary record `status` and `top` print per trial, and the Pareto front of AP against MACs
// (`top --pareto`). Rendering only: the records come from a SearchSource (source.h).
#ifndef VERTEBRA_INSPECT_SHOW_H_
#define VERTEBRA_INSPECT_SHOW_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/predictor.h"
#include "controller/store.h"
#include "inspect/source.h"
#include "inspect/verdict.h"
#include "nlohmann/json.hpp"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::inspect {

// The Pareto front of AP (maximized) against MACs (minimized). AP is only comparable within a
// rung, so the front is taken among the trials whose highest rung is the highest rung any trial
// reached (`rung`); the others are left out. A trial that reused another's result is the same
// architecture with the same numbers and is left out too, and so are controls and final runs. `front` is ordered by MACs, then by AP
// (higher first), then by id; no trial in it dominates another (at least as good in both, better
// in one). Empty when no trial has a result.
struct ParetoFront {
  int32_t rung = 0;
  int64_t candidates = 0;  // Trials at `rung` it was chosen from.
  std::vector<v1::Trial> front;
};
ParetoFront ComputeParetoFront(const std::vector<v1::Trial>& trials);

// The one-object summary of a trial that `status --json` and `top --json` print: id, role, state, hash,
// rung, params, macs (at the proxy scaling), reward, attempts, failure, reused_from, parent, seed,
// control (its entry), final_of and final_seed (a final run's), and every rung result (rung, lease, steps, the 12 AP numbers, reward, worker, simulated, continued,
// train_seconds, images_per_s).
nlohmann::json TrialSummaryJson(const v1::Trial& trial);

// The predictor across rungs (controller/predictor.h) that the search's results give, per rung
// below the top, as `status` and the report show it: one line ("predictor rung 0 -> 1: 34 pairs,
// held-out R^2 0.612, Kendall tau 0.551 (rung AP alone 0.412), lambda 3"), and one JSON object
// with the keys rung, top_rung, pairs, lambda, held_out_r2, held_out_tau and rung_ap_tau (null
// where there are too few pairs to measure).
std::string PredictorQualityLine(const controller::PredictorQuality& quality, int top_rung);
nlohmann::json PredictorQualityJson(const controller::PredictorQuality& quality, int top_rung);

// Everything `show` prints about one trial.
struct TrialDetail {
  v1::Trial trial;
  std::vector<v1::MetricPoint> metrics;
  v1::ExperimentConfig experiment;
  std::optional<Verdict> verdict;  // The search's final validation, when it has one.
};

// The trial ("best" or an id, as FindTrial), its training curve and the experiment it belongs
// to. Errors as FindTrial and the source.
absl::StatusOr<TrialDetail> LoadTrialDetail(const SearchSource& source, const std::string& which);

// The text of `show`: sections "spec", "drawing", "cost", "results", "training curve", "worker",
// "timings" and "lineage", each under a "== name ==" line, then "final validation" for a
// finalist or a control of the verdict, and "role" first for a control or a final run. The drawing and the cost are at the
// scaling and input size the search priced the trial at (the experiment's proxy task).
// InvalidArgument when the stored spec or the proxy's scaling does not resolve.
absl::StatusOr<std::string> ShowText(const TrialDetail& detail);

// The same as one JSON object with the keys "trial", "experiment", "spec", "hash", "drawing",
// "cost", "results", "curve", "worker", "timings", "lineage", "role" (with "control", "final_of",
// "final_seed", "seed" where they apply) and "final" (the verdict's lines about this trial).
absl::StatusOr<nlohmann::json> ShowJson(const TrialDetail& detail);

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_SHOW_H_
