#include "worker/agent/surrogate.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_spec.h"
#include "search_spaces/cost.h"
#include "search_spaces/family.h"
#include "search_spaces/features.h"
#include "search_spaces/proxy.h"
#include "search_spaces/resolve.h"
#include "worker/agent/surrogate_fit.h"

namespace vertebra::worker {
namespace {

namespace ss = search_spaces;

// How far the fitted line is followed: features beyond 2.5 SDs of the uniform samples count as
// 2.5 SDs, and no reference AP goes above 1.25 x the best measured one.
constexpr double kMaxZ = 2.5;
constexpr double kMaxOverBest = 1.25;

struct Fit {
  double rung_steps = 0, top_steps = 0;
  int input_size = 0;
  ss::ArchFeatureVector mean{}, sd{}, weights{};  // In ArchFeatureNames() order.
  double dud_rate = 0, dud_ap_max = 0;
  double intercept = 0, hash_sd = 0, best_ap = 0;
  double ratio_log_mean = 0, ratio_log_sd = 0;
  double cv_rung = 0, cv_top = 0, rho = 0;
  double ap50_ratio = 1.6;
  std::string provisional;  // Empty: every figure measured.
};

absl::StatusOr<Fit> ParseFit() {
  try {
    const nlohmann::json j = nlohmann::json::parse(SurrogateFitJson());
    Fit f;
    f.rung_steps = j.at("rung_steps").get<double>();
    f.top_steps = j.at("top_steps").get<double>();
    f.input_size = j.at("input_size").get<int>();
    const auto& names = j.at("features").at("names");
    for (int i = 0; i < ss::kNumArchFeatures; ++i) {
      const auto it = std::find(names.begin(), names.end(), std::string(ss::ArchFeatureNames()[i]));
      if (it == names.end()) {
        return absl::InternalError(absl::StrFormat("surrogate fit: no feature %s", ss::ArchFeatureNames()[i]));
      }
      const size_t k = static_cast<size_t>(it - names.begin());
      f.mean[i] = j.at("features").at("mean").at(k).get<double>();
      f.sd[i] = j.at("features").at("sd").at(k).get<double>();
      f.weights[i] = j.at("top").at("weights").at(k).get<double>();
      if (!(f.sd[i] > 0)) f.sd[i] = 1;
    }
    f.dud_rate = j.at("dud").at("rate").get<double>();
    f.dud_ap_max = j.at("dud").at("ap_max").get<double>();
    f.intercept = j.at("top").at("intercept").get<double>();
    f.hash_sd = j.at("top").at("hash_sd").get<double>();
    f.best_ap = j.at("top").at("best").get<double>();
    f.ratio_log_mean = j.at("ratio").at("log_mean").get<double>();
    f.ratio_log_sd = j.at("ratio").at("log_sd").get<double>();
    f.cv_rung = j.at("seed").at("cv_rung").get<double>();
    f.cv_top = j.at("seed").at("cv_top").get<double>();
    f.rho = std::clamp(j.at("seed").at("correlation").get<double>(), 0.0, 1.0);
    f.ap50_ratio = j.at("ap50_ratio").get<double>();
    if (const auto it = j.find("provisional"); it != j.end() && it->is_string()) f.provisional = it->get<std::string>();
    if (!(f.rung_steps > 0 && f.top_steps > f.rung_steps && f.input_size > 0)) {
      return absl::InternalError("surrogate fit: needs 0 < rung_steps < top_steps and input_size > 0");
    }
    return f;
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(absl::StrCat("surrogate fit: ", e.what()));
  }
}

const absl::StatusOr<Fit>& TheFit() {
  static const absl::StatusOr<Fit>* fit = new absl::StatusOr<Fit>(ParseFit());
  return *fit;
}

// A uniform in [0, 1) and a standard normal drawn from a seed: the same seed, the same draws.
struct Draws {
  explicit Draws(uint64_t seed) : rng(seed) {}
  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng); }
  double Normal() { return std::normal_distribution<double>(0, 1)(rng); }
  std::mt19937_64 rng;
};

uint64_t HashSeed(const std::string& hex, size_t offset) { return std::stoull(hex.substr(offset, 15), nullptr, 16); }

// What an architecture is under the fit, independent of the search's seed.
struct Landscape {
  std::string hash;
  double top = 0;    // The expected reference AP.
  double ratio = 1;  // First-rung AP / reference AP.
};

absl::StatusOr<Landscape> Evaluate(const Fit& fit, const v1::ArchSpec& spec) {
  if (absl::Status s = ss::ValidateArchSpec(spec); !s.ok()) return s;
  // The proxy scaling the fit's runs trained at; the features count the backbone alone.
  v1::ProxyTask task;
  task.set_scaling("proxy");
  task.set_size(fit.input_size);
  task.set_classes(ss::kDefaultClasses);
  absl::StatusOr<ss::ResolvedProxy> resolved = ss::ResolveProxy(spec, task);
  if (!resolved.ok()) return resolved.status();
  v1::ArchSpec& proxy = resolved->spec;
  proxy.clear_name();
  const ss::ResolvedGraph& graph = resolved->graph;
  const ss::ArchFeatureVector x = ss::ArchFeatures(graph, ss::CountCost(graph));
  Landscape l;
  l.hash = ss::ArchHash(proxy);
  Draws draws(HashSeed(l.hash, 0));
  const bool dud = draws.Uniform() < fit.dud_rate;
  const double hash_term = draws.Normal();
  const double ratio_term = draws.Normal();
  const double dud_ap = draws.Uniform() * fit.dud_ap_max;
  double top = fit.intercept + fit.hash_sd * hash_term;
  for (int i = 0; i < ss::kNumArchFeatures; ++i) {
    top += fit.weights[i] * std::clamp((x[i] - fit.mean[i]) / fit.sd[i], -kMaxZ, kMaxZ);
  }
  // A learner never falls to a dud's level (the fit's learners all reached more), nor far above
  // the best measured run: a linear fit is not trusted beyond what it saw.
  l.top = dud ? dud_ap : std::clamp(top, fit.dud_ap_max, kMaxOverBest * fit.best_ap);
  l.ratio = std::min(1.0, std::exp(fit.ratio_log_mean + fit.ratio_log_sd * ratio_term));
  return l;
}

}  // namespace

std::string_view SurrogateFitJson() { return kSurrogateFitJson; }

std::string SurrogateProvisionalNote() {
  const absl::StatusOr<Fit>& fit = TheFit();
  return fit.ok() ? fit->provisional : std::string(fit.status().message());
}

absl::StatusOr<double> SurrogateMeanAp(const v1::ArchSpec& spec) {
  const absl::StatusOr<Fit>& fit = TheFit();
  if (!fit.ok()) return fit.status();
  absl::StatusOr<Landscape> l = Evaluate(*fit, spec);
  if (!l.ok()) return l.status();
  return l->top;
}

absl::StatusOr<SimulatedScore> SurrogateAp(const v1::ArchSpec& spec, int64_t steps, int64_t full_steps, uint64_t seed,
                                           int32_t rung) {
  const absl::StatusOr<Fit>& fit = TheFit();
  if (!fit.ok()) return fit.status();
  if (steps < 1 || full_steps < steps) return absl::InvalidArgumentError("steps must be in [1, full_steps]");
  absl::StatusOr<Landscape> l = Evaluate(*fit, spec);
  if (!l.ok()) return l.status();
  // Progress in units of the measured span: 0 at the reference budget, 1 at the first rung.
  const double span = std::log(fit->top_steps / fit->rung_steps);
  const double back = std::log(static_cast<double>(full_steps) / static_cast<double>(steps)) / span;
  const double mean = l->top * std::pow(l->ratio, back);
  const double cv = std::max(0.0, fit->cv_top + (fit->cv_rung - fit->cv_top) * std::min(back, 2.0));
  Draws trial(seed ^ HashSeed(l->hash, 15));
  Draws at_rung(seed ^ HashSeed(l->hash, 30) ^ (static_cast<uint64_t>(rung + 1) * 0x9e3779b97f4a7c15ULL));
  // Two rungs share the trial's draw with weight sqrt(rho) each: their correlation is rho.
  const double e = std::sqrt(fit->rho) * trial.Normal() + std::sqrt(1 - fit->rho) * at_rung.Normal();
  const double ap = std::clamp(mean * (1 + cv * e), 0.0, 1.0);
  SimulatedScore score;
  score.final_ap = l->top;
  score.stats = DerivedCocoStats(ap);
  score.stats[1] = std::min(1.0, fit->ap50_ratio * ap);
  return score;
}

}  // namespace vertebra::worker
