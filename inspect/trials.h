// Finding trials for the inspection and re-training commands (`show`, `export`, `retrain`,
// `report`): "best" or an id, read from a store that may be the live database of a running
// controller (opened read-only).
#ifndef VERTEBRA_INSPECT_TRIALS_H_
#define VERTEBRA_INSPECT_TRIALS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::inspect {

// The result a trial is ranked by: the one at the highest rung it reached (nullptr: none).
const v1::RungResult* TopResult(const v1::Trial& trial);

// The trials ranked as the search ranks them: those measured at a higher rung first (a lower
// rung's AP is not comparable), then by AP at that rung, ties by lower id. Trials without a
// result, controls and final runs (proto/kinds.h: IsSearchTrial) are left out.
std::vector<v1::Trial> RankTrials(std::vector<v1::Trial> trials);

// "best" (the first of RankTrials) or a trial id ("17"). InvalidArgument for anything else,
// NotFound naming the id, FailedPrecondition when "best" is asked and no trial has a result.
absl::StatusOr<v1::Trial> FindTrial(const controller::Store& store, const std::string& which);

// Every trial of the store, by id.
absl::StatusOr<std::vector<v1::Trial>> AllTrials(const controller::Store& store);

// The final validation's runs a search has, once its final stage began, else the most its final
// section asks for (controller/final_stage.h MostFinalRuns; 0 without one).
int64_t FinalRunsExpected(const v1::ExperimentConfig& config, const controller::RoleCounts& counts);

// The steps the trials trained (Trial.trained_steps) and of those the steps trained more than once
// (Trial.repeated_steps: a promotion retrained from step 0, a lease lost after its last
// checkpoint), with the trials that repeated any, most first (ties: lower id first).
struct StepCounts {
  int64_t trained = 0;
  int64_t repeated = 0;
  std::vector<std::pair<int64_t, int64_t>> repeated_by_trial;  // (trial, steps).
};
StepCounts CountTrainedSteps(const std::vector<v1::Trial>& trials);

// "9200 trained, 400 of them more than once (4.3%): trial 6 400, trial 2 100", naming at most
// `max_trials` trials ("and 3 more"); "9200 trained, none more than once"; "none recorded" when
// nothing was trained (or the records are older than the counts).
std::string StepCountsText(const StepCounts& counts, size_t max_trials);

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_TRIALS_H_
