#include "inspect/report_sections.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/text_util.h"
#include "inspect/chart.h"
#include "inspect/trials.h"
#include "proto/kinds.h"

namespace vertebra::inspect::report_internal {
namespace {

// Trials the header names with their repeated steps (the most first).
constexpr size_t kRepeatedTrialsNamed = 10;

}  // namespace

void AppendHeader(const Data& data, const ReportOptions& options, std::string* out) {
  const v1::ExperimentConfig& c = *data.config;
  const Snapshot& snap = *data.snapshot;
  controller::RoleCounts roles;
  double first = 0, last = 0;
  int64_t reused = 0;
  for (const v1::Trial& t : snap.trials) {
    roles.Add(t.role(), t.state());
    if (t.reused_from() != 0) ++reused;
    if (t.created_at() > 0 && (first == 0 || t.created_at() < first)) first = t.created_at();
    last = std::max({last, t.finished_at(), t.leased_at()});
  }
  absl::StrAppendFormat(out, "<h1>Search report: %s</h1>\n", XmlEscape(c.name()));
  if (data.simulated) {
    absl::StrAppend(out,
                    "<p class=\"banner\">SIMULATED: every AP in this report comes from the simulated trainer, a "
                    "deterministic stand-in for training used to exercise the search machinery. No network was "
                    "trained; the numbers say nothing about real detection quality.</p>\n");
  }
  absl::StrAppend(out, "<table class=\"kv\">\n");
  auto row = [out](const std::string& key, const std::string& value_html) {
    absl::StrAppendFormat(out, "<tr><th>%s</th><td>%s</td></tr>\n", XmlEscape(key), value_html);
  };
  row("algorithm", XmlEscape(c.algorithm().kind()));
  const std::string state_name(KindName(snap.experiment_state));
  std::string state = XmlEscape(state_name);
  for (const Event& e : data.stops) {
    absl::StrAppend(&state, " (", e.kind == state_name ? "" : XmlEscape(e.kind) + ": ", XmlEscape(e.detail),
                    ")");
  }
  row("state", state);
  row("results", data.simulated ? "<b>simulated</b>" : "real (trained by workers)");
  const controller::TrialCounts& counts = roles.search;
  row("trials", absl::StrFormat("%d in all (budget %d): %d done, %d leased, %d pending, %d failed, %d rejected, "
                                "%d stopped; %d reused an earlier result of the same architecture",
                                counts.total(), c.budget().trials(), counts.done, counts.leased, counts.pending,
                                counts.failed, counts.rejected, counts.stopped, reused));
  // Controls and the final validation's runs, apart from the search's budget.
  auto role_row = [&row](const std::string& name, const controller::TrialCounts& n, int64_t of) {
    row(name, absl::StrFormat("%d of %d done, %d leased, %d pending, %d failed, %d stopped", n.done, of, n.leased,
                              n.pending, n.failed, n.stopped));
  };
  if (roles.controls.total() > 0) role_row("controls", roles.controls, roles.controls.total());
  if (const int64_t final_runs = FinalRunsExpected(c, roles); final_runs > 0) {
    role_row("final runs", roles.final_runs, final_runs);
  }
  std::vector<std::string> rungs;
  for (int k = 0; k < c.rungs().steps_size(); ++k) rungs.push_back(absl::StrCat(c.rungs().steps(k)));
  row("rungs", absl::StrFormat("steps [%s], eta %d; %d rung results reported", absl::StrJoin(rungs, ", "),
                               c.rungs().eta(), data.results.size()));
  std::string objective = XmlEscape(c.objective().kind());
  if (c.objective().max_macs() > 0) {
    absl::StrAppendFormat(&objective, ", max MACs %s", Millions(c.objective().max_macs()));
  }
  if (c.objective().max_params() > 0) {
    absl::StrAppendFormat(&objective, ", max params %s", Millions(c.objective().max_params()));
  }
  row("objective", objective);
  row("proxy task", XmlEscape(absl::StrFormat("%s, %d px, scaling '%s', batch %d", c.proxy().data(), c.proxy().size(),
                                              c.proxy().scaling(), c.proxy().batch())));
  row("workers", absl::StrFormat("%d registered", snap.workers.size()));
  row("steps", XmlEscape(StepCountsText(CountTrainedSteps(snap.trials), kRepeatedTrialsNamed)));
  row("time",
      first > 0 ? absl::StrFormat("%s to %s (%s)", UtcTime(first), UtcTime(last), Duration(last - first)) : "-");
  row("controller", absl::StrFormat("started %d time(s)", data.controller_starts));
  if (!options.source.empty()) row("database", XmlEscape(options.source));
  absl::StrAppend(out, "</table>\n");

  const std::vector<v1::Trial>& best = data.ranked;
  if (best.empty()) {
    absl::StrAppend(out, "<p>No trial has a result yet.</p>\n");
    return;
  }
  const v1::Trial& t = best.front();
  const v1::RungResult& r = *TopResult(t);
  absl::StrAppendFormat(out,
                        "<p class=\"best\" id=\"best-trial\">Best: trial <b>%s</b>, AP <b>%.4f</b> at %s%s; %s MACs, "
                        "%s parameters at the proxy size; hash %s.</p>\n",
                        TrialId(options, t.id()), r.ap().stats(0), XmlEscape(data.RungName(r.rung())), SimTag(r), Millions(t.macs()),
                        Millions(t.params()), XmlEscape(t.hash().substr(0, 12)));
}

// Best AP so far at each rung against the number of trials evaluated (rung-0 results reported),
// over a faint cloud of every result.
void AppendBestSoFar(const Data& data, std::string* out) {
  absl::StrAppend(out, "<h2 id=\"best-ap\">1. Best AP so far</h2>\n");
  if (data.results.empty()) {
    absl::StrAppend(out, "<p>No results yet.</p>\n");
    return;
  }
  absl::StrAppend(out,
                  "<p>One series per rung: a lower rung's AP is measured after fewer training steps and is not "
                  "comparable with a higher rung's. The x axis counts trials evaluated (results at rung 0, in the "
                  "order they were reported); the dots are every result.</p>\n");
  struct Point {
    int64_t x;
    double ap;
    int rung;
    int64_t trial;
  };
  std::vector<Point> points;
  points.reserve(data.results.size());
  int64_t evaluated = 0;
  double lo = 1, hi = 0;
  for (const ResultRef& r : data.results) {
    if (r.result->rung() == 0) ++evaluated;
    const double ap = r.result->ap().stats(0);
    points.push_back({std::max<int64_t>(evaluated, 1), ap, r.result->rung(), r.trial->id()});
    lo = std::min(lo, ap);
    hi = std::max(hi, ap);
  }
  const int64_t x_max = std::max<int64_t>(evaluated, 2);
  auto [y_lo, y_hi] = Padded(lo, hi, 0.05);
  Chart chart(kChartHeight, kPlotLeft, kPlotRight, Scale{1, static_cast<double>(x_max)}, Scale{y_lo, y_hi});
  chart.Axes(
      LinearTicks(1, x_max, 10), [](double v) { return TickLabel(v); }, "trials evaluated", LinearTicks(y_lo, y_hi, 6),
      "AP");
  std::vector<DotPath> cloud(data.num_rungs);
  for (const Point& p : points) cloud[p.rung].Add(chart.x()(p.x), chart.y()(p.ap));
  for (int k = 0; k < data.num_rungs; ++k) chart.Raw(cloud[k].Svg(data.RungColour(k), kDotWidth, kFaintOpacity));
  std::string notes;
  for (int k = 0; k < data.num_rungs; ++k) {
    std::string d;
    DotPath improvements;
    double best = -1;
    int64_t best_trial = 0;
    for (const Point& p : points) {
      if (p.rung != k || p.ap <= best) continue;
      const double px = chart.x()(p.x), py = chart.y()(p.ap);
      if (d.empty()) {
        absl::StrAppendFormat(&d, "M%.1f %.1f", px, py);
      } else {
        absl::StrAppendFormat(&d, "H%.1f V%.1f", px, py);
      }
      improvements.Add(px, py);
      best = p.ap;
      best_trial = p.trial;
    }
    if (d.empty()) continue;
    absl::StrAppendFormat(&d, "H%.1f", chart.x()(x_max));
    const bool top = k == data.num_rungs - 1;
    chart.Raw(absl::StrFormat("<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"/>", d, data.RungColour(k),
                              top ? "2.5" : "1.5"));
    chart.Raw(improvements.Svg(data.RungColour(k), 6, 1));
    chart.Legend(Chart::Mark::kLine, data.RungColour(k), absl::StrFormat("%s: %.4f", data.RungName(k), best));
    absl::StrAppendFormat(&notes, "<li>%s: best AP %.4f (trial %d)</li>", XmlEscape(data.RungName(k)), best,
                          best_trial);
  }
  absl::StrAppend(out, chart.Svg("best AP so far per rung"));
  absl::StrAppendFormat(out, "<ul class=\"notes\">%s</ul>\n", notes);
}

// The rewards the policy observed, in the order it observed them, and what is known of its
// entropy.
// How well the predictor across rungs did on held-out pairs: one row per rung below the top.
void AppendPredictor(const Data& data, std::string* out) {
  if (data.predictor.empty()) return;
  absl::StrAppendFormat(
      out,
      "<p>A result below the top rung is put on the top rung's scale by the predictor across rungs: a ridge "
      "regression of the top-rung AP on the rung's AP and the architecture's features, fitted on the trials "
      "measured at both (pairs) and shrunk toward the rung's AP itself while they are few. Each pair is "
      "predicted by the fit on the others (leave-one-out); R<sup>2</sup> and Kendall's tau of those "
      "predictions against the measured top-rung AP say how far it can be trusted, beside the tau of the "
      "rung's AP alone. Promotion ranks by %s.</p>\n<table><tr><th>rung</th><th>pairs</th><th>held-out "
      "R<sup>2</sup></th><th>held-out tau</th><th>rung AP alone: tau</th><th>lambda</th></tr>\n",
      PromotionOf(data.config->search()) == v1::PROMOTION_PREDICTED ? "the predicted top-rung AP" : "the rung's AP");
  auto cell = [](double v) { return std::isnan(v) ? std::string("-") : absl::StrFormat("%.3f", v); };
  for (const controller::PredictorQuality& q : data.predictor) {
    absl::StrAppendFormat(out, "<tr><td>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%g</td></tr>\n",
                          XmlEscape(data.RungName(q.rung)), q.pairs, cell(q.held_out_r2), cell(q.held_out_tau),
                          cell(q.rung_ap_tau), q.lambda);
  }
  absl::StrAppend(out, "</table>\n");
}

void AppendRewards(const Data& data, std::string* out) {
  absl::StrAppend(out, "<h2 id=\"reward\">2. Controller reward</h2>\n");
  struct Observation {
    double at;
    int64_t trial;
    int category;  // A rung, or one of the two below.
    double reward;
  };
  constexpr int kRejected = -1, kReused = -2;
  std::vector<Observation> obs;
  for (const ResultRef& r : data.results) {
    obs.push_back({r.result->reported_at(), r.trial->id(), r.result->rung(), r.result->reward()});
  }
  for (const v1::Trial& t : data.snapshot->trials) {
    if (t.state() == v1::REJECTED) obs.push_back({t.finished_at(), t.id(), kRejected, t.reward()});
    if (t.reused_from() != 0 && !t.results().empty()) obs.push_back({t.finished_at(), t.id(), kReused, t.reward()});
  }
  std::stable_sort(obs.begin(), obs.end(), [](const Observation& a, const Observation& b) {
    return a.at != b.at ? a.at < b.at : a.trial < b.trial;
  });
  absl::StrAppend(out,
                  "<p>Every reward the policy learned from, in the order the controller took them: one per rung "
                  "result (the AP put on the top rung's scale, then the objective), the penalty of each rejected "
                  "proposal, and the reward of an earlier result reused for a repeated architecture. The black line "
                  "is a trailing mean.</p>\n");
  if (obs.empty()) {
    absl::StrAppend(out, "<p>No rewards yet.</p>\n");
  } else {
    double lo = obs.front().reward, hi = lo;
    for (const Observation& o : obs) {
      lo = std::min(lo, o.reward);
      hi = std::max(hi, o.reward);
    }
    auto [y_lo, y_hi] = Padded(lo, hi, 0.05);
    const double n = std::max<double>(obs.size(), 2);
    Chart chart(kChartHeight, kPlotLeft, kPlotRight, Scale{1, n}, Scale{y_lo, y_hi});
    chart.Axes(
        LinearTicks(1, n, 10), [](double v) { return TickLabel(v); }, "observations (in order)",
        LinearTicks(y_lo, y_hi, 6), "reward");
    std::map<int, DotPath> dots;
    const int window = std::max<int>(kMinWindow, static_cast<int>(obs.size()) / kSmoothingParts);
    LinePath mean;
    double sum = 0;
    for (size_t i = 0; i < obs.size(); ++i) {
      const double px = chart.x()(i + 1);
      dots[obs[i].category].Add(px, chart.y()(obs[i].reward));
      sum += obs[i].reward;
      if (i >= static_cast<size_t>(window)) sum -= obs[i - window].reward;
      mean.Add(px, chart.y()(sum / std::min<double>(i + 1, window)));
    }
    for (auto& [category, path] : dots) {
      const std::string colour = category == kRejected ? kRejectedColour
                                 : category == kReused ? kReusedColour
                                                       : data.RungColour(category);
      chart.Raw(path.Svg(colour, kDotWidth, 0.6));
      chart.Legend(Chart::Mark::kDot, colour,
                   category == kRejected ? "rejected (penalty)"
                   : category == kReused ? "reused result"
                                         : data.RungName(category));
    }
    chart.Raw(mean.Svg(kMeanColour, 1.8));
    chart.Legend(Chart::Mark::kLine, kMeanColour, absl::StrFormat("mean of the last %d", window));
    absl::StrAppend(out, chart.Svg("reward per observation"));
  }
  AppendPredictor(data, out);
  // Entropy: the "policy" events the controller logs with each batch of RL proposals.
  const std::string& kind = data.config->algorithm().kind();
  if (!IsRlAlgorithm(AlgorithmOf(data.config->algorithm()))) {
    absl::StrAppendFormat(out,
                          "<p class=\"note\"><b>Policy entropy: not applicable.</b> The '%s' policy samples no "
                          "learned distribution.</p>\n",
                          XmlEscape(kind));
  } else if (data.entropy.empty()) {
    absl::StrAppend(out, "<p class=\"note\"><b>Policy entropy:</b> no proposal batch logged yet.</p>\n");
  } else {
    double lo = data.entropy.front().second, hi = lo, last = 1;
    for (const auto& [x, e] : data.entropy) {
      lo = std::min(lo, e);
      hi = std::max(hi, e);
      last = std::max(last, x);
    }
    auto [y_lo, y_hi] = Padded(lo, hi, 0.05);
    Chart chart(kChartHeight, kPlotLeft, kPlotRight, Scale{0, last}, Scale{y_lo, y_hi});
    chart.Axes(
        LinearTicks(0, last, 10), [](double v) { return TickLabel(v); }, "results observed by the policy",
        LinearTicks(y_lo, y_hi, 6), "mean entropy per decision (nats)");
    LinePath line;
    for (const auto& [x, e] : data.entropy) line.Add(chart.x()(x), chart.y()(e));
    chart.Raw(line.Svg(kMeanColour, 1.8));
    chart.Legend(Chart::Mark::kLine, kMeanColour, "entropy of the latest proposal");
    absl::StrAppend(out,
                    "<p>The policy's mean entropy per decision when it made each batch of proposals: it falls as "
                    "the controller grows sure of its choices (uniform choices give the highest value).</p>\n");
    absl::StrAppend(out, chart.Svg("policy entropy"));
  }
}

}  // namespace vertebra::inspect::report_internal
