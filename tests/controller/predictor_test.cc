#include "controller/predictor.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "controller/config.h"
#include "controller/rungs.h"
#include "gtest/gtest.h"
#include "search_spaces/decisions.h"
#include "search_spaces/family.h"

namespace vertebra::controller {
namespace {

namespace ss = search_spaces;

v1::ProxyTask Proxy() {
  v1::ProxyTask p;
  p.set_scaling("proxy");
  p.set_size(128);
  p.set_classes(3);
  return p;
}

// A search trial of `spec` with AP `ap` at each rung of `aps` (rung, AP), in order.
v1::Trial TrialOf(int64_t id, const v1::ArchSpec& spec, const std::vector<std::pair<int, double>>& aps) {
  v1::Trial t;
  t.set_id(id);
  t.set_role(v1::TRIAL_ROLE_SEARCH);
  *t.mutable_spec() = spec;
  for (const auto& [rung, ap] : aps) {
    v1::RungResult* r = t.add_results();
    r->set_rung(rung);
    r->mutable_ap()->add_stats(ap);
    r->set_ap_at_top(ap);
  }
  return t;
}

// `count` different architectures of the default search space, from a fixed seed.
std::vector<v1::ArchSpec> Architectures(int count) {
  const ss::SearchSpace space = *ss::SearchSpace::Create({});
  std::mt19937_64 rng(17);
  std::vector<v1::ArchSpec> out;
  for (int i = 0; i < count; ++i) out.push_back(*space.Decode(space.Sample(rng)));
  return out;
}

ss::ArchFeatureVector FeaturesOf(const v1::ArchSpec& spec) {
  return ProxyFeatures(*ss::ResolveProxy(spec, Proxy()));
}

TEST(RidgeTest, RecoversAKnownLinearRelation) {
  // y = 0.05 + 1.6 x0 + 0.02 x3 exactly, over 11 columns of which the others do not matter.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (int i = 0; i < 60; ++i) {
    std::vector<double> row(11);
    for (double& v : row) v = u(rng);
    y.push_back(0.05 + 1.6 * row[0] + 0.02 * row[3]);
    x.push_back(row);
  }
  std::vector<double> prior(11, 0.0);
  prior[0] = 1;
  const RidgeFit fit = FitRidgeChoosingLambda(x, y, prior);
  EXPECT_EQ(fit.model.lambda, kLambdaGrid[0]);  // Noiseless: the least shrinkage predicts best.
  EXPECT_NEAR(fit.model.intercept, 0.05, 1e-3);
  EXPECT_NEAR(fit.model.coef[0], 1.6, 1e-3);
  EXPECT_NEAR(fit.model.coef[3], 0.02, 1e-3);
  for (int j : {1, 2, 4, 5, 10}) EXPECT_NEAR(fit.model.coef[j], 0, 1e-3) << j;
  std::vector<double> fresh(11, 0.25);
  EXPECT_NEAR(fit.model.Predict(fresh), 0.05 + 1.6 * 0.25 + 0.02 * 0.25, 1e-3);
  ASSERT_EQ(fit.held_out.size(), y.size());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(fit.held_out[i], y[i], 1e-3);
}

// Solves the ridge normal equations directly (Gaussian elimination over [1, x]), with the penalty
// lambda s_j^2 on column j, s_j given: the slow, obvious way.
std::vector<double> DirectRidge(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                                const std::vector<double>& prior, double lambda, const std::vector<double>& s) {
  const size_t d = prior.size() + 1;
  std::vector<std::vector<double>> a(d, std::vector<double>(d + 1, 0.0));
  for (size_t i = 0; i < y.size(); ++i) {
    std::vector<double> z = {1};
    z.insert(z.end(), x[i].begin(), x[i].end());
    double t = y[i];
    for (size_t j = 0; j < prior.size(); ++j) t -= prior[j] * x[i][j];
    for (size_t r = 0; r < d; ++r) {
      for (size_t c = 0; c < d; ++c) a[r][c] += z[r] * z[c];
      a[r][d] += z[r] * t;
    }
  }
  for (size_t j = 0; j < prior.size(); ++j) a[j + 1][j + 1] += lambda * s[j] * s[j];
  for (size_t c = 0; c < d; ++c) {
    for (size_t r = c + 1; r < d; ++r) {
      const double f = a[r][c] / a[c][c];
      for (size_t k = c; k <= d; ++k) a[r][k] -= f * a[c][k];
    }
  }
  std::vector<double> theta(d);
  for (size_t r = d; r-- > 0;) {
    double v = a[r][d];
    for (size_t k = r + 1; k < d; ++k) v -= a[r][k] * theta[k];
    theta[r] = v / a[r][r];
  }
  for (size_t j = 0; j < prior.size(); ++j) theta[j + 1] += prior[j];
  return theta;  // intercept, coef...
}

TEST(RidgeTest, HeldOutPredictionsAreTheFitsWithoutEachRow) {
  std::mt19937_64 rng(8);
  std::normal_distribution<double> n(0, 1);
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (int i = 0; i < 9; ++i) {
    x.push_back({n(rng), n(rng), n(rng)});
    y.push_back(0.3 * x.back()[0] - 0.2 * x.back()[2] + 0.1 * n(rng));
  }
  const std::vector<double> prior = {1, 0, 0};
  const double lambda = 2;
  // The column scales of all rows (SD with n in the denominator) make the penalty of every fold.
  std::vector<double> s(3);
  for (int j = 0; j < 3; ++j) {
    double m = 0, ss = 0;
    for (const auto& row : x) m += row[j] / 9;
    for (const auto& row : x) ss += (row[j] - m) * (row[j] - m);
    s[j] = std::sqrt(ss / 9);
  }
  const RidgeFit fit = FitRidge(x, y, prior, lambda);
  const std::vector<double> all = DirectRidge(x, y, prior, lambda, s);
  EXPECT_NEAR(fit.model.intercept, all[0], 1e-12);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(fit.model.coef[j], all[j + 1], 1e-12);
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<std::vector<double>> xo;
    std::vector<double> yo;
    for (size_t k = 0; k < x.size(); ++k) {
      if (k == i) continue;
      xo.push_back(x[k]);
      yo.push_back(y[k]);
    }
    const std::vector<double> theta = DirectRidge(xo, yo, prior, lambda, s);
    const double expected = theta[0] + theta[1] * x[i][0] + theta[2] * x[i][1] + theta[3] * x[i][2];
    EXPECT_NEAR(fit.held_out[i], expected, 1e-12) << i;
  }
}

TEST(RidgeTest, ShrinksToThePriorWithTwoRowsByHand) {
  // t = y - x = (0.3, 0.5); x has mean 0.3 and SD 0.1, so v = (-1, 1), V'V = 2, V't = 0.2;
  // gamma = 0.2 / (2 + 10) = 1/60, slope 1 + gamma / 0.1 = 7/6, intercept 0.4 - 0.3 / 6 = 0.35.
  const RidgeFit fit = FitRidge({{0.2}, {0.4}}, {0.5, 0.9}, {1}, 10);
  EXPECT_NEAR(fit.model.coef[0], 7.0 / 6, 1e-12);
  EXPECT_NEAR(fit.model.intercept, 0.35, 1e-12);
  // Without one row, the other alone: no column varies, the slope stays 1 and the intercept takes
  // that row's gap, 0.5 or 0.3.
  ASSERT_EQ(fit.held_out.size(), 2u);
  EXPECT_NEAR(fit.held_out[0], 0.2 + 0.5, 1e-12);
  EXPECT_NEAR(fit.held_out[1], 0.4 + 0.3, 1e-12);
}

TEST(RungPredictorTest, ZeroOneAndTwoPairs) {
  RungPredictor p(2, Proxy());
  const v1::ArchSpec a = ss::SpineNet49();
  // No pairs: the rung's AP itself.
  p.Add(TrialOf(1, a, {{0, 0.2}}), 0, 0.2);
  EXPECT_DOUBLE_EQ(p.TopEstimate(TrialOf(9, a, {}), 0, 0.33), 0.33);
  ASSERT_EQ(p.Quality().size(), 1u);
  EXPECT_EQ(p.Quality()[0].pairs, 0);
  EXPECT_TRUE(std::isnan(p.Quality()[0].held_out_r2));
  // One pair (0.2 -> 0.5): shifted by its gap.
  p.Add(TrialOf(1, a, {{0, 0.2}, {1, 0.5}}), 1, 0.5);
  EXPECT_NEAR(p.TopEstimate(TrialOf(9, a, {}), 0, 0.33), 0.63, 1e-12);
  // Two pairs of one architecture (the features do not vary): the hand computation above.
  p.Add(TrialOf(2, a, {{0, 0.4}}), 0, 0.4);
  p.Add(TrialOf(2, a, {{0, 0.4}, {1, 0.9}}), 1, 0.9);
  EXPECT_NEAR(p.TopEstimate(TrialOf(9, a, {}), 0, 0.3), 0.35 + 0.3 * 7 / 6, 1e-12);
  EXPECT_EQ(p.Quality()[0].pairs, 2);
  EXPECT_TRUE(std::isnan(p.Quality()[0].held_out_tau));  // Two pairs are too few to measure.
  // At the top rung, the AP itself; an estimate is clipped to an AP's range.
  EXPECT_DOUBLE_EQ(p.TopEstimate(TrialOf(9, a, {}), 1, 0.42), 0.42);
  EXPECT_DOUBLE_EQ(p.TopEstimate(TrialOf(9, a, {}), 0, 0.95), 1.0);
}

TEST(RungPredictorTest, HeldOutMetricsAgainstHandValues) {
  // Four pairs of one architecture, rung AP x = (0.1, 0.2, 0.3, 0.4), top AP y = (0.3, 0.6, 0.35,
  // 0.5); lambda 10 (fewer than five pairs), the AP's SD over all four 0.1118 (s^2 = 0.0125).
  // Without pair i the fit is slope 1 + sum(dx dt) / (sum(dx^2) + 10 s^2) over the other three
  // (t = y - x, dx and dt about their means), intercept mean(t) - (slope - 1) mean(x):
  //   without 0: 0.24540 + 0.79310 x  -> 0.32471 at 0.1
  //   without 1: 0.14515 + 0.89320 x  -> 0.32379 at 0.2
  //   without 2: 0.26505 + 0.86408 x  -> 0.52427 at 0.3
  //   without 3: 0.23736 + 0.89655 x  -> 0.59598 at 0.4
  // R^2 = 1 - sum (y - pred)^2 / sum (y - mean y)^2 = 1 - 0.13448 / 0.065625 = -1.04812;
  // tau: of the 6 pairs of pairs, 3 concordant and 3 discordant: 0; the rung AP alone: 4 - 2 = 2
  // of 6, 1/3.
  RungPredictor p(2, Proxy());
  const v1::ArchSpec a = ss::SpineNet49();
  const double x[] = {0.1, 0.2, 0.3, 0.4}, y[] = {0.3, 0.6, 0.35, 0.5};
  for (int i = 0; i < 4; ++i) {
    p.Add(TrialOf(i + 1, a, {{0, x[i]}}), 0, x[i]);
    p.Add(TrialOf(i + 1, a, {{0, x[i]}, {1, y[i]}}), 1, y[i]);
  }
  const PredictorQuality q = p.Quality()[0];
  EXPECT_EQ(q.pairs, 4);
  EXPECT_EQ(q.lambda, kDefaultLambda);
  EXPECT_NEAR(q.held_out_r2, -1.0481217735, 1e-9);
  EXPECT_NEAR(q.held_out_tau, 0.0, 1e-12);
  EXPECT_NEAR(q.rung_ap_tau, 1.0 / 3, 1e-12);
}

// A rung AP that says nothing of the top rung (a pseudo-random number), and one that ranks the
// architectures backwards.
double Noise(int i) { return 0.3 + 0.2 * std::fmod(i * 0.6180339887, 1.0); }

TEST(RungPredictorTest, LearnsFromTheArchitectureWhatTheRungHides) {
  // The top rung rewards bottleneck blocks; the low rung's AP is noise. With enough pairs, the
  // predictor ranks a trial by what its architecture says.
  const std::vector<v1::ArchSpec> archs = Architectures(60);
  RungPredictor p(2, Proxy());
  for (int i = 0; i < 50; ++i) {
    const double top = 0.2 + 0.5 * FeaturesOf(archs[i])[1];
    p.Add(TrialOf(i + 1, archs[i], {{0, Noise(i)}}), 0, Noise(i));
    p.Add(TrialOf(i + 1, archs[i], {{0, Noise(i)}, {1, top}}), 1, top);
  }
  for (int i = 50; i < 60; ++i) {
    EXPECT_NEAR(p.TopEstimate(TrialOf(100 + i, archs[i], {}), 0, Noise(i)), 0.2 + 0.5 * FeaturesOf(archs[i])[1], 0.01)
        << i;
  }
  const PredictorQuality q = p.Quality()[0];
  EXPECT_GT(q.held_out_r2, 0.95);
  // Tau-b: architectures with the same share of bottlenecks tie at the top rung, which caps it.
  EXPECT_GT(q.held_out_tau, 0.75);
  EXPECT_LT(std::fabs(q.rung_ap_tau), 0.3);  // The rung alone says little.
  // The candidate model (the features alone) has learned the same from every result.
  const ss::ArchFeatureVector f = FeaturesOf(archs[55]);
  EXPECT_NEAR(p.CandidateModel().Predict(std::vector<double>(f.begin(), f.end())), 0.2 + 0.5 * f[1], 0.01);
}

TEST(RungPredictorTest, PromotionByPredictionFollowsTheArchitecture) {
  v1::ExperimentConfig config = *ParseExperimentConfig(
      R"({"name": "p", "rungs": {"steps": [100, 400], "eta": 2}, "search": {"promotion": "predicted"},
          "simulation": {"seconds": 0}})",
      "p.json");
  v1::ExperimentConfig by_ap = config;
  by_ap.mutable_search()->set_promotion("rung_ap");
  Rungs predicted(config), measured(by_ap);
  // 40 trials measured at both rungs; then the two of the other architectures with the most and
  // the fewest bottleneck blocks at rung 0 only, where the fewest give the higher rung AP.
  std::vector<std::pair<double, v1::ArchSpec>> archs;
  for (const v1::ArchSpec& spec : Architectures(60)) archs.push_back({FeaturesOf(spec)[1], spec});
  std::map<int64_t, v1::Trial> trials;
  auto add = [&](int64_t id, const v1::ArchSpec& spec, double bottleneck, bool top) {
    // The old trials' rung AP is noise; the new ones' ranks them against the top rung.
    const double low = top ? Noise(static_cast<int>(id)) : 0.5 - 0.3 * bottleneck;
    v1::Trial t = TrialOf(id, spec, {{0, low}});
    if (top) t = TrialOf(id, spec, {{0, low}, {1, 0.2 + 0.5 * bottleneck}});
    t.set_rung(top ? 1 : 0);
    t.set_state(v1::DONE);
    trials[id] = t;
    for (Rungs* r : {&predicted, &measured}) {
      r->Add(t, 0, low);
      if (top) r->Add(t, 1, 0.2 + 0.5 * bottleneck);
    }
  };
  std::sort(archs.begin() + 40, archs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  ASSERT_LT(archs[40].first, archs[59].first);
  for (int i = 0; i < 40; ++i) add(i + 1, archs[i].second, archs[i].first, true);
  add(41, archs[40].second, archs[40].first, false);  // The fewest bottlenecks: the higher rung AP.
  add(42, archs[59].second, archs[59].first, false);  // The most.
  // The quota (21 of 42) ranks the old trials too; of the new ones the predictor puts the one
  // with the most bottlenecks first, the rung's AP the other.
  auto first_new = [&](const Rungs& r) -> int64_t {
    for (int64_t id : r.Quota(0, trials)) {
      if (id > 40) return id;
    }
    return 0;
  };
  EXPECT_EQ(first_new(predicted), 42);
  EXPECT_EQ(first_new(measured), 41);
}

}  // namespace
}  // namespace vertebra::controller
