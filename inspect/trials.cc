#include "inspect/trials.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "controller/final_stage.h"
#include "proto/kinds.h"

namespace vertebra::inspect {

const v1::RungResult* TopResult(const v1::Trial& trial) {
  const v1::RungResult* top = nullptr;
  for (const v1::RungResult& r : trial.results()) {
    if (r.ap().stats_size() > 0 && (top == nullptr || r.rung() > top->rung())) top = &r;
  }
  return top;
}

std::vector<v1::Trial> RankTrials(std::vector<v1::Trial> trials) {
  trials.erase(std::remove_if(trials.begin(), trials.end(),
                              [](const v1::Trial& t) { return !IsSearchTrial(t) || TopResult(t) == nullptr; }),
               trials.end());
  std::stable_sort(trials.begin(), trials.end(), [](const v1::Trial& a, const v1::Trial& b) {
    const v1::RungResult* x = TopResult(a);
    const v1::RungResult* y = TopResult(b);
    if (x->rung() != y->rung()) return x->rung() > y->rung();
    if (x->ap().stats(0) != y->ap().stats(0)) return x->ap().stats(0) > y->ap().stats(0);
    return a.id() < b.id();
  });
  return trials;
}

absl::StatusOr<std::vector<v1::Trial>> AllTrials(const controller::Store& store) {
  return store.ListTrials(0, std::numeric_limits<int64_t>::max());
}

absl::StatusOr<v1::Trial> FindTrial(const controller::Store& store, const std::string& which) {
  if (which == "best") {
    absl::StatusOr<std::vector<v1::Trial>> all = AllTrials(store);
    if (!all.ok()) return all.status();
    std::vector<v1::Trial> ranked = RankTrials(std::move(*all));
    if (ranked.empty()) return absl::FailedPreconditionError("no trial has a result yet, so there is no best one");
    return ranked.front();
  }
  int64_t id = 0;
  if (!absl::SimpleAtoi(which, &id) || id < 1) {
    return absl::InvalidArgumentError(absl::StrFormat("trial \"%s\": expected \"best\" or a trial id (1, 2, ...)", which));
  }
  return store.GetTrial(id);
}

int64_t FinalRunsExpected(const v1::ExperimentConfig& config, const controller::RoleCounts& counts) {
  const int64_t made = counts.final_runs.total();
  return made > 0 ? made : controller::MostFinalRuns(config);
}

StepCounts CountTrainedSteps(const std::vector<v1::Trial>& trials) {
  StepCounts c;
  for (const v1::Trial& t : trials) {
    c.trained += t.trained_steps();
    c.repeated += t.repeated_steps();
    if (t.repeated_steps() > 0) c.repeated_by_trial.push_back({t.id(), t.repeated_steps()});
  }
  std::stable_sort(c.repeated_by_trial.begin(), c.repeated_by_trial.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return c;
}

std::string StepCountsText(const StepCounts& c, size_t max_trials) {
  if (c.trained == 0) return "none recorded";  // Nothing trained yet, or a database older than the counts.
  if (c.repeated == 0) return absl::StrFormat("%d trained, none more than once", c.trained);
  std::string out = absl::StrFormat("%d trained, %d of them more than once (%.1f%%):", c.trained, c.repeated,
                                    c.trained > 0 ? 100.0 * c.repeated / c.trained : 0.0);
  for (size_t i = 0; i < c.repeated_by_trial.size() && i < max_trials; ++i) {
    absl::StrAppendFormat(&out, "%s trial %d %d", i == 0 ? "" : ",", c.repeated_by_trial[i].first,
                          c.repeated_by_trial[i].second);
  }
  if (c.repeated_by_trial.size() > max_trials) {
    absl::StrAppendFormat(&out, " and %d more", c.repeated_by_trial.size() - max_trials);
  }
  return out;
}

}  // namespace vertebra::inspect
