// `vertebra bench search`: the policies against each other on the simulated objective,
// in-process and deterministic (a fake clock, no network): the scheduler, the store's in-memory
// twin, and the simulated trainer's SimulatedAp as the "training". It reports, per algorithm over
// several seeds, the best architecture found (by its noiseless final AP, which no policy sees) and
// the mean final AP of the last quarter of proposals, and writes the best-so-far curves as CSV.
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
  std::vector<std::string> algorithms = {"ppo", "reinforce", "evolution", "random"};
  std::vector<std::string> rungs;  // Each entry "500" or "500,2000": a layout; none: the config's.
  int seeds = 5;                   // Seeds per algorithm and layout.
  int64_t step_budget = 0;         // Total training steps per search (0: the trial budget).
  int parallel = 8;                // Leases outstanding at once.
  std::vector<double> learning_rates;  // RL policies: one row per rate (none: the config's).
  std::string csv;                 // Where the curves go; empty: nowhere.
  std::string runs_csv;            // One row per search: its settings, best found, last quarter.
  bool json = false;               // A JSON array instead of a line per algorithm and layout.
};

// Writes a line per algorithm and layout (or a JSON array) to `out`. InvalidArgument for an
// experiment that is not simulated; the configuration's and the scheduler's errors (an unknown
// algorithm among them).
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
