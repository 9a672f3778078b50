// The verdict of a search's final validation (controller/final_stage.h): each finalist against
// each control, over the final runs' fresh seeds. A finalist "beats" a control only when its mean
// AP exceeds the control's by more than kBeatsPooledSds pooled seed SDs and a one-sided Welch
// t-test gives p < kBeatsP; otherwise it is "not distinguishable from" it. Computed from the trial
// records alone, so that a database and a running controller give the same verdict. Pure;
// thread-compatible.
#ifndef VERTEBRA_INSPECT_VERDICT_H_
#define VERTEBRA_INSPECT_VERDICT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/stats.h"
#include "nlohmann/json.hpp"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::inspect {

// The rule: more than 2 pooled SDs and p below 0.05, both (the bar for "better than luck").
inline constexpr double kBeatsPooledSds = 2.0;
inline constexpr double kBeatsP = 0.05;

// One finalist or control and its final runs (those at the final section's steps).
struct FinalSubject {
  int64_t trial = 0;
  std::string name;        // "trial 6" or the control's entry ("spinenet-49").
  bool control = false;
  int64_t params = 0, macs = 0;
  std::vector<int64_t> runs;  // Final runs with a result, by seed index.
  std::vector<double> aps;    // Their AP, in the same order.
  int64_t pending = 0;        // Runs not finished yet (pending or leased).
  int64_t failed = 0;
};

struct FinalComparison {
  size_t finalist = 0, control = 0;  // Indices into Verdict::finalists and ::controls.
  WelchResult welch;                 // finalist (a) against control (b).
  double pooled_sds = 0;             // welch.difference / welch.pooled_sd (NaN when undefined).
  bool decided = false;              // Both have at least two results.
  bool beats = false;
};

struct Verdict {
  // The final section as the runs show it: top_k as configured, the steps of the newest final
  // run (only runs of those steps count) and the most seeds any subject was asked for.
  v1::FinalConfig config;
  std::vector<FinalSubject> finalists;  // Best first, as the search ranked them.
  std::vector<FinalSubject> controls;
  std::vector<FinalComparison> comparisons;  // Every finalist against every control.
  std::string note;                  // When fewer finalists than top_k exist.
  bool complete = false;             // Every run asked for has finished.
  // Training seconds (the workers' train_seconds over every result) by role, for the cost.
  double search_seconds = 0, control_seconds = 0, final_seconds = 0;
};

// The verdict of the experiment whose configuration and trials (every one, any order) are given;
// nullopt when no final run exists.
std::optional<Verdict> ComputeVerdict(const v1::ExperimentConfig& config, const std::vector<v1::Trial>& trials);

// A table for the terminal: the subjects (mean, SD, seeds, MACs, parameters), then one line per
// comparison.
std::string VerdictText(const Verdict& verdict);
// One plain sentence per control ("Against spinenet-49 (AP 0.113 +- 0.010 over 2 seeds, 209.5 M
// multiply-adds): trial 6 beats it by 15.2 pooled SDs (Welch p = 0.0001); ...").
std::vector<std::string> VerdictSentences(const Verdict& verdict);
// The lines about one trial (a finalist or a control), for `show`; empty when it is neither.
std::vector<std::string> VerdictLinesFor(const Verdict& verdict, int64_t trial);
nlohmann::json VerdictJson(const Verdict& verdict);

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_VERDICT_H_
