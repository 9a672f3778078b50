// The proposer: the policy's side of the scheduler. One round observes the results the policy
// has not seen, then turns its proposals into trial records: decoded, named, hashed, priced at
// the proxy task's size, and checked against the objective's hard limits (a proposal that breaks
// one is REJECTED and the policy observes objective.penalty). Unless the experiment allows
// repeats, a proposal of an architecture the experiment already has (trained, in flight, failed,
// or made earlier in the round) is dropped and the policy proposes again, up to
// kMaxResamples times; then a uniform sample takes its place (event "duplicate"). Should that
// repeat a trained architecture too, the trial takes the earlier result (DONE, reused_from),
// which no policy observes. Each policy update becomes a "policy_update" event. Pricing is
// search_spaces::ResolveProxy's: what the worker builds.
//
// Predictor-guided proposals (search.guided_candidates K > 1, after BANANAS): each proposal is
// the best of K candidates the policy proposes (RL samples, evolution's mutants, random draws), as
// the predictor's model of the top-scale AP from the architecture alone ranks them
// (RungPredictor::CandidateModel; with ap_macs, times the MACs term of the reward). Candidates
// that repeat a known architecture or break a hard limit are passed over; when all K do, the
// proposal is made as without guidance. The first of equals wins, so before the model has learned
// anything the policy's own first candidate is taken.
//
// Not thread-safe: the scheduler serializes rounds under its policy lock. A round touches no
// scheduler state; it asks for earlier results through a callback.
#ifndef VERTEBRA_CONTROLLER_PROPOSER_H_
#define VERTEBRA_CONTROLLER_PROPOSER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/clock.h"
#include "controller/policy.h"
#include "controller/predictor.h"
#include "controller/store.h"
#include "search_spaces/decisions.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::controller {

// What one round made, to be committed in one transaction.
struct ProposalRound {
  std::vector<v1::Trial> trials;   // New trials (PENDING, REJECTED, or DONE when reused), ids in order.
  std::vector<Event> events;       // "rejected", "reused", "duplicate", "policy_error", "policy_update", and
                                   // the RL policies' "policy" entropy.
  PolicyCheckpoint checkpoint;     // The policy after the round.
  int64_t next_id = 0;             // The first trial id after the round.
  int64_t rejected_in_a_row = 0;   // Including earlier rounds'.
  bool gave_up = false;            // So many proposals in a row broke the limits that the search stops.
  bool nothing = false;            // Nothing observed, nothing proposed: nothing to commit.
};

// A trial of the same hash, if any (the scheduler's dedupe index): one with a result when there
// is one, else any other that was neither rejected nor a reuse.
using FindResultFn = std::function<std::optional<v1::Trial>(const std::string& hash)>;

class Proposer {
 public:
  // Takes the search space and the policy made over it (a policy may keep a reference to its
  // space: the proposer keeps both alive, the space longer). `clock` must outlive the proposer.
  Proposer(const v1::ExperimentConfig& config, std::unique_ptr<const search_spaces::SearchSpace> space,
           std::unique_ptr<Policy> policy, Clock* clock);
  Proposer(const Proposer&) = delete;
  Proposer& operator=(const Proposer&) = delete;

  // Restores the policy from its stored checkpoint (none: a fresh policy). Returns the policy's
  // state as stored, or as saved now when there is none; the policy's error otherwise.
  absl::StatusOr<std::string> Restore(const std::optional<PolicyCheckpoint>& checkpoint);

  // One round: the policy observes `results` (by sequence number, in order), then makes up to
  // `needed` trials from id `next_id` on (rejected proposals do not count, and the round stops
  // after too many in a row). InternalError when the policy proposes a sequence the search space
  // cannot decode; the pricing's error for a spec it cannot price. Nothing changes in the
  // proposer's own bookkeeping until Committed().
  // `candidate_model` (may be null; used only with search.guided_candidates > 1) ranks candidates.
  absl::StatusOr<ProposalRound> Round(std::deque<std::pair<int64_t, Observation>> results, int needed,
                                      int64_t next_id, const FindResultFn& find_result,
                                      const RidgeModel* candidate_model = nullptr);
  // The round is durable: its counters become the proposer's.
  void Committed(const ProposalRound& round);

 private:
  // Prices, checks the limits and dedupes one proposal, made into trial `id`.
  absl::StatusOr<v1::Trial> MakeTrial(const Proposal& p, int64_t id, double now, const FindResultFn& find_result,
                                      std::vector<Event>* events);
  // The policy's proposal for trial `id`; when it fails, a uniform sample and a "policy_error"
  // event.
  Proposal Propose(int64_t id, std::vector<Event>* events);
  // Propose(), again while the proposal repeats a known architecture (`find_result`, or a hash
  // in `made`), at most kMaxResamples times; then a uniform sample and a "duplicate" event. With
  // a candidate model and guided_candidates > 1, first the best of that many candidates.
  Proposal ProposeNew(int64_t id, const FindResultFn& find_result, const std::set<std::string>& made,
                      const RidgeModel* candidate_model, std::vector<Event>* events);
  // The candidate model's score of a proposal: its predicted top-scale AP (times the MACs term
  // with ap_macs); nullopt when it does not decode, does not resolve or breaks a hard limit.
  // `hash` gets its architecture's hash.
  std::optional<double> Score(const Proposal& p, const RidgeModel& model, std::string* hash) const;
  // The policy observes; an observation it ignored or an update that failed is a "policy_error"
  // event (the search goes on).
  void Observe(const Observation& observation, std::vector<Event>* events);
  Event MakeEvent(const std::string& kind, int64_t trial, const std::string& detail) const;

  const v1::ExperimentConfig config_;
  const std::unique_ptr<const search_spaces::SearchSpace> space_;
  const std::unique_ptr<Policy> policy_;  // Declared after space_: destroyed before it.
  Clock* const clock_;
  int64_t observed_ = 0;           // Highest result sequence the policy has seen.
  int64_t rejected_in_a_row_ = 0;  // Proposals that broke the limits since the last that did not.
};

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_PROPOSER_H_
