#include "common/pareto.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vertebra {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(Pareto, DominatedPointsAreLeftOutAndTheFrontIsOrderedByMacs) {
  const std::vector<ApMacs> points = {
      {0.40, 100},  // 0: front.
      {0.45, 200},  // 1: front.
      {0.38, 150},  // 2: dominated by 0.
      {0.45, 300},  // 3: dominated by 1 (same AP, more MACs).
      {0.30, 50},   // 4: front (fewest MACs).
      {0.35, 100},  // 5: dominated by 0 (same MACs, less AP).
  };
  EXPECT_THAT(ParetoFront(points), ElementsAre(4, 0, 1));
  EXPECT_THAT(ParetoRanks(points), ElementsAre(0, 0, 1, 1, 0, 1));
}

TEST(Pareto, PointsEqualInBothShareTheFrontAndTheirRank) {
  const std::vector<ApMacs> points = {{0.40, 100}, {0.39, 100}, {0.40, 100}, {0.40, 100}};
  EXPECT_THAT(ParetoFront(points), ElementsAre(0, 2, 3));
  EXPECT_THAT(ParetoRanks(points), ElementsAre(0, 1, 0, 0));
}

TEST(Pareto, ADivergedRunIsNeverOnTheFrontAndRankedLast) {
  const std::vector<ApMacs> points = {{NAN, 10}, {0.2, 100}, {0.1, 200}};
  EXPECT_THAT(ParetoFront(points), ElementsAre(1));
  EXPECT_THAT(ParetoRanks(points), ElementsAre(2, 0, 1));
}

TEST(Pareto, NonDominatedSortingPeelsFronts) {
  // Four staircases, one inside the other.
  const std::vector<ApMacs> points = {{0.1, 30}, {0.3, 10}, {0.5, 10}, {0.2, 30}, {0.6, 20}, {0.4, 20}, {0.3, 40}};
  EXPECT_THAT(ParetoRanks(points), ElementsAre(3, 1, 0, 2, 0, 1, 2));
  EXPECT_THAT(ParetoFront(points), ElementsAre(2, 4));
}

TEST(Pareto, Empty) {
  EXPECT_THAT(ParetoFront({}), IsEmpty());
  EXPECT_THAT(ParetoRanks({}), IsEmpty());
}

}  // namespace
}  // namespace vertebra
