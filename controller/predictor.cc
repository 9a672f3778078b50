#include "controller/predictor.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/stats.h"
#include "proto/kinds.h"

namespace vertebra::controller {
namespace {

namespace ss = search_spaces;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// A column whose standard deviation over the rows is below this (relative to its size) does not
// vary: it keeps its prior coefficient.
constexpr double kConstantColumn = 1e-9;
// Added to the diagonal when a system is not positive definite (lambda 0 with fewer rows than
// columns): the minimum-norm direction is then taken.
constexpr double kJitter = 1e-9;
// Held-out metrics need this many pairs (two leave a one-pair model per fold, which only shifts).
constexpr int kMinPairsForQuality = 3;

// Cholesky factor (lower, row-major m x m) of the symmetric `a`, in place; false when `a` is not
// positive definite.
bool Cholesky(std::vector<double>& a, int m) {
  for (int j = 0; j < m; ++j) {
    double d = a[j * m + j];
    for (int k = 0; k < j; ++k) d -= a[j * m + k] * a[j * m + k];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[j * m + j] = d;
    for (int i = j + 1; i < m; ++i) {
      double s = a[i * m + j];
      for (int k = 0; k < j; ++k) s -= a[i * m + k] * a[j * m + k];
      a[i * m + j] = s / d;
    }
    for (int k = j + 1; k < m; ++k) a[j * m + k] = 0;
  }
  return true;
}

// Solves L z = b (forward substitution) in place.
void Forward(const std::vector<double>& l, int m, std::vector<double>& b) {
  for (int i = 0; i < m; ++i) {
    double s = b[i];
    for (int k = 0; k < i; ++k) s -= l[i * m + k] * b[k];
    b[i] = s / l[i * m + i];
  }
}

// Solves L' z = b (back substitution) in place.
void Backward(const std::vector<double>& l, int m, std::vector<double>& b) {
  for (int i = m - 1; i >= 0; --i) {
    double s = b[i];
    for (int k = i + 1; k < m; ++k) s -= l[k * m + i] * b[k];
    b[i] = s / l[i * m + i];
  }
}

double Clip01(double v) { return std::clamp(v, 0.0, 1.0); }

const v1::RungResult* ResultAtRung(const v1::Trial& t, int32_t rung) {
  for (const v1::RungResult& r : t.results()) {
    if (r.rung() == rung) return &r;
  }
  return nullptr;
}

}  // namespace

double RidgeModel::Predict(absl::Span<const double> x) const {
  double y = intercept;
  for (size_t j = 0; j < coef.size() && j < x.size(); ++j) y += coef[j] * x[j];
  return y;
}

RidgeFit FitRidge(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                  const std::vector<double>& prior, double lambda) {
  const int n = static_cast<int>(y.size());
  const int d = static_cast<int>(prior.size());
  RidgeFit out;
  out.model.coef = prior;
  out.model.lambda = lambda;
  out.model.rows = n;
  if (n == 0) return out;
  // What the prior leaves unexplained, fitted as t ~ a + sum_j delta_j x_j.
  std::vector<double> t(n);
  for (int i = 0; i < n; ++i) {
    double p = 0;
    for (int j = 0; j < d; ++j) p += prior[j] * x[i][j];
    t[i] = y[i] - p;
  }
  const double t_mean = Mean(t);
  // The columns that vary, standardized over the rows: v_ij = (x_ij - mean_j) / s_j. In those
  // units the penalty lambda s_j^2 delta_j^2 is lambda gamma_j^2 (gamma_j = delta_j s_j), and
  // the centred columns are orthogonal to the intercept, which is then mean(t).
  std::vector<int> columns;
  std::vector<double> mean, scale;
  for (int j = 0; j < d; ++j) {
    double m = 0;
    for (int i = 0; i < n; ++i) m += x[i][j];
    m /= n;
    double ss = 0;
    for (int i = 0; i < n; ++i) ss += (x[i][j] - m) * (x[i][j] - m);
    const double s = std::sqrt(ss / n);
    if (s <= kConstantColumn * std::max(1.0, std::fabs(m))) continue;
    columns.push_back(j);
    mean.push_back(m);
    scale.push_back(s);
  }
  const int m = static_cast<int>(columns.size());
  std::vector<std::vector<double>> v(n, std::vector<double>(m));
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < m; ++c) v[i][c] = (x[i][columns[c]] - mean[c]) / scale[c];
  }
  // (V'V + lambda I) gamma = V' (t - mean(t)), by Cholesky.
  std::vector<double> gram(static_cast<size_t>(m) * m, 0.0), rhs(m, 0.0);
  for (int i = 0; i < n; ++i) {
    for (int a = 0; a < m; ++a) {
      rhs[a] += v[i][a] * (t[i] - t_mean);
      for (int b = 0; b <= a; ++b) gram[a * m + b] += v[i][a] * v[i][b];
    }
  }
  for (int a = 0; a < m; ++a) {
    for (int b = 0; b < a; ++b) gram[b * m + a] = gram[a * m + b];
    gram[a * m + a] += lambda;
  }
  std::vector<double> factor = gram;
  if (!Cholesky(factor, m)) {
    factor = gram;
    for (int a = 0; a < m; ++a) factor[a * m + a] += kJitter * n;
    Cholesky(factor, m);
  }
  std::vector<double> gamma = rhs;
  Forward(factor, m, gamma);
  Backward(factor, m, gamma);
  out.model.intercept = t_mean;
  for (int c = 0; c < m; ++c) {
    const double delta = gamma[c] / scale[c];
    out.model.coef[columns[c]] += delta;
    out.model.intercept -= delta * mean[c];
  }
  if (n < 2) return out;
  // Leave-one-out by the hat matrix of this linear smoother: h_ii = 1/n + v_i' (V'V + lambda I)^-1
  // v_i, and the residual of row i under the fit without it is e_i / (1 - h_ii).
  out.held_out.reserve(n);
  for (int i = 0; i < n; ++i) {
    std::vector<double> z = v[i];
    Forward(factor, m, z);
    double h = 1.0 / n, fitted = t_mean;
    for (int c = 0; c < m; ++c) {
      h += z[c] * z[c];
      fitted += v[i][c] * gamma[c];
    }
    const double residual = t[i] - fitted;
    out.held_out.push_back(y[i] - residual / std::max(1 - h, kJitter));
  }
  return out;
}

RidgeFit FitRidgeChoosingLambda(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                                const std::vector<double>& prior) {
  if (static_cast<int>(y.size()) < kMinPairsForLambdaChoice) return FitRidge(x, y, prior, kDefaultLambda);
  RidgeFit best;
  double best_error = std::numeric_limits<double>::infinity();
  for (double lambda : kLambdaGrid) {
    RidgeFit fit = FitRidge(x, y, prior, lambda);
    double error = 0;
    for (size_t i = 0; i < y.size(); ++i) error += (y[i] - fit.held_out[i]) * (y[i] - fit.held_out[i]);
    if (error < best_error) {
      best_error = error;
      best = std::move(fit);
    }
  }
  return best;
}

ss::ArchFeatureVector ProxyFeatures(const ss::ResolvedProxy& proxy) {
  // The backbone alone, as the surrogate objective's fit reads it.
  return ss::ArchFeatures(proxy.graph, ss::CountCost(proxy.graph));
}

RungPredictor::RungPredictor(int32_t rungs, const v1::ProxyTask& proxy)
    : rungs_(std::max(1, rungs)), proxy_(proxy), fits_(rungs_), fitted_at_(rungs_, -1) {}

ss::ArchFeatureVector RungPredictor::FeaturesOf(const v1::Trial& trial) const {
  if (auto it = records_.find(trial.id()); it != records_.end()) return it->second.features;
  if (auto it = feature_cache_.find(trial.id()); it != feature_cache_.end()) return it->second;
  absl::StatusOr<ss::ResolvedProxy> proxy = ss::ResolveProxy(trial.spec(), proxy_);
  const ss::ArchFeatureVector f = proxy.ok() ? ProxyFeatures(*proxy) : ss::ArchFeatureVector{};
  feature_cache_[trial.id()] = f;
  return f;
}

void RungPredictor::Add(const v1::Trial& trial, int32_t rung, double ap) {
  if (rung < 0 || rung >= rungs_) return;
  if (records_.count(trial.id()) == 0) {
    const ss::ArchFeatureVector features = FeaturesOf(trial);  // Before the record exists: it would answer.
    records_[trial.id()].features = features;
    feature_cache_.erase(trial.id());
  }
  Record& r = records_.at(trial.id());
  const bool highest = r.ap.empty() || rung >= r.ap.rbegin()->first;
  r.ap[rung] = ap;
  if (highest) {
    const v1::RungResult* result = ResultAtRung(trial, rung);
    r.label = result != nullptr && rung < rungs_ - 1 ? result->ap_at_top() : ap;
  }
  if (rung == rungs_ - 1) ++top_results_;
  ++added_;
}

void RungPredictor::Pairs(int32_t k, std::vector<std::vector<double>>* x, std::vector<double>* y) const {
  const int32_t top = rungs_ - 1;
  for (const auto& [id, r] : records_) {
    auto low = r.ap.find(k), high = r.ap.find(top);
    if (low == r.ap.end() || high == r.ap.end()) continue;
    std::vector<double> row = {low->second};
    row.insert(row.end(), r.features.begin(), r.features.end());
    x->push_back(std::move(row));
    y->push_back(high->second);
  }
}

const RidgeFit& RungPredictor::FitOf(int32_t k) const {
  if (!fits_[k] || fitted_at_[k] != top_results_) {
    std::vector<std::vector<double>> x;
    std::vector<double> y;
    Pairs(k, &x, &y);
    std::vector<double> prior(1 + ss::kNumArchFeatures, 0.0);
    prior[0] = 1;  // The identity on the rung's AP.
    fits_[k] = FitRidgeChoosingLambda(x, y, prior);
    fitted_at_[k] = top_results_;
  }
  return *fits_[k];
}

double RungPredictor::TopEstimate(const v1::Trial& trial, int32_t rung, double ap) const {
  if (rung >= rungs_ - 1 || rung < 0) return ap;
  std::vector<double> row = {ap};
  const ss::ArchFeatureVector f = FeaturesOf(trial);
  row.insert(row.end(), f.begin(), f.end());
  return Clip01(FitOf(rung).model.Predict(row));
}

std::vector<PredictorQuality> RungPredictor::Quality() const {
  std::vector<PredictorQuality> out;
  for (int32_t k = 0; k + 1 < rungs_; ++k) {
    std::vector<std::vector<double>> x;
    std::vector<double> y;
    Pairs(k, &x, &y);
    const RidgeFit& fit = FitOf(k);
    PredictorQuality q;
    q.rung = k;
    q.pairs = static_cast<int>(y.size());
    q.lambda = fit.model.lambda;
    q.held_out_r2 = q.held_out_tau = q.rung_ap_tau = kNaN;
    if (q.pairs >= kMinPairsForQuality) {
      std::vector<double> held_out, rung_ap;
      for (double p : fit.held_out) held_out.push_back(Clip01(p));
      for (const std::vector<double>& row : x) rung_ap.push_back(row[0]);
      q.held_out_r2 = PredictionR2(y, held_out);
      q.held_out_tau = KendallTauB(held_out, y);
      q.rung_ap_tau = KendallTauB(rung_ap, y);
    }
    out.push_back(q);
  }
  return out;
}

const RidgeModel& RungPredictor::CandidateModel() const {
  if (!candidate_ || candidate_at_ != added_) {
    std::vector<std::vector<double>> x;
    std::vector<double> y;
    for (const auto& [id, r] : records_) {
      x.emplace_back(r.features.begin(), r.features.end());
      y.push_back(r.label);
    }
    candidate_ = FitRidgeChoosingLambda(x, y, std::vector<double>(ss::kNumArchFeatures, 0.0)).model;
    candidate_at_ = added_;
  }
  return *candidate_;
}

std::vector<PredictorQuality> PredictorQualityOf(const v1::ExperimentConfig& config,
                                                 const std::vector<v1::Trial>& trials) {
  RungPredictor predictor(config.rungs().steps_size(), config.proxy());
  for (const v1::Trial& t : trials) {
    if (!IsSearchTrial(t) || t.reused_from() != 0) continue;
    for (const v1::RungResult& r : t.results()) {
      if (r.ap().stats_size() > 0) predictor.Add(t, r.rung(), r.ap().stats(0));
    }
  }
  return predictor.Quality();
}

}  // namespace vertebra::controller
