#include "controller/rl_policy.h"

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "controller/policy.h"
#include "gtest/gtest.h"
#include "proto/kinds.h"
#include "search_spaces/decisions.h"
#include "search_spaces/family.h"

namespace vertebra::controller {
namespace {

namespace ss = search_spaces;

ss::SearchSpace DefaultSpace() {
  absl::StatusOr<ss::SearchSpace> space = ss::SearchSpace::Create({});
  EXPECT_TRUE(space.ok()) << space.status();
  return *space;
}

// Three intermediate blocks (35 decisions): keeps the learning tests fast.
ss::SearchSpace SmallSpace() {
  ss::SearchSpaceOptions options;
  options.intermediate_pool = {3, 4, 5};
  absl::StatusOr<ss::SearchSpace> space = ss::SearchSpace::Create(options);
  EXPECT_TRUE(space.ok()) << space.status();
  return *space;
}

v1::AlgorithmConfig Config(const std::string& kind) {
  v1::AlgorithmConfig c;
  c.set_kind(kind);
  c.set_learning_rate(0.01);
  c.set_hidden(32);
  c.set_entropy_weight(0.01);
  c.set_baseline_decay(0.9);
  c.set_ppo_clip(0.2);
  c.set_ppo_epochs(3);
  c.set_update_every(4);
  c.set_temperature(0);
  c.set_tanh_constant(0);
  return c;
}

// log p(decision_t | earlier ones) under SearchSpace::Sample's uniform distribution, per step.
std::vector<double> UniformLogProbs(const ss::SearchSpace& space, const std::vector<int>& decisions) {
  ss::DecisionCursor cursor(space);
  std::vector<double> out;
  for (int d : decisions) {
    const std::vector<int64_t> w = cursor.CompletionWeights();
    int64_t sum = 0;
    for (int64_t x : w) sum += x;
    out.push_back(std::log(static_cast<double>(w[d]) / static_cast<double>(sum)));
    EXPECT_TRUE(cursor.Choose(d).ok());
  }
  return out;
}

std::unique_ptr<Policy> Make(const ss::SearchSpace& space, const v1::AlgorithmConfig& config, uint64_t seed) {
  absl::StatusOr<std::unique_ptr<Policy>> p = NewRlPolicy(space, config, seed);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(*p) : nullptr;
}

// The toy task: the fraction of block-type decisions (the last num_blocks, two options each,
// never masked) that choose option 0. Uniform sampling scores 0.5 on average.
double ToyReward(const ss::SearchSpace& space, const std::vector<int>& decisions) {
  int zeros = 0;
  for (int i = space.num_decisions() - space.num_blocks(); i < space.num_decisions(); ++i) zeros += decisions[i] == 0;
  return static_cast<double>(zeros) / space.num_blocks();
}

Observation ObservationOf(const ss::SearchSpace& space, const Proposal& p, int64_t trial) {
  return {trial, p.decisions, p.log_probs, ToyReward(space, p.decisions)};
}

class RlPolicyTest : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Algorithms, RlPolicyTest, ::testing::Values("ppo", "reinforce"));

TEST_P(RlPolicyTest, ProposalsAreValidSequences) {
  const ss::SearchSpace space = DefaultSpace();
  std::unique_ptr<Policy> policy = Make(space, Config(GetParam()), 1);
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(KindName(policy->algorithm()), GetParam());
  for (int i = 0; i < 10; ++i) {
    const Proposal p = policy->Propose().value();
    ASSERT_EQ(static_cast<int>(p.decisions.size()), space.num_decisions());
    EXPECT_TRUE(space.Decode(p.decisions).ok()) << space.Decode(p.decisions).status();
    ASSERT_EQ(p.log_probs.size(), p.decisions.size());
    for (double lp : p.log_probs) {
      EXPECT_TRUE(std::isfinite(lp));
      EXPECT_LE(lp, 0.0);
    }
    EXPECT_GT(policy->Entropy(), 0.0);
    EXPECT_TRUE(std::isfinite(policy->Entropy()));
    EXPECT_TRUE(policy->Observe(ObservationOf(space, p, i)).ok());  // Two updates along the way.
  }
}

TEST_P(RlPolicyTest, SeedDeterminesProposals) {
  const ss::SearchSpace space = DefaultSpace();
  std::unique_ptr<Policy> a = Make(space, Config(GetParam()), 7);
  std::unique_ptr<Policy> b = Make(space, Config(GetParam()), 7);
  std::unique_ptr<Policy> c = Make(space, Config(GetParam()), 8);
  bool differs = false;
  for (int i = 0; i < 6; ++i) {
    const Proposal pa = a->Propose().value(), pb = b->Propose().value(), pc = c->Propose().value();
    EXPECT_EQ(pa.decisions, pb.decisions);
    EXPECT_EQ(pa.log_probs, pb.log_probs);
    differs = differs || pa.decisions != pc.decisions;
    EXPECT_TRUE(a->Observe(ObservationOf(space, pa, i)).ok());
    EXPECT_TRUE(b->Observe(ObservationOf(space, pb, i)).ok());
    EXPECT_TRUE(c->Observe(ObservationOf(space, pc, i)).ok());
  }
  EXPECT_TRUE(differs);
}

// Proposals wait in a pending list and results come back out of order, so PPO scores some of
// them against an older policy. A policy restored mid-buffer must then follow the original bit
// for bit.
TEST_P(RlPolicyTest, RestoredPolicyContinuesExactly) {
  const ss::SearchSpace space = DefaultSpace();
  const v1::AlgorithmConfig config = Config(GetParam());
  std::unique_ptr<Policy> a = Make(space, config, 3);
  std::vector<Proposal> pending;
  int64_t trial = 0, observed = 0;
  // Proposes one, and once three are pending observes one of them (not the oldest, mostly).
  auto advance = [&](Policy& policy, std::vector<Proposal>& queue, int64_t& round_index, int64_t& seen) {
    queue.push_back(policy.Propose().value());
    if (queue.size() >= 3) {
      const size_t k = static_cast<size_t>(round_index % 3);
      EXPECT_TRUE(policy.Observe(ObservationOf(space, queue[k], round_index)).ok());
      queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(k));
      ++seen;
    }
    ++round_index;
    return queue.back();
  };
  // Ten results in: two updates done, two results buffered (update_every = 4).
  while (observed < 10) advance(*a, pending, trial, observed);
  ASSERT_EQ(observed % config.update_every(), 2);
  const std::string state = a->Save();

  std::unique_ptr<Policy> b = Make(space, config, 999);  // Another seed: all of it must come from `state`.
  ASSERT_EQ(b->Restore(state), absl::OkStatus());
  EXPECT_EQ(a->Entropy(), b->Entropy());
  std::vector<Proposal> pending_b = pending;
  int64_t trial_b = trial, observed_b = observed;
  for (int i = 0; i < 20; ++i) {
    const Proposal pa = advance(*a, pending, trial, observed);
    const Proposal pb = advance(*b, pending_b, trial_b, observed_b);
    ASSERT_EQ(pa.decisions, pb.decisions) << "round " << i;
    ASSERT_EQ(pa.log_probs.size(), pb.log_probs.size());
    for (size_t t = 0; t < pa.log_probs.size(); ++t) EXPECT_EQ(pa.log_probs[t], pb.log_probs[t]) << "round " << i;
    EXPECT_EQ(a->Entropy(), b->Entropy());
  }
  EXPECT_GE(observed, 25);  // At least four more updates happened after the restore.
}

TEST(RlPolicy, RestoreRejectsOtherCheckpoints) {
  const ss::SearchSpace space = DefaultSpace();
  std::unique_ptr<Policy> ppo = Make(space, Config("ppo"), 1);
  std::unique_ptr<Policy> twin = Make(space, Config("ppo"), 1);
  std::unique_ptr<Policy> reinforce = Make(space, Config("reinforce"), 1);
  v1::AlgorithmConfig wider = Config("ppo");
  wider.set_hidden(16);
  std::unique_ptr<Policy> narrow = Make(space, wider, 1);
  const ss::SearchSpace small = SmallSpace();
  std::unique_ptr<Policy> other_space = Make(small, Config("ppo"), 1);

  const std::vector<std::string> foreign = {
      NewEvolutionPolicy(space, 8, 2, 1)->Save(),
      NewRandomPolicy(space, 1)->Save(),
      "",
      "garbage",
      std::string("PK\x03\x04", 4) + std::string(100, 'x'),
      reinforce->Save(),
      narrow->Save(),
      other_space->Save(),
      ppo->Save().substr(0, 200),  // Truncated.
  };
  for (size_t i = 0; i < foreign.size(); ++i) {
    EXPECT_EQ(ppo->Restore(foreign[i]).code(), absl::StatusCode::kInvalidArgument) << "checkpoint " << i;
  }
  // The failed restores changed nothing.
  for (int i = 0; i < 3; ++i) {
    const Proposal p = ppo->Propose().value(), q = twin->Propose().value();
    EXPECT_EQ(p.decisions, q.decisions);
    EXPECT_EQ(p.log_probs, q.log_probs);
  }
  // And the evolution policy refuses the RL checkpoint.
  EXPECT_EQ(NewEvolutionPolicy(space, 8, 2, 1)->Restore(ppo->Save()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RlPolicy, RejectsBadConfigurations) {
  const ss::SearchSpace space = DefaultSpace();
  EXPECT_EQ(NewRlPolicy(space, Config("evolution"), 1).status().code(), absl::StatusCode::kInvalidArgument);
  v1::AlgorithmConfig c = Config("ppo");
  c.set_hidden(0);
  EXPECT_EQ(NewRlPolicy(space, c, 1).status().code(), absl::StatusCode::kInvalidArgument);
  c = Config("reinforce");
  c.set_update_every(0);
  EXPECT_EQ(NewRlPolicy(space, c, 1).status().code(), absl::StatusCode::kInvalidArgument);
  c = Config("ppo");
  c.set_ppo_epochs(0);
  EXPECT_EQ(NewRlPolicy(space, c, 1).status().code(), absl::StatusCode::kInvalidArgument);
  c = Config("reinforce");
  c.set_temperature(-1);
  EXPECT_EQ(NewRlPolicy(space, c, 1).status().message(), "algorithm.temperature: must be positive (0: none)");
  c = Config("reinforce");
  c.set_tanh_constant(-2);
  EXPECT_EQ(NewRlPolicy(space, c, 1).status().message(), "algorithm.tanh_constant: must be positive (0: no tanh)");
}

TEST(RlPolicy, RegisterMakesMakePolicyBuildIt) {
  RegisterRlPolicy();
  const ss::SearchSpace space = DefaultSpace();
  v1::ExperimentConfig config;
  *config.mutable_algorithm() = Config("reinforce");
  config.set_seed(4);
  absl::StatusOr<std::unique_ptr<Policy>> policy = MakePolicy(space, config);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ((*policy)->algorithm(), v1::ALGORITHM_REINFORCE);
  // The same policy as NewRlPolicy with the experiment's seed.
  EXPECT_EQ((*policy)->Propose().value().decisions, Make(space, Config("reinforce"), 4)->Propose().value().decisions);
}

// Results arriving without log-probabilities (not proposed by this policy) are still learned from.
TEST_P(RlPolicyTest, ObservesForeignResults) {
  const ss::SearchSpace space = DefaultSpace();
  std::unique_ptr<Policy> policy = Make(space, Config(GetParam()), 2);
  std::mt19937_64 rng(2);
  // Not a sequence of the space: ignored.
  EXPECT_EQ(policy->Observe({0, {1, 2, 3}, {}, 1.0}).code(), absl::StatusCode::kInvalidArgument);
  // Ignored too: it would poison the weights.
  EXPECT_EQ(policy->Observe({1, space.Sample(rng), {}, std::nan("")}).code(), absl::StatusCode::kInvalidArgument);
  for (int i = 2; i < 10; ++i) {
    const std::vector<int> d = space.Sample(rng);
    EXPECT_TRUE(policy->Observe({i, d, {}, ToyReward(space, d)}).ok());
  }
  const Proposal p = policy->Propose().value();
  EXPECT_TRUE(space.Decode(p.decisions).ok());
  for (double lp : p.log_probs) EXPECT_TRUE(std::isfinite(lp));
}

TEST_P(RlPolicyTest, LearnsToyReward) {
  const ss::SearchSpace space = SmallSpace();
  v1::AlgorithmConfig config = Config(GetParam());
  // Adam's steps move a whole 35-decision sequence's log-probability a lot: at 0.03 PPO's
  // epochs collapse the policy onto its first lucky samples; 0.01 learns within ~100 proposals.
  config.set_learning_rate(0.01);
  config.set_update_every(4);
  std::unique_ptr<Policy> policy = Make(space, config, 11);
  constexpr int kProposals = 300, kWindow = 50;
  double first = 0, last = 0;
  for (int i = 0; i < kProposals; ++i) {
    const Proposal p = policy->Propose().value();
    const double reward = ToyReward(space, p.decisions);
    if (i < kWindow) first += reward / kWindow;
    if (i >= kProposals - kWindow) last += reward / kWindow;
    EXPECT_TRUE(policy->Observe({i, p.decisions, p.log_probs, reward}).ok());
  }
  // Uniform sampling scores 0.5; both learn most of it within the first window already.
  EXPECT_GE(last, 0.9) << "first " << first << ", last " << last;
  EXPECT_GT(last, first + 0.1) << "first " << first << ", last " << last;
}

// The untrained policy is SearchSpace::Sample's distribution: uniform over valid sequences, not
// uniform per decision (which favours the sequences with fewer completions).
TEST_P(RlPolicyTest, TheUntrainedPolicyIsUniformSampling) {
  const ss::SearchSpace space = DefaultSpace();
  v1::AlgorithmConfig config = Config(GetParam());
  config.set_temperature(5);
  config.set_tanh_constant(2.5);
  std::unique_ptr<Policy> policy = Make(space, config, 5);
  for (int i = 0; i < 50; ++i) {
    const Proposal p = policy->Propose().value();
    const std::vector<double> uniform = UniformLogProbs(space, p.decisions);
    ASSERT_EQ(p.log_probs.size(), uniform.size());
    for (size_t t = 0; t < uniform.size(); ++t) EXPECT_NEAR(p.log_probs[t], uniform[t], 1e-12) << "decision " << t;
  }
}

// Trains on the toy reward and returns the mean per-decision entropy of the last proposal.
double EntropyAfterTraining(const ss::SearchSpace& space, const v1::AlgorithmConfig& config, int proposals) {
  std::unique_ptr<Policy> policy = Make(space, config, 11);
  for (int i = 0; i < proposals; ++i) {
    const Proposal p = policy->Propose().value();
    EXPECT_TRUE(policy->Observe(ObservationOf(space, p, i)).ok());
  }
  EXPECT_TRUE(policy->Propose().ok());
  return policy->Entropy();
}

// The bonus acts on the entropy summed over the decisions, like the log-probabilities: a weight
// of 0.05 keeps clearly more entropy than none. (Divided by the number of decisions, it made no
// difference.)
TEST_P(RlPolicyTest, TheEntropyBonusKeepsThePolicyExploring) {
  const ss::SearchSpace space = SmallSpace();
  v1::AlgorithmConfig config = Config(GetParam());
  config.set_learning_rate(0.01);
  config.set_entropy_weight(0);
  const double without = EntropyAfterTraining(space, config, 160);
  config.set_entropy_weight(0.05);
  const double with = EntropyAfterTraining(space, config, 160);
  EXPECT_GT(with, without + 0.1) << "with " << with << ", without " << without;
}

// With tanh_constant c the learned logits lie in [-c, c]: no option's probability moves from its
// prior by more than a factor exp(2c), however hard the policy is pushed.
TEST_P(RlPolicyTest, TanhBoundsHowFarThePolicyMovesFromItsPrior) {
  const ss::SearchSpace space = SmallSpace();
  v1::AlgorithmConfig config = Config(GetParam());
  config.set_learning_rate(0.05);
  config.set_temperature(1);
  config.set_tanh_constant(1);
  std::unique_ptr<Policy> bounded = Make(space, config, 3);
  config.set_tanh_constant(0);
  std::unique_ptr<Policy> free = Make(space, config, 3);
  double bounded_worst = 0, free_worst = 0;  // The largest |log p - log prior| seen in the last proposals.
  for (int i = 0; i < 200; ++i) {
    for (Policy* policy : {bounded.get(), free.get()}) {
      const Proposal p = policy->Propose().value();
      if (i >= 150) {
        const std::vector<double> prior = UniformLogProbs(space, p.decisions);
        double& worst = policy == bounded.get() ? bounded_worst : free_worst;
        for (size_t t = 0; t < prior.size(); ++t) worst = std::max(worst, std::abs(p.log_probs[t] - prior[t]));
      }
      EXPECT_TRUE(policy->Observe(ObservationOf(space, p, i)).ok());
    }
  }
  EXPECT_LE(bounded_worst, 2.0 + 1e-9);
  EXPECT_GT(free_worst, 2.0);  // Without the tanh the same training goes further.
}

// A higher temperature flattens the learned logits: the same training moves the policy less.
TEST_P(RlPolicyTest, ATemperatureSlowsTheDriftFromThePrior) {
  const ss::SearchSpace space = SmallSpace();
  v1::AlgorithmConfig config = Config(GetParam());
  config.set_temperature(1);
  const double cold = EntropyAfterTraining(space, config, 120);
  config.set_temperature(5);
  const double warm = EntropyAfterTraining(space, config, 120);
  EXPECT_GT(warm, cold) << "temperature 5: " << warm << ", temperature 1: " << cold;
}

// Every update is reported: the batch's mean reward, the advantage scale, the summed entropy and
// the share of clipped ratios.
TEST_P(RlPolicyTest, EveryUpdateIsReported) {
  const ss::SearchSpace space = SmallSpace();
  const v1::AlgorithmConfig config = Config(GetParam());
  std::unique_ptr<Policy> policy = Make(space, config, 4);
  double sum = 0;
  for (int i = 0; i < 8; ++i) {
    const Proposal p = policy->Propose().value();
    if (i < 4) sum += ToyReward(space, p.decisions);
    EXPECT_TRUE(policy->Observe(ObservationOf(space, p, i)).ok());
  }
  const std::vector<PolicyUpdate> updates = policy->TakeUpdates();
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_TRUE(policy->TakeUpdates().empty());
  EXPECT_EQ(updates[0].update, 1);
  EXPECT_EQ(updates[1].update, 2);
  EXPECT_EQ(updates[0].results, 4);
  EXPECT_NEAR(updates[0].mean_reward, sum / 4, 1e-12);
  EXPECT_GT(updates[1].advantage_scale, 0);
  // Summed over the 35 decisions: the untrained policy's first batch has about 35 x 0.7 nats.
  EXPECT_NEAR(updates[0].entropy, updates[0].entropy_per_decision * space.num_decisions(), 1e-9);
  EXPECT_GT(updates[0].entropy, 10);
  EXPECT_EQ(updates[0].clipped_fraction, 0);  // Fresh results: every ratio starts at 1.
}

// PPO's ratios are per decision. Results proposed two updates earlier have drifted a little at
// each of their 35 decisions; a ratio over the whole sequence multiplies those drifts and clips
// nearly every result, one per decision clips few.
TEST(RlPolicy, PpoRatiosArePerDecision) {
  const ss::SearchSpace space = SmallSpace();
  v1::AlgorithmConfig config = Config("ppo");
  config.set_learning_rate(0.003);
  config.set_update_every(4);
  config.set_ppo_epochs(2);
  std::unique_ptr<Policy> policy = Make(space, config, 9);
  std::vector<Proposal> stale;
  for (int i = 0; i < 4; ++i) stale.push_back(policy->Propose().value());
  for (int i = 0; i < 8; ++i) {
    const Proposal p = policy->Propose().value();
    ASSERT_TRUE(policy->Observe(ObservationOf(space, p, 100 + i)).ok());
  }
  ASSERT_EQ(policy->TakeUpdates().size(), 2u);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(policy->Observe(ObservationOf(space, stale[i], i)).ok());
  const std::vector<PolicyUpdate> updates = policy->TakeUpdates();
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_LT(updates[0].clipped_fraction, 0.25);
}

// Behaviour cloning on a seed architecture: off by default (the untrained policy samples the
// seed's decisions at chance), on it makes them far more likely, within the tanh bound.
TEST_P(RlPolicyTest, CloningStartsNearTheSeeds) {
  const ss::SearchSpace space = DefaultSpace();
  const std::vector<int> seed = *space.Encode(ss::SpineNet49());
  v1::AlgorithmConfig config = Config(GetParam());
  config.set_temperature(5);
  config.set_tanh_constant(2.5);
  auto agreement = [&](Policy& p) {
    double same = 0;
    for (int i = 0; i < 40; ++i) {
      const std::vector<int> d = p.Propose()->decisions;
      for (size_t t = 0; t < d.size(); ++t) same += d[t] == seed[t];
    }
    return same / (40.0 * seed.size());
  };
  absl::StatusOr<std::unique_ptr<Policy>> plain = NewRlPolicy(space, config, 3, {seed});
  ASSERT_TRUE(plain.ok()) << plain.status();
  config.set_clone_steps(30);
  absl::StatusOr<std::unique_ptr<Policy>> cloned = NewRlPolicy(space, config, 3, {seed});
  ASSERT_TRUE(cloned.ok()) << cloned.status();
  const double before = agreement(**plain), after = agreement(**cloned);
  EXPECT_LT(before, 0.45);
  EXPECT_GT(after, before + 0.2);
  // The same seed and steps: the same policy.
  std::unique_ptr<Policy> again = NewRlPolicy(space, config, 5, {seed}).value();
  std::unique_ptr<Policy> twin = NewRlPolicy(space, config, 5, {seed}).value();
  EXPECT_EQ(again->Propose()->log_probs, twin->Propose()->log_probs);
  // A sequence that is not one of the space is refused.
  std::vector<int> bad = seed;
  bad.pop_back();
  EXPECT_EQ(NewRlPolicy(space, config, 3, {bad}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vertebra::controller
