// The worker agent: the loop that turns a controller's leases into reports.
//
//   register (retrying with back-off while the controller is unreachable)
//   send any reports spooled by an earlier run
//   loop: lease (saying which trials' state it holds) -> run the trial, heartbeating with
//         progress -> spool the report to disk -> send it until acknowledged (or refused as
//         stale) -> delete the spool file
//
// A stop request (SIGTERM, Ctrl-C) ends the running trial, gives its lease back and exits; a
// heartbeat reply that says stop ends the trial without a report. The trial itself is run by a
// TrialRunner: the real proxy training, or the simulated trainer of simulated.h. No LibTorch here.
#ifndef VERTEBRA_WORKER_AGENT_AGENT_H_
#define VERTEBRA_WORKER_AGENT_AGENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vertebra/v1/service.pb.h"

namespace vertebra::worker {

// Progress from a running trial.
struct TrialProgress {
  int64_t start_step = 0;    // Where this lease's training began: 0, or the step of the state it continued.
  int64_t step = 0;          // Steps of the trial's run done.
  double loss = 0;
  std::optional<double> ap;  // Set right after a held-out evaluation.
};
// Called with a running trial's progress; returns false when the trial must stop now.
using ProgressFn = std::function<bool(const TrialProgress& progress)>;

// Runs the trials of leases. Thread-compatible: the agent runs one trial at a time.
class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  // Runs `lease` of `experiment`. OK: the result to report (ap, train_seconds, images_per_s,
  // continued, start_step, state_kept, cooldown_steps, simulated; the agent adds the worker,
  // trial and lease). An error
  // is reported as the trial's failure, its message the reason:
  //   Cancelled    stopped because `progress` said so: nothing is reported;
  //   Unavailable  a failure another attempt may not have (a full disk): the trial is retried;
  //   any other    the trial fails for good (InvalidArgument for a bad spec or data,
  //                FailedPrecondition for a diverged loss, ResourceExhausted for out of memory).
  virtual absl::StatusOr<v1::ReportRequest> Run(const v1::RegisterReply& experiment, const v1::LeaseReply& lease,
                                                const ProgressFn& progress) = 0;
  // The trials of `experiment` whose training state this runner finds (run_folder.h) and a lease
  // would continue from; the agent tells the controller with its lease requests and heartbeats.
  // None unless a runner keeps state.
  virtual std::vector<int64_t> HeldTrials(const v1::RegisterReply& experiment) const { return {}; }
};

struct AgentOptions {
  std::string controller;       // HOST:PORT.
  std::string token;            // Bearer token, if the controller wants one.
  std::string tls_ca;           // PEM file: use TLS and verify the controller with it.
  std::string tls_cert, tls_key;  // PEM files: a client certificate for mTLS; need tls_ca.
  std::string work_dir = ".";   // Spooled reports live in work_dir/spool/.
  std::string host, device = "cpu";
  int64_t memory_mb = 0;
  bool simulated = false;
  double call_timeout_seconds = 10;  // Deadline of every RPC.
  // The longest wait between two tries to reach the controller (the channel's reconnects and
  // the retried calls alike). Short, so that a worker is back within about this long after a
  // restarted controller is: its leases outlive a restart by only one lease length.
  double max_backoff_seconds = 0.5;
  // Give up when the controller has been unreachable this long (0: never).
  double give_up_seconds = 0;
  int max_trials = 0;           // Exit after this many reports (0: until the experiment ends).
  const std::atomic<bool>* stop = nullptr;
  // Called with one line per notable event (leases, reports, retries) for the log.
  std::function<void(const std::string&)> log;
};

struct AgentSummary {
  int reported = 0;
  int released = 0;
  int spooled_resent = 0;
  std::string worker_id;
  std::string exit_reason;
};

// Runs until the experiment finishes, max_trials is reached, or `stop` is set. Errors: a bad
// token (Unauthenticated), a simulated worker on a real experiment (FailedPrecondition), an
// unreachable controller past give_up_seconds (Unavailable).
absl::StatusOr<AgentSummary> RunAgent(const AgentOptions& options, TrialRunner& runner);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_AGENT_AGENT_H_
