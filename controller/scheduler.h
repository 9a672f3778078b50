// The scheduler: the controller's state machine. It turns proposals into trials, leases them to
// workers, promotes the best through the rungs (asynchronous successive halving, as ASHA), takes
// reports, expires lost leases, and feeds results to the policy. Every change is committed to the
// store before the call that caused it returns, so an answered RPC is a durable fact.
//
// Trials move PENDING -> LEASED -> DONE | FAILED. A lease has a deadline that heartbeats renew;
// an expired lease puts the trial back to PENDING (attempt + 1) until lease.max_attempts, then
// FAILED. Leases survive a controller restart: the restarted controller moves the deadline of
// every lease it restores to one lease length after its start, so that workers that kept
// training while it was down can heartbeat and report under their lease. A report carries the
// lease it was given: the first valid report wins, a repeat of it is
// acknowledged and ignored, a report under any other lease is refused with the reason.
//
// Rungs: rungs.steps = [s0, s1, ...]. Every trial is first trained for s0 steps. When a worker
// asks for work, the scheduler first looks for a promotion (rungs.h); the promoted trial is
// leased at rung k + 1 for s(k+1) steps. Only then does a new trial start.
//
// Reward: a rung-k AP is put on the top rung's scale by the predictor across rungs
// (Rungs::TopEstimate, predictor.h: the rung's AP and the architecture), then the objective
// applies (ap_macs: AP x (MACs / target)^w). With search.guided_candidates, each round hands the
// proposer the predictor's model of the architecture alone as the results stand. A proposal that breaks a hard limit is rejected
// before any worker sees it and the policy observes objective.penalty.
//
// Observing once: the policy observes each trained trial exactly once, when it settles, i.e. when
// it will run no higher rung as far as the scheduler can tell:
//   - it reports its top-rung result: observed with that result's reward;
//   - it reports a rung-k result (k below the top) and is not in rung k's promotion quota
//     counting that result (Rungs::Quota): observed with the rung-k reward;
//   - it was in the quota, waiting for its promotion (DONE at rung k, unsettled), and a later
//     rung-k result pushes it out before it is leased: observed then, with its rung-k reward;
//   - it fails (a failure report that is not retried, or its last lease expires): observed with
//     algorithm.failure_penalty, whatever rungs it finished before.
// A trial promoted later anyway (ASHA promotes from a rung whose quota grows) has settled
// already: its higher-rung result counts for promotion, the ranking and TopEstimate, but is not
// observed again. A trial waiting for its promotion when the experiment is stopped is never
// observed. Settling is stored with the trial (settled_sequence, settled_reward) in the same
// transaction as the report or expiry that caused it; the sequence comes from the same counter
// as the results', so the policy checkpoint's `observed` tells which settled trials to replay.
// A proposal that repeats a known architecture is re-sampled (proposer.h), and a reused result
// is never observed.
//
// The policy never runs on an RPC thread: a policy thread observes results and refills a small
// queue of pending proposals (proposer.h); policy checkpoints are committed with the proposals
// they made and after the updates they did, and results committed after the last checkpoint are
// replayed at start-up, so nothing the policy learned is lost with the process.
//
// Controls (ExperimentConfig.controls) are trials of role TRIAL_ROLE_CONTROL, made when the
// experiment is created and leased like any trial: every rung in turn (a control that reports
// rung k is pending at rung k + 1 at once, ahead of new trials), never in a promotion quota,
// never observed by the policy, never counted in budget.trials. When the search is over (the
// budget spent and every search trial and control accounted for), the final section's runs are
// made (final_stage.h) and leased like trials; the experiment finishes when they are accounted
// for too. A final run trains StepsOf() steps from scratch and is never promoted or observed.
//
// Held state: a worker says which trials' training state (a checkpoint) it holds with every lease
// request and heartbeat (held_trials), and a report says whether it kept the state of the trial
// it trained. A trial whose current run has progress (Trial.reached_step > 0: a promotion, a
// lease lost or given back mid-run) goes to a live worker that holds its state: first the trials
// the asking worker holds, then the others in the usual order (promotions from the highest rung,
// then the pending queue). Another worker may take it only when no live worker holds it (a worker
// is live while heard from within a lease length; one whose lease expired or that gave its lease
// back is gone until heard again), or once it has waited lease.promotion_wait_seconds, counted
// from the first time another worker was kept from it and capped at the time the held steps took
// to train (past that, a worker that retrained them at once would have caught up). Until then the
// other worker gets other work, or WAIT. With a work folder all workers share, every worker holds
// every state and any of them continues it. What workers hold is kept in memory only: after a
// restart they say it again with their next call.
//
// Repeated steps: each lease that ends (a result, a failure, an expiry, a release) adds the steps
// it trained, from where it began (the worker says it) to where it ended (the rung's steps, or its
// last heartbeat), to Trial.trained_steps, and the part of them an earlier lease of the same run
// had reached to Trial.repeated_steps.
//
// Thread-safe. Two mutexes: `policy_mu_` serializes policy rounds (RunPolicy) and guards the
// proposer; `mu_` guards the trial records, the queues and the counters, and is held only for
// short, non-blocking work (never across a policy step). Order: policy_mu_ before mu_.
#ifndef VERTEBRA_CONTROLLER_SCHEDULER_H_
#define VERTEBRA_CONTROLLER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/clock.h"
#include "controller/policy.h"
#include "controller/proposer.h"
#include "controller/rungs.h"
#include "controller/store.h"
#include "search_spaces/decisions.h"
#include "vertebra/v1/experiment.pb.h"
#include "vertebra/v1/service.pb.h"

namespace vertebra::controller {

struct SchedulerOptions {
  // Run the policy on its own thread (the service). false: the policy runs only inside
  // RunPolicy(), which tests call to make every step deterministic.
  bool policy_thread = true;
  // Replaces the policy the configuration names (tests inject scripted policies).
  std::function<std::unique_ptr<Policy>(const search_spaces::SearchSpace&)> policy_factory;
};

// Who is calling, as the transport knows it (the gRPC service fills it in; in-process callers
// pass nothing).
struct Peer {
  // The TLS client certificate's subject under mTLS ("CN=..."); empty without one.
  std::string certificate_subject;
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

  // The worker service's calls, in its messages (vertebra/v1/service.proto); the gRPC service
  // only checks the search's bearer token and translates the status.
  //
  // Identity: Register returns a new worker id and a secret for it (the store keeps only the
  // secret's SHA-256, so a restarted controller knows its live workers); Lease, Heartbeat, Report
  // and Release must carry that worker's secret. NotFound for an unknown worker; a call without
  // the secret is Unauthenticated, one with another secret PermissionDenied, and both are recorded
  // as an event "identity_refused" and change nothing else. Under mTLS the service passes the
  // client certificate's subject as `peer`: a worker that registered with one is bound to it, and
  // a call under its identity with another certificate (or none) is PermissionDenied and
  // recorded the same way, even with the right secret.
  //
  // Register: a new worker id with its secret and what to train. FailedPrecondition when a
  // simulated worker joins a real experiment or the other way round.
  absl::StatusOr<v1::RegisterReply> Register(const v1::RegisterRequest& request, const Peer& peer = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // GRANTED (the trial, its spec at the proxy's scaling, the rung's steps and the one below's,
  // the deadline), WAIT (retry_after_seconds) or FINISHED (reason); which trial follows the
  // held-state rule above, from the request's held_trials. NotFound for an unknown worker.
  absl::StatusOr<v1::LeaseReply> Lease(const v1::LeaseRequest& request, const Peer& peer = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // Renews the lease and records the progress (step 0 without an AP renews only), where the
  // lease's training began and the trial states the worker holds. stop says
  // whether the experiment still runs. FailedPrecondition (with the reason) when the worker no
  // longer holds the lease; NotFound for an unknown worker or trial.
  absl::StatusOr<v1::HeartbeatReply> Heartbeat(const v1::HeartbeatRequest& request, const Peer& peer = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // A result (the 12 COCO numbers, else InvalidArgument) or a failure: a retryable one puts the
  // trial back like an expired lease while attempts remain, others fail it. duplicate: already
  // taken under this lease. FailedPrecondition for a stale lease or a simulated result in a real
  // experiment (or the other way round); NotFound for an unknown trial.
  absl::StatusOr<v1::ReportReply> Report(const v1::ReportRequest& request, const Peer& peer = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // Gives a lease back (the worker is shutting down): the trial is pending again, no attempt
  // counted. FailedPrecondition when the lease is not the worker's.
  absl::Status Release(const v1::ReleaseRequest& request, const Peer& peer = {}) ABSL_LOCKS_EXCLUDED(mu_);

  // Expires overdue leases; returns how many. The service calls it periodically; Lease and
  // Heartbeat also call it.
  absl::StatusOr<int> ExpireLeases() ABSL_LOCKS_EXCLUDED(mu_);

  // Ends the experiment: pending trials become STOPPED, heartbeats tell workers to stop.
  absl::Status Stop(const std::string& reason) ABSL_LOCKS_EXCLUDED(mu_);

  // The policy's work: observe the results not yet observed, refill the proposal queue.
  // Called by the policy thread, or by tests with policy_thread = false.
  absl::Status RunPolicy() ABSL_LOCKS_EXCLUDED(policy_mu_, mu_);

  // The experiment as AdminService.GetStatus tells it: proposed counts the trials created
  // (rejected ones excluded), workers those that ever registered.
  v1::StatusReply Status() const ABSL_LOCKS_EXCLUDED(mu_);
  const v1::ExperimentConfig& config() const { return config_; }
  // A copy of one trial's record; NotFound naming the id.
  absl::StatusOr<v1::Trial> GetTrial(int64_t id) const ABSL_LOCKS_EXCLUDED(mu_);
  // The policy's state as last committed (tests compare restored policies with it).
  std::string PolicyState() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Scheduler(Store* store, const v1::ExperimentConfig& config, Clock* clock, SchedulerOptions options,
            std::unique_ptr<Proposer> proposer);
  absl::Status Restore(const Snapshot& snapshot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(policy_mu_, mu_);
  // Gives the leases Restore found a grace period after a restart: their deadlines move to one
  // lease length from now (later ones stay), into `mutation`. Returns how many moved.
  int ExtendRestoredLeases(Mutation& mutation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PolicyLoop() ABSL_LOCKS_EXCLUDED(policy_mu_, mu_);
  // Whether the policy thread should run a round now.
  bool PolicyHasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Status Commit(Mutation& mutation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records a refused heartbeat or report (event "refused") and returns FailedPrecondition(reason).
  absl::Status Refuse(int64_t trial, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records a request that breaks the protocol's limits (proto/checks.h; event "invalid_request",
  // naming the worker and the field) and returns InvalidArgument. Nothing else changes: no result
  // is stored and the trial's lease stays as it was.
  absl::Status RefuseInvalid(const std::string& worker_id, int64_t trial, const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `secret` is the one Register gave `worker_id` and `peer` its certificate (see the
  // identity contract above); `call` and `trial` name the refused call in its event.
  absl::Status Authenticate(const char* call, const std::string& worker_id, const std::string& secret, int64_t trial,
                            const Peer& peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Event MakeEvent(const std::string& kind, int64_t trial, const std::string& detail) const;
  absl::StatusOr<int> ExpireLocked(Mutation& mutation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The experiment's controls as new PENDING trials of role TRIAL_ROLE_CONTROL, into `m` (a new
  // experiment only). InvalidArgument naming controls[i] for one that no longer loads.
  absl::Status MakeControls(Mutation& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When the final section asks for runs that do not exist (final_stage.h): commits them with the
  // stage's record and the "final_stage" event (and `m`'s events so far), queues them, and
  // returns true. False when nothing is missing or the commit failed (the search then ends as
  // if there were no final section; a restart plans again).
  bool PlanFinalRuns(Mutation& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The steps a lease of `trial` trains to: its rung's, or a final run's own.
  int64_t StepsOf(const v1::Trial& trial) const;
  // PENDING search trials (the policy keeps algorithm.queue of them; controls and final runs wait
  // in the same queue).
  int64_t PendingSearch() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool BudgetSpent() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Finished() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double RewardOf(const v1::Trial& trial, const v1::RungResult& result) const;
  // What the policy observes of a settled trial.
  static Observation SettledObservation(const v1::Trial& trial);
  // Whether the trial is DONE below the top rung and unsettled: in its rung's quota, waiting for
  // its promotion.
  bool Awaits(const v1::Trial& trial) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks `trial` settled with `reward` and the next sequence number (Queue() then hands it to
  // the policy once committed).
  void Settle(v1::Trial& trial, double reward) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies a trial record that was just committed to the in-memory indices; a newly settled
  // one goes to the policy's queue.
  void Queue(const v1::Trial& trial, bool front) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // What to lease: a trial id, whether it is a promotion, and a note on its held state for the
  // lease's event.
  struct Choice {
    int64_t trial = 0;
    bool promotion = false;
    std::string note;
  };
  // Whether the candidate's run has progress that some worker may hold.
  bool Resumable(const Choice& choice) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The trial to lease to `worker` now under the held-state rule above, or nullopt when every
  // candidate waits for its holder or there is none.
  std::optional<Choice> Choose(const std::string& worker, double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records that `worker` was heard from now and, when `held` is given, the trial states it holds.
  void Heard(const std::string& worker, const google::protobuf::RepeatedField<int64_t>* held)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live workers other than `except` that hold `trial`'s state.
  std::vector<std::string> Holders(int64_t trial, const std::string& except, double now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How long `trial` (at the rung it would be leased at) waits for a worker that holds its state.
  double HolderWait(const v1::Trial& trial) const;
  // Moves `trial` to its next rung (a promotion): attempts from 0, and a new run under
  // "cosine_per_rung" (nothing reached yet).
  void NextRung(v1::Trial& trial) const;
  // Adds what the trial's lost lease trained, as its heartbeats told, to its step counts.
  static void CountLostLease(v1::Trial& trial);

  Store* const store_;
  const v1::ExperimentConfig config_;
  Clock* const clock_;
  const SchedulerOptions options_;

  // The policy's side: one round at a time.
  absl::Mutex policy_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  const std::unique_ptr<Proposer> proposer_ ABSL_PT_GUARDED_BY(policy_mu_);

  // The state the RPCs and the policy thread share.
  mutable absl::Mutex mu_;
  absl::CondVar wake_policy_;  // Signalled when the policy may have work; waited on with mu_.
  bool stopping_thread_ ABSL_GUARDED_BY(mu_) = false;
  v1::ExperimentState state_ ABSL_GUARDED_BY(mu_) = v1::EXPERIMENT_RUNNING;
  std::map<int64_t, v1::Trial> trials_ ABSL_GUARDED_BY(mu_);
  std::deque<int64_t> pending_ ABSL_GUARDED_BY(mu_);  // PENDING trials, leased front first.
  // Dedupe: a trial with a result, by hash.
  std::unordered_map<std::string, int64_t> finished_by_hash_ ABSL_GUARDED_BY(mu_);
  // The first trial of each hash that was neither rejected nor a reuse: proposals that repeat one
  // are re-sampled.
  std::unordered_map<std::string, int64_t> proposed_by_hash_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> awaiting_ ABSL_GUARDED_BY(mu_);  // Trials for which Awaits() holds.
  std::set<int64_t> leased_ ABSL_GUARDED_BY(mu_);  // LEASED trials.
  Rungs rungs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, WorkerRecord> workers_ ABSL_GUARDED_BY(mu_);
  // Settled trials the policy has not seen, with their settling sequence numbers, in order.
  std::deque<std::pair<int64_t, Observation>> to_observe_ ABSL_GUARDED_BY(mu_);
  int64_t next_trial_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_lease_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_worker_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t proposed_ ABSL_GUARDED_BY(mu_) = 0;  // Non-rejected trials created.
  std::string policy_state_ ABSL_GUARDED_BY(mu_);
  // Per worker: the trial states it said it holds, and when it was last heard from.
  struct Holding {
    std::set<int64_t> trials;
    double heard_at = 0;
  };
  std::map<std::string, Holding> holdings_ ABSL_GUARDED_BY(mu_);
  // Trials a worker was kept from because another holds their state: when that first happened.
  std::map<int64_t, double> held_back_since_ ABSL_GUARDED_BY(mu_);
  std::thread policy_thread_;  // Started in Open, joined in the destructor.
};

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_SCHEDULER_H_
