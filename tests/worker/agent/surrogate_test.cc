#include "worker/agent/surrogate.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "search_spaces/decisions.h"
#include "search_spaces/family.h"

namespace vertebra::worker {
namespace {

const nlohmann::json& Fit() {
  static const nlohmann::json* fit = new nlohmann::json(nlohmann::json::parse(SurrogateFitJson()));
  return *fit;
}

std::vector<v1::ArchSpec> UniformSamples(int count) {
  absl::StatusOr<search_spaces::SearchSpace> space = search_spaces::SearchSpace::Create({});
  EXPECT_TRUE(space.ok()) << space.status();
  std::mt19937_64 rng(7);
  std::vector<v1::ArchSpec> specs;
  for (int i = 0; i < count; ++i) specs.push_back(*space->Decode(space->Sample(rng)));
  return specs;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

double Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double ma = Mean(a), mb = Mean(b);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

TEST(SurrogateTest, Deterministic) {
  const v1::ArchSpec spec = search_spaces::SpineNet49();
  absl::StatusOr<SimulatedScore> a = SurrogateAp(spec, 450, 1800, 3, 0);
  absl::StatusOr<SimulatedScore> b = SurrogateAp(spec, 450, 1800, 3, 0);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->stats, b->stats);
  EXPECT_NE(a->stats[0], SurrogateAp(spec, 450, 1800, 4, 0)->stats[0]);  // Another search seed.
  EXPECT_FALSE(SurrogateAp(spec, 0, 1800, 3, 0).ok());
  EXPECT_FALSE(SurrogateAp(spec, 1801, 1800, 3, 0).ok());
}

// Over uniform samples the surrogate shows the fit's duds at its rate.
TEST(SurrogateTest, DudsAtTheMeasuredRate) {
  const std::vector<v1::ArchSpec> specs = UniformSamples(1500);
  const double ap_max = Fit()["dud"]["ap_max"].get<double>();
  const double rate = Fit()["dud"]["rate"].get<double>();
  int duds = 0;
  for (const v1::ArchSpec& s : specs) {
    absl::StatusOr<double> top = SurrogateMeanAp(s);
    ASSERT_TRUE(top.ok()) << top.status();
    if (*top < ap_max) ++duds;
  }
  const double sd = std::sqrt(rate * (1 - rate) / specs.size());
  EXPECT_NEAR(static_cast<double>(duds) / specs.size(), rate, 4 * sd + 0.01);
}

// One search's two rungs of an architecture share its luck (the fit's seed correlation), and the
// first rung shows the fit's fraction of the reference AP on average.
TEST(SurrogateTest, RungsOfOneRunAreCorrelatedAndScaled) {
  const v1::ArchSpec spec = search_spaces::SpineNet49();
  const double top = *SurrogateMeanAp(spec);
  std::vector<double> low, high;
  for (uint64_t seed = 1; seed <= 4000; ++seed) {
    low.push_back(SurrogateAp(spec, 450, 1800, seed, 0)->stats[0]);
    high.push_back(SurrogateAp(spec, 1800, 1800, seed, 1)->stats[0]);
  }
  const double rho = Fit()["seed"]["correlation"].get<double>();
  EXPECT_NEAR(Correlation(low, high), rho, 0.06);
  EXPECT_NEAR(Mean(high), top, 0.02 * top + 0.002);
  const double ratio = std::exp(Fit()["ratio"]["log_mean"].get<double>() + 0);
  EXPECT_GT(Mean(low), 0);
  EXPECT_LT(Mean(low), Mean(high));
  // Within the spread the fit allows an architecture's ratio (log SD), around the fit's mean.
  const double log_sd = Fit()["ratio"]["log_sd"].get<double>();
  EXPECT_NEAR(std::log(Mean(low) / Mean(high)), std::log(ratio), 3 * log_sd + 0.05);
}

// The learnable part is the fit: the noiseless AP of uniform samples varies with their features,
// with an SD near the learners' measured SD (the fitted part plus the capped hash term).
TEST(SurrogateTest, SpreadNearTheMeasuredOne) {
  const std::vector<v1::ArchSpec> specs = UniformSamples(800);
  const double ap_max = Fit()["dud"]["ap_max"].get<double>();
  std::vector<double> learners;
  for (const v1::ArchSpec& s : specs) {
    const double top = *SurrogateMeanAp(s);
    if (top >= ap_max) learners.push_back(top);
  }
  const double m = Mean(learners);
  double var = 0;
  for (double x : learners) var += (x - m) * (x - m);
  const double sd = std::sqrt(var / learners.size());
  EXPECT_GT(sd, 0.25 * Fit()["top"]["learner_sd"].get<double>());
  EXPECT_LT(sd, 4 * Fit()["top"]["learner_sd"].get<double>());
}

}  // namespace
}  // namespace vertebra::worker
