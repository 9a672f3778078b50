// The final validation of a search (ExperimentConfig.final): when the search budget is spent, the
// top_k search trials of the highest rung and every control are trained again, FinalConfig.seeds
// times each, as trials of role TRIAL_ROLE_FINAL. Each run is an independent run of
// FinalConfig.steps with its own annealed schedule (worker/agent/proxy_runner.h) and a fresh
// seed: a trial's training seed is a function of the experiment's seed and the trial's id
// (TrainingSeed), and a final run's id is new, so no final run trains with a seed the search used
// (its data seed is its training seed too, not the one the search's trials share: DataSeed).
//
// Re-use: the plan lists only the runs that do not exist yet (the same subject, seed index and
// steps), so a launch with a larger final section on a finished search trains only what is
// missing, and a restarted controller never makes a run twice.
//
// Pure functions over the trial records; thread-compatible.
#ifndef VERTEBRA_CONTROLLER_FINAL_STAGE_H_
#define VERTEBRA_CONTROLLER_FINAL_STAGE_H_

#include <cstdint>
#include <map>
#include <vector>

#include "vertebra/v1/experiment.pb.h"

namespace vertebra::controller {

// The seed trial `id` of an experiment seeded `experiment_seed` trains with (the worker's data
// order, augmentation and initialization). Distinct ids give distinct seeds.
uint64_t TrainingSeed(uint64_t experiment_seed, int64_t id);

// The data seed the search trials and controls of an experiment share (LeaseReply.data_seed): the
// order and augmentation of the training images, the same for every architecture at a rung, so
// the comparison between two of them is not also a comparison between two draws of the data (the
// fidelity study measures the reward this way, bench/fidelity_study.py). It is TrainingSeed of id
// 0, which no trial has, so a final run's seeds are still fresh.
uint64_t DataSeed(uint64_t experiment_seed);

// The search trials eligible as finalists: trained (not reused) with a result at the highest rung
// any search trial reached, best AP first (ties: lower id first). `rung` gets that rung (-1: none).
std::vector<int64_t> RankAtHighestRung(const std::map<int64_t, v1::Trial>& trials, int32_t* rung);

struct FinalPlan {
  v1::FinalStage stage;         // The stage record to store: config, finalists, controls, note.
  std::vector<v1::Trial> runs;  // The missing runs, PENDING, with ids from next_id on.
  int64_t next_id = 0;          // The first id after them.
};

// The most final runs config.final() asks for: (top_k + controls) x seeds, as many as there are
// when top_k trials reach the highest rung; 0 without a final section.
int64_t MostFinalRuns(const v1::ExperimentConfig& config);

// What config.final() asks for, given every trial of the experiment (by id): the finalists (the
// first top_k of RankAtHighestRung, fewer when fewer exist, which the note says), every control
// trial, and the runs none of `trials` already is. An empty plan (no runs, no finalists) when
// config.final().top_k() is 0. `now` stamps the new records.
FinalPlan PlanFinalStage(const v1::ExperimentConfig& config, const std::map<int64_t, v1::Trial>& trials,
                         int64_t next_id, double now);

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_FINAL_STAGE_H_
