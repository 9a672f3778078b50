// `vertebra bench search`: the policies against each other on the simulated objective,
// in-process and deterministic (a fake clock, no network): the scheduler, the store's in-memory
// twin, and the simulated trainer's SimulatedAp as the "training". It reports, per algorithm over
// several seeds, the best architecture found (by its noiseless final AP, which no policy sees) and
// the mean final AP of the last quarter of proposals, and writes the best-so-far curves as CSV.
// With more than one rung it also gives the predictor across rungs as each search left it
// (controller/predictor.h, rung 0 against the top; means over the seeds): Kendall's tau and R^2
// of its held-out predictions, and the tau of the rung's AP alone.
//
// An algorithm entry is a kind with modifiers: "evolution+seeds" (seed_architectures: the
// options' seed architectures), "reinforce+clone" (the same, and algorithm.clone_steps),
// "evolution+guided" (search.guided_candidates), "ppo+predicted" (search.promotion "predicted");
// they combine ("reinforce+clone+guided"). Without its modifier an entry has none of these,
// whatever the configuration says.
//
// With "random" among them, each layout also gets the comparison with random search over the
// seeds (bootstrap over seeds, `bootstrap` resamples, a fixed generator): for each entry, the
// mean best-so-far against trials (the best-so-far at trial t: the noiseless final AP of the trial
// the search ranks best once t trials have reported their first rung, promotions made by then
// included; at the last trial, when the search is over) with its pointwise 90% band; the trial
// at which that mean first reaches random search's mean best-of-all-trials, with a 90% interval;
// and the last quarter's mean with its standard error, and its distance from random's in
// standard errors of the difference. `svg` draws the curves with their bands.
//
// `rungs` compares budgets: e.g. "500" (one low rung) against "500,2000" (successive halving)
// with the same total number of training steps.
//
// `vertebra bench untrained`: how far an untrained policy's proposals are from uniform sampling
// (SearchSpace::Sample): the KL divergence per sequence, the per-decision marginals, and the
// mean noiseless simulated AP of its samples against uniform ones. Thread-compatible.
#ifndef VERTEBRA_BENCH_SEARCH_BENCH_H_
#define VERTEBRA_BENCH_SEARCH_BENCH_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace vertebra::bench {

struct SearchBenchOptions {
  std::string config = "experiments/simulated.json";  // A simulated experiment.
  std::string objective;  // "toy" or "surrogate" (simulated.h); empty: the config's.
  std::vector<std::string> algorithms = {"ppo", "reinforce", "evolution", "random"};  // KIND[+MODIFIER...]
  std::vector<std::string> rungs;  // Each entry "500" or "500,2000": a layout; none: the config's.
  int seeds = 5;                   // Seeds per algorithm and layout.
  uint64_t first_seed = 1000;      // The seeds are first_seed, first_seed + 1, ...
  std::vector<std::string> seed_architectures = {"spinenet-49"};  // For "+seeds" and "+clone".
  int clone_steps = 100;           // For "+clone".
  int guided_candidates = 8;       // For "+guided".
  int bootstrap = 1000;            // Resamples of the seeds for the intervals.
  std::string svg;                 // The best-so-far curves with their bands; empty: none.
  int64_t step_budget = 0;         // Total training steps per search (0: the trial budget).
  int parallel = 8;                // Leases outstanding at once.
  std::vector<double> learning_rates;  // RL policies: one row per rate (none: the config's).
  std::string csv;                 // Where the curves go; empty: nowhere.
  std::string runs_csv;            // One row per search: its settings, best found, last quarter.
  bool json = false;               // A JSON array instead of a line per algorithm and layout.
};

// Writes a line per algorithm and layout, then the comparison with random search per layout (or
// a JSON array) to `out`. InvalidArgument for an experiment that is not simulated or an unknown
// modifier; the configuration's and the scheduler's errors (an unknown algorithm among them).
absl::Status RunSearchBench(const SearchBenchOptions& options, std::ostream& out);

struct UntrainedBenchOptions {
  std::string config = "experiments/simulated.json";  // A simulated experiment.
  std::vector<std::string> algorithms = {"reinforce"};
  int samples = 1000;  // Proposals of each policy, and uniform samples.
  uint64_t seed = 1;   // The policies' and the uniform sampler's seed.
  bool json = false;
};

// Writes a line per policy, uniform sampling first (or a JSON array) to `out`. The
// configuration's errors, and the policies' (an unknown algorithm among them).
absl::Status RunUntrainedBench(const UntrainedBenchOptions& options, std::ostream& out);

}  // namespace vertebra::bench

#endif  // VERTEBRA_BENCH_SEARCH_BENCH_H_
