// The RL policies: Zoph & Le's LSTM controller, as SpineNet searched with it, trained by
// REINFORCE or PPO on the rewards the scheduler observes. LibTorch stays in rl_policy.cc; this
// header is torch-free.
//
// The controller walks the search space's decision sequence (search_spaces::DecisionCursor). At
// step t its input is a learned embedding of decision t-1 (of a start token at t = 0); an LSTM
// cell carries the state, and a per-step linear head gives decision t's learned logits l. The
// policy's logits are c * tanh(l / temperature) (each part optional: algorithm.temperature,
// algorithm.tanh_constant, ENAS's bound on how far the policy moves) plus the log of the
// cursor's completion weights, which are 0 (log -inf) on masked options. The heads start at
// zero, so the untrained policy is exactly SearchSpace::Sample's uniform distribution over
// valid sequences.
//
// Learning: results are buffered; every `update_every` results the policy takes its update.
// The advantage of a result is its reward minus a moving-average baseline (started at the first
// reward seen), divided by the running reward deviation; the baseline takes the batch's rewards,
// in arrival order, only after the batch's advantages are computed. Each decision is an action
// with its sequence's advantage. REINFORCE takes one Adam step on -mean_b(A_b sum_t log pi_bt)
// - entropy_weight * mean_b(sum_t H_bt), the entropy summed over the decisions like the
// log-probabilities. PPO takes `ppo_epochs` Adam steps on the clipped surrogate with one ratio
// per decision, taken against the log-probabilities of the policy that proposed it
// (Observation::log_probs), so late and out-of-order results are scored correctly. Each update
// is reported by TakeUpdates (mean reward, advantage scale, entropy, clipped fraction).
//
// Warm start (algorithm.clone_steps > 0, off by default): before the first proposal the controller
// takes clone_steps Adam steps (at algorithm.learning_rate, with an optimizer of its own, dropped
// afterwards) on the negative log-likelihood of the seed architectures' decision sequences: it
// starts near the known architectures instead of at the uniform distribution, as far as the tanh
// bound lets it (no option becomes more than e^(2c) times as likely as another).
//
// Deterministic: weights and samples come from the policy's own generator, seeded from `seed`
// (never LibTorch's global one); Save() holds the weights, Adam's state, the baseline, the
// result buffer and the generator state, so a restored policy proposes and learns bit for bit as
// the original would have. Not thread-safe, like every Policy.
#ifndef VERTEBRA_CONTROLLER_RL_POLICY_H_
#define VERTEBRA_CONTROLLER_RL_POLICY_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/policy.h"
#include "search_spaces/decisions.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::controller {

// `config.kind()` is "ppo" or "reinforce". `space` must outlive the policy; `seeds` are decision
// sequences of it to clone (with config.clone_steps > 0). InvalidArgument for another kind, for a
// hidden size, learning rate, update_every, temperature, tanh_constant or (PPO) ppo_epochs /
// ppo_clip out of range, or for a seed that is not a valid sequence of `space`. Results whose decisions are not a valid sequence of
// `space`, or whose reward is not finite, are ignored (Observe returns InvalidArgument); results without
// log-probabilities (not proposed by this policy) are scored against the policy at the time they
// arrive.
absl::StatusOr<std::unique_ptr<Policy>> NewRlPolicy(const search_spaces::SearchSpace& space,
                                                    const v1::AlgorithmConfig& config, uint64_t seed,
                                                    const std::vector<std::vector<int>>& seeds = {});

// Makes MakePolicy build the RL policies (SetRlPolicyFactory(NewRlPolicy)). Binaries call it once
// at start-up.
void RegisterRlPolicy();

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_RL_POLICY_H_
