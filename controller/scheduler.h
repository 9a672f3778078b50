// The scheduler: the controller's state machine. It turns proposals into trials, leases them to
// workers, promotes the best through the rungs (asynchronous successive halving, as ASHA), takes
// reports, expires lost leases, and feeds results to the policy. Every change is committed to the
// store before the call that caused it returns, so an answered RPC is a durable fact.
//
// Trials move PENDING -> LEASED -> DONE | FAILED. A lease has a deadline that heartbeats renew;
// an expired lease puts the trial back to PENDING (attempt + 1) until lease.max_attempts, then
// FAILED. A report carries the lease it was given: the first valid report wins, a repeat of it is
// acknowledged and ignored, a report under any other lease is refused with the reason.
//
// Rungs: rungs.steps = [s0, s1, ...]. Every trial is first trained for s0 steps. When a worker
// asks for work, the scheduler first looks for a promotion: a trial whose result at rung k is in
// the top floor(n_k / eta) of the n_k results at rung k (by AP, or by Pareto rank of AP against
// MACs for the ap_macs objective) and that has not been promoted yet; it is leased at rung k + 1
// for s(k+1) steps. Only then does a new trial start.
//
// Reward: the policy observes a trial at each rung result. A rung-k AP is put on the top rung's
// scale by the ratio of the median top-rung AP to the median rung-k AP over the trials measured at
// both (1 until three such trials exist), then the objective applies (ap_macs: AP x (MACs /
// target)^w). A proposal that breaks a hard limit is rejected before any worker sees it and the
// policy observes objective.penalty.
//
// The policy never runs on an RPC thread: a policy thread observes results and refills a small
// queue of pending proposals; policy checkpoints are committed with the proposals they made and
// after the updates they did, and results committed after the last checkpoint are replayed at
// start-up, so nothing the policy learned is lost with the process.
#ifndef VERTEBRA_CONTROLLER_SCHEDULER_H_
#define VERTEBRA_CONTROLLER_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/policy.h"
#include "controller/store.h"
#include "search_spaces/decisions.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::controller {

// Unix seconds; a fake one for tests.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Now() const = 0;
};
Clock* RealClock();

class FakeClock : public Clock {
 public:
  explicit FakeClock(double start = 1.7e9) : now_(start) {}
  double Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Advance(double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += seconds;
  }

 private:
  mutable std::mutex mu_;
  double now_;
};

struct SchedulerOptions {
  // Run the policy on its own thread (the service). false: the policy runs only inside
  // RunPolicy(), which tests call to make every step deterministic.
  bool policy_thread = true;
  // Replaces the policy the configuration names (tests inject scripted policies).
  std::function<std::unique_ptr<Policy>(const search_spaces::SearchSpace&)> policy_factory;
};

struct WorkerInfo {
  std::string host;
  std::string device;
  int64_t memory_mb = 0;
  bool simulated = false;
};

// What a worker gets with a lease.
struct LeaseGrant {
  int64_t trial = 0;
  int64_t lease = 0;
  int32_t rung = 0;
  int64_t steps = 0;           // Train to this many steps.
  int64_t previous_steps = 0;  // Steps of the rung below (0 at rung 0): a worker holding that
                               // checkpoint continues from it.
  v1::ArchSpec spec;           // With the proxy's scaling.
  std::string hash;
  double deadline = 0;
  double heartbeat_seconds = 0;
};

enum class LeaseStatus {
  kGranted,
  kWait,      // Nothing to do now; ask again after a heartbeat interval.
  kFinished,  // The experiment is over: exit.
};

struct LeaseResult {
  LeaseStatus status = LeaseStatus::kWait;
  std::optional<LeaseGrant> grant;
  std::string reason;  // Why kFinished.
};

struct HeartbeatRequest {
  std::string worker;
  int64_t trial = 0;
  int64_t lease = 0;
  int64_t step = 0;
  double loss = 0;
  std::optional<double> ap;
};

struct HeartbeatReply {
  bool stop = false;      // Stop training this trial now.
  std::string reason;
  double deadline = 0;    // The renewed lease deadline.
};

struct ReportRequest {
  std::string worker;
  int64_t trial = 0;
  int64_t lease = 0;
  // A result, or a failure with its reason. A retryable failure (e.g. the worker is shutting
  // down) puts the trial back like an expired lease; others fail it.
  bool failed = false;
  bool retryable = false;
  std::string failure;
  std::vector<double> ap;      // The 12 COCO numbers.
  double train_seconds = 0;
  double images_per_s = 0;
  bool continued = false;
  int64_t cooldown_steps = 0;
  bool simulated = false;
};

enum class ReportOutcome { kAccepted, kDuplicate };

struct ExperimentStatus {
  std::string name;
  std::string state;           // "running", "stopped", "finished".
  TrialCounts counts;
  int64_t proposed = 0;        // Trials created (rejected ones excluded).
  int64_t budget = 0;
  int64_t workers = 0;
  std::optional<int64_t> best_trial;
  double best_ap = 0;
  int32_t best_rung = 0;
  std::vector<int64_t> rung_results;  // Results per rung.
};

class Scheduler {
 public:
  // Opens the experiment in `store`: creates it from `config` on an empty store, or resumes the
  // stored one (InvalidArgument naming the first differing field when `config` differs from it).
  // Restores the policy from its checkpoint and replays later results. `store` and `clock`
  // must outlive the scheduler.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Open(Store* store, const v1::ExperimentConfig& config,
                                                         Clock* clock, SchedulerOptions options = {});
  ~Scheduler();  // Stops the policy thread.
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // A new worker id. FailedPrecondition when a simulated worker joins a real experiment or the
  // other way round.
  absl::StatusOr<std::string> Register(const WorkerInfo& info);

  absl::StatusOr<LeaseResult> Lease(const std::string& worker);
  // Renews the lease. FailedPrecondition (with the reason) when the worker no longer holds it;
  // NotFound for an unknown worker or trial.
  absl::StatusOr<HeartbeatReply> Heartbeat(const HeartbeatRequest& request);
  absl::StatusOr<ReportOutcome> Report(const ReportRequest& request);
  // Gives a lease back (the worker is shutting down): the trial is pending again, no attempt
  // counted. FailedPrecondition when the lease is not the worker's.
  absl::Status Release(const std::string& worker, int64_t trial, int64_t lease);

  // Expires overdue leases; returns how many. The service calls it periodically; Lease and
  // Heartbeat also call it.
  absl::StatusOr<int> ExpireLeases();

  // Ends the experiment: pending trials become STOPPED, heartbeats tell workers to stop.
  absl::Status Stop(const std::string& reason);

  // The policy's work: observe the results not yet observed, refill the proposal queue.
  // Called by the policy thread, or by tests with policy_thread = false.
  absl::Status RunPolicy();

  ExperimentStatus Status() const;
  const v1::ExperimentConfig& config() const { return config_; }
  // A copy of one trial's record; NotFound naming the id.
  absl::StatusOr<v1::Trial> GetTrial(int64_t id) const;
  // The policy's state as last committed (tests compare restored policies with it).
  std::string PolicyState() const;

 private:
  Scheduler(Store* store, const v1::ExperimentConfig& config, Clock* clock, SchedulerOptions options,
            search_spaces::SearchSpace space);
  absl::Status Restore(const Snapshot& snapshot);
  void PolicyLoop();

  // All below run with mu_ held.
  absl::Status Commit(Mutation& mutation);
  // Records a refused heartbeat or report (event "refused") and returns FailedPrecondition(reason).
  absl::Status Refuse(int64_t trial, const std::string& reason);
  Event MakeEvent(const std::string& kind, int64_t trial, const std::string& detail) const;
  absl::StatusOr<int> ExpireLocked(Mutation& mutation);
  std::optional<int64_t> FindPromotion() const;
  bool BudgetSpent() const;
  bool Finished() const;
  double RewardOf(const v1::Trial& trial, const v1::RungResult& result) const;
  double TopEstimate(int32_t rung, double ap) const;
  void Queue(const v1::Trial& trial, bool front);
  void AddRungResult(int64_t trial, int32_t rung, double ap);

  Store* const store_;
  const v1::ExperimentConfig config_;
  Clock* const clock_;
  const SchedulerOptions options_;
  const search_spaces::SearchSpace space_;
  std::unique_ptr<Policy> policy_;  // Touched by the policy thread (or RunPolicy) only.
  std::mutex policy_mu_;            // Serializes RunPolicy.

  mutable std::mutex mu_;
  std::condition_variable wake_policy_;
  bool stopping_thread_ = false;
  std::string state_ = "running";
  std::map<int64_t, v1::Trial> trials_;
  std::deque<int64_t> pending_;                 // PENDING trials, leased front first.
  std::unordered_map<std::string, int64_t> finished_by_hash_;  // Dedupe: a trial with a result.
  std::set<int64_t> leased_;                    // LEASED trials.
  std::vector<std::vector<int64_t>> rung_trials_;  // Trials with a result at each rung.
  // Per rung, the results ordered best first: (-AP, trial id). Promotion reads the top of it.
  std::vector<std::set<std::pair<double, int64_t>>> rung_order_;
  std::map<std::string, WorkerRecord> workers_;
  // Results the policy has not seen, with their sequence numbers, in order.
  std::deque<std::pair<int64_t, Observation>> to_observe_;
  int64_t observed_ = 0;                        // Highest result sequence the policy has seen.
  int64_t next_trial_ = 1, next_lease_ = 1, next_sequence_ = 1, next_worker_ = 1;
  int64_t proposed_ = 0;                        // Non-rejected trials created.
  int64_t rejected_in_a_row_ = 0;
  std::string policy_state_;
  std::thread policy_thread_;
};

// Prices a spec as the proxy task builds it: the proxy's scaling, its head, its input size.
struct ProxyCost {
  int64_t params = 0;
  int64_t macs = 0;
};
absl::StatusOr<ProxyCost> PriceProxy(const v1::ArchSpec& spec, const v1::ProxyTask& proxy);

// The spec with the proxy scaling applied, as workers build it.
absl::StatusOr<v1::ArchSpec> ProxySpec(const v1::ArchSpec& spec, const v1::ProxyTask& proxy);

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_SCHEDULER_H_
