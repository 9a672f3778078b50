#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inspect/show.h"

namespace vertebra::inspect {
namespace {

using ::testing::ElementsAre;

v1::Trial Make(int64_t id, int64_t macs, std::vector<std::pair<int32_t, double>> rung_ap, int64_t reused_from = 0) {
  v1::Trial t;
  t.set_id(id);
  t.set_macs(macs);
  t.set_reused_from(reused_from);
  for (const auto& [rung, ap] : rung_ap) {
    v1::RungResult* r = t.add_results();
    r->set_rung(rung);
    for (int i = 0; i < 12; ++i) r->mutable_ap()->add_stats(ap);
  }
  return t;
}

std::vector<int64_t> Ids(const ParetoFront& f) {
  std::vector<int64_t> ids;
  for (const v1::Trial& t : f.front) ids.push_back(t.id());
  return ids;
}

TEST(ParetoTest, OnlyTheHighestRungCountsAndDominatedTrialsAreLeftOut) {
  const std::vector<v1::Trial> trials = {
      Make(1, 100, {{0, 0.30}, {1, 0.40}}),
      Make(2, 200, {{0, 0.35}, {1, 0.45}}),
      Make(3, 150, {{0, 0.30}, {1, 0.38}}),  // Dominated by 1: more MACs, less AP.
      Make(4, 50, {{0, 0.90}}),              // Best at rung 0 only: not comparable.
      Make(5, 300, {{0, 0.20}, {1, 0.45}}),  // Dominated by 2: same AP, more MACs.
      Make(6, 10, {}),                       // No result.
  };
  const ParetoFront f = ComputeParetoFront(trials);
  EXPECT_EQ(f.rung, 1);
  EXPECT_EQ(f.candidates, 4);
  EXPECT_THAT(Ids(f), ElementsAre(1, 2));
}

TEST(ParetoTest, TiesInBothAreKeptAndReusedResultsAreNot) {
  const std::vector<v1::Trial> trials = {
      Make(1, 100, {{0, 0.40}}),
      Make(2, 100, {{0, 0.40}}),
      Make(3, 100, {{0, 0.40}}, /*reused_from=*/1),
      Make(4, 100, {{0, 0.39}}),
  };
  EXPECT_THAT(Ids(ComputeParetoFront(trials)), ElementsAre(1, 2));
}

TEST(ParetoTest, ADivergedRunIsNeverOnTheFront) {
  const std::vector<v1::Trial> trials = {Make(1, 10, {{0, NAN}}), Make(2, 100, {{0, 0.2}})};
  EXPECT_THAT(Ids(ComputeParetoFront(trials)), ElementsAre(2));
}

TEST(ParetoTest, NoResultsNoFront) {
  const ParetoFront f = ComputeParetoFront({Make(1, 10, {})});
  EXPECT_TRUE(f.front.empty());
  EXPECT_EQ(f.candidates, 0);
}

}  // namespace
}  // namespace vertebra::inspect
