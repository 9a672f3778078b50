// The search policies behind one interface: propose, observe, checkpoint, restore.
//
// A policy is a deterministic function of its seed and the sequence of calls made on it: a
// policy restored from Save() answers every later call exactly as the original would have.
// Policies are not thread-safe; the scheduler calls them from one thread.
#ifndef VERTEBRA_CONTROLLER_POLICY_H_
#define VERTEBRA_CONTROLLER_POLICY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "search_spaces/decisions.h"
#include "vertebra/v1/experiment.pb.h"
#include "vertebra/v1/kinds.pb.h"

namespace vertebra::controller {

struct Proposal {
  std::vector<int> decisions;
  // log pi(decision_i | earlier decisions) under the policy that sampled it; empty for policies
  // without a distribution to speak of (evolution, random).
  std::vector<double> log_probs;
  int64_t parent = 0;  // Evolution: the trial the proposal was mutated from.
};

struct Observation {
  int64_t trial = 0;
  std::vector<int> decisions;
  std::vector<double> log_probs;  // As proposed (PPO's old policy).
  double reward = 0;
};

// What one learning step of a policy did, for the event log.
struct PolicyUpdate {
  int64_t update = 0;             // 1 for the first update.
  int results = 0;                // Results in the batch.
  double mean_reward = 0;
  double advantage_scale = 0;     // The reward deviation the advantages were divided by.
  double entropy = 0;             // Mean summed entropy of the batch's decision sequences (nats).
  double entropy_per_decision = 0;
  double clipped_fraction = 0;    // PPO: share of (result, decision) ratios outside the clip range.
};

// The reward of an architecture of `macs` multiply-adds (at the proxy task) with the top-scale AP
// `ap_at_top` under config.objective: the AP itself, or with ap_macs AP x (MACs / target)^w.
double ObjectiveReward(const v1::ExperimentConfig& config, double ap_at_top, int64_t macs);

// Not thread-safe: the scheduler's proposer calls one policy from one thread at a time.
class Policy {
 public:
  virtual ~Policy() = default;
  virtual v1::Algorithm algorithm() const = 0;
  // The next proposal. Internal when the policy failed to make one (its state is unchanged; the
  // caller may propose otherwise and carry on).
  virtual absl::StatusOr<Proposal> Propose() = 0;
  // Results arrive asynchronously and out of order; a policy may learn at once or in batches.
  // The policy stays usable whatever it returns: InvalidArgument when it ignored the observation
  // (not a sequence of its space, a reward that is not finite); Internal when an update failed
  // and the results it had buffered for it were dropped.
  virtual absl::Status Observe(const Observation& observation) = 0;
  // Everything that determines future calls (weights, optimizer, baseline, RNG, population).
  virtual std::string Save() const = 0;
  // InvalidArgument when `state` is not a checkpoint of this algorithm and configuration.
  virtual absl::Status Restore(const std::string& state) = 0;
  // Diagnostics for the report: mean entropy of the last proposals, the baseline, updates done.
  virtual double Entropy() const { return 0; }
  // The updates done since the last call, oldest first (diagnostics: not part of the state).
  virtual std::vector<PolicyUpdate> TakeUpdates() { return {}; }
};

// Uniform random search (search_spaces::SearchSpace::Sample).
std::unique_ptr<Policy> NewRandomPolicy(const search_spaces::SearchSpace& space, uint64_t seed);

// Regularized (aging) evolution (Real et al. 2019): the population is the `population` most
// recent results; a proposal mutates the best of `tournament` members drawn at random (with
// replacement). Until the population is full: random proposals, or, given `seeds` (decision
// sequences of the space), each seed once and then mutants of seeds drawn at random.
std::unique_ptr<Policy> NewEvolutionPolicy(const search_spaces::SearchSpace& space, int population, int tournament,
                                           uint64_t seed, std::vector<std::vector<int>> seeds = {});

// Makes the policy the configuration names, started from its seed architectures
// (SeedDecisions). The RL policies (ppo, reinforce) live in a LibTorch library that registers
// itself through SetRlPolicyFactory; without it they are Unimplemented.
using RlPolicyFactory = std::function<absl::StatusOr<std::unique_ptr<Policy>>(
    const search_spaces::SearchSpace&, const v1::AlgorithmConfig&, uint64_t, const std::vector<std::vector<int>>&)>;
void SetRlPolicyFactory(RlPolicyFactory factory);
absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(const search_spaces::SearchSpace& space,
                                                   const v1::ExperimentConfig& config);

// The decision sequences of the configuration's seed_architectures in `space`, in order.
// InvalidArgument naming "seed_architectures[i]" for one that does not load or is not in the space.
absl::StatusOr<std::vector<std::vector<int>>> SeedDecisions(const search_spaces::SearchSpace& space,
                                                           const v1::ExperimentConfig& config);

// The search space the configuration describes.
absl::StatusOr<search_spaces::SearchSpace> MakeSearchSpace(const v1::ExperimentConfig& config);

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_POLICY_H_
