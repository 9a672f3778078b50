#include "controller/proposer.h"

#include <algorithm>
#include <cstdlib>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "proto/kinds.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/proxy.h"

namespace vertebra::controller {
namespace {

namespace ss = search_spaces;

// Proposals rejected in a row before the experiment stops: the policy cannot find anything
// within the limits.
constexpr int64_t kMaxRejectedInARow = 1000;
// Proposals of known architectures dropped in a row before a uniform sample takes their place: a
// policy that repeats itself this often has collapsed, and the budget should buy new networks.
constexpr int kMaxResamples = 32;

// The hash of a decision sequence's architecture; empty when it does not decode (MakeTrial then
// reports the error).
std::string HashOf(const ss::SearchSpace& space, const std::vector<int>& decisions) {
  absl::StatusOr<v1::ArchSpec> spec = space.Decode(decisions);
  return spec.ok() ? ss::ArchHash(*spec) : std::string();
}

}  // namespace

Proposer::Proposer(const v1::ExperimentConfig& config, std::unique_ptr<const ss::SearchSpace> space,
                   std::unique_ptr<Policy> policy, Clock* clock)
    : config_(config), space_(std::move(space)), policy_(std::move(policy)), clock_(clock) {}

absl::StatusOr<std::string> Proposer::Restore(const std::optional<PolicyCheckpoint>& checkpoint) {
  if (!checkpoint) return policy_->Save();
  RETURN_IF_ERROR(policy_->Restore(checkpoint->state));
  observed_ = checkpoint->observed;
  return checkpoint->state;
}

Event Proposer::MakeEvent(const std::string& kind, int64_t trial, const std::string& detail) const {
  return NewEvent(clock_->Now(), kind, trial, detail);
}

void Proposer::Observe(const Observation& observation, std::vector<Event>* events) {
  const absl::Status s = policy_->Observe(observation);
  if (!s.ok()) events->push_back(MakeEvent("policy_error", observation.trial, std::string(s.message())));
}

Proposal Proposer::Propose(int64_t id, std::vector<Event>* events) {
  absl::StatusOr<Proposal> p = policy_->Propose();
  if (p.ok()) return *std::move(p);
  // Keep the search going: a uniform sample (reproducible from the seed and the trial id),
  // scored as the policy's own when it arrives.
  std::mt19937_64 rng(config_.seed() + static_cast<uint64_t>(id));
  events->push_back(MakeEvent("policy_error", id, absl::StrCat(p.status().message(), "; a uniform sample instead")));
  return Proposal{space_->Sample(rng), {}, 0};
}

std::optional<double> Proposer::Score(const Proposal& p, const RidgeModel& model, std::string* hash) const {
  absl::StatusOr<v1::ArchSpec> spec = space_->Decode(p.decisions);
  if (!spec.ok()) return std::nullopt;
  *hash = ss::ArchHash(*spec);
  absl::StatusOr<ss::ResolvedProxy> proxy = ss::ResolveProxy(*spec, config_.proxy());
  if (!proxy.ok()) return std::nullopt;
  const v1::ObjectiveConfig& o = config_.objective();
  const int64_t params = proxy->cost.total_params, macs = proxy->cost.total_macs;
  if ((o.max_macs() > 0 && macs > o.max_macs()) || (o.max_params() > 0 && params > o.max_params())) {
    return std::nullopt;
  }
  const ss::ArchFeatureVector f = ProxyFeatures(*proxy);
  return ObjectiveReward(config_, model.Predict(f), macs);
}

Proposal Proposer::ProposeNew(int64_t id, const FindResultFn& find_result, const std::set<std::string>& made,
                              const RidgeModel* candidate_model, std::vector<Event>* events) {
  auto known = [&](const std::string& hash) {
    if (hash.empty()) return std::optional<int64_t>();
    if (made.count(hash) > 0) return std::optional<int64_t>(0);
    std::optional<v1::Trial> previous = find_result(hash);
    return previous ? std::optional<int64_t>(previous->id()) : std::nullopt;
  };
  const int guided = config_.search().guided_candidates();
  if (candidate_model != nullptr && guided > 1) {
    std::optional<Proposal> best;
    double best_score = 0;
    for (int i = 0; i < guided; ++i) {
      Proposal p = Propose(id, events);
      std::string hash;
      const std::optional<double> score = Score(p, *candidate_model, &hash);
      if (!score || (!config_.allow_repeats() && known(hash))) continue;
      if (!best || *score > best_score) {
        best = std::move(p);
        best_score = *score;
      }
    }
    if (best) return *std::move(best);
  }
  Proposal p = Propose(id, events);
  if (config_.allow_repeats()) return p;
  std::optional<int64_t> first = known(HashOf(*space_, p.decisions));
  if (!first) return p;
  for (int tries = 1; tries <= kMaxResamples; ++tries) {
    p = Propose(id, events);
    if (!known(HashOf(*space_, p.decisions))) return p;
  }
  std::mt19937_64 rng(config_.seed() + static_cast<uint64_t>(id));
  events->push_back(MakeEvent(
      "duplicate", id,
      absl::StrFormat("%d proposals in a row repeated known architectures (the first: %s); a uniform sample instead",
                      kMaxResamples + 1, *first > 0 ? absl::StrFormat("trial %d", *first) : "this round's")));
  return Proposal{space_->Sample(rng), {}, 0};
}

absl::StatusOr<v1::Trial> Proposer::MakeTrial(const Proposal& p, int64_t id, double now,
                                              const FindResultFn& find_result, std::vector<Event>* events) {
  v1::Trial t;
  t.set_id(id);
  t.set_created_at(now);
  for (int d : p.decisions) t.add_decisions(d);
  for (double l : p.log_probs) t.add_log_probs(l);
  t.set_parent(p.parent);
  absl::StatusOr<v1::ArchSpec> spec = space_->Decode(p.decisions);
  if (!spec.ok()) {
    return absl::InternalError(absl::StrCat("the policy proposed an invalid sequence: ", spec.status().message()));
  }
  spec->set_name(absl::StrFormat("trial-%d", t.id()));
  *t.mutable_spec() = *spec;
  t.set_hash(ss::ArchHash(*spec));
  ASSIGN_OR_RETURN(const ss::ResolvedProxy proxy, ss::ResolveProxy(*spec, config_.proxy()));
  const int64_t params = proxy.cost.total_params, macs = proxy.cost.total_macs;
  t.set_params(params);
  t.set_macs(macs);
  const v1::ObjectiveConfig& o = config_.objective();
  std::string violation;
  if (o.max_macs() > 0 && macs > o.max_macs()) {
    violation = absl::StrFormat("%d multiply-adds exceed objective.max_macs %d", macs, o.max_macs());
  } else if (o.max_params() > 0 && params > o.max_params()) {
    violation = absl::StrFormat("%d parameters exceed objective.max_params %d", params, o.max_params());
  }
  if (!violation.empty()) {
    t.set_state(v1::REJECTED);
    t.set_failure(violation);
    t.set_reward(o.penalty());
    t.set_finished_at(now);
    events->push_back(MakeEvent("rejected", t.id(), violation));
    Observe({t.id(), p.decisions, p.log_probs, o.penalty()}, events);
    return t;
  }
  std::optional<v1::Trial> previous;
  if (!config_.allow_repeats()) previous = find_result(t.hash());
  if (previous && previous->results_size() > 0) {
    // The same network has a result: reuse it instead of training it again.
    t.set_state(v1::DONE);
    t.set_reused_from(previous->id());
    t.set_rung(previous->rung());
    *t.mutable_results() = previous->results();
    t.set_reward(previous->reward());
    t.set_finished_at(now);
    events->push_back(MakeEvent("reused", t.id(), absl::StrFormat("same hash as trial %d", previous->id())));
  } else {
    t.set_state(v1::PENDING);
  }
  return t;
}

absl::StatusOr<ProposalRound> Proposer::Round(std::deque<std::pair<int64_t, Observation>> results, int needed,
                                              int64_t next_id, const FindResultFn& find_result,
                                              const RidgeModel* candidate_model) {
  ProposalRound round;
  int64_t observed = observed_;
  for (auto& [seq, o] : results) {
    Observe(o, &round.events);
    observed = std::max(observed, seq);
  }
  round.rejected_in_a_row = rejected_in_a_row_;
  const double now = clock_->Now();
  int made = 0;
  std::set<std::string> made_hashes;
  while (made < needed && round.rejected_in_a_row < kMaxRejectedInARow) {
    ASSIGN_OR_RETURN(v1::Trial t, MakeTrial(ProposeNew(next_id, find_result, made_hashes, candidate_model,
                                                       &round.events),
                                            next_id, now, find_result, &round.events));
    ++next_id;
    if (t.state() != v1::REJECTED) made_hashes.insert(t.hash());
    if (t.state() == v1::REJECTED) {
      ++round.rejected_in_a_row;
    } else {
      round.rejected_in_a_row = 0;
      ++made;
    }
    round.trials.push_back(std::move(t));
  }
  round.next_id = next_id;
  round.gave_up = round.rejected_in_a_row >= kMaxRejectedInARow;
  if (results.empty() && round.trials.empty()) {
    round.nothing = true;
    return round;
  }
  for (const PolicyUpdate& u : policy_->TakeUpdates()) {
    round.events.push_back(MakeEvent(
        "policy_update", 0,
        absl::StrFormat("update %d on %d results: mean reward %.6f, advantage scale %.6f, entropy %.4f nats "
                        "(%.4f per decision), clipped %.4f",
                        u.update, u.results, u.mean_reward, u.advantage_scale, u.entropy, u.entropy_per_decision,
                        u.clipped_fraction)));
  }
  round.checkpoint = PolicyCheckpoint{policy_->algorithm(), observed, policy_->Save()};
  if (!round.trials.empty() && IsRlAlgorithm(policy_->algorithm())) {
    // The entropy over time, for the report: the mean per-decision entropy of the last proposal.
    round.events.push_back(
        MakeEvent("policy", 0, absl::StrFormat("entropy %.6f after %d results", policy_->Entropy(), observed)));
  }
  return round;
}

void Proposer::Committed(const ProposalRound& round) {
  observed_ = round.checkpoint.observed;
  rejected_in_a_row_ = round.rejected_in_a_row;
}

}  // namespace vertebra::controller
