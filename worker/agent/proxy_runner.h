// The real trainer behind the worker agent: a leased trial becomes a proxy training (Train, with
// the experiment's proxy task) and its held-out COCO AP. No LibTorch in this header.
//
// A trial's run folder is WORK_DIR/runs/EXPERIMENT/trial-ID. Every rung of a trial is a point on
// one training run whose schedule spans the top rung's steps (ASHA's view of a rung): rung 0 of
// [500, 2000] is step 500 of a 2000-step cosine schedule, evaluated there. A promotion continues
// that run from its checkpoint when this worker has it (the report says `continued`) and trains
// from step 0 otherwise, which costs the lower rungs' steps again; the seed is the experiment's
// and the trial's, so the retrained run is the same run. A run folder is deleted when its trial
// has reached the top rung.
//
// Failures: an architecture that does not fit in memory (ResourceExhausted) or whose training
// diverges is a failure of that trial, not retried; a bad proxy task (missing dataset) fails
// every trial, not retried either; other errors (a full disk) are retryable.
#ifndef VERTEBRA_WORKER_AGENT_PROXY_RUNNER_H_
#define VERTEBRA_WORKER_AGENT_PROXY_RUNNER_H_

#include <memory>
#include <string>

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
  TrialOutcome Run(const v1::RegisterReply& experiment, const v1::LeaseReply& lease,
                   const ProgressFn& progress) override;

 private:
  struct Data;
  ProxyRunnerOptions options_;
  std::unique_ptr<Data> data_;  // The datasets of the last experiment, opened once.
};

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_AGENT_PROXY_RUNNER_H_
