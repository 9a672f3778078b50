// Small statistics for comparing runs over seeds: mean and sample SD, the Student t distribution
// (through the regularized incomplete beta function) and Welch's unequal-variance t-test. No
// dependencies beyond <cmath>; pure functions, thread-safe.
#ifndef VERTEBRA_COMMON_STATS_H_
#define VERTEBRA_COMMON_STATS_H_

#include <vector>

namespace vertebra {

// The mean of `x` (NaN when empty) and its sample standard deviation (n - 1 in the denominator;
// NaN with fewer than two values).
double Mean(const std::vector<double>& x);
double SampleSd(const std::vector<double>& x);

// I_x(a, b), the regularized incomplete beta function, for a, b > 0 and x in [0, 1] (NaN
// outside), by its continued fraction (Lentz's method) to about 1e-14.
double RegularizedIncompleteBeta(double a, double b, double x);

// P(T <= t) for Student's t with `df` > 0 degrees of freedom (any real df, as Welch's test
// needs); NaN for df <= 0 or a NaN t.
double StudentTCdf(double t, double df);

struct WelchResult {
  double mean_a = 0, mean_b = 0;
  double sd_a = 0, sd_b = 0;   // Sample SDs.
  double difference = 0;       // mean_a - mean_b.
  double pooled_sd = 0;        // sqrt(((n_a - 1) sd_a^2 + (n_b - 1) sd_b^2) / (n_a + n_b - 2)).
  double t = 0;                // difference / sqrt(sd_a^2 / n_a + sd_b^2 / n_b).
  double df = 0;               // Welch-Satterthwaite degrees of freedom.
  // One-sided p-value of H1: the mean of a is larger than the mean of b. With both SDs 0 it is
  // 0 for a positive difference, 1 for a negative one, 0.5 for none.
  double p_greater = 1;
};

// Kendall's tau-b of the pairs (a_i, b_i): (concordant - discordant) / sqrt((n0 - ties_a) (n0 -
// ties_b)) with n0 = n (n - 1) / 2; pairs tied in both count in both tie counts. NaN when the
// lengths differ, with fewer than two pairs, or when either side is constant.
double KendallTauB(const std::vector<double>& a, const std::vector<double>& b);

// R^2 of predictions `predicted` of `actual`: 1 - sum (actual - predicted)^2 / sum (actual -
// mean(actual))^2 (negative for predictions worse than the mean). NaN when the lengths differ,
// with fewer than two values, or when `actual` is constant.
double PredictionR2(const std::vector<double>& actual, const std::vector<double>& predicted);

// Welch's t-test of `a` against `b`. Each needs at least two values, else every field but the
// means is NaN and p_greater is 1.
WelchResult WelchTest(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_STATS_H_
