#include "proto/kinds.h"

#include <type_traits>

namespace vertebra {
namespace {

template <typename Kind>
struct Spelling {
  Kind value;
  absl::string_view name;
};

// Each enum's words, in the order error messages list them. Changing a word breaks stored
// databases and experiment files: add, never rename.
constexpr Spelling<v1::Algorithm> kAlgorithms[] = {{v1::ALGORITHM_PPO, "ppo"},
                                                   {v1::ALGORITHM_REINFORCE, "reinforce"},
                                                   {v1::ALGORITHM_EVOLUTION, "evolution"},
                                                   {v1::ALGORITHM_RANDOM, "random"}};
constexpr Spelling<v1::Objective> kObjectives[] = {{v1::OBJECTIVE_AP, "ap"}, {v1::OBJECTIVE_AP_MACS, "ap_macs"}};
constexpr Spelling<v1::Schedule> kSchedules[] = {{v1::SCHEDULE_WSD, "wsd"},
                                                 {v1::SCHEDULE_EMA, "ema"},
                                                 {v1::SCHEDULE_COSINE_PER_RUNG, "cosine_per_rung"},
                                                 {v1::SCHEDULE_COSINE, "cosine"}};
constexpr Spelling<v1::Precision> kPrecisions[] = {
    {v1::PRECISION_AUTO, "auto"}, {v1::PRECISION_FP32, "fp32"}, {v1::PRECISION_BF16, "bf16"}};
constexpr Spelling<v1::SimulatedObjective> kSimulatedObjectives[] = {{v1::SIMULATED_OBJECTIVE_TOY, "toy"},
                                                                     {v1::SIMULATED_OBJECTIVE_SURROGATE, "surrogate"}};
constexpr Spelling<v1::Promotion> kPromotions[] = {{v1::PROMOTION_RUNG_AP, "rung_ap"},
                                                   {v1::PROMOTION_PREDICTED, "predicted"}};
constexpr Spelling<v1::ExperimentState> kExperimentStates[] = {
    {v1::EXPERIMENT_RUNNING, "running"}, {v1::EXPERIMENT_STOPPED, "stopped"}, {v1::EXPERIMENT_FINISHED, "finished"}};
constexpr Spelling<v1::TrainStatus> kTrainStatuses[] = {
    {v1::TRAIN_COMPLETED, "completed"}, {v1::TRAIN_DIVERGED, "diverged"}, {v1::TRAIN_STOPPED, "stopped"}};
constexpr Spelling<v1::TrialState> kTrialStates[] = {{v1::PENDING, "pending"},   {v1::LEASED, "leased"},
                                                     {v1::DONE, "done"},         {v1::FAILED, "failed"},
                                                     {v1::REJECTED, "rejected"}, {v1::STOPPED, "stopped"}};
constexpr Spelling<v1::TrialRole> kTrialRoles[] = {
    {v1::TRIAL_ROLE_SEARCH, "search"}, {v1::TRIAL_ROLE_CONTROL, "control"}, {v1::TRIAL_ROLE_FINAL, "final"}};

// The table of `Kind`.
template <typename Kind>
constexpr const auto& Rows() {
  if constexpr (std::is_same_v<Kind, v1::Algorithm>) return kAlgorithms;
  if constexpr (std::is_same_v<Kind, v1::Objective>) return kObjectives;
  if constexpr (std::is_same_v<Kind, v1::Schedule>) return kSchedules;
  if constexpr (std::is_same_v<Kind, v1::Precision>) return kPrecisions;
  if constexpr (std::is_same_v<Kind, v1::SimulatedObjective>) return kSimulatedObjectives;
  if constexpr (std::is_same_v<Kind, v1::Promotion>) return kPromotions;
  if constexpr (std::is_same_v<Kind, v1::ExperimentState>) return kExperimentStates;
  if constexpr (std::is_same_v<Kind, v1::TrainStatus>) return kTrainStatuses;
  if constexpr (std::is_same_v<Kind, v1::TrialState>) return kTrialStates;
  if constexpr (std::is_same_v<Kind, v1::TrialRole>) return kTrialRoles;
}

template <typename Kind>
absl::string_view NameOf(Kind value) {
  for (const auto& row : Rows<Kind>()) {
    if (row.value == value) return row.name;
  }
  return {};
}

template <typename Kind>
Kind KindOr(absl::string_view name, Kind fallback) {
  return ParseKind<Kind>(name).value_or(fallback);
}

}  // namespace

template <typename Kind>
std::optional<Kind> ParseKind(absl::string_view name) {
  for (const auto& row : Rows<Kind>()) {
    if (row.name == name) return row.value;
  }
  return std::nullopt;
}

template <typename Kind>
std::vector<std::string> KindNames() {
  std::vector<std::string> names;
  for (const auto& row : Rows<Kind>()) names.emplace_back(row.name);
  return names;
}

#define VERTEBRA_KIND(Kind)                                             \
  absl::string_view KindName(Kind value) { return NameOf(value); }      \
  template std::optional<Kind> ParseKind<Kind>(absl::string_view name); \
  template std::vector<std::string> KindNames<Kind>();
VERTEBRA_KIND(v1::Algorithm)
VERTEBRA_KIND(v1::Objective)
VERTEBRA_KIND(v1::Schedule)
VERTEBRA_KIND(v1::Precision)
VERTEBRA_KIND(v1::SimulatedObjective)
VERTEBRA_KIND(v1::Promotion)
VERTEBRA_KIND(v1::ExperimentState)
VERTEBRA_KIND(v1::TrainStatus)
VERTEBRA_KIND(v1::TrialState)
VERTEBRA_KIND(v1::TrialRole)
#undef VERTEBRA_KIND

v1::Algorithm AlgorithmOf(const v1::AlgorithmConfig& algorithm) {
  return KindOr(algorithm.kind(), v1::ALGORITHM_UNSPECIFIED);
}

v1::Objective ObjectiveOf(const v1::ObjectiveConfig& objective) {
  return KindOr(objective.kind(), v1::OBJECTIVE_UNSPECIFIED);
}

v1::Schedule ScheduleOf(const v1::ProxyTask& proxy) {
  if (proxy.schedule().empty()) return v1::SCHEDULE_COSINE;
  return KindOr(proxy.schedule(), v1::SCHEDULE_UNSPECIFIED);
}

v1::Precision PrecisionOf(const v1::ProxyTask& proxy) {
  if (proxy.precision().empty()) return v1::PRECISION_FP32;
  return KindOr(proxy.precision(), v1::PRECISION_UNSPECIFIED);
}

v1::SimulatedObjective SimulatedObjectiveOf(const v1::SimulationConfig& simulation) {
  if (simulation.objective().empty()) return v1::SIMULATED_OBJECTIVE_TOY;
  return KindOr(simulation.objective(), v1::SIMULATED_OBJECTIVE_UNSPECIFIED);
}

v1::Promotion PromotionOf(const v1::SearchConfig& search) {
  if (search.promotion().empty()) return v1::PROMOTION_RUNG_AP;
  return KindOr(search.promotion(), v1::PROMOTION_UNSPECIFIED);
}

}  // namespace vertebra
