#include "common/stats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vertebra {
namespace {

// The Student t CDF has closed forms at small df (Abramowitz & Stegun 26.7.3-4):
//   df 1: 1/2 + atan(t) / pi;   df 2: 1/2 + t / (2 sqrt(2 + t^2));
//   df 4: 1/2 + (3/8) u (1 - t^2 / (12 (1 + t^2 / 4))), u = t / sqrt(1 + t^2 / 4).
TEST(StudentT, MatchesClosedForms) {
  EXPECT_NEAR(StudentTCdf(1, 1), 0.75, 1e-12);
  EXPECT_NEAR(StudentTCdf(-1, 1), 0.25, 1e-12);
  EXPECT_NEAR(StudentTCdf(std::sqrt(2.0), 2), 0.5 + std::sqrt(2.0) / 4, 1e-12);
  EXPECT_NEAR(StudentTCdf(1.5, 4), 0.896, 1e-12);  // (3/8) x 1.2 x (1 - 0.1) + 1/2, by hand.
  EXPECT_NEAR(StudentTCdf(0, 7.3), 0.5, 1e-15);
  for (double t : {-3.0, -0.4, 0.2, 2.5, 9.0}) {
    EXPECT_NEAR(StudentTCdf(t, 1), 0.5 + std::atan(t) / M_PI, 1e-12) << t;
    EXPECT_NEAR(StudentTCdf(t, 2), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-12) << t;
  }
  // Large df tends to the normal: Phi(1.96) = 0.9750021.
  EXPECT_NEAR(StudentTCdf(1.96, 1e7), 0.9750021, 1e-6);
  EXPECT_TRUE(std::isnan(StudentTCdf(1, 0)));
}

TEST(IncompleteBeta, Identities) {
  EXPECT_NEAR(RegularizedIncompleteBeta(1, 1, 0.3), 0.3, 1e-14);  // Uniform.
  EXPECT_NEAR(RegularizedIncompleteBeta(2, 1, 0.5), 0.25, 1e-14);  // x^2.
  EXPECT_NEAR(RegularizedIncompleteBeta(1, 3, 0.2), 1 - 0.8 * 0.8 * 0.8, 1e-14);  // 1 - (1-x)^3.
  EXPECT_NEAR(RegularizedIncompleteBeta(2.5, 4, 0.37) + RegularizedIncompleteBeta(4, 2.5, 0.63), 1, 1e-13);
  EXPECT_EQ(RegularizedIncompleteBeta(3, 2, 0), 0);
  EXPECT_EQ(RegularizedIncompleteBeta(3, 2, 1), 1);
  EXPECT_TRUE(std::isnan(RegularizedIncompleteBeta(3, 2, 1.5)));
}

// Kendall's tau-b by hand: (1, 2, 3, 4) against (1, 3, 2, 4) has 5 concordant pairs and 1
// discordant of 6: 4/6. With a tie in b, (1, 2, 3) against (1, 1, 2): 2 concordant, 0 discordant,
// one tie in b: 2 / sqrt(3 x 2).
TEST(KendallTau, ByHand) {
  EXPECT_NEAR(KendallTauB({1, 2, 3, 4}, {1, 3, 2, 4}), 4.0 / 6, 1e-15);
  EXPECT_NEAR(KendallTauB({1, 2, 3, 4}, {4, 3, 2, 1}), -1, 1e-15);
  EXPECT_NEAR(KendallTauB({1, 2, 3}, {1, 1, 2}), 2 / std::sqrt(6.0), 1e-15);
  EXPECT_TRUE(std::isnan(KendallTauB({1}, {1})));
  EXPECT_TRUE(std::isnan(KendallTauB({1, 2}, {3, 3})));
  EXPECT_TRUE(std::isnan(KendallTauB({1, 2}, {1, 2, 3})));
}

// R^2 by hand: actual (1, 2, 3) (mean 2, total 2), predicted (1, 2, 4): 1 - 1/2; predicting the
// mean gives 0, worse gives less.
TEST(PredictionR2, ByHand) {
  EXPECT_NEAR(PredictionR2({1, 2, 3}, {1, 2, 4}), 0.5, 1e-15);
  EXPECT_NEAR(PredictionR2({1, 2, 3}, {2, 2, 2}), 0, 1e-15);
  EXPECT_NEAR(PredictionR2({1, 2, 3}, {3, 2, 1}), -3, 1e-15);
  EXPECT_TRUE(std::isnan(PredictionR2({1, 1}, {1, 1})));
  EXPECT_TRUE(std::isnan(PredictionR2({1, 2}, {1})));
}

TEST(Welch, EqualVariancesByHand) {
  // Means 0.32 and 0.22, both SDs 0.02, n 3: se = 0.02 sqrt(2/3), t = 0.1 / se = 6.12372,
  // df = 4 exactly; p = 1 - F_4(t) = 0.00180112 (the df-4 closed form above).
  const WelchResult r = WelchTest({0.30, 0.32, 0.34}, {0.20, 0.22, 0.24});
  EXPECT_NEAR(r.mean_a, 0.32, 1e-12);
  EXPECT_NEAR(r.mean_b, 0.22, 1e-12);
  EXPECT_NEAR(r.sd_a, 0.02, 1e-12);
  EXPECT_NEAR(r.sd_b, 0.02, 1e-12);
  EXPECT_NEAR(r.pooled_sd, 0.02, 1e-12);
  EXPECT_NEAR(r.difference / r.pooled_sd, 5, 1e-9);
  EXPECT_NEAR(r.t, 6.1237243569579, 1e-9);
  EXPECT_NEAR(r.df, 4, 1e-9);
  EXPECT_NEAR(r.p_greater, 0.0018011163045520, 1e-10);
  // The other direction.
  EXPECT_NEAR(WelchTest({0.20, 0.22, 0.24}, {0.30, 0.32, 0.34}).p_greater, 1 - 0.0018011163045520, 1e-10);
}

TEST(Welch, UnequalVariancesByHand) {
  // a = {1, 2, 3, 4}: mean 2.5, var 5/3; b = {0, 1}: mean 0.5, var 0.5.
  // va = 5/12, vb = 1/4, se^2 = 2/3, t = 2 / sqrt(2/3) = sqrt(6) = 2.449490;
  // df = (2/3)^2 / ((5/12)^2 / 3 + (1/4)^2 / 1) = (4/9) / (25/432 + 27/432) = 192/52 = 3.692308.
  const WelchResult r = WelchTest({1, 2, 3, 4}, {0, 1});
  EXPECT_NEAR(r.t, std::sqrt(6.0), 1e-12);
  EXPECT_NEAR(r.df, 192.0 / 52.0, 1e-12);
  // pooled SD: sqrt((3 x 5/3 + 1 x 1/2) / 4) = sqrt(11/8).
  EXPECT_NEAR(r.pooled_sd, std::sqrt(11.0 / 8.0), 1e-12);
  // p lies between the df-4 and df-3 tails at t = sqrt(6), both closed forms:
  // F_3(t) = 1/2 + (t / (sqrt 3 (1 + t^2 / 3)) + atan(t / sqrt 3)) / pi.
  const double t = std::sqrt(6.0);
  const double u = t / std::sqrt(1 + t * t / 4);
  const double p4 = 1 - (0.5 + 3.0 / 8 * u * (1 - t * t / (12 * (1 + t * t / 4))));
  const double p3 = 1 - (0.5 + (t / (std::sqrt(3.0) * (1 + t * t / 3)) + std::atan(t / std::sqrt(3.0))) / M_PI);
  EXPECT_NEAR(p4, 0.035242, 1e-6);
  EXPECT_NEAR(p3, 0.045861, 1e-6);
  EXPECT_GT(r.p_greater, p4);
  EXPECT_LT(r.p_greater, p3);
}

TEST(Welch, DegenerateInputs) {
  const WelchResult same = WelchTest({0.5, 0.5}, {0.5, 0.5});
  EXPECT_EQ(same.p_greater, 0.5);
  EXPECT_EQ(WelchTest({0.6, 0.6}, {0.5, 0.5}).p_greater, 0);
  EXPECT_EQ(WelchTest({0.4, 0.4}, {0.5, 0.5}).p_greater, 1);
  const WelchResult one = WelchTest({0.6}, {0.5, 0.4});
  EXPECT_EQ(one.p_greater, 1);
  EXPECT_TRUE(std::isnan(one.sd_a));
  EXPECT_TRUE(std::isnan(SampleSd({1})));
  EXPECT_NEAR(SampleSd({1, 3}), std::sqrt(2.0), 1e-15);
}

}  // namespace
}  // namespace vertebra
