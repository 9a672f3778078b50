#include "common/stats.h"

#include <cmath>
#include <limits>

namespace vertebra {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The continued fraction stops when a step changes it by less than this (relative).
constexpr double kEpsilon = 1e-15;
// Keeps Lentz's denominators away from zero.
constexpr double kTiny = 1e-300;
// More terms than the fraction needs for any a, b below 1e6 at kEpsilon.
constexpr int kMaxTerms = 10000;

// The continued fraction of I_x(a, b) (Numerical Recipes' betacf), by the modified Lentz method.
double BetaFraction(double a, double b, double x) {
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxTerms; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < kEpsilon) break;
  }
  return h;
}

}  // namespace

double Mean(const std::vector<double>& x) {
  if (x.empty()) return kNaN;
  double sum = 0;
  for (double v : x) sum += v;
  return sum / static_cast<double>(x.size());
}

double SampleSd(const std::vector<double>& x) {
  if (x.size() < 2) return kNaN;
  const double mean = Mean(x);
  double ss = 0;
  for (double v : x) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

double RegularizedIncompleteBeta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1)) return kNaN;
  if (x == 0 || x == 1) return x;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  // The fraction converges fast for x below (a + 1) / (a + b + 2); above, use the symmetry
  // I_x(a, b) = 1 - I_{1-x}(b, a).
  if (x < (a + 1) / (a + b + 2)) return front * BetaFraction(a, b, x) / a;
  return 1 - front * BetaFraction(b, a, 1 - x) / b;
}

double StudentTCdf(double t, double df) {
  if (!(df > 0) || std::isnan(t)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  // P(|T| > |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2).
  const double tail = 0.5 * RegularizedIncompleteBeta(df / 2, 0.5, df / (df + t * t));
  return t > 0 ? 1 - tail : tail;
}

WelchResult WelchTest(const std::vector<double>& a, const std::vector<double>& b) {
  WelchResult r;
  r.mean_a = Mean(a);
  r.mean_b = Mean(b);
  r.difference = r.mean_a - r.mean_b;
  if (a.size() < 2 || b.size() < 2) {
    r.sd_a = r.sd_b = r.pooled_sd = r.t = r.df = kNaN;
    r.p_greater = 1;
    return r;
  }
  r.sd_a = SampleSd(a);
  r.sd_b = SampleSd(b);
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  r.pooled_sd = std::sqrt(((na - 1) * r.sd_a * r.sd_a + (nb - 1) * r.sd_b * r.sd_b) / (na + nb - 2));
  const double va = r.sd_a * r.sd_a / na, vb = r.sd_b * r.sd_b / nb;
  const double se = std::sqrt(va + vb);
  if (se == 0) {
    r.t = r.difference > 0 ? INFINITY : (r.difference < 0 ? -INFINITY : 0);
    r.df = na + nb - 2;
    r.p_greater = r.difference > 0 ? 0 : (r.difference < 0 ? 1 : 0.5);
    return r;
  }
  r.t = r.difference / se;
  r.df = (va + vb) * (va + vb) / (va * va / (na - 1) + vb * vb / (nb - 1));
  r.p_greater = 1 - StudentTCdf(r.t, r.df);
  return r;
}

double KendallTauB(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  if (b.size() != n || n < 2) return kNaN;
  double concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0) ++ties_a;
      if (db == 0) ++ties_b;
      if (da == 0 || db == 0) continue;
      if ((da > 0) == (db > 0)) {
        ++concordant;
      } else {
        ++discordant;
      }
    }
  }
  const double pairs = static_cast<double>(n) * static_cast<double>(n - 1) / 2;
  const double denominator = std::sqrt((pairs - ties_a) * (pairs - ties_b));
  return denominator > 0 ? (concordant - discordant) / denominator : kNaN;
}

double PredictionR2(const std::vector<double>& actual, const std::vector<double>& predicted) {
  if (predicted.size() != actual.size() || actual.size() < 2) return kNaN;
  const double mean = Mean(actual);
  double residual = 0, total = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    residual += (actual[i] - predicted[i]) * (actual[i] - predicted[i]);
    total += (actual[i] - mean) * (actual[i] - mean);
  }
  return total > 0 ? 1 - residual / total : kNaN;
}

}  // namespace vertebra
