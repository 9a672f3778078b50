#include "inspect/verdict.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vertebra::inspect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A search trial that finished its highest rung (1) at the given AP.
v1::Trial SearchTrial(int64_t id, double ap) {
  v1::Trial t;
  t.set_id(id);
  t.set_role(v1::TRIAL_ROLE_SEARCH);
  t.set_state(v1::DONE);
  t.set_macs(200'000'000);
  t.set_params(1'500'000);
  v1::RungResult* r = t.add_results();
  r->set_rung(1);
  r->set_steps(600);
  r->mutable_ap()->add_stats(ap);
  r->set_train_seconds(100);
  return t;
}

v1::Trial Control(int64_t id, const std::string& name) {
  v1::Trial t = SearchTrial(id, 0.2);
  t.set_role(v1::TRIAL_ROLE_CONTROL);
  t.set_control(name);
  t.mutable_results(0)->set_train_seconds(50);
  return t;
}

// A final run of `subject`, seed index `seed`, at `steps`: done with `ap`, or in `state` when ap < 0.
v1::Trial FinalRun(int64_t id, int64_t subject, int32_t seed, int64_t steps, double ap,
                   v1::TrialState state = v1::DONE) {
  v1::Trial t;
  t.set_id(id);
  t.set_role(v1::TRIAL_ROLE_FINAL);
  t.set_final_of(subject);
  t.set_final_seed(seed);
  t.set_steps(steps);
  t.set_state(state);
  if (state == v1::DONE) {
    v1::RungResult* r = t.add_results();
    r->set_steps(steps);
    r->mutable_ap()->add_stats(ap);
    r->set_train_seconds(25);
  }
  return t;
}

v1::ExperimentConfig FinalConfig(int32_t top_k) {
  v1::ExperimentConfig c;
  c.mutable_final()->set_top_k(top_k);
  c.mutable_final()->set_seeds(3);
  return c;
}

// Trial 3 (the search's best) clearly ahead of control 1; trial 4 one pooled SD ahead of it.
std::vector<v1::Trial> ClearAndUnclear() {
  std::vector<v1::Trial> t = {Control(1, "spinenet-49"), SearchTrial(3, 0.30), SearchTrial(4, 0.25)};
  int64_t id = 10;
  const std::vector<double> best = {0.30, 0.31, 0.32}, second = {0.21, 0.22, 0.23}, control = {0.20, 0.21, 0.22};
  for (int32_t s = 0; s < 3; ++s) {
    t.push_back(FinalRun(id++, 3, s, 600, best[s]));
    t.push_back(FinalRun(id++, 4, s, 600, second[s]));
    t.push_back(FinalRun(id++, 1, s, 600, control[s]));
  }
  return t;
}

TEST(VerdictTest, NoFinalRunNoVerdict) {
  EXPECT_FALSE(ComputeVerdict(FinalConfig(2), {Control(1, "spinenet-49"), SearchTrial(3, 0.3)}).has_value());
}

TEST(VerdictTest, AFinalistBeatsAControlOnlyByMoreThanTwoPooledSdsAndPBelowFivePercent) {
  const std::optional<Verdict> v = ComputeVerdict(FinalConfig(2), ClearAndUnclear());
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->complete);
  ASSERT_EQ(v->finalists.size(), 2u);
  EXPECT_EQ(v->finalists[0].name, "trial 3");  // Best first, as the search ranked them.
  EXPECT_EQ(v->finalists[1].name, "trial 4");
  ASSERT_EQ(v->controls.size(), 1u);
  EXPECT_EQ(v->controls[0].name, "spinenet-49");
  EXPECT_THAT(v->finalists[0].aps, ElementsAre(0.30, 0.31, 0.32));  // By seed index.
  ASSERT_EQ(v->comparisons.size(), 2u);
  // 0.1 apart with seed SDs of 0.01: 10 pooled SDs.
  EXPECT_TRUE(v->comparisons[0].decided);
  EXPECT_TRUE(v->comparisons[0].beats);
  EXPECT_NEAR(v->comparisons[0].pooled_sds, 10.0, 1e-9);
  // 0.01 apart: one pooled SD is luck.
  EXPECT_TRUE(v->comparisons[1].decided);
  EXPECT_FALSE(v->comparisons[1].beats);
  EXPECT_NEAR(v->comparisons[1].pooled_sds, 1.0, 1e-9);
  // Training time by role: search trials 2 x 100 s, the control 50 s, nine final runs 25 s each.
  EXPECT_DOUBLE_EQ(v->search_seconds, 200);
  EXPECT_DOUBLE_EQ(v->control_seconds, 50);
  EXPECT_DOUBLE_EQ(v->final_seconds, 225);

  const std::vector<std::string> sentences = VerdictSentences(*v);
  ASSERT_EQ(sentences.size(), 1u);
  EXPECT_THAT(sentences[0], HasSubstr("Against spinenet-49 (AP 0.210 +- 0.010 over 3 seeds"));
  EXPECT_THAT(sentences[0], HasSubstr("trial 3 beats it (by 10.0 pooled SDs"));
  EXPECT_THAT(sentences[0], HasSubstr("trial 4 is not distinguishable from it (1.0 pooled SDs"));
  const nlohmann::json j = VerdictJson(*v);
  EXPECT_EQ(j["comparisons"][0]["verdict"], "beats");
  EXPECT_EQ(j["comparisons"][1]["verdict"], "not distinguishable from");
}

// Two seeds each, 0.04 apart with SDs of 0.0141: 2.83 pooled SDs, but Welch's t = 2.83 on 2 degrees
// of freedom gives p = (1 - t / sqrt(t^2 + 2)) / 2 = 0.0528: not below 0.05, so not a win.
TEST(VerdictTest, MoreThanTwoPooledSdsIsNotEnoughWithoutTheTest) {
  std::vector<v1::Trial> t = {Control(1, "scale-decreased-49"), SearchTrial(3, 0.3)};
  t.push_back(FinalRun(10, 3, 0, 600, 0.30));
  t.push_back(FinalRun(11, 3, 1, 600, 0.32));
  t.push_back(FinalRun(12, 1, 0, 600, 0.26));
  t.push_back(FinalRun(13, 1, 1, 600, 0.28));
  const std::optional<Verdict> v = ComputeVerdict(FinalConfig(1), t);
  ASSERT_TRUE(v.has_value());
  ASSERT_EQ(v->comparisons.size(), 1u);
  const FinalComparison& c = v->comparisons[0];
  EXPECT_NEAR(c.pooled_sds, 2.0 * std::sqrt(2.0), 1e-9);
  const double t_stat = 2.0 * std::sqrt(2.0);
  EXPECT_NEAR(c.welch.p_greater, (1 - t_stat / std::sqrt(t_stat * t_stat + 2)) / 2, 1e-6);
  EXPECT_FALSE(c.beats);
  EXPECT_THAT(VerdictText(*v), HasSubstr("trial 3 is not distinguishable from scale-decreased-49 (2.8 pooled SDs"));
}

TEST(VerdictTest, UnfinishedAndFailedRunsAreCountedAndLeaveTheVerdictOpen) {
  std::vector<v1::Trial> t = {Control(1, "spinenet-49"), SearchTrial(3, 0.3)};
  t.push_back(FinalRun(10, 3, 0, 600, 0.30));
  t.push_back(FinalRun(11, 3, 1, 600, 0.31));
  t.push_back(FinalRun(12, 3, 2, 600, -1, v1::FAILED));
  t.push_back(FinalRun(13, 1, 0, 600, 0.20));
  t.push_back(FinalRun(14, 1, 1, 600, -1, v1::LEASED));
  t.push_back(FinalRun(15, 1, 2, 600, -1, v1::PENDING));
  const std::optional<Verdict> v = ComputeVerdict(FinalConfig(1), t);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->complete);
  EXPECT_EQ(v->finalists[0].failed, 1);
  EXPECT_EQ(v->finalists[0].pending, 0);
  EXPECT_EQ(v->controls[0].pending, 2);
  ASSERT_EQ(v->comparisons.size(), 1u);
  EXPECT_FALSE(v->comparisons[0].decided);  // One seed of the control: no test yet.
  EXPECT_FALSE(v->comparisons[0].beats);
  const std::string text = VerdictText(*v);
  EXPECT_THAT(text, HasSubstr("(runs still going)"));
  EXPECT_THAT(text, HasSubstr("(0 not finished, 1 failed)"));
  EXPECT_THAT(text, HasSubstr("(2 not finished, 0 failed)"));
  EXPECT_THAT(text, Not(HasSubstr("running")));  // Pending runs are not running.
  EXPECT_THAT(text, HasSubstr("trial 3 vs spinenet-49: not decided yet"));
}

TEST(VerdictTest, AControlWithNoFinishedRunIsSaidSo) {
  std::vector<v1::Trial> t = {Control(1, "spinenet-49"), SearchTrial(3, 0.3)};
  t.push_back(FinalRun(10, 3, 0, 600, 0.30));
  t.push_back(FinalRun(11, 1, 0, 600, -1, v1::LEASED));
  const std::optional<Verdict> v = ComputeVerdict(FinalConfig(1), t);
  ASSERT_TRUE(v.has_value());
  const std::vector<std::string> sentences = VerdictSentences(*v);
  ASSERT_EQ(sentences.size(), 1u);
  EXPECT_THAT(sentences[0], HasSubstr("Against spinenet-49 (no final run finished yet, 200.0 M multiply-adds"));
  EXPECT_THAT(sentences[0], HasSubstr("trial 3 vs it: not decided yet"));
}

// A later launch asked for other steps: only the runs at the newest run's steps count.
TEST(VerdictTest, OnlyTheNewestFinalStepsCount) {
  std::vector<v1::Trial> t = ClearAndUnclear();
  t.push_back(FinalRun(30, 3, 0, 1200, 0.40));
  t.push_back(FinalRun(31, 1, 0, 1200, 0.35));
  const std::optional<Verdict> v = ComputeVerdict(FinalConfig(2), t);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->config.steps(), 1200);
  EXPECT_EQ(v->config.seeds(), 1);
  ASSERT_EQ(v->finalists.size(), 1u);  // Trial 4 has no run at 1,200 steps.
  EXPECT_THAT(v->finalists[0].aps, ElementsAre(0.40));
  EXPECT_FALSE(v->comparisons[0].decided);
}

TEST(VerdictTest, FewerTrialsAtTheTopThanTopKIsSaid) {
  const std::optional<Verdict> v = ComputeVerdict(FinalConfig(5), ClearAndUnclear());
  ASSERT_TRUE(v.has_value());
  EXPECT_THAT(v->note, HasSubstr("final.top_k 5 asked; 2 trials reached the highest rung"));
  EXPECT_THAT(VerdictText(*v), HasSubstr("note: final.top_k 5 asked"));
}

}  // namespace
}  // namespace vertebra::inspect
