// The simulated trainer: a deterministic stand-in for proxy training, for load tests and for
// showing the search machinery work in seconds. Its results are marked simulated; the controller
// never lets them into a real experiment.
//
// Two objectives: "toy" (below; the default, also for an empty simulation.objective) and
// "surrogate" (surrogate.h: fitted on real proxy runs).
//
// The toy objective's AP of an architecture trained `steps` out of the `full_steps` whose AP is final:
//
//   features of the spec (search_spaces::Resolve):
//     permuted   = fraction of consecutive blocks whose level goes down (finer after coarser):
//                  scale-permuted networks score high, scale-decreased ones 0;
//     cross      = mean |parent level - block level| over the parent edges, / 2, capped at 1;
//     bottleneck = fraction of bottleneck blocks;
//     rugged, rugged2 = two uniforms in [0, 1) from the spec's hash (a rugged landscape);
//   quality = 0.3 permuted + 0.25 cross + 0.15 bottleneck + 0.3 rugged
//   final   = 0.1 + 0.5 quality                       (the AP a long training reaches)
//   fast    = 0.1 + 0.5 (0.6 (1 - bottleneck) + 0.4 rugged2)   (what learns fast)
//   b       = low_rung_bias x (1 - steps / full_steps)  (the low rung is partly misleading)
//   AP      = ((1 - b) final + b fast) x (0.4 + 0.6 sqrt(steps / full_steps)) + noise
//
// noise is Gaussian with sd `noise + low_rung_noise x (1 - steps / full_steps)` (short trainings
// are noisier), drawn from (seed, hash, rung): the same trial at the same rung always gets the
// same number. AP is clipped to [0, 1]; the other eleven COCO numbers are derived
// from it (AP50 = min(1, 1.6 AP), ...). No LibTorch here.
#ifndef VERTEBRA_WORKER_AGENT_SIMULATED_H_
#define VERTEBRA_WORKER_AGENT_SIMULATED_H_

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "vertebra/v1/arch.pb.h"
#include "vertebra/v1/experiment.pb.h"
#include "worker/agent/agent.h"

namespace vertebra::worker {

struct SimulatedScore {
  double final_ap = 0;  // The noiseless AP at the top rung.
  std::array<double, 12> stats{};
};

// The simulated AP at `steps` of `full_steps` under simulation.objective. InvalidArgument for an
// invalid spec or steps outside [1, full_steps].
absl::StatusOr<SimulatedScore> SimulatedAp(const v1::ArchSpec& spec, int64_t steps, int64_t full_steps,
                                           const v1::SimulationConfig& simulation, uint64_t seed, int32_t rung);

// The other eleven COCO numbers of a simulated AP (AP50 = min(1, 1.6 AP), ...).
std::array<double, 12> DerivedCocoStats(double ap);

// Runs a lease by waiting `seconds x (steps - start) / full_steps` (in slices, reporting progress
// on a falling loss curve) and returning SimulatedAp (full_steps: simulation.full_steps, else the
// highest rung). `seconds_override` >= 0 replaces the experiment's simulation.seconds. The
// report splits the lease's time into simulated shares: a tenth as eval_seconds, a fiftieth as
// checkpoint_seconds when the lease continued or kept a run's state, the rest as train_seconds.
//
// With a work folder it keeps state as the real trainer does (run_folder.h): a file "state" in the
// trial's run folder holds the run's length and the step a lease ended at, so that a promotion
// continues from it (start: that step) where the folder is found, and trains from step 0
// elsewhere; it goes at the top rung. Under "cosine_per_rung" every rung is a run of its own.
// Without a work folder it keeps nothing and every lease "continues" from the rung below.
class SimulatedRunner : public TrialRunner {
 public:
  explicit SimulatedRunner(double seconds_override = -1, std::string work_dir = "")
      : seconds_override_(seconds_override), work_dir_(std::move(work_dir)) {}
  absl::StatusOr<v1::ReportRequest> Run(const v1::RegisterReply& experiment, const v1::LeaseReply& lease,
                                        const ProgressFn& progress) override;
  std::vector<int64_t> HeldTrials(const v1::RegisterReply& experiment) const override;

 private:
  double seconds_override_;
  std::string work_dir_;
};

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_AGENT_SIMULATED_H_
