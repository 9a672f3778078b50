// The surrogate objective of the simulator: an AP for any architecture of the search space at any
// budget, fitted on real proxy runs (bench/fit_surrogate.py over the fidelity study's CSV; the fit
// is worker/agent/surrogate_fit.json, compiled in). Where the toy objective (simulated.h) is a
// hand-written landscape for load tests, this one has the structure that was measured:
//
//   z      = the architecture's features (search_spaces/features.h) at the proxy scaling and the
//            fit's input size, standardized by their mean and SD over uniform samples;
//   dud    = a draw from the architecture's hash, true at the measured dud rate: such a run hardly
//            learns (its reference AP is uniform in [0, dud.ap_max]);
//   top    = intercept + weights . z + hash_sd x N(hash)   the reference AP: the learnable part is
//            the measured ridge fit, the part no policy can learn is capped at the seed noise;
//            features are clipped at 2.5 SDs and top at 1.25 x the best measured reference AP
//            (a linear fit is not followed far beyond what it saw);
//   ratio  = exp(ratio.log_mean + ratio.log_sd x N(hash))  what an architecture shows at the first
//            rung (top_steps / rung_steps of the way), as a fraction of its reference AP;
//   mean(p)= top x ratio^(log(1 / p) / log(top_steps / rung_steps)) for p = steps / full_steps:
//            a straight line in log-log between the two measured budgets, extended beyond them;
//   AP     = mean(p) x (1 + cv(p) x (sqrt(rho) e_trial + sqrt(1 - rho) e_rung))
//            with cv(p) interpolated in log p between the measured seed CVs, e_trial ~ N(0, 1)
//            drawn from (seed, hash) and e_rung from (seed, hash, rung): the rungs of one trial
//            share its luck as one continued run does (rho: the measured correlation, 0..1).
//
// full_steps plays the role of the fit's reference budget. AP is clipped to [0, 1]; AP50 is
// ap50_ratio x AP and the other ten COCO numbers follow the toy objective's rules. Deterministic
// and thread-safe. No LibTorch.
#ifndef VERTEBRA_WORKER_AGENT_SURROGATE_H_
#define VERTEBRA_WORKER_AGENT_SURROGATE_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "vertebra/v1/arch.pb.h"
#include "worker/agent/simulated.h"

namespace vertebra::worker {

// The AP of `spec` after `steps` of `full_steps` (1 <= steps <= full_steps) in the simulated
// search with `seed`, at `rung`. InvalidArgument for an invalid spec or steps.
absl::StatusOr<SimulatedScore> SurrogateAp(const v1::ArchSpec& spec, int64_t steps, int64_t full_steps, uint64_t seed,
                                           int32_t rung);

// The noiseless reference AP of `spec` (the expected AP at full_steps): what a policy is trying to
// find. InvalidArgument for an invalid spec.
absl::StatusOr<double> SurrogateMeanAp(const v1::ArchSpec& spec);

// The compiled-in fit, as JSON text (for `vertebra bench search` to print its provenance).
std::string_view SurrogateFitJson();

// Empty for a fit made entirely of measurements; otherwise what in it was assumed (a fit made
// before the study had every figure is marked provisional). Results on a provisional fit say so.
std::string SurrogateProvisionalNote();

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_AGENT_SURROGATE_H_
