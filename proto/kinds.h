// The one place that spells the kinds (vertebra/v1/kinds.proto, and v1::TrialState) in words: the
// experiment file, the store's text columns and the command line's output use these spellings,
// which never change; code compares the enum values. Stateless; thread-safe.
//
//   KindName(v1::ALGORITHM_PPO)                    "ppo"
//   ParseKind<v1::Algorithm>("ppo")                v1::ALGORITHM_PPO; nullopt for an unknown word
//   KindNames<v1::Algorithm>()                     {"ppo", "reinforce", "evolution", "random"}
//   AlgorithmOf(config.algorithm())                the configuration's kind (its record keeps the word)
#ifndef VERTEBRA_PROTO_KINDS_H_
#define VERTEBRA_PROTO_KINDS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "vertebra/v1/experiment.pb.h"
#include "vertebra/v1/kinds.pb.h"

namespace vertebra {

// The word for `value`; "" for UNSPECIFIED or a number outside the enum.
absl::string_view KindName(v1::Algorithm value);
absl::string_view KindName(v1::Objective value);
absl::string_view KindName(v1::Schedule value);
absl::string_view KindName(v1::Precision value);
absl::string_view KindName(v1::SimulatedObjective value);
absl::string_view KindName(v1::Promotion value);
absl::string_view KindName(v1::ExperimentState value);
absl::string_view KindName(v1::TrainStatus value);
absl::string_view KindName(v1::TrialState value);  // "pending", "done", ...
absl::string_view KindName(v1::TrialRole value);   // "search", "control", "final".

// The value spelled `name` (exactly, lower case); nullopt for any other word, "" included.
// Defined for the enums KindName takes.
template <typename Kind>
std::optional<Kind> ParseKind(absl::string_view name);

// Every word of the enum, in the order the experiment file's errors list them.
template <typename Kind>
std::vector<std::string> KindNames();

// The kinds an experiment's configuration names. Its record (vertebra/v1/experiment.proto) keeps
// the words, so that stored configurations read unchanged; a word it does not know is
// UNSPECIFIED (the configuration reader refuses those: controller/config.h).
v1::Algorithm AlgorithmOf(const v1::AlgorithmConfig& algorithm);
v1::Objective ObjectiveOf(const v1::ObjectiveConfig& objective);
// "" is SCHEDULE_COSINE (the reading before the field existed).
v1::Schedule ScheduleOf(const v1::ProxyTask& proxy);
// "" is PRECISION_FP32 (what a trial trained in before the field existed).
v1::Precision PrecisionOf(const v1::ProxyTask& proxy);
// "" is SIMULATED_OBJECTIVE_TOY (the default).
v1::SimulatedObjective SimulatedObjectiveOf(const v1::SimulationConfig& simulation);

// "" is PROMOTION_RUNG_AP (the only promotion before the field).
v1::Promotion PromotionOf(const v1::SearchConfig& search);

// A trial's role; a record stored before roles existed (UNSPECIFIED) is a search trial.
inline v1::TrialRole RoleOf(const v1::Trial& trial) {
  return trial.role() == v1::TRIAL_ROLE_UNSPECIFIED ? v1::TRIAL_ROLE_SEARCH : trial.role();
}
inline bool IsSearchTrial(const v1::Trial& trial) { return RoleOf(trial) == v1::TRIAL_ROLE_SEARCH; }

// Whether the policy learns with the LSTM controller (LibTorch): "reinforce" and "ppo".
inline bool IsRlAlgorithm(v1::Algorithm a) { return a == v1::ALGORITHM_REINFORCE || a == v1::ALGORITHM_PPO; }

}  // namespace vertebra

#endif  // VERTEBRA_PROTO_KINDS_H_
