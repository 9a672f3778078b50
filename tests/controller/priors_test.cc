// Priors (seed architectures) and predictor-guided proposals.
#include <algorithm>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "controller/config.h"
#include "controller/policy.h"
#include "controller/predictor.h"
#include "controller/proposer.h"
#include "controller/scheduler.h"
#include "gtest/gtest.h"
#include "search_spaces/arch_json.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/decisions.h"
#include "search_spaces/family.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/list_policy.h"

namespace vertebra::controller {
namespace {

namespace ss = search_spaces;
using ::vertebra::test_util::FakeClock;

std::string Error(const std::string& text) {
  return std::string(ParseExperimentConfig(text, "x.json").status().message());
}

v1::ExperimentConfig Parse(const std::string& text) {
  absl::StatusOr<v1::ExperimentConfig> c = ParseExperimentConfig(text, "x.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.value_or(v1::ExperimentConfig());
}

ss::SearchSpace DefaultSpace() { return *ss::SearchSpace::Create({}); }

int Differences(const std::vector<int>& a, const std::vector<int>& b) {
  int n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

TEST(SeedArchitectures, BadEntriesAreRefusedAtStartNamingTheEntry) {
  const std::string unknown = Error(R"({"name": "n", "seed_architectures": ["spinenet-49", "nope.json"]})");
  EXPECT_EQ(unknown.find("x.json: seed_architectures[1]: \"nope.json\" is neither a reference architecture"), 0u)
      << unknown;
  EXPECT_EQ(Error(R"({"name": "n", "seed_architectures": ["spinenet-49", "spinenet-49"]})"),
            "x.json: seed_architectures[1]: \"spinenet-49\" repeats seed_architectures[0]");
  EXPECT_EQ(Error(R"({"name": "n", "seed_architectures": [""]})"),
            "x.json: seed_architectures[0]: must be a non-empty string, got \"\"");
  // SpineNet-49's blocks are not in a space whose pool has only level-3 blocks.
  const std::string outside = Error(
      R"({"name": "n", "search_space": {"intermediate_pool": [3, 3, 3, 3, 3, 3, 3, 3, 3, 3]},
          "seed_architectures": ["spinenet-49"]})");
  EXPECT_EQ(outside.find("x.json: seed_architectures[0]: \"spinenet-49\" is not in the search space: "), 0u)
      << outside;
  const std::string over = Error(R"({"name": "n", "seed_architectures": ["spinenet-49"], "objective": {"max_macs": 1000}})");
  EXPECT_EQ(over.find("x.json: seed_architectures[0]: \"spinenet-49\" has "), 0u) << over;
  EXPECT_EQ(Error(R"({"name": "n", "algorithm": {"clone_steps": 10}})"),
            "x.json: algorithm.clone_steps: behaviour cloning needs seed_architectures");
  EXPECT_EQ(Error(R"({"name": "n", "search": {"promotion": "best"}})"),
            "x.json: search.promotion: must be one of rung_ap, predicted, got \"best\"");
  EXPECT_EQ(Error(R"({"name": "n", "search": {"guided_candidates": -1}})"),
            "x.json: search.guided_candidates: must be in [0, 1000], got -1");
  // Defaults: no seeds, no cloning, promotion by the rung's AP, 8 guided candidates.
  const v1::ExperimentConfig c = Parse(R"({"name": "n"})");
  EXPECT_EQ(c.seed_architectures_size(), 0);
  EXPECT_EQ(c.algorithm().clone_steps(), 0);
  EXPECT_EQ(c.search().promotion(), "rung_ap");
  EXPECT_EQ(c.search().guided_candidates(), 8);
}

// A spec file of a sampled architecture of the default space; returns its path.
std::string SampleSpecFile() {
  const ss::SearchSpace space = DefaultSpace();
  std::mt19937_64 rng(11);
  const std::string path = ::testing::TempDir() + "priors_test_seed.json";
  std::ofstream(path) << ss::ArchSpecToJson(*space.Decode(space.Sample(rng)));
  return path;
}

TEST(SeedArchitectures, EvolutionStartsFromTheSeedsAndTheirMutants) {
  const ss::SearchSpace space = DefaultSpace();
  const v1::ExperimentConfig config = Parse(absl::StrFormat(
      R"({"name": "n", "seed_architectures": ["spinenet-49", "%s"],
          "algorithm": {"kind": "evolution", "population": 12, "tournament": 2}})",
      SampleSpecFile()));
  absl::StatusOr<std::vector<std::vector<int>>> seeds = SeedDecisions(space, config);
  ASSERT_TRUE(seeds.ok()) << seeds.status();
  ASSERT_EQ(seeds->size(), 2u);
  EXPECT_EQ(ss::ArchHash(*space.Decode((*seeds)[0])), ss::ArchHash(ss::SpineNet49()));
  std::unique_ptr<Policy> policy = *MakePolicy(space, config);
  std::unique_ptr<Policy> random = NewEvolutionPolicy(space, 12, 2, config.seed());
  // The seeds as they are, then mutants of them: a few decisions away from one of the two, where
  // the unseeded policy's uniform samples are most of the 70 away.
  EXPECT_EQ(policy->Propose()->decisions, (*seeds)[0]);
  const std::string state = policy->Save();
  EXPECT_EQ(policy->Propose()->decisions, (*seeds)[1]);
  int mutant_distance = 0, random_distance = 0;
  for (int i = 0; i < 10; ++i) {
    const std::vector<int> m = policy->Propose()->decisions, r = random->Propose()->decisions;
    EXPECT_NE(ss::ArchHash(*space.Decode(m)), ss::ArchHash(*space.Decode((*seeds)[0])));
    mutant_distance = std::max(mutant_distance, std::min(Differences(m, (*seeds)[0]), Differences(m, (*seeds)[1])));
    random_distance += std::min(Differences(r, (*seeds)[0]), Differences(r, (*seeds)[1]));
  }
  EXPECT_LT(mutant_distance, 25);
  EXPECT_GT(random_distance / 10, 35);
  // A restored policy knows which seeds it has proposed.
  std::unique_ptr<Policy> restored = *MakePolicy(space, config);
  ASSERT_TRUE(restored->Restore(state).ok());
  EXPECT_EQ(restored->Propose()->decisions, (*seeds)[1]);
}

TEST(SeedArchitectures, TheSchedulersFirstTrialIsTheSeed) {
  std::unique_ptr<Store> store = NewMemoryStore();
  FakeClock clock;
  SchedulerOptions options;
  options.policy_thread = false;
  const v1::ExperimentConfig config = Parse(
      R"({"name": "n", "seed_architectures": ["spinenet-49"], "simulation": {"seconds": 0},
          "algorithm": {"kind": "evolution", "population": 4, "tournament": 2, "queue": 2}})");
  std::unique_ptr<Scheduler> s = *Scheduler::Open(store.get(), config, &clock, options);
  ASSERT_TRUE(s->RunPolicy().ok());
  const v1::Trial first = *s->GetTrial(1);
  EXPECT_EQ(ss::ArchHash(first.spec()), ss::ArchHash(*DefaultSpace().Decode(*DefaultSpace().Encode(ss::SpineNet49()))));
  EXPECT_NE(s->GetTrial(2)->hash(), first.hash());
}

class GuidedTest : public ::testing::Test {
 protected:
  // Five sampled architectures, and the share of bottleneck blocks of each.
  void SetUp() override {
    const ss::SearchSpace space = DefaultSpace();
    std::mt19937_64 rng(4);
    v1::ProxyTask proxy = Parse(R"({"name": "n"})").proxy();
    for (int i = 0; i < 5; ++i) {
      list_.push_back(space.Sample(rng));
      bottleneck_.push_back(ProxyFeatures(*ss::ResolveProxy(*space.Decode(list_.back()), proxy))[1]);
    }
    best_ = static_cast<int>(std::max_element(bottleneck_.begin(), bottleneck_.begin() + 3) - bottleneck_.begin());
    ASSERT_NE(best_, 0);  // Else the test could not tell guidance from none.
  }

  // The first proposal of a round with `guided` candidates and `model`; `known` hashes repeat.
  std::vector<int> First(int guided, const RidgeModel* model, const std::set<std::string>& known = {}) {
    v1::ExperimentConfig config = Parse(R"({"name": "n"})");
    config.mutable_search()->set_guided_candidates(guided);
    auto space = std::make_unique<const ss::SearchSpace>(DefaultSpace());
    Proposer proposer(config, std::move(space), std::make_unique<test_util::ListPolicy>(list_), &clock_);
    absl::StatusOr<ProposalRound> round = proposer.Round(
        {}, 1, 1,
        [&](const std::string& hash) -> std::optional<v1::Trial> {
          if (known.count(hash) == 0) return std::nullopt;
          v1::Trial t;
          t.set_id(99);
          return t;
        },
        model);
    EXPECT_TRUE(round.ok()) << round.status();
    const auto& d = round->trials.at(0).decisions();
    return {d.begin(), d.end()};
  }

  std::string HashOf(int i) { return ss::ArchHash(*DefaultSpace().Decode(list_[i])); }

  FakeClock clock_;
  std::vector<std::vector<int>> list_;
  std::vector<double> bottleneck_;
  int best_ = 0;
};

TEST_F(GuidedTest, TheModelsBestOfTheCandidatesIsLeased) {
  RidgeModel bottlenecks;  // Predicts the share of bottleneck blocks.
  bottlenecks.coef.assign(ss::kNumArchFeatures, 0.0);
  bottlenecks.coef[1] = 1;
  EXPECT_EQ(First(3, &bottlenecks), list_[best_]);
  // Off (0 or 1 candidates) or without a model: the policy's own first proposal.
  EXPECT_EQ(First(0, &bottlenecks), list_[0]);
  EXPECT_EQ(First(1, &bottlenecks), list_[0]);
  EXPECT_EQ(First(3, nullptr), list_[0]);
  // A model that has learned nothing ranks every candidate alike: the first.
  RidgeModel flat;
  flat.coef.assign(ss::kNumArchFeatures, 0.0);
  EXPECT_EQ(First(3, &flat), list_[0]);
  // A candidate that repeats a known architecture is passed over.
  const std::vector<int> second = First(3, &bottlenecks, {HashOf(best_)});
  EXPECT_NE(second, list_[best_]);
  int other = -1;  // The best of the other two (the first on ties).
  for (int i = 0; i < 3; ++i) {
    if (i != best_ && (other < 0 || bottleneck_[i] > bottleneck_[other])) other = i;
  }
  EXPECT_EQ(second, list_[other]);
}

}  // namespace
}  // namespace vertebra::controller
