#include "bench/search_bench.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "common/text_util.h"
#include "controller/config.h"
#include "controller/policy.h"
#include "controller/predictor.h"
#include "controller/scheduler.h"
#include "inspect/chart.h"
#include "nlohmann/json.hpp"
#include "proto/kinds.h"
#include "search_spaces/proxy.h"
#include "worker/agent/simulated.h"
#include "worker/agent/surrogate.h"

namespace vertebra::bench {
namespace {

namespace ctl = ::vertebra::controller;
using json = nlohmann::json;

// Simulated time that moves one second per report. The search runs on one thread.
class SteppedClock : public ctl::Clock {
 public:
  double Now() const override { return now_; }
  void Advance(double seconds) { now_ += seconds; }

 private:
  double now_ = 1.7e9;  // Any fixed start: runs are reproducible.
};

struct RunResult {
  double best_final = 0;            // Noiseless final AP of the architecture the search ranks best.
  double last_quarter_final = 0;    // Mean noiseless final AP of the last quarter of proposals.
  std::vector<double> best_so_far;  // Per report: final AP of the best-ranked trial so far.
  std::vector<double> proposed;     // Per report: the reported trial's final AP at its first rung, else -1.
  // Per trial t (from 0): the best-so-far once t + 1 trials have reported their first rung, with
  // the promotions reported before the next one; the last entry when the search is over.
  std::vector<double> by_trial;
  int64_t trials = 0;
  int64_t steps = 0;
  // The predictor across rungs as the search left it (rung 0 against the top; none with one rung).
  std::optional<ctl::PredictorQuality> predictor;
};

// One simulated search: `parallel` leases outstanding, reported oldest first.
absl::StatusOr<RunResult> RunOne(v1::ExperimentConfig config, uint64_t seed, int parallel, int64_t step_budget) {
  config.set_seed(seed);
  config.mutable_lease()->set_lease_seconds(1e9);  // No heartbeats here: leases must not expire.
  std::unique_ptr<ctl::Store> store = ctl::NewMemoryStore();
  SteppedClock clock;
  ctl::SchedulerOptions options;
  options.policy_thread = false;
  ASSIGN_OR_RETURN(const std::unique_ptr<ctl::Scheduler> opened,
                   ctl::Scheduler::Open(store.get(), config, &clock, options));
  ctl::Scheduler& s = *opened;
  v1::RegisterRequest registration;
  registration.set_host("bench");
  registration.set_device("cpu");
  registration.set_simulated(true);
  ASSIGN_OR_RETURN(const v1::RegisterReply registered, s.Register(registration));
  v1::LeaseRequest ask;
  ask.set_worker_id(registered.worker_id());
  ask.set_worker_secret(registered.worker_secret());
  const int64_t top = config.simulation().full_steps();
  RunResult out;
  std::map<int64_t, double> final_of;  // Trial -> noiseless final AP.
  std::deque<v1::LeaseReply> running;
  // The search's own view: the trial with the best reward at the highest rung reached.
  int64_t best_trial = 0;
  int best_rung = -1;
  double best_ap = -1;
  std::vector<double> proposal_finals;
  while (true) {
    RETURN_IF_ERROR(s.RunPolicy());
    bool finished = false;
    while (static_cast<int>(running.size()) < parallel && (step_budget == 0 || out.steps < step_budget)) {
      ASSIGN_OR_RETURN(v1::LeaseReply r, s.Lease(ask));
      if (r.status() == v1::LeaseReply::FINISHED) finished = true;
      if (r.status() != v1::LeaseReply::GRANTED) break;
      out.steps += r.steps() - r.previous_steps();  // Promotions continue from a checkpoint.
      running.push_back(std::move(r));
    }
    if (running.empty()) {
      if (finished || (step_budget > 0 && out.steps >= step_budget)) break;
      RETURN_IF_ERROR(s.RunPolicy());
      absl::StatusOr<v1::LeaseReply> r = s.Lease(ask);
      if (!r.ok() || r->status() != v1::LeaseReply::GRANTED) break;
      out.steps += r->steps() - r->previous_steps();
      running.push_back(*std::move(r));
    }
    const v1::LeaseReply g = running.front();
    running.pop_front();
    ASSIGN_OR_RETURN(const worker::SimulatedScore score,
                     worker::SimulatedAp(g.spec(), g.steps(), top, config.simulation(), config.seed(), g.rung()));
    v1::ReportRequest report;
    report.set_worker_id(registered.worker_id());
    report.set_worker_secret(registered.worker_secret());
    report.set_trial(g.trial());
    report.set_lease(g.lease());
    report.mutable_ap()->mutable_stats()->Add(score.stats.begin(), score.stats.end());
    report.set_simulated(true);
    RETURN_IF_ERROR(s.Report(report).status());
    clock.Advance(1);
    out.proposed.push_back(g.rung() == 0 ? score.final_ap : -1);
    if (g.rung() == 0) {
      final_of[g.trial()] = score.final_ap;
      proposal_finals.push_back(score.final_ap);
    }
    if (g.rung() > best_rung || (g.rung() == best_rung && score.stats[0] > best_ap)) {
      best_rung = g.rung();
      best_ap = score.stats[0];
      best_trial = g.trial();
    }
    out.best_so_far.push_back(final_of[best_trial]);
    if (g.rung() == 0) out.by_trial.push_back(0);
    if (!out.by_trial.empty()) out.by_trial.back() = final_of[best_trial];
  }
  out.trials = static_cast<int64_t>(proposal_finals.size());
  out.best_final = best_trial ? final_of[best_trial] : 0;
  std::vector<v1::Trial> records;
  for (int64_t id = 1;; ++id) {
    absl::StatusOr<v1::Trial> t = s.GetTrial(id);
    if (!t.ok()) break;
    records.push_back(*std::move(t));
  }
  const std::vector<ctl::PredictorQuality> quality = ctl::PredictorQualityOf(config, records);
  if (!quality.empty()) out.predictor = quality[0];
  const size_t q = proposal_finals.size() / 4;
  if (q > 0) {
    out.last_quarter_final =
        std::accumulate(proposal_finals.end() - q, proposal_finals.end(), 0.0) / static_cast<double>(q);
  }
  return out;
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}
double Sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = Mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / (v.size() - 1));
}

// An algorithm entry of the options: a kind and its modifiers.
struct Variant {
  std::string name;  // As given: "evolution+seeds".
  std::string kind;
  bool seeds = false, clone = false, guided = false, predicted = false;
};

absl::StatusOr<Variant> ParseVariant(const std::string& entry) {
  std::vector<std::string> parts = absl::StrSplit(entry, '+');
  Variant v;
  v.name = entry;
  v.kind = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& m = parts[i];
    if (m == "seeds") {
      v.seeds = true;
    } else if (m == "clone") {
      v.seeds = v.clone = true;
    } else if (m == "guided") {
      v.guided = true;
    } else if (m == "predicted") {
      v.predicted = true;
    } else {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--algorithms: unknown modifier \"%s\" in \"%s\" (seeds, clone, guided, predicted)", m, entry));
    }
  }
  const v1::Algorithm kind = ParseKind<v1::Algorithm>(v.kind).value_or(v1::ALGORITHM_UNSPECIFIED);
  if (v.seeds && kind == v1::ALGORITHM_RANDOM) {
    return absl::InvalidArgumentError(absl::StrFormat("--algorithms: \"%s\": random search starts from no seeds", entry));
  }
  if (v.clone && !IsRlAlgorithm(kind)) {
    return absl::InvalidArgumentError(absl::StrFormat("--algorithms: \"%s\": only the RL policies clone", entry));
  }
  return v;
}

// The curves and last quarters of one entry and layout over the seeds.
struct Runs {
  std::string algorithm, layout;
  std::vector<std::vector<double>> by_trial;  // Per seed, padded to `length` with the last value.
  std::vector<double> last_quarter;
};

// The pointwise mean of curves (one per seed) over the seeds `pick` chose.
std::vector<double> MeanCurve(const std::vector<std::vector<double>>& curves, const std::vector<size_t>& pick) {
  std::vector<double> out(curves.empty() ? 0 : curves[0].size(), 0.0);
  for (size_t i : pick) {
    for (size_t t = 0; t < out.size(); ++t) out[t] += curves[i][t] / static_cast<double>(pick.size());
  }
  return out;
}

// The first trial (from 1) at which `curve` reaches `target`; 0 when it never does.
int Reaches(const std::vector<double>& curve, double target) {
  for (size_t t = 0; t < curve.size(); ++t) {
    if (curve[t] >= target) return static_cast<int>(t + 1);
  }
  return 0;
}

// The q-quantile (nearest rank) of `v`, sorted in place.
double Quantile(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(std::floor(q * static_cast<double>(v.size()))));
  return v[k];
}

// What the comparison with random search says of one entry.
struct Comparison {
  std::vector<double> mean, band_lo, band_hi;  // Per trial: mean best-so-far and its 90% band.
  int reaches = 0;                             // 0: not within the trials.
  double reaches_lo = 0, reaches_hi = 0;       // 90% interval; kNever beyond the trials.
  double last_mean = 0, last_se = 0;
  double last_vs_random = 0;                   // (mean - random's) / SE of the difference.
};

// Reaching beyond the last trial, for the quantiles: larger than any trial.
constexpr double kNever = 1e9;
// The 90% intervals.
constexpr double kLowQuantile = 0.05, kHighQuantile = 0.95;

std::vector<Comparison> Compare(const std::vector<Runs>& runs, const Runs& random, int resamples,
                                double* random_best, double* random_best_lo, double* random_best_hi) {
  std::mt19937_64 rng(20240917);  // Any fixed seed: the intervals are reproducible.
  auto resample = [&rng](size_t n) {
    std::uniform_int_distribution<size_t> pick(0, n - 1);
    std::vector<size_t> out(n);
    for (size_t& i : out) i = pick(rng);
    return out;
  };
  auto all = [](size_t n) {
    std::vector<size_t> out(n);
    std::iota(out.begin(), out.end(), 0);
    return out;
  };
  // Random search's mean best-of-all-trials, and its resamples (shared by every entry).
  auto best_of = [&](const std::vector<size_t>& pick) {
    double sum = 0;
    for (size_t i : pick) sum += random.by_trial[i].back();
    return sum / static_cast<double>(pick.size());
  };
  *random_best = best_of(all(random.by_trial.size()));
  std::vector<double> targets;
  for (int b = 0; b < resamples; ++b) targets.push_back(best_of(resample(random.by_trial.size())));
  std::vector<double> sorted_targets = targets;
  *random_best_lo = Quantile(sorted_targets, kLowQuantile);
  *random_best_hi = Quantile(sorted_targets, kHighQuantile);
  const double random_last = Mean(random.last_quarter);
  const double random_se = Sd(random.last_quarter) / std::sqrt(static_cast<double>(random.last_quarter.size()));
  std::vector<Comparison> out;
  for (const Runs& r : runs) {
    Comparison c;
    const size_t n = r.by_trial.size();
    c.mean = MeanCurve(r.by_trial, all(n));
    c.reaches = Reaches(c.mean, *random_best);
    std::vector<std::vector<double>> at_trial(c.mean.size());
    std::vector<double> reach;
    for (int b = 0; b < resamples; ++b) {
      const std::vector<double> m = MeanCurve(r.by_trial, resample(n));
      for (size_t t = 0; t < m.size(); ++t) at_trial[t].push_back(m[t]);
      const int k = Reaches(m, targets[b]);
      reach.push_back(k == 0 ? kNever : k);
    }
    for (std::vector<double>& v : at_trial) {
      c.band_lo.push_back(Quantile(v, kLowQuantile));
      c.band_hi.push_back(Quantile(v, kHighQuantile));
    }
    c.reaches_lo = Quantile(reach, kLowQuantile);
    c.reaches_hi = Quantile(reach, kHighQuantile);
    c.last_mean = Mean(r.last_quarter);
    c.last_se = Sd(r.last_quarter) / std::sqrt(static_cast<double>(n));
    const double se = std::sqrt(c.last_se * c.last_se + random_se * random_se);
    c.last_vs_random = se > 0 ? (c.last_mean - random_last) / se : 0;
    out.push_back(std::move(c));
  }
  return out;
}

std::string TrialText(double t) { return t >= kNever ? std::string("never") : absl::StrFormat("%.0f", t); }

// Colours of the curves, in the order of the entries.
constexpr const char* kCurveColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                         "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

// One panel per layout: the mean best-so-far of each entry against trials, its 90% band, and
// random search's mean best-of-all-trials as a dashed line; a legend below.
std::string CurvesSvg(const std::vector<std::vector<Runs>>& runs, const std::vector<std::vector<Comparison>>& compared,
                      const std::vector<double>& random_best, const std::string& title) {
  constexpr double kPanelWidth = 520, kPanelHeight = 330, kLeft = 62, kTop = 48, kGap = 40, kLegendRow = 18;
  // Three legend entries to a row, each column wide enough for "evolution+guided+predicted".
  constexpr double kLegendColumn = 170;
  const size_t panels = runs.size();
  const size_t entries = runs.empty() ? 0 : runs[0].size();
  const double width = kLeft + panels * (kPanelWidth + kGap);
  const double height = kTop + kPanelHeight + 50 + kLegendRow * ((entries + 2) / 3 + 2);
  double lo = 1, hi = 0;
  size_t length = 1;
  for (const std::vector<Comparison>& layout : compared) {
    for (const Comparison& c : layout) {
      length = std::max(length, c.mean.size());
      for (size_t t = c.mean.size() / 10; t < c.mean.size(); ++t) {  // The first tenth would squash the rest.
        lo = std::min(lo, c.band_lo[t]);
        hi = std::max(hi, c.band_hi[t]);
      }
    }
  }
  const auto [y_lo, y_hi] = inspect::Padded(lo, hi, 0.05);
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%.0f\" y=\"20\" font-size=\"14\">%s</text>\n",
      width, height, width, height, kLeft, XmlEscape(title));
  for (size_t p = 0; p < panels; ++p) {
    const double x0 = kLeft + p * (kPanelWidth + kGap);
    const inspect::Scale x{1, static_cast<double>(length), x0, x0 + kPanelWidth};
    const inspect::Scale y{y_lo, y_hi, kTop + kPanelHeight, kTop};
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.0f\">rungs %s</text>\n", x0, kTop - 10,
                          XmlEscape(runs[p].empty() ? "" : runs[p][0].layout));
    absl::StrAppendFormat(&svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n",
                          x0, kTop, kPanelWidth, kPanelHeight);
    for (double v : inspect::LinearTicks(y_lo, y_hi, 6)) {
      absl::StrAppendFormat(&svg,
                            "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.1f\" "
                            "text-anchor=\"end\">%s</text>\n",
                            x0, y(v), x0 + kPanelWidth, x0 - 4, y(v) + 4, inspect::TickLabel(v));
    }
    for (double v : inspect::LinearTicks(1, static_cast<double>(length), 8)) {
      absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x(v),
                            kTop + kPanelHeight + 16, inspect::TickLabel(v));
    }
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">trials</text>\n",
                          x0 + kPanelWidth / 2, kTop + kPanelHeight + 34);
    if (p == 0) {
      absl::StrAppendFormat(&svg,
                            "<text transform=\"translate(%.0f %.1f) rotate(-90)\" text-anchor=\"middle\">mean "
                            "best-so-far: noiseless final AP</text>\n",
                            16.0, kTop + kPanelHeight / 2);
    }
    if (p < random_best.size() && random_best[p] > 0) {
      absl::StrAppendFormat(&svg,
                            "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#333\" stroke-dasharray=\"5 4\"/>\n", x0,
                            y(random_best[p]), x0 + kPanelWidth);
    }
    for (size_t e = 0; e < compared[p].size(); ++e) {
      const Comparison& c = compared[p][e];
      const char* colour = kCurveColours[e % (sizeof kCurveColours / sizeof kCurveColours[0])];
      std::string band = "M";
      for (size_t t = 0; t < c.mean.size(); ++t) {
        absl::StrAppendFormat(&band, "%.1f %.1f ", x(t + 1.0), y(std::clamp(c.band_hi[t], y_lo, y_hi)));
      }
      for (size_t t = c.mean.size(); t-- > 0;) {
        absl::StrAppendFormat(&band, "L%.1f %.1f ", x(t + 1.0), y(std::clamp(c.band_lo[t], y_lo, y_hi)));
      }
      absl::StrAppendFormat(&svg, "<path d=\"%sZ\" fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\"/>\n", band, colour);
      std::string line = "M";
      for (size_t t = 0; t < c.mean.size(); ++t) {
        absl::StrAppendFormat(&line, "%s%.1f %.1f", t == 0 ? "" : " L", x(t + 1.0), y(std::clamp(c.mean[t], y_lo, y_hi)));
      }
      absl::StrAppendFormat(&svg, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"/>\n", line, colour);
    }
  }
  const double legend_y = kTop + kPanelHeight + 58;
  for (size_t e = 0; e < entries; ++e) {
    const double lx = kLeft + (e % 3) * kLegendColumn, ly = legend_y + kLegendRow * (e / 3);
    absl::StrAppendFormat(&svg,
                          "<path d=\"M%.1f %.1fh18\" stroke=\"%s\" stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.1f\">%s"
                          "</text>\n",
                          lx, ly, kCurveColours[e % (sizeof kCurveColours / sizeof kCurveColours[0])], lx + 24, ly + 4,
                          XmlEscape(runs[0][e].algorithm));
  }
  const double note_y = legend_y + kLegendRow * ((entries + 2) / 3);
  absl::StrAppendFormat(&svg,
                        "<path d=\"M%.1f %.1fh18\" stroke=\"#333\" stroke-dasharray=\"5 4\"/><text x=\"%.1f\" "
                        "y=\"%.1f\">random search's mean best of all its trials</text>\n<text x=\"%.1f\" "
                        "y=\"%.1f\">shaded: each mean's 90%% bootstrap band over the seeds</text>\n</svg>\n",
                        kLeft, note_y, kLeft + 24, note_y + 4, kLeft, note_y + kLegendRow + 4);
  return svg;
}

}  // namespace

absl::Status RunSearchBench(const SearchBenchOptions& f, std::ostream& out) {
  ASSIGN_OR_RETURN(v1::ExperimentConfig base, ctl::ReadExperimentConfig(f.config));
  if (!base.simulated()) return absl::InvalidArgumentError(f.config + ": bench search needs a simulated experiment");
  if (!f.objective.empty()) base.mutable_simulation()->set_objective(f.objective);
  std::vector<std::string> layouts = f.rungs;
  if (layouts.empty()) {
    std::vector<std::string> steps;
    for (int64_t s : base.rungs().steps()) steps.push_back(std::to_string(s));
    layouts.push_back(absl::StrJoin(steps, ","));
  }
  int64_t full_steps = base.simulation().full_steps();
  for (const std::string& layout : layouts) {
    for (const std::string& s : std::vector<std::string>(absl::StrSplit(layout, ','))) {
      full_steps = std::max<int64_t>(full_steps, std::stoll(s));
    }
  }
  json rows = json::array();
  std::ofstream csv, runs_csv;
  if (!f.csv.empty()) {
    csv.open(f.csv);
    csv << "algorithm,rungs,seed,report,best_final_ap,proposal_final_ap\n";
  }
  if (!f.runs_csv.empty()) {
    runs_csv.open(f.runs_csv);
    runs_csv << "algorithm,learning_rate,temperature,tanh_constant,entropy_weight,update_every,rungs,seed,trials,"
                "best_final_ap,last_quarter_final_ap\n";
  }
  // (entry, learning rate): the RL policies once per rate asked for.
  std::vector<std::pair<Variant, double>> variants;
  for (const std::string& entry : f.algorithms) {
    ASSIGN_OR_RETURN(const Variant v, ParseVariant(entry));
    const bool rl = IsRlAlgorithm(ParseKind<v1::Algorithm>(v.kind).value_or(v1::ALGORITHM_UNSPECIFIED));
    if (!rl || f.learning_rates.empty()) {
      variants.push_back({v, base.algorithm().learning_rate()});
    } else {
      for (double lr : f.learning_rates) variants.push_back({v, lr});
    }
  }
  const auto random_entry = std::find_if(variants.begin(), variants.end(),
                                         [](const auto& v) { return v.first.name == KindName(v1::ALGORITHM_RANDOM); });
  if (!f.svg.empty() && random_entry == variants.end()) {
    return absl::InvalidArgumentError("--svg: the curves are drawn against random search: add random to --algorithms");
  }
  std::vector<std::vector<Runs>> all_runs;  // Per layout, per entry.
  for (const std::string& layout : layouts) {
    std::vector<Runs>& layout_runs = all_runs.emplace_back();
    for (const auto& [variant, learning_rate] : variants) {
      v1::ExperimentConfig config = base;
      config.mutable_algorithm()->set_kind(variant.kind);
      config.mutable_algorithm()->set_learning_rate(learning_rate);
      // Each modifier on or off whatever the configuration says, so that an entry means the same
      // under any defaults.
      config.clear_seed_architectures();
      if (variant.seeds) {
        for (const std::string& a : f.seed_architectures) config.add_seed_architectures(a);
      }
      config.mutable_algorithm()->set_clone_steps(variant.clone ? f.clone_steps : 0);
      config.mutable_search()->set_guided_candidates(variant.guided ? f.guided_candidates : 0);
      config.mutable_search()->set_promotion(
          std::string(KindName(variant.predicted ? v1::PROMOTION_PREDICTED : v1::PROMOTION_RUNG_AP)));
      const std::string algorithm =
          f.learning_rates.empty() || !IsRlAlgorithm(AlgorithmOf(config.algorithm()))
              ? variant.name
              : absl::StrFormat("%s@%g", variant.name, learning_rate);
      config.mutable_rungs()->clear_steps();
      for (const std::string& s : std::vector<std::string>(absl::StrSplit(layout, ','))) {
        config.mutable_rungs()->add_steps(std::stoll(s));
      }
      // With a step budget, the trial budget is only a ceiling. Every layout is scored against
      // the same "final" budget: the largest rung of any layout compared.
      if (f.step_budget > 0) config.mutable_budget()->set_trials(1000000);
      config.mutable_simulation()->set_full_steps(full_steps);
      std::vector<double> best, last, tau, rung_tau, r2;
      std::vector<int64_t> trials;
      Runs& r_all = layout_runs.emplace_back();
      r_all.algorithm = algorithm;
      r_all.layout = layout;
      for (int seed = 0; seed < f.seeds; ++seed) {
        ASSIGN_OR_RETURN(const RunResult r, RunOne(config, f.first_seed + seed, f.parallel, f.step_budget));
        best.push_back(r.best_final);
        last.push_back(r.last_quarter_final);
        trials.push_back(r.trials);
        r_all.by_trial.push_back(r.by_trial);
        if (r.predictor && !std::isnan(r.predictor->held_out_tau)) {
          tau.push_back(r.predictor->held_out_tau);
          rung_tau.push_back(r.predictor->rung_ap_tau);
          r2.push_back(r.predictor->held_out_r2);
        }
        if (csv.is_open()) {
          for (size_t i = 0; i < r.best_so_far.size(); ++i) {
            // A report of a promoted trial leaves the proposal column empty.
            const std::string proposed = r.proposed[i] < 0 ? "" : absl::StrFormat("%.6f", r.proposed[i]);
            csv << absl::StrFormat("\"%s\",\"%s\",%d,%d,%.6f,%s\n", algorithm, layout, f.first_seed + seed, i + 1,
                                   r.best_so_far[i], proposed);
          }
        }
        if (runs_csv.is_open()) {
          const v1::AlgorithmConfig& a = config.algorithm();
          runs_csv << absl::StrFormat("%s,%g,%g,%g,%g,%d,\"%s\",%d,%d,%.6f,%.6f\n", variant.name, a.learning_rate(),
                                      a.temperature(), a.tanh_constant(), a.entropy_weight(), a.update_every(), layout,
                                      f.first_seed + seed, r.trials, r.best_final, r.last_quarter_final);
          runs_csv.flush();
        }
      }
      r_all.last_quarter = last;
      rows.push_back({{"algorithm", algorithm},
                      {"rungs", layout},
                      {"seeds", f.seeds},
                      {"first_seed", f.first_seed},
                      {"best_final_mean", Mean(best)},
                      {"best_final_sd", Sd(best)},
                      {"last_quarter_mean", Mean(last)},
                      {"last_quarter_sd", Sd(last)},
                      {"trials_mean", Mean(std::vector<double>(trials.begin(), trials.end()))}});
      if (!tau.empty()) {
        rows.back()["predictor_held_out_tau_mean"] = Mean(tau);
        rows.back()["predictor_rung_ap_tau_mean"] = Mean(rung_tau);
        rows.back()["predictor_held_out_r2_mean"] = Mean(r2);
      }
      if (!f.json) {
        out << absl::StrFormat(
            "%-16s rungs %-10s best found %.4f +- %.4f   last quarter %.4f +- %.4f   (%.0f trials, %d seeds)%s\n",
            algorithm, layout, Mean(best), Sd(best), Mean(last), Sd(last),
            Mean(std::vector<double>(trials.begin(), trials.end())), f.seeds,
            tau.empty() ? ""
                        : absl::StrFormat("   predictor rung 0: held-out tau %.3f (rung AP alone %.3f), R^2 %.3f",
                                          Mean(tau), Mean(rung_tau), Mean(r2)));
      }
    }
  }
  // The comparison with random search, per layout.
  std::vector<std::vector<Comparison>> compared;
  std::vector<double> random_bests;
  if (random_entry != variants.end()) {
    const size_t random_index = static_cast<size_t>(random_entry - variants.begin());
    for (std::vector<Runs>& layout_runs : all_runs) {
      // Pad every curve to the longest (a search that made fewer trials keeps its last value).
      size_t length = 0;
      for (const Runs& r : layout_runs) {
        for (const std::vector<double>& c : r.by_trial) length = std::max(length, c.size());
      }
      for (Runs& r : layout_runs) {
        for (std::vector<double>& c : r.by_trial) c.resize(length, c.empty() ? 0.0 : c.back());
      }
      double random_best = 0, random_lo = 0, random_hi = 0;
      compared.push_back(Compare(layout_runs, layout_runs[random_index], f.bootstrap, &random_best, &random_lo, &random_hi));
      random_bests.push_back(random_best);
      const std::string layout = layout_runs.empty() ? "" : layout_runs[0].layout;
      if (!f.json) {
        out << absl::StrFormat(
            "\nrungs %s, seeds %d-%d, %d bootstrap resamples: random search's mean best of %d trials %.4f (90%% "
            "%.4f-%.4f)\n%-28s %-36s %s\n",
            layout, f.first_seed, f.first_seed + f.seeds - 1, f.bootstrap, length, random_best, random_lo, random_hi,
            "algorithm", "reaches it at trial (90% interval)", "last quarter (SE), vs random in SEs");
      }
      for (size_t e = 0; e < layout_runs.size(); ++e) {
        const Comparison& c = compared.back()[e];
        json row = {{"algorithm", layout_runs[e].algorithm},
                    {"rungs", layout},
                    {"random_best_of_all", random_best},
                    {"reaches_random_best_at", c.reaches},
                    {"reaches_lo", c.reaches_lo >= kNever ? json(nullptr) : json(c.reaches_lo)},
                    {"reaches_hi", c.reaches_hi >= kNever ? json(nullptr) : json(c.reaches_hi)},
                    {"last_quarter_mean", c.last_mean},
                    {"last_quarter_se", c.last_se},
                    {"last_quarter_vs_random_se", c.last_vs_random},
                    {"mean_best_so_far", c.mean}};
        if (f.json) {
          rows.push_back(std::move(row));
        } else {
          out << absl::StrFormat("%-28s %-36s %.4f (%.4f), %+.1f\n", layout_runs[e].algorithm,
                                 absl::StrFormat("%s (%s-%s)", c.reaches == 0 ? "never" : std::to_string(c.reaches),
                                                 TrialText(c.reaches_lo), TrialText(c.reaches_hi)),
                                 c.last_mean, c.last_se, c.last_vs_random);
        }
      }
    }
    if (!f.svg.empty()) {
      const std::string title = absl::StrFormat(
          "Mean best-so-far against trials, %d seeds (%d-%d), objective %s", f.seeds, f.first_seed,
          f.first_seed + f.seeds - 1, KindName(SimulatedObjectiveOf(base.simulation())));
      RETURN_IF_ERROR(WriteFileAtomically(f.svg, CurvesSvg(all_runs, compared, random_bests, title)));
    }
  }
  if (SimulatedObjectiveOf(base.simulation()) == v1::SIMULATED_OBJECTIVE_SURROGATE && !f.json) {
    if (const std::string note = worker::SurrogateProvisionalNote(); !note.empty()) {
      out << "note: the surrogate's fit is provisional: " << note << "\n";
    }
  }
  if (f.json) out << rows.dump() << "\n";
  return absl::OkStatus();
}

namespace {

// Per decision, the share of samples choosing each option.
using Marginals = std::vector<std::vector<double>>;

Marginals MarginalsOf(const search_spaces::SearchSpace& space, const std::vector<std::vector<int>>& samples) {
  Marginals m;
  for (const search_spaces::Decision& d : space.decisions()) m.emplace_back(d.num_options, 0.0);
  for (const std::vector<int>& s : samples) {
    for (size_t t = 0; t < s.size(); ++t) m[t][s[t]] += 1.0 / static_cast<double>(samples.size());
  }
  return m;
}

// Total-variation distance between two samples' marginals, per decision: (mean, max) over decisions.
std::pair<double, double> MarginalDistance(const Marginals& a, const Marginals& b) {
  double sum = 0, worst = 0;
  for (size_t t = 0; t < a.size(); ++t) {
    double tv = 0;
    for (size_t o = 0; o < a[t].size(); ++o) tv += std::abs(a[t][o] - b[t][o]) / 2;
    sum += tv;
    worst = std::max(worst, tv);
  }
  return {a.empty() ? 0 : sum / static_cast<double>(a.size()), worst};
}

// log p(decisions) under SearchSpace::Sample, step by step: the completion weights' share.
double UniformLogProb(const search_spaces::SearchSpace& space, const std::vector<int>& decisions,
                      std::vector<double>* per_step) {
  search_spaces::DecisionCursor cursor(space);
  double total = 0;
  for (int d : decisions) {
    const std::vector<int64_t> w = cursor.CompletionWeights();
    const double sum = static_cast<double>(std::accumulate(w.begin(), w.end(), int64_t{0}));
    const double lp = std::log(static_cast<double>(w[d]) / sum);
    if (per_step != nullptr) per_step->push_back(lp);
    total += lp;
    (void)cursor.Choose(d);
  }
  return total;
}

}  // namespace

absl::Status RunUntrainedBench(const UntrainedBenchOptions& f, std::ostream& out) {
  absl::StatusOr<v1::ExperimentConfig> config = ctl::ReadExperimentConfig(f.config);
  if (!config.ok()) return config.status();
  config->set_seed(f.seed);
  absl::StatusOr<search_spaces::SearchSpace> space = ctl::MakeSearchSpace(*config);
  if (!space.ok()) return space.status();
  const int64_t top = config->simulation().full_steps() > 0 ? config->simulation().full_steps() : 2000;
  auto final_ap = [&](const std::vector<int>& d) -> absl::StatusOr<double> {
    ASSIGN_OR_RETURN(const v1::ArchSpec spec, space->Decode(d));
    ASSIGN_OR_RETURN(const search_spaces::ResolvedProxy proxy, search_spaces::ResolveProxy(spec, config->proxy()));
    ASSIGN_OR_RETURN(const worker::SimulatedScore s,
                     worker::SimulatedAp(proxy.spec, top, top, config->simulation(), f.seed, 0));
    return s.final_ap;
  };
  // Two independent uniform sets: the second gives the marginal distance sampling noise alone makes.
  std::mt19937_64 rng(f.seed);
  std::vector<std::vector<int>> uniform, uniform2;
  std::vector<double> uniform_ap;
  for (int i = 0; i < f.samples; ++i) {
    uniform.push_back(space->Sample(rng));
    ASSIGN_OR_RETURN(const double ap, final_ap(uniform.back()));
    uniform_ap.push_back(ap);
  }
  for (int i = 0; i < f.samples; ++i) uniform2.push_back(space->Sample(rng));
  const Marginals uniform_m = MarginalsOf(*space, uniform);
  const std::pair<double, double> floor = MarginalDistance(uniform_m, MarginalsOf(*space, uniform2));
  const double se_scale = 1.0 / std::sqrt(static_cast<double>(f.samples));
  json rows = json::array();
  if (!f.json) {
    out << absl::StrFormat("uniform     mean final AP %.4f +- %.4f (%d samples); marginal TV of a second uniform set: "
                                 "mean %.4f, max %.4f\n",
                                 Mean(uniform_ap), Sd(uniform_ap) * se_scale, f.samples, floor.first, floor.second);
  }
  rows.push_back({{"policy", "uniform"},
                  {"final_ap_mean", Mean(uniform_ap)},
                  {"final_ap_se", Sd(uniform_ap) * se_scale},
                  {"marginal_tv_mean", floor.first},
                  {"marginal_tv_max", floor.second}});
  for (const std::string& algorithm : f.algorithms) {
    v1::ExperimentConfig c = *config;
    c.mutable_algorithm()->set_kind(algorithm);
    ASSIGN_OR_RETURN(const std::unique_ptr<ctl::Policy> policy, ctl::MakePolicy(*space, c));
    std::vector<std::vector<int>> samples;
    std::vector<double> ap, kl;
    for (int i = 0; i < f.samples; ++i) {
      ASSIGN_OR_RETURN(const ctl::Proposal proposal, policy->Propose());
      const ctl::Proposal* p = &proposal;
      samples.push_back(p->decisions);
      ASSIGN_OR_RETURN(const double proposal_ap, final_ap(p->decisions));
      ap.push_back(proposal_ap);
      // KL(policy || uniform) = E_policy[log q(x) - log p(x)]; without log-probabilities (random,
      // evolution) the policy is taken to be the uniform sampler itself.
      if (p->log_probs.size() == p->decisions.size()) {
        kl.push_back(std::accumulate(p->log_probs.begin(), p->log_probs.end(), 0.0) -
                     UniformLogProb(*space, p->decisions, nullptr));
      }
    }
    const std::pair<double, double> tv = MarginalDistance(MarginalsOf(*space, samples), uniform_m);
    if (!f.json) {
      out << absl::StrFormat(
          "%-11s mean final AP %.4f +- %.4f; KL(policy || uniform) %.3f +- %.3f nats per sequence; marginal TV "
          "against uniform: mean %.4f, max %.4f\n",
          algorithm, Mean(ap), Sd(ap) * se_scale, Mean(kl), Sd(kl) * se_scale, tv.first, tv.second);
    }
    rows.push_back({{"policy", algorithm},
                    {"final_ap_mean", Mean(ap)},
                    {"final_ap_se", Sd(ap) * se_scale},
                    {"kl_mean", Mean(kl)},
                    {"kl_se", Sd(kl) * se_scale},
                    {"marginal_tv_mean", tv.first},
                    {"marginal_tv_max", tv.second}});
  }
  if (f.json) out << rows.dump() << "\n";
  return absl::OkStatus();
}

}  // namespace vertebra::bench
