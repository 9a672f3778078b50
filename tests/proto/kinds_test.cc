#include "proto/kinds.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/generated_enum_reflection.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace vertebra {
namespace {

using Words = std::vector<std::string>;

// Every value but UNSPECIFIED has a word that reads back as the value.
template <typename Kind>
void ExpectEveryValueSpelled() {
  const google::protobuf::EnumDescriptor* e = google::protobuf::GetEnumDescriptor<Kind>();
  for (int i = 0; i < e->value_count(); ++i) {
    const Kind value = static_cast<Kind>(e->value(i)->number());
    const absl::string_view word = KindName(value);
    if (e->value(i)->number() == 0 && e->value(i)->name().find("UNSPECIFIED") != std::string::npos) {
      EXPECT_EQ(word, "") << e->value(i)->name();
      continue;
    }
    EXPECT_FALSE(word.empty()) << e->value(i)->name();
    EXPECT_EQ(ParseKind<Kind>(word), value) << word;
  }
}

TEST(Kinds, EveryValueHasOneWordThatReadsBack) {
  ExpectEveryValueSpelled<v1::Algorithm>();
  ExpectEveryValueSpelled<v1::Objective>();
  ExpectEveryValueSpelled<v1::Schedule>();
  ExpectEveryValueSpelled<v1::Precision>();
  ExpectEveryValueSpelled<v1::SimulatedObjective>();
  ExpectEveryValueSpelled<v1::Promotion>();
  ExpectEveryValueSpelled<v1::ExperimentState>();
  ExpectEveryValueSpelled<v1::TrainStatus>();
  ExpectEveryValueSpelled<v1::TrialState>();
}

// The words are what stored databases, experiment files and --json outputs hold: they never change.
TEST(Kinds, TheWordsAreTheStoredOnes) {
  EXPECT_EQ(KindNames<v1::Algorithm>(), (Words{"ppo", "reinforce", "evolution", "random"}));
  EXPECT_EQ(KindNames<v1::Objective>(), (Words{"ap", "ap_macs"}));
  EXPECT_EQ(KindNames<v1::Schedule>(), (Words{"wsd", "ema", "cosine_per_rung", "cosine"}));
  EXPECT_EQ(KindNames<v1::Precision>(), (Words{"auto", "fp32", "bf16"}));
  EXPECT_EQ(KindNames<v1::SimulatedObjective>(), (Words{"toy", "surrogate"}));
  EXPECT_EQ(KindNames<v1::Promotion>(), (Words{"rung_ap", "predicted"}));
  EXPECT_EQ(KindNames<v1::ExperimentState>(), (Words{"running", "stopped", "finished"}));
  EXPECT_EQ(KindNames<v1::TrainStatus>(), (Words{"completed", "diverged", "stopped"}));
  EXPECT_EQ(KindNames<v1::TrialState>(), (Words{"pending", "leased", "done", "failed", "rejected", "stopped"}));
}

TEST(Kinds, UnknownWordsAreRefused) {
  EXPECT_EQ(ParseKind<v1::Algorithm>("PPO"), std::nullopt);
  EXPECT_EQ(ParseKind<v1::Algorithm>(""), std::nullopt);
  EXPECT_EQ(ParseKind<v1::ExperimentState>("done"), std::nullopt);
  EXPECT_EQ(KindName(static_cast<v1::Algorithm>(99)), "");
}

TEST(Kinds, TheConfigurationsKinds) {
  v1::ExperimentConfig c;
  c.mutable_algorithm()->set_kind("evolution");
  EXPECT_EQ(AlgorithmOf(c.algorithm()), v1::ALGORITHM_EVOLUTION);
  c.mutable_algorithm()->set_kind("bayes");
  EXPECT_EQ(AlgorithmOf(c.algorithm()), v1::ALGORITHM_UNSPECIFIED);
  EXPECT_FALSE(IsRlAlgorithm(AlgorithmOf(c.algorithm())));
  EXPECT_TRUE(IsRlAlgorithm(v1::ALGORITHM_PPO));
  EXPECT_TRUE(IsRlAlgorithm(v1::ALGORITHM_REINFORCE));
  c.mutable_objective()->set_kind("ap_macs");
  EXPECT_EQ(ObjectiveOf(c.objective()), v1::OBJECTIVE_AP_MACS);
  // Records from before the fields: cosine, fp32 (what those trials trained in), and the toy
  // landscape.
  EXPECT_EQ(ScheduleOf(c.proxy()), v1::SCHEDULE_COSINE);
  EXPECT_EQ(PrecisionOf(c.proxy()), v1::PRECISION_FP32);
  EXPECT_EQ(SimulatedObjectiveOf(c.simulation()), v1::SIMULATED_OBJECTIVE_TOY);
  c.mutable_proxy()->set_schedule("ema");
  EXPECT_EQ(ScheduleOf(c.proxy()), v1::SCHEDULE_EMA);
  c.mutable_proxy()->set_schedule("linear");
  EXPECT_EQ(ScheduleOf(c.proxy()), v1::SCHEDULE_UNSPECIFIED);
  c.mutable_proxy()->set_precision("bf16");
  EXPECT_EQ(PrecisionOf(c.proxy()), v1::PRECISION_BF16);
  c.mutable_proxy()->set_precision("fp16");
  EXPECT_EQ(PrecisionOf(c.proxy()), v1::PRECISION_UNSPECIFIED);
  c.mutable_simulation()->set_objective("surrogate");
  EXPECT_EQ(SimulatedObjectiveOf(c.simulation()), v1::SIMULATED_OBJECTIVE_SURROGATE);
  // A record from before search.promotion promoted by the rung's AP.
  EXPECT_EQ(PromotionOf(c.search()), v1::PROMOTION_RUNG_AP);
  c.mutable_search()->set_promotion("predicted");
  EXPECT_EQ(PromotionOf(c.search()), v1::PROMOTION_PREDICTED);
}

}  // namespace
}  // namespace vertebra
