#include "controller/final_stage.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_format.h"
#include "proto/kinds.h"

namespace vertebra::controller {
namespace {

// Spreads the experiment's seed so that two experiments' trial seeds do not run side by side
// (a prime: distinct ids still give distinct seeds). The worker used this rule before the seed
// travelled with the lease (worker/agent/proxy_runner.cc), so older trials keep their seeds.
constexpr uint64_t kSeedStride = 1000003ULL;

}  // namespace

uint64_t TrainingSeed(uint64_t experiment_seed, int64_t id) {
  return experiment_seed * kSeedStride + static_cast<uint64_t>(id);
}

uint64_t DataSeed(uint64_t experiment_seed) { return TrainingSeed(experiment_seed, 0); }

std::vector<int64_t> RankAtHighestRung(const std::map<int64_t, v1::Trial>& trials, int32_t* rung) {
  int32_t top = -1;
  for (const auto& [id, t] : trials) {
    if (!IsSearchTrial(t) || t.reused_from() != 0) continue;
    for (const v1::RungResult& r : t.results()) {
      if (r.ap().stats_size() > 0) top = std::max(top, r.rung());
    }
  }
  std::vector<std::pair<double, int64_t>> ranked;
  for (const auto& [id, t] : trials) {
    if (!IsSearchTrial(t) || t.reused_from() != 0) continue;
    for (const v1::RungResult& r : t.results()) {
      if (r.rung() == top && r.ap().stats_size() > 0) ranked.push_back({-r.ap().stats(0), id});
    }
  }
  std::sort(ranked.begin(), ranked.end());
  if (rung != nullptr) *rung = top;
  std::vector<int64_t> out;
  out.reserve(ranked.size());
  for (const auto& [ap, id] : ranked) out.push_back(id);
  return out;
}

int64_t MostFinalRuns(const v1::ExperimentConfig& c) {
  if (c.final().top_k() <= 0) return 0;
  return static_cast<int64_t>(c.final().top_k() + c.controls_size()) * c.final().seeds();
}

FinalPlan PlanFinalStage(const v1::ExperimentConfig& config, const std::map<int64_t, v1::Trial>& trials,
                         int64_t next_id, double now) {
  FinalPlan plan;
  plan.next_id = next_id;
  const v1::FinalConfig& f = config.final();
  if (f.top_k() <= 0) return plan;
  v1::FinalStage& stage = plan.stage;
  *stage.mutable_config() = f;
  stage.set_started_at(now);
  int32_t rung = -1;
  const std::vector<int64_t> ranked = RankAtHighestRung(trials, &rung);
  stage.set_rung(rung);
  const size_t k = std::min(ranked.size(), static_cast<size_t>(f.top_k()));
  for (size_t i = 0; i < k; ++i) stage.add_finalists(ranked[i]);
  if (k < static_cast<size_t>(f.top_k())) {
    stage.set_note(absl::StrFormat("final.top_k %d asked; %d trial%s reached the highest rung%s: validating %s",
                                   f.top_k(), k, k == 1 ? "" : "s",
                                   rung >= 0 ? absl::StrFormat(" (rung %d)", rung) : "", k == 0 ? "none" : "those"));
  }
  for (const auto& [id, t] : trials) {
    if (RoleOf(t) == v1::TRIAL_ROLE_CONTROL) stage.add_controls(id);
  }
  // The runs that exist: (subject, seed index, steps).
  std::set<std::tuple<int64_t, int32_t, int64_t>> have;
  for (const auto& [id, t] : trials) {
    if (RoleOf(t) == v1::TRIAL_ROLE_FINAL) have.insert({t.final_of(), t.final_seed(), t.steps()});
  }
  std::vector<int64_t> subjects(stage.finalists().begin(), stage.finalists().end());
  subjects.insert(subjects.end(), stage.controls().begin(), stage.controls().end());
  for (int64_t subject : subjects) {
    const v1::Trial& s = trials.at(subject);
    for (int32_t seed = 0; seed < f.seeds(); ++seed) {
      if (have.count({subject, seed, f.steps()}) > 0) continue;
      v1::Trial& run = plan.runs.emplace_back();
      run.set_id(plan.next_id++);
      run.set_role(v1::TRIAL_ROLE_FINAL);
      run.set_final_of(subject);
      run.set_final_seed(seed);
      run.set_steps(f.steps());
      run.set_seed(TrainingSeed(config.seed(), run.id()));
      run.set_control(s.control());
      *run.mutable_spec() = s.spec();
      run.set_hash(s.hash());
      run.set_params(s.params());
      run.set_macs(s.macs());
      run.set_state(v1::PENDING);
      run.set_rung(0);
      run.set_created_at(now);
    }
  }
  return plan;
}

}  // namespace vertebra::controller
