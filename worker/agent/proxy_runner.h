// The real trainer behind the worker agent: a leased trial becomes a proxy training (Train, with
// the experiment's proxy task) and its held-out COCO AP. No LibTorch in this header.
//
// A trial's run folder is WORK_DIR/runs/EXPERIMENT/trial-ID. How a rung reads the trial's run is
// the experiment's proxy.schedule: under "wsd" (and "ema") every rung is a point on one
// constant-lr run, read through a cool-down fork (or the weight average) that leaves the run as
// it was; under "cosine" a point on one cosine schedule over the top rung's steps, read
// mid-schedule; under "cosine_per_rung" a run of its own. A promotion continues the run from its
// checkpoint when this worker finds it in its work folder (the report says `continued` and the
// step it began at), which is always so when the workers share that folder, and trains from step
// 0 otherwise, which costs the lower rungs' steps again; the seed is the experiment's and the
// trial's, so the retrained run is the same run. The training images' order and augmentation
// follow the lease's data seed, which a search's trials and controls share, so architectures are
// compared on the same images (a final run draws its own). The trials whose checkpoint the work
// folder holds are what HeldTrials tells the controller, which prefers to lease them to this
// worker. A run folder loses its checkpoint when its trial has reached the top rung.
//
// Failures: an architecture that does not fit in memory (ResourceExhausted) or whose training
// diverges is a failure of that trial, not retried; a bad proxy task (missing dataset) fails
// every trial, not retried either; other errors (a full disk) are retryable.
#ifndef VERTEBRA_WORKER_AGENT_PROXY_RUNNER_H_
#define VERTEBRA_WORKER_AGENT_PROXY_RUNNER_H_

#include <memory>
#include <string>
#include <vector>

#include "worker/agent/agent.h"

namespace vertebra::worker {

struct ProxyRunnerOptions {
  std::string work_dir = ".";
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N" or "auto".
  int threads = 0;             // LibTorch threads (0: the experiment's proxy.threads).
  int loader_threads = 2;
};

class ProxyRunner : public TrialRunner {
 public:
  explicit ProxyRunner(ProxyRunnerOptions options);
  ~ProxyRunner() override;
  // Trains the lease's spec as search_spaces::ResolveProxy builds it. Errors as TrialRunner's:
  // InvalidArgument for bad data or options, FailedPrecondition for a diverged loss,
  // ResourceExhausted (naming the device) for out of memory, Unavailable for the rest.
  absl::StatusOr<v1::ReportRequest> Run(const v1::RegisterReply& experiment, const v1::LeaseReply& lease,
                                        const ProgressFn& progress) override;
  // The trials whose run folder holds a checkpoint.
  std::vector<int64_t> HeldTrials(const v1::RegisterReply& experiment) const override;

 private:
  struct Data;
  ProxyRunnerOptions options_;
  std::unique_ptr<Data> data_;  // The datasets of the last experiment, opened once.
};

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_AGENT_PROXY_RUNNER_H_
