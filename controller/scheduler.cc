#include "controller/scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "common/token.h"
#include "controller/config.h"
#include "controller/final_stage.h"
#include "nlohmann/json.hpp"
#include "proto/checks.h"
#include "proto/kinds.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/proxy.h"

namespace vertebra::controller {
namespace {

using json = nlohmann::json;

// How long the policy thread sleeps when nothing wakes it: a wall-time budget or an expired
// lease can give it work without a signal.
constexpr absl::Duration kPolicyPoll = absl::Milliseconds(200);
// A waiting worker asks again after a heartbeat interval, at most this long: new work (a
// proposal, a promotion) usually comes with the next result.
constexpr double kMaxWaitSeconds = 1.0;
// A restarted controller gives every lease it restores this many lease lengths from its start
// (at least one: a worker that heartbeat just before the restart had that much left).
constexpr double kRestartGraceLeases = 1.0;
// The twelve COCO numbers a result carries (pycocotools' stats).
constexpr int kCocoStats = 12;

v1::ReportReply Duplicate() {
  v1::ReportReply reply;
  reply.set_duplicate(true);
  return reply;
}

// The first path where two JSON values differ ("rungs.steps"), for the resume error.
std::string FirstDifference(const json& a, const json& b, const std::string& path) {
  if (a.is_object() && b.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      const std::string p = path.empty() ? it.key() : path + "." + it.key();
      if (!b.contains(it.key())) return p;
      std::string d = FirstDifference(it.value(), b[it.key()], p);
      if (!d.empty()) return d;
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key())) return path.empty() ? it.key() : path + "." + it.key();
    }
    return "";
  }
  return a == b ? "" : (path.empty() ? "(root)" : path);
}

// Adds a lease of `t` that trained its current run from step `start` to `end` to the trial's
// counts: every step trained, and those an earlier lease had reached already.
void CountSteps(v1::Trial& t, int64_t start, int64_t end) {
  if (end <= start) return;
  t.set_trained_steps(t.trained_steps() + (end - start));
  t.set_repeated_steps(t.repeated_steps() + std::max<int64_t>(0, std::min(end, t.reached_step()) - start));
  t.set_reached_step(std::max(t.reached_step(), end));
}

// Sets the counts by state of a message that has them (StatusReply, StateCounts).
template <typename Message>
void SetCounts(const TrialCounts& c, Message* m) {
  m->set_pending(c.pending);
  m->set_leased(c.leased);
  m->set_done(c.done);
  m->set_failed(c.failed);
  m->set_rejected(c.rejected);
  m->set_stopped(c.stopped);
}

// Whether every rung trains a run of its own ("cosine_per_rung"), so that a promotion continues
// nothing.
bool EachRungIsARun(const v1::ExperimentConfig& c) {
  return ScheduleOf(c.proxy()) == v1::SCHEDULE_COSINE_PER_RUNG;
}

// A lease just granted: nothing heard of its training yet.
void StartLease(v1::Trial& t) {
  t.set_lease_start_step(-1);
  t.set_lease_step(0);
}

}  // namespace

Scheduler::Scheduler(Store* store, const v1::ExperimentConfig& config, Clock* clock, SchedulerOptions options,
                     std::unique_ptr<Proposer> proposer)
    : store_(store),
      config_(config),
      clock_(clock),
      options_(std::move(options)),
      proposer_(std::move(proposer)),
      rungs_(config_) {}

Scheduler::~Scheduler() {
  {
    absl::MutexLock lock(&mu_);
    stopping_thread_ = true;
  }
  wake_policy_.SignalAll();
  if (policy_thread_.joinable()) policy_thread_.join();
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Open(Store* store, const v1::ExperimentConfig& config,
                                                           Clock* clock, SchedulerOptions options) {
  ASSIGN_OR_RETURN(Snapshot snapshot, store->Load());
  v1::ExperimentConfig effective = config;
  if (snapshot.experiment) {
    // A record stored before search.promotion promoted by the rung's AP, which the word now spells.
    if (snapshot.experiment->search().promotion().empty()) {
      snapshot.experiment->mutable_search()->set_promotion(std::string(KindName(v1::PROMOTION_RUNG_AP)));
    }
    // The final section may change between launches (a larger one extends the final stage), and
    // so may how long a trial waits for the worker that holds its state (it changes who trains
    // what, not what is trained).
    json stored = json::parse(ExperimentConfigToJson(*snapshot.experiment));
    json given = json::parse(ExperimentConfigToJson(config));
    for (json* j : {&stored, &given}) {
      j->erase("final");
      (*j)["lease"].erase("promotion_wait_seconds");
    }
    const std::string difference = FirstDifference(stored, given, "");
    if (!difference.empty()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the database holds experiment '%s' with a different configuration (first difference: %s); use the "
          "stored configuration or another database",
          snapshot.experiment->name(), difference));
    }
    effective = *snapshot.experiment;
    *effective.mutable_final() = config.final();
    effective.mutable_lease()->set_promotion_wait_seconds(config.lease().promotion_wait_seconds());
  }
  ASSIGN_OR_RETURN(search_spaces::SearchSpace made_space, MakeSearchSpace(effective));
  auto space = std::make_unique<const search_spaces::SearchSpace>(std::move(made_space));
  std::unique_ptr<Policy> policy;
  if (options.policy_factory) {
    policy = options.policy_factory(*space);
  } else {
    ASSIGN_OR_RETURN(policy, MakePolicy(*space, effective));
  }
  auto proposer = std::make_unique<Proposer>(effective, std::move(space), std::move(policy), clock);
  const bool policy_thread = options.policy_thread;
  std::unique_ptr<Scheduler> s(new Scheduler(store, effective, clock, std::move(options), std::move(proposer)));
  {
    absl::MutexLock policy_lock(&s->policy_mu_);
    absl::MutexLock lock(&s->mu_);
    Mutation m;
    if (!snapshot.experiment) {
      m.create_experiment = effective;
      m.experiment_state = v1::EXPERIMENT_RUNNING;
      RETURN_IF_ERROR(s->MakeControls(m));
    }
    RETURN_IF_ERROR(s->Restore(snapshot));
    const int extended = s->ExtendRestoredLeases(m);
    if (s->state_ == v1::EXPERIMENT_FINISHED) {
      // A finished search asked for a larger final stage: train what is missing.
      if (s->PlanFinalRuns(m)) {
        s->state_ = v1::EXPERIMENT_RUNNING;
        m.experiment_state = s->state_;
      }
    }
    m.events.push_back(s->MakeEvent(
        "controller_started", 0,
        absl::StrFormat("%d trials in the store; %d leases extended by the restart grace", snapshot.trials.size(),
                        extended)));
    RETURN_IF_ERROR(s->Commit(m));
    for (const v1::Trial& t : m.trials) s->Queue(t, /*front=*/false);
  }
  if (policy_thread) s->policy_thread_ = std::thread([p = s.get()] { p->PolicyLoop(); });
  return s;
}

absl::Status Scheduler::Restore(const Snapshot& snapshot) {
  if (snapshot.experiment_state != v1::EXPERIMENT_STATE_UNSPECIFIED) state_ = snapshot.experiment_state;
  std::vector<std::pair<int64_t, Observation>> unobserved;
  const int64_t observed = snapshot.policy ? snapshot.policy->observed : 0;
  for (const v1::Trial& t : snapshot.trials) {
    next_sequence_ = std::max(next_sequence_, t.settled_sequence() + 1);
    if (t.settled_sequence() > observed) unobserved.push_back({t.settled_sequence(), SettledObservation(t)});
    if (Awaits(t)) awaiting_.insert(t.id());
    const bool search = IsSearchTrial(t);
    if (search && t.state() != v1::REJECTED && t.reused_from() == 0) proposed_by_hash_.emplace(t.hash(), t.id());
    trials_[t.id()] = t;
    next_trial_ = std::max(next_trial_, t.id() + 1);
    next_lease_ = std::max(next_lease_, t.lease() + 1);
    if (search && t.state() != v1::REJECTED) ++proposed_;
    if (t.state() == v1::PENDING) pending_.push_back(t.id());
    if (t.state() == v1::LEASED) leased_.insert(t.id());
    for (const v1::RungResult& r : t.results()) {
      next_sequence_ = std::max(next_sequence_, r.sequence() + 1);
      if (search && r.rung() >= 0 && r.rung() < rungs_.count() && t.reused_from() == 0) {
        rungs_.Add(t, r.rung(), r.ap().stats_size() > 0 ? r.ap().stats(0) : 0.0);
      }
    }
    if (search && t.results_size() > 0 && t.reused_from() == 0) finished_by_hash_.emplace(t.hash(), t.id());
  }
  std::sort(unobserved.begin(), unobserved.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [seq, o] : unobserved) to_observe_.push_back({seq, std::move(o)});
  for (const WorkerRecord& w : snapshot.workers) {
    workers_[w.id] = w;
    const size_t dash = w.id.rfind('-');
    if (dash != std::string::npos) next_worker_ = std::max<int64_t>(next_worker_, std::atoll(w.id.c_str() + dash + 1) + 1);
  }
  ASSIGN_OR_RETURN(policy_state_, proposer_->Restore(snapshot.policy));
  return absl::OkStatus();
}

int Scheduler::ExtendRestoredLeases(Mutation& m) {
  // The workers could not heartbeat while no controller ran; give each lease a whole lease
  // length from now to get through again, and keep any later deadline it had.
  const double deadline = clock_->Now() + kRestartGraceLeases * config_.lease().lease_seconds();
  int extended = 0;
  for (int64_t id : leased_) {
    const v1::Trial& t = trials_.at(id);
    if (t.lease_deadline() >= deadline) continue;
    v1::Trial u = t;
    u.set_lease_deadline(deadline);
    m.trials.push_back(std::move(u));
    ++extended;
  }
  return extended;
}

Event Scheduler::MakeEvent(const std::string& kind, int64_t trial, const std::string& detail) const {
  return NewEvent(clock_->Now(), kind, trial, detail);
}

Observation Scheduler::SettledObservation(const v1::Trial& t) {
  return Observation{t.id(), {t.decisions().begin(), t.decisions().end()}, {t.log_probs().begin(), t.log_probs().end()},
                     t.settled_reward()};
}

bool Scheduler::Awaits(const v1::Trial& t) const {
  return IsSearchTrial(t) && t.state() == v1::DONE && t.settled_sequence() == 0 && t.reused_from() == 0 && t.results_size() > 0 &&
         t.rung() < rungs_.count() - 1;
}

void Scheduler::Settle(v1::Trial& t, double reward) {
  t.set_settled_sequence(next_sequence_++);  // A number lost to a failed commit leaves a harmless gap.
  t.set_settled_reward(reward);
}

absl::Status Scheduler::Commit(Mutation& mutation) {
  if (mutation.empty()) return absl::OkStatus();
  return store_->Apply(mutation);
}

absl::Status Scheduler::Refuse(int64_t trial, const std::string& reason) {
  // On the record, so that an account of a partition shows every late message and its fate.
  Mutation m;
  m.events.push_back(MakeEvent("refused", trial, reason));
  RETURN_IF_ERROR(Commit(m));
  return absl::FailedPreconditionError(reason);
}

absl::Status Scheduler::RefuseInvalid(const std::string& worker_id, int64_t trial, const absl::Status& why) {
  const std::string reason = absl::StrFormat("invalid request from worker '%s': %s",
                                             TruncateText(worker_id, kMaxWorkerIdChars), why.message());
  Mutation m;
  m.events.push_back(MakeEvent("invalid_request", trial, reason));
  RETURN_IF_ERROR(Commit(m));
  return absl::InvalidArgumentError(reason);
}

absl::Status Scheduler::Authenticate(const char* call, const std::string& worker_id, const std::string& secret,
                                     int64_t trial, const Peer& peer) {
  const std::string who = TruncateText(worker_id, kMaxWorkerIdChars);
  const auto w = workers_.find(worker_id);
  if (w == workers_.end()) return absl::NotFoundError(absl::StrFormat("unknown worker '%s': register first", who));
  // A secret longer than any we hand out is wrong without hashing it.
  const bool right = secret.size() <= kMaxSecretChars && !w->second.secret_hash.empty() &&
                     ConstantTimeEquals(SecretHash(secret), w->second.secret_hash);
  // Under mTLS a worker is bound to the certificate it registered with.
  const std::string& bound = w->second.certificate_subject;
  const bool same_certificate = bound.empty() || ConstantTimeEquals(peer.certificate_subject, bound);
  if (right && same_certificate) return absl::OkStatus();
  std::string reason;
  if (!right) {
    reason = secret.empty() ? absl::StrFormat("%s as worker '%s' without its secret", call, who)
                            : absl::StrFormat("%s as worker '%s' with a secret that is not its own", call, who);
  } else {
    reason = absl::StrFormat("%s as worker '%s' with %s, not the certificate it registered with (%s)", call, who,
                             peer.certificate_subject.empty()
                                 ? std::string("no client certificate")
                                 : "client certificate " + TruncateText(peer.certificate_subject, kMaxHostChars),
                             TruncateText(bound, kMaxHostChars));
  }
  Mutation m;
  m.events.push_back(MakeEvent("identity_refused", trial, reason));
  RETURN_IF_ERROR(Commit(m));
  return right || !secret.empty() ? absl::PermissionDeniedError(reason) : absl::UnauthenticatedError(reason);
}

absl::StatusOr<v1::RegisterReply> Scheduler::Register(const v1::RegisterRequest& req, const Peer& peer) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckRegisterRequest(req); !s.ok()) return RefuseInvalid("", 0, s);
  if (req.simulated() != config_.simulated()) {
    return absl::FailedPreconditionError(
        config_.simulated() ? "this experiment is simulated: start workers with --simulate"
                            : "this experiment trains for real: a simulated worker may not join it");
  }
  ASSIGN_OR_RETURN(const std::string secret, NewSecret());
  WorkerRecord w;
  w.id = absl::StrFormat("w-%d", next_worker_);
  w.secret_hash = SecretHash(secret);
  w.host = req.host();
  w.device = req.device();
  w.memory_mb = req.memory_mb();
  w.simulated = req.simulated();
  w.certificate_subject = TruncateText(peer.certificate_subject, kMaxHostChars);
  w.registered_at = w.last_seen = clock_->Now();
  Mutation m;
  m.workers.push_back(w);
  m.events.push_back(MakeEvent("registered", 0, absl::StrFormat("%s on %s (%s)", w.id, w.host, w.device)));
  RETURN_IF_ERROR(Commit(m));
  ++next_worker_;
  workers_[w.id] = w;
  v1::RegisterReply reply;
  reply.set_worker_id(w.id);
  reply.set_worker_secret(secret);
  reply.set_experiment(config_.name());
  *reply.mutable_proxy() = config_.proxy();
  if (config_.simulated()) *reply.mutable_simulation() = config_.simulation();
  reply.set_heartbeat_seconds(config_.lease().heartbeat_seconds());
  *reply.mutable_rungs() = config_.rungs();
  reply.set_seed(config_.seed());
  return reply;
}

absl::Status Scheduler::MakeControls(Mutation& m) {
  const double now = clock_->Now();
  for (int i = 0; i < config_.controls_size(); ++i) {
    ASSIGN_OR_RETURN(ControlArchitecture control, LoadControl(config_, i));
    v1::Trial& t = m.trials.emplace_back();
    t.set_id(next_trial_++);
    t.set_role(v1::TRIAL_ROLE_CONTROL);
    t.set_control(config_.controls(i));
    t.set_hash(search_spaces::ArchHash(control.spec));
    *t.mutable_spec() = std::move(control.spec);
    t.set_params(control.params);
    t.set_macs(control.macs);
    t.set_seed(TrainingSeed(config_.seed(), t.id()));
    t.set_state(v1::PENDING);
    t.set_created_at(now);
    m.events.push_back(MakeEvent("control", t.id(), absl::StrFormat("%s: %d parameters, %d multiply-adds", t.control(),
                                                                     t.params(), t.macs())));
  }
  return absl::OkStatus();
}

bool Scheduler::PlanFinalRuns(Mutation& m) {
  if (config_.final().top_k() <= 0) return false;
  FinalPlan plan = PlanFinalStage(config_, trials_, next_trial_, clock_->Now());
  if (plan.runs.empty()) return false;
  m.final_stage = plan.stage;
  m.events.push_back(MakeEvent(
      "final_stage", 0,
      absl::StrFormat("%d finalist%s and %d control%s, %d new run%s of %d steps%s", plan.stage.finalists_size(),
                      plan.stage.finalists_size() == 1 ? "" : "s", plan.stage.controls_size(),
                      plan.stage.controls_size() == 1 ? "" : "s", plan.runs.size(), plan.runs.size() == 1 ? "" : "s",
                      config_.final().steps(), plan.stage.note().empty() ? "" : "; " + plan.stage.note())));
  Mutation commit;
  commit.final_stage = plan.stage;
  commit.trials = plan.runs;
  commit.events = m.events;
  m.events.clear();
  // The runs are committed on their own, before anything else of this call is, so that a lease
  // taken from them below is of a durable trial.
  if (!Commit(commit).ok()) return false;
  m.final_stage.reset();
  next_trial_ = plan.next_id;
  for (const v1::Trial& t : plan.runs) Queue(t, /*front=*/false);
  return true;
}

int64_t Scheduler::StepsOf(const v1::Trial& t) const {
  return RoleOf(t) == v1::TRIAL_ROLE_FINAL ? t.steps() : config_.rungs().steps(t.rung());
}

int64_t Scheduler::PendingSearch() const {
  int64_t n = 0;
  for (int64_t id : pending_) n += IsSearchTrial(trials_.at(id)) ? 1 : 0;
  return n;
}

bool Scheduler::BudgetSpent() const {
  if (proposed_ >= config_.budget().trials()) return true;
  return false;
}

bool Scheduler::Finished() const {
  return BudgetSpent() && pending_.empty() && leased_.empty() && !rungs_.FindPromotion(trials_).has_value();
}

absl::StatusOr<int> Scheduler::ExpireLocked(Mutation& m) {
  const double now = clock_->Now();
  std::vector<v1::Trial> changed;
  for (int64_t id : leased_) {
    const v1::Trial& t = trials_.at(id);
    if (t.lease_deadline() >= now) continue;
    v1::Trial u = t;
    CountLostLease(u);
    holdings_.erase(u.worker());  // Gone, as far as anyone can tell, until it is heard again.
    if (u.attempts() >= config_.lease().max_attempts()) {
      u.set_state(v1::FAILED);
      u.set_failure(absl::StrFormat("lease expired %d times (last worker %s)", u.attempts(), u.worker()));
      u.set_finished_at(now);
      if (IsSearchTrial(u) && u.settled_sequence() == 0) Settle(u, config_.algorithm().failure_penalty());
      m.events.push_back(MakeEvent("failed", id, u.failure()));
    } else {
      u.set_state(v1::PENDING);
      m.events.push_back(MakeEvent("expired", id, absl::StrFormat("lease %d of %s", u.lease(), u.worker())));
    }
    changed.push_back(std::move(u));
  }
  for (const v1::Trial& u : changed) m.trials.push_back(u);
  return static_cast<int>(changed.size());
}

// Applies trial records that were just committed to the in-memory indices.
void Scheduler::Queue(const v1::Trial& t, bool front) {
  const auto it = trials_.find(t.id());
  const v1::TrialState before = it == trials_.end() ? v1::TRIAL_STATE_UNSPECIFIED : it->second.state();
  const bool newly_settled = t.settled_sequence() != 0 && (it == trials_.end() || it->second.settled_sequence() == 0);
  trials_[t.id()] = t;
  for (const v1::RungResult& r : t.results()) next_sequence_ = std::max(next_sequence_, r.sequence() + 1);
  if (newly_settled) {
    next_sequence_ = std::max(next_sequence_, t.settled_sequence() + 1);
    to_observe_.push_back({t.settled_sequence(), SettledObservation(t)});
  }
  if (Awaits(t)) {
    awaiting_.insert(t.id());
  } else {
    awaiting_.erase(t.id());
  }
  if (IsSearchTrial(t) && t.state() != v1::REJECTED && t.reused_from() == 0) {
    proposed_by_hash_.emplace(t.hash(), t.id());
  }
  if (before == v1::LEASED && t.state() != v1::LEASED) leased_.erase(t.id());
  if (t.state() == v1::LEASED) leased_.insert(t.id());
  if (before == v1::PENDING && t.state() != v1::PENDING) {
    pending_.erase(std::remove(pending_.begin(), pending_.end(), t.id()), pending_.end());
  }
  if (t.state() == v1::PENDING && before != v1::PENDING) {
    if (front) {
      pending_.push_front(t.id());
    } else {
      pending_.push_back(t.id());
    }
  }
}

void Scheduler::Heard(const std::string& worker, const google::protobuf::RepeatedField<int64_t>* held) {
  Holding& h = holdings_[worker];
  h.heard_at = clock_->Now();
  if (held != nullptr) h.trials = std::set<int64_t>(held->begin(), held->end());
}

std::vector<std::string> Scheduler::Holders(int64_t trial, const std::string& except, double now) const {
  std::vector<std::string> out;
  for (const auto& [worker, h] : holdings_) {
    const bool live = now - h.heard_at <= config_.lease().lease_seconds();
    if (worker != except && live && h.trials.count(trial) > 0) out.push_back(worker);
  }
  return out;
}

double Scheduler::HolderWait(const v1::Trial& t) const {
  double wait = config_.lease().promotion_wait_seconds();
  // At most as long as training the held steps took, at the pace of the trial's last rung.
  if (t.results_size() > 0) {
    const v1::RungResult& last = t.results(t.results_size() - 1);
    const int64_t trained = last.steps() - last.start_step();
    if (trained > 0 && last.train_seconds() > 0) {
      wait = std::min(wait, last.train_seconds() / static_cast<double>(trained) * static_cast<double>(t.reached_step()));
    }
  }
  return wait;
}

void Scheduler::NextRung(v1::Trial& t) const {
  t.set_rung(t.rung() + 1);
  t.set_attempts(0);
  // A rung of its own run: nothing of it is trained yet, and the lower rung's state is no start.
  if (EachRungIsARun(config_)) t.set_reached_step(0);
}

void Scheduler::CountLostLease(v1::Trial& t) {
  // A worker that did not say where it began is taken to have continued from the furthest step.
  const int64_t start = t.lease_start_step() >= 0 ? t.lease_start_step() : std::min(t.reached_step(), t.lease_step());
  CountSteps(t, start, t.lease_step());
  StartLease(t);
}

bool Scheduler::Resumable(const Choice& c) const {
  // A promotion continues the run unless it starts one of its own (NextRung).
  return !(c.promotion && EachRungIsARun(config_)) && trials_.at(c.trial).reached_step() > 0;
}

std::optional<Scheduler::Choice> Scheduler::Choose(const std::string& worker, double now) {
  std::vector<Choice> candidates;
  for (int64_t id : rungs_.Promotions(trials_)) candidates.push_back({id, /*promotion=*/true, ""});
  for (int64_t id : pending_) candidates.push_back({id, /*promotion=*/false, ""});
  const auto own = holdings_.find(worker);
  if (own != holdings_.end()) {
    for (Choice& c : candidates) {
      if (own->second.trials.count(c.trial) > 0 && Resumable(c)) {
        c.note = "continues from the state this worker holds";
        return c;
      }
    }
  }
  for (Choice& c : candidates) {
    if (!Resumable(c)) return c;
    const std::vector<std::string> holders = Holders(c.trial, worker, now);
    if (holders.empty()) return c;
    const double since = held_back_since_.emplace(c.trial, now).first->second;
    const double wait = HolderWait(trials_.at(c.trial));
    if (now - since >= wait) {
      c.note = absl::StrFormat("retrains the held steps: %s, which holds the trial's state, did not take it within %.0f s",
                               holders.front(), wait);
      return c;
    }
  }
  return std::nullopt;
}

absl::StatusOr<int> Scheduler::ExpireLeases() {
  absl::MutexLock lock(&mu_);
  Mutation m;
  ASSIGN_OR_RETURN(const int n, ExpireLocked(m));
  RETURN_IF_ERROR(Commit(m));
  for (const v1::Trial& t : m.trials) Queue(t, /*front=*/true);
  return n;
}

absl::StatusOr<v1::LeaseReply> Scheduler::Lease(const v1::LeaseRequest& req, const Peer& peer) {
  const std::string& worker = req.worker_id();
  absl::ReleasableMutexLock lock(&mu_);
  if (absl::Status s = CheckLeaseRequest(req); !s.ok()) return RefuseInvalid(worker, 0, s);
  RETURN_IF_ERROR(Authenticate("lease", worker, req.worker_secret(), 0, peer));
  Heard(worker, &req.held_trials());
  auto w = workers_.find(worker);
  {
    Mutation expiry;
    ASSIGN_OR_RETURN(const int expired, ExpireLocked(expiry));
    if (expired > 0) {
      RETURN_IF_ERROR(Commit(expiry));
      for (const v1::Trial& t : expiry.trials) Queue(t, /*front=*/true);
    }
  }
  Mutation m;
  const double now = clock_->Now();
  if (config_.budget().wall_hours() > 0 && state_ == v1::EXPERIMENT_RUNNING && !trials_.empty()) {
    const double started = trials_.begin()->second.created_at();
    if (now - started > 3600 * config_.budget().wall_hours()) {
      state_ = v1::EXPERIMENT_STOPPED;
      m.experiment_state = state_;
      m.events.push_back(MakeEvent("stopped", 0, "wall-time budget reached"));
    }
  }
  v1::LeaseReply reply;
  if (state_ != v1::EXPERIMENT_RUNNING) {
    RETURN_IF_ERROR(Commit(m));
    reply.set_status(v1::LeaseReply::FINISHED);
    reply.set_reason(absl::StrCat("the experiment is ", KindName(state_)));
    return reply;
  }
  v1::Trial t;
  std::optional<Choice> choice = Choose(worker, now);
  // The search is over and the final validation begins (or goes on with runs a restart made).
  if (!choice && Finished() && PlanFinalRuns(m)) choice = Choose(worker, now);
  if (choice) {
    t = trials_.at(choice->trial);
    held_back_since_.erase(t.id());
    if (choice->promotion) {
      NextRung(t);
      m.events.push_back(MakeEvent("promoted", t.id(), absl::StrFormat("to rung %d (%d steps)", t.rung(),
                                                                        config_.rungs().steps(t.rung()))));
    }
  } else {
    if (Finished()) {
      state_ = v1::EXPERIMENT_FINISHED;
      m.experiment_state = state_;
      m.events.push_back(MakeEvent("finished", 0, "every trial is accounted for"));
      RETURN_IF_ERROR(Commit(m));
      reply.set_status(v1::LeaseReply::FINISHED);
      reply.set_reason("the experiment is finished");
      return reply;
    }
    RETURN_IF_ERROR(Commit(m));
    lock.Release();
    wake_policy_.SignalAll();
    reply.set_status(v1::LeaseReply::WAIT);
    reply.set_retry_after_seconds(std::min(kMaxWaitSeconds, config_.lease().heartbeat_seconds()));
    return reply;
  }
  t.set_state(v1::LEASED);
  t.set_attempts(t.attempts() + 1);
  t.set_worker(worker);
  t.set_lease(next_lease_);
  t.set_leased_at(now);
  t.set_lease_deadline(now + config_.lease().lease_seconds());
  StartLease(t);
  m.trials.push_back(t);
  m.events.push_back(
      MakeEvent("leased", t.id(), LeasedEventDetail(t.lease(), worker, t.rung(), t.attempts(), choice->note)));
  WorkerRecord wr = w->second;
  wr.last_seen = now;
  m.workers.push_back(wr);
  RETURN_IF_ERROR(Commit(m));
  ++next_lease_;
  w->second = wr;
  Queue(t, false);
  lock.Release();
  wake_policy_.SignalAll();  // The queue shrank.
  ASSIGN_OR_RETURN(search_spaces::ResolvedProxy proxy, search_spaces::ResolveProxy(t.spec(), config_.proxy()));
  reply.set_status(v1::LeaseReply::GRANTED);
  reply.set_trial(t.id());
  reply.set_lease(t.lease());
  reply.set_rung(t.rung());
  reply.set_steps(StepsOf(t));
  reply.set_previous_steps(RoleOf(t) != v1::TRIAL_ROLE_FINAL && t.rung() > 0 ? config_.rungs().steps(t.rung() - 1) : 0);
  reply.set_role(RoleOf(t));
  reply.set_seed(t.seed() != 0 ? t.seed() : TrainingSeed(config_.seed(), t.id()));
  if (RoleOf(t) != v1::TRIAL_ROLE_FINAL) reply.set_data_seed(DataSeed(config_.seed()));
  *reply.mutable_spec() = std::move(proxy.spec);
  reply.set_hash(t.hash());
  reply.set_deadline(t.lease_deadline());
  reply.set_heartbeat_seconds(config_.lease().heartbeat_seconds());
  return reply;
}

absl::StatusOr<v1::HeartbeatReply> Scheduler::Heartbeat(const v1::HeartbeatRequest& req, const Peer& peer) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckHeartbeatRequest(req); !s.ok()) return RefuseInvalid(req.worker_id(), req.trial(), s);
  RETURN_IF_ERROR(Authenticate("heartbeat", req.worker_id(), req.worker_secret(), req.trial(), peer));
  Heard(req.worker_id(), &req.held_trials());
  auto w = workers_.find(req.worker_id());
  auto it = trials_.find(req.trial());
  if (it == trials_.end()) return absl::NotFoundError(absl::StrFormat("no trial %d", req.trial()));
  const v1::Trial& t = it->second;
  if (t.state() != v1::LEASED || t.lease() != req.lease() || t.worker() != req.worker_id()) {
    return Refuse(req.trial(), absl::StrFormat("trial %d: lease %d of %s is no longer valid (the trial is %s under "
                                             "lease %d of %s): stop it",
                                             req.trial(), req.lease(), req.worker_id(), v1::TrialState_Name(t.state()),
                                             t.lease(), t.worker()));
  }
  const double now = clock_->Now();
  Mutation m;
  v1::Trial u = t;
  u.set_lease_deadline(now + config_.lease().lease_seconds());
  // How far this lease got: what an expiry or a release counts as trained.
  if (req.has_start_step()) u.set_lease_start_step(req.start_step());
  u.set_lease_step(std::max(u.lease_step(), req.step()));
  m.trials.push_back(u);
  if (req.step() > 0 || req.has_ap()) {  // Step 0 without an AP only renews the lease.
    v1::MetricPoint& p = m.metrics.emplace_back();
    p.set_trial(req.trial());
    p.set_rung(t.rung());
    p.set_step(req.step());
    p.set_loss(req.loss());
    p.set_has_ap(req.has_ap());
    if (req.has_ap()) p.set_ap(req.ap());
    p.set_at(now);
  }
  WorkerRecord wr = w->second;
  wr.last_seen = now;
  m.workers.push_back(wr);
  RETURN_IF_ERROR(Commit(m));
  w->second = wr;
  trials_[u.id()] = u;
  v1::HeartbeatReply reply;
  reply.set_deadline(u.lease_deadline());
  if (state_ != v1::EXPERIMENT_RUNNING) {
    reply.set_stop(true);
    reply.set_reason(absl::StrCat("the experiment is ", KindName(state_)));
  }
  return reply;
}

double Scheduler::RewardOf(const v1::Trial& t, const v1::RungResult& r) const {
  return ObjectiveReward(config_, r.ap_at_top(), t.macs());
}

absl::StatusOr<v1::ReportReply> Scheduler::Report(const v1::ReportRequest& req, const Peer& peer) {
  absl::ReleasableMutexLock lock(&mu_);
  if (absl::Status s = CheckReportRequest(req); !s.ok()) return RefuseInvalid(req.worker_id(), req.trial(), s);
  RETURN_IF_ERROR(Authenticate("report", req.worker_id(), req.worker_secret(), req.trial(), peer));
  auto it = trials_.find(req.trial());
  if (it == trials_.end()) return absl::NotFoundError(absl::StrFormat("no trial %d", req.trial()));
  const v1::Trial& t = it->second;
  // A repeat of a report already taken. (A lease that merely expired is not one: its late report
  // is stale.)
  if (req.lease() != 0 && t.reported_lease() == req.lease()) return Duplicate();
  for (const v1::RungResult& r : t.results()) {
    if (r.lease() == req.lease()) return Duplicate();
  }
  if (t.state() != v1::LEASED || t.lease() != req.lease() || t.worker() != req.worker_id()) {
    return Refuse(req.trial(), absl::StrFormat("stale report for trial %d: lease %d of %s, but the trial is %s under "
                                             "lease %d of %s",
                                             req.trial(), req.lease(), req.worker_id(), v1::TrialState_Name(t.state()),
                                             t.lease(), t.worker()));
  }
  if (!req.failed() && req.simulated() != config_.simulated()) {
    return absl::FailedPreconditionError(config_.simulated() ? "a real result for a simulated experiment"
                                                             : "a simulated result for a real experiment");
  }
  if (!req.failed() && req.ap().stats_size() != kCocoStats) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a result needs the %d COCO numbers, got %d", kCocoStats, req.ap().stats_size()));
  }
  const double now = clock_->Now();
  Heard(req.worker_id(), nullptr);
  Mutation m;
  v1::Trial u = t;
  u.set_reported_lease(req.lease());
  if (req.failed()) {
    CountLostLease(u);
    if (req.retryable() && u.attempts() < config_.lease().max_attempts()) {
      u.set_state(v1::PENDING);
      m.events.push_back(MakeEvent("retry", u.id(), req.failure()));
    } else {
      u.set_state(v1::FAILED);
      u.set_failure(req.failure().empty() ? "the worker reported a failure" : req.failure());
      u.set_finished_at(now);
      m.events.push_back(MakeEvent("failed", u.id(), u.failure()));
      if (IsSearchTrial(u) && u.settled_sequence() == 0) Settle(u, config_.algorithm().failure_penalty());
    }
    m.trials.push_back(u);
  } else {
    // Where the lease began: the worker says it; an older one only says whether it continued
    // from the rung below.
    int64_t start = req.start_step();
    if (!req.has_start_step() && req.continued() && RoleOf(u) != v1::TRIAL_ROLE_FINAL && u.rung() > 0) {
      start = config_.rungs().steps(u.rung() - 1);
    }
    CountSteps(u, start, StepsOf(u));
    StartLease(u);
    if (req.state_kept()) holdings_[req.worker_id()].trials.insert(u.id());
    v1::RungResult* r = u.add_results();
    r->set_rung(u.rung());
    r->set_steps(StepsOf(u));
    r->set_start_step(start);
    *r->mutable_ap() = req.ap();
    r->set_train_seconds(req.train_seconds());
    r->set_eval_seconds(req.eval_seconds());
    r->set_checkpoint_seconds(req.checkpoint_seconds());
    r->set_images_per_s(req.images_per_s());
    r->set_worker(req.worker_id());
    r->set_simulated(req.simulated());
    r->set_continued(req.continued());
    r->set_cooldown_steps(req.cooldown_steps());
    r->set_reported_at(now);
    r->set_lease(req.lease());
    r->set_sequence(next_sequence_++);
    r->set_ap_at_top(RoleOf(u) == v1::TRIAL_ROLE_FINAL ? req.ap().stats(0)
                                                       : rungs_.TopEstimate(u, u.rung(), req.ap().stats(0)));
    r->set_reward(RewardOf(u, *r));
    u.set_reward(r->reward());
    u.set_state(v1::DONE);
    u.set_finished_at(now);
    m.events.push_back(MakeEvent("reported", u.id(), absl::StrFormat("AP %.4f at rung %d by %s", req.ap().stats(0), u.rung(),
                                                                      req.worker_id())));
    if (!IsSearchTrial(u)) {
      // Controls run every rung, without competition; neither they nor final runs are observed.
      if (RoleOf(u) == v1::TRIAL_ROLE_CONTROL && u.rung() < rungs_.count() - 1) {
        NextRung(u);
        u.set_state(v1::PENDING);
        m.events.push_back(MakeEvent("promoted", u.id(), absl::StrFormat("control %s to rung %d (%d steps)", u.control(),
                                                                          u.rung(), config_.rungs().steps(u.rung()))));
      }
      m.trials.push_back(u);
    } else {
    // Settling: the trial is observed once, when it will run no higher rung (scheduler.h).
    std::vector<int64_t> quota;
    if (u.rung() < rungs_.count() - 1) quota = rungs_.Quota(u.rung(), trials_, &u);
    auto in_quota = [&quota](int64_t id) { return std::find(quota.begin(), quota.end(), id) != quota.end(); };
    if (u.settled_sequence() == 0 && (u.rung() == rungs_.count() - 1 || !in_quota(u.id()))) Settle(u, u.reward());
    m.trials.push_back(u);
    // Trials that waited for a promotion at this rung and were pushed out of its quota.
    for (int64_t id : awaiting_) {
      const v1::Trial& a = trials_.at(id);
      if (id == u.id() || a.rung() != u.rung() || in_quota(id)) continue;
      v1::Trial settled = a;
      Settle(settled, settled.reward());
      m.trials.push_back(settled);
    }
    }
  }
  auto w = workers_.find(req.worker_id());
  WorkerRecord wr;
  if (w != workers_.end()) {
    wr = w->second;
    wr.last_seen = now;
    if (!req.failed()) ++wr.trials_done;
    m.workers.push_back(wr);
  }
  RETURN_IF_ERROR(Commit(m));
  if (w != workers_.end()) w->second = wr;
  for (const v1::Trial& x : m.trials) Queue(x, /*front=*/true);  // Settled trials go to the policy.
  if (!req.failed() && IsSearchTrial(u)) {
    rungs_.Add(u, u.rung(), req.ap().stats(0));
    finished_by_hash_.emplace(u.hash(), u.id());
  }
  lock.Release();
  wake_policy_.SignalAll();
  return v1::ReportReply();
}

absl::Status Scheduler::Release(const v1::ReleaseRequest& req, const Peer& peer) {
  const std::string& worker = req.worker_id();
  const int64_t trial = req.trial(), lease = req.lease();
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Authenticate("release", worker, req.worker_secret(), trial, peer));
  auto it = trials_.find(trial);
  if (it == trials_.end()) return absl::NotFoundError(absl::StrFormat("no trial %d", trial));
  const v1::Trial& t = it->second;
  if (t.state() != v1::LEASED || t.lease() != lease || t.worker() != worker) {
    return absl::FailedPreconditionError(
        absl::StrFormat("trial %d: lease %d is not held by %s", trial, lease, worker));
  }
  v1::Trial u = t;
  u.set_state(v1::PENDING);
  u.set_attempts(std::max(0, u.attempts() - 1));  // A release is not the trial's fault.
  CountLostLease(u);
  holdings_.erase(worker);  // It is shutting down.
  Mutation m;
  m.trials.push_back(u);
  m.events.push_back(MakeEvent("released", trial, absl::StrFormat("lease %d by %s", lease, worker)));
  RETURN_IF_ERROR(Commit(m));
  Queue(u, /*front=*/true);
  return absl::OkStatus();
}

absl::Status Scheduler::Stop(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  if (state_ != v1::EXPERIMENT_RUNNING) return absl::OkStatus();
  Mutation m;
  m.experiment_state = v1::EXPERIMENT_STOPPED;
  for (int64_t id : pending_) {
    v1::Trial u = trials_.at(id);
    u.set_state(v1::STOPPED);
    m.trials.push_back(u);
  }
  m.events.push_back(MakeEvent("stopped", 0, reason));
  RETURN_IF_ERROR(Commit(m));
  state_ = v1::EXPERIMENT_STOPPED;
  for (const v1::Trial& u : m.trials) Queue(u, false);
  return absl::OkStatus();
}

absl::Status Scheduler::RunPolicy() {
  absl::MutexLock policy_lock(&policy_mu_);
  std::deque<std::pair<int64_t, Observation>> results;
  int needed = 0;
  int64_t next_id = 0;
  std::optional<RidgeModel> candidate_model;
  {
    absl::MutexLock lock(&mu_);
    results.swap(to_observe_);
    if (config_.search().guided_candidates() > 1) candidate_model = rungs_.predictor().CandidateModel();
    if (state_ == v1::EXPERIMENT_RUNNING) {
      const int64_t left = config_.budget().trials() - proposed_;
      needed = static_cast<int>(std::min<int64_t>(left, config_.algorithm().queue() - PendingSearch()));
    }
    next_id = next_trial_;  // Only this function, under policy_mu_, moves it.
  }
  ASSIGN_OR_RETURN(ProposalRound round,
                   proposer_->Round(std::move(results), needed, next_id,
                                    [this](const std::string& hash) -> std::optional<v1::Trial> {
                                      absl::MutexLock lock(&mu_);
                                      // A trial with a result first (it can be reused), then any other.
                                      auto found = finished_by_hash_.find(hash);
                                      if (found != finished_by_hash_.end()) return trials_.at(found->second);
                                      found = proposed_by_hash_.find(hash);
                                      if (found != proposed_by_hash_.end()) return trials_.at(found->second);
                                      return std::nullopt;
                                    },
                                    candidate_model ? &*candidate_model : nullptr));
  if (round.nothing) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  Mutation m;
  m.trials = round.trials;
  m.events = round.events;
  m.policy = round.checkpoint;
  if (round.gave_up && state_ == v1::EXPERIMENT_RUNNING) {
    m.experiment_state = v1::EXPERIMENT_STOPPED;
    m.events.push_back(MakeEvent("stopped", 0, absl::StrFormat("%d proposals in a row broke the hard limits",
                                                               round.rejected_in_a_row)));
  }
  RETURN_IF_ERROR(Commit(m));
  proposer_->Committed(round);
  if (m.experiment_state) state_ = *m.experiment_state;
  policy_state_ = round.checkpoint.state;
  next_trial_ = round.next_id;
  for (const v1::Trial& t : round.trials) {
    if (t.state() != v1::REJECTED) ++proposed_;
    Queue(t, false);
  }
  return absl::OkStatus();
}

bool Scheduler::PolicyHasWork() const {
  return stopping_thread_ || !to_observe_.empty() ||
         (state_ == v1::EXPERIMENT_RUNNING && !BudgetSpent() && PendingSearch() < config_.algorithm().queue());
}

void Scheduler::PolicyLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time deadline = absl::Now() + kPolicyPoll;
      while (!PolicyHasWork() && !wake_policy_.WaitWithDeadline(&mu_, deadline)) {
      }
      if (stopping_thread_) return;
    }
    if (absl::Status s = RunPolicy(); !s.ok()) {
      // The store refused a write: nothing half-done is in it, and the process cannot keep a
      // policy that is ahead of its database. Stop; a restart carries on from the database.
      std::fprintf(stderr, "vertebra controller: the policy could not commit: %s\n", std::string(s.message()).c_str());
      std::abort();
    }
  }
}

v1::StatusReply Scheduler::Status() const {
  v1::StatusReply s;
  *s.mutable_config() = config_;  // Immutable: copied outside the lock.
  s.set_experiment(config_.name());
  s.set_simulated(config_.simulated());
  s.set_budget(config_.budget().trials());
  absl::MutexLock lock(&mu_);
  s.set_state(state_);
  s.set_proposed(proposed_);
  s.set_workers(static_cast<int64_t>(workers_.size()));
  for (int64_t n : rungs_.ResultsPerRung()) s.add_rung_results(n);
  RoleCounts roles;
  for (const auto& [id, t] : trials_) {
    roles.Add(t.role(), t.state());
    s.set_repeated_steps(s.repeated_steps() + t.repeated_steps());
    s.set_trained_steps(s.trained_steps() + t.trained_steps());
    if (IsSearchTrial(t) && t.results_size() > 0 && t.reused_from() == 0) {
      const v1::RungResult& r = t.results(t.results_size() - 1);
      const double ap = r.ap().stats_size() > 0 ? r.ap().stats(0) : 0;
      // The best is judged at the highest rung reached, then by AP.
      if (s.best_trial() == 0 || r.rung() > s.best_rung() || (r.rung() == s.best_rung() && ap > s.best_ap())) {
        s.set_best_trial(id);
        s.set_best_ap(ap);
        s.set_best_rung(r.rung());
      }
    }
  }
  SetCounts(roles.All(), &s);
  SetCounts(roles.controls, s.mutable_controls());
  SetCounts(roles.final_runs, s.mutable_final_runs());
  return s;
}

absl::StatusOr<v1::Trial> Scheduler::GetTrial(int64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = trials_.find(id);
  if (it == trials_.end()) return absl::NotFoundError(absl::StrFormat("no trial %d", id));
  return it->second;
}

std::string Scheduler::PolicyState() const {
  absl::MutexLock lock(&mu_);
  return policy_state_;
}

}  // namespace vertebra::controller
