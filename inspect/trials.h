// Finding trials for the inspection and re-training commands (`show`, `export`, `retrain`,
// `report`): "best" or an id, read from a store that may be the live database of a running
// controller (opened read-only).
#ifndef VERTEBRA_INSPECT_TRIALS_H_
#define VERTEBRA_INSPECT_TRIALS_H_

#include <optional>
#include <string>
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

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_TRIALS_H_
