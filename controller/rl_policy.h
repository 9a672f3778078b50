// The RL policies: Zoph & Le's LSTM controller, as SpineNet searched with it, trained by
// REINFORCE or PPO on the rewards the scheduler observes. LibTorch stays in rl_policy.cc; this
// header is torch-free.
//
// The controller walks the search space's decision sequence (search_spaces::DecisionCursor). At
// step t its input is a learned embedding of decision t-1 (of a start token at t = 0); an LSTM
// cell carries the state, and a per-step linear head gives decision t's logits, with the options
// the cursor masks out set to -inf before the softmax.
//
// Learning: results are buffered; every `update_every` results the policy takes its update.
// The advantage of a result is its reward minus a moving-average baseline (started at the first
// reward seen); the baseline takes the batch's rewards, in arrival order, only after the
// batch's advantages are computed. REINFORCE takes one Adam step on
// -mean(adv * log pi(sequence)) - entropy_weight * mean entropy. PPO takes `ppo_epochs` Adam
// steps on the clipped surrogate, with each result's ratio taken against the log-probabilities
// of the policy that proposed it (Observation::log_probs), so late and out-of-order results
// are scored correctly.
//
// Deterministic: weights and samples come from the policy's own generator, seeded from `seed`
// (never LibTorch's global one); Save() holds the weights, Adam's state, the baseline, the
// result buffer and the generator state, so a restored policy proposes and learns bit for bit as
// the original would have. Not thread-safe, like every Policy.
#ifndef VERTEBRA_CONTROLLER_RL_POLICY_H_
#define VERTEBRA_CONTROLLER_RL_POLICY_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "controller/policy.h"
#include "search_spaces/decisions.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::controller {

// `config.kind()` is "ppo" or "reinforce". `space` must outlive the policy. InvalidArgument for
// another kind, or for a hidden size, learning rate, update_every or (PPO) ppo_epochs / ppo_clip
// out of range. Results whose decisions are not a valid sequence of `space`, or whose reward is
// not finite, are ignored (with a line on stderr); results without log-probabilities (not
// proposed by this policy) are scored against the policy at the time they arrive.
absl::StatusOr<std::unique_ptr<Policy>> NewRlPolicy(const search_spaces::SearchSpace& space,
                                                    const v1::AlgorithmConfig& config, uint64_t seed);

// Makes MakePolicy build the RL policies (SetRlPolicyFactory(NewRlPolicy)). Binaries call it once
// at start-up.
void RegisterRlPolicy();

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_RL_POLICY_H_
