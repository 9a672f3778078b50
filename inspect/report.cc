#include "inspect/report.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/pareto.h"
#include "common/text_util.h"
#include "inspect/chart.h"
#include "inspect/trials.h"
#include "search_spaces/draw.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"

namespace vertebra::inspect {
namespace {

namespace ss = ::vertebra::search_spaces;
using controller::Event;
using controller::Snapshot;
using controller::WorkerRecord;

// ---- Layout ---------------------------------------------------------------------------------

// The timeline's worker labels are longer than tick labels; right of it, each worker's totals.
constexpr double kTimelineLeft = 190;
constexpr double kTimelineRight = 150;
constexpr double kTimelineRow = 14;
// Dots are zero-length path segments with round caps (chart.h's DotPath).
constexpr double kDotWidth = 4;
constexpr double kFaintOpacity = 0.35;
// Rewards are smoothed over about this fraction of the observations (at least kMinWindow).
constexpr int kSmoothingParts = 40;
constexpr int kMinWindow = 5;
// Events are read in pages of this many (the log of a long search holds several per trial).
constexpr int64_t kEventPage = 5000;
// Recent lease expiries and retries listed in the failures section.
constexpr int kRecentLeaseEvents = 20;
// Points of the highest rung's Pareto front labelled with their trial id in the chart; a longer
// front is only listed in the table below it.
constexpr size_t kMaxFrontLabels = 15;
constexpr size_t kMaxFrontRows = 40;

// Colours by distance from the highest rung: the rung that decides is the darkest.
constexpr const char* kRungColours[] = {"#1f5fa8", "#e67e22", "#8e9aa6", "#a569bd", "#45b39d", "#c49a3a"};
constexpr const char* kRejectedColour = "#c0392b";
constexpr const char* kReusedColour = "#b0b7bf";
constexpr const char* kFailedColour = "#c0392b";
constexpr const char* kMeanColour = "#111111";

// ---- Small helpers --------------------------------------------------------------------------

std::string UtcTime(double unix_seconds) {
  if (unix_seconds <= 0) return "-";
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Duration(double seconds) {
  if (seconds < 120) return absl::StrFormat("%.1f s", seconds);
  if (seconds < 7200) return absl::StrFormat("%.1f min", seconds / 60);
  return absl::StrFormat("%.2f h", seconds / 3600);
}

std::string Millions(int64_t v) { return absl::StrFormat("%.2f M", v / 1e6); }

std::string StateName(v1::TrialState s) { return absl::AsciiStrToLower(v1::TrialState_Name(s)); }

// A reason with its numbers replaced by "#", so that "123 multiply-adds exceed ... 100" and
// "456 multiply-adds exceed ... 100" are counted as one kind of failure.
std::string ReasonPattern(const std::string& reason) {
  std::string out;
  bool in_number = false;
  for (char c : reason) {
    const bool digit = absl::ascii_isdigit(static_cast<unsigned char>(c)) || (in_number && c == '.');
    if (digit) {
      if (!in_number) out += '#';
    } else {
      out += c;
    }
    in_number = digit;
  }
  return out;
}

// "w-2" before "w-10": digit runs compare as numbers.
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(a[i])) &&
        absl::ascii_isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i_end = i, j_end = j;
      while (i_end < a.size() && absl::ascii_isdigit(static_cast<unsigned char>(a[i_end]))) ++i_end;
      while (j_end < b.size() && absl::ascii_isdigit(static_cast<unsigned char>(b[j_end]))) ++j_end;
      const std::string_view x = std::string_view(a).substr(i, i_end - i), y = std::string_view(b).substr(j, j_end - j);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = i_end;
      j = j_end;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

// A result whose AP is a number the charts can use.
bool HasAp(const v1::RungResult& r) { return r.ap().stats_size() > 0; }

// ---- The data the sections share ------------------------------------------------------------

// One stored rung result of a trial that was trained (reused trials repeat another trial's
// results and are left out of everything drawn against time).
struct ResultRef {
  const v1::Trial* trial;
  const v1::RungResult* result;
};

struct Data {
  const v1::ExperimentConfig* config = nullptr;
  const Snapshot* snapshot = nullptr;
  std::vector<ResultRef> results;  // In the order the controller committed them.
  std::vector<v1::Trial> ranked;   // RankTrials: the best first.
  int num_rungs = 1;
  int top_rung_seen = -1;  // Highest rung with a result; -1: none.
  bool simulated = false;
  std::map<std::string, int64_t> event_counts;
  std::vector<Event> lease_events;  // The most recent expiries and retries, oldest first.
  std::vector<Event> stops;         // Why the experiment stopped or finished.
  // The RL policy's mean per-decision entropy, from its "policy" events: (results observed, entropy).
  std::vector<std::pair<double, double>> entropy;
  int64_t controller_starts = 0;

  std::string RungColour(int rung) const {
    const int from_top = std::max(0, num_rungs - 1 - rung);
    return kRungColours[from_top % (sizeof kRungColours / sizeof kRungColours[0])];
  }
  std::string RungName(int rung) const {
    if (rung < config->rungs().steps_size()) {
      return absl::StrFormat("rung %d (%d steps)", rung, config->rungs().steps(rung));
    }
    return absl::StrFormat("rung %d", rung);
  }
};

std::string SimTag(const v1::RungResult& r) { return r.simulated() ? " <span class=\"sim\">simulated</span>" : ""; }

// ---- Sections -------------------------------------------------------------------------------

void AppendHeader(const Data& data, const ReportOptions& options, std::string* out) {
  const v1::ExperimentConfig& c = *data.config;
  const Snapshot& snap = *data.snapshot;
  controller::TrialCounts counts;
  double first = 0, last = 0;
  int64_t reused = 0;
  for (const v1::Trial& t : snap.trials) {
    counts.Add(t.state());
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
  std::string state = XmlEscape(snap.experiment_state);
  for (const Event& e : data.stops) {
    absl::StrAppend(&state, " (", e.kind == snap.experiment_state ? "" : XmlEscape(e.kind) + ": ", XmlEscape(e.detail),
                    ")");
  }
  row("state", state);
  row("results", data.simulated ? "<b>simulated</b>" : "real (trained by workers)");
  row("trials", absl::StrFormat("%d in all (budget %d): %d done, %d leased, %d pending, %d failed, %d rejected, "
                                "%d stopped; %d reused an earlier result of the same architecture",
                                counts.total(), c.budget().trials(), counts.done, counts.leased, counts.pending,
                                counts.failed, counts.rejected, counts.stopped, reused));
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
                        "<p class=\"best\" id=\"best-trial\">Best: trial <b>%d</b>, AP <b>%.4f</b> at %s%s; %s MACs, "
                        "%s parameters at the proxy size; hash %s.</p>\n",
                        t.id(), r.ap().stats(0), XmlEscape(data.RungName(r.rung())), SimTag(r), Millions(t.macs()),
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
  // Entropy: the "policy" events the controller logs with each batch of RL proposals.
  const std::string& kind = data.config->algorithm().kind();
  if (kind != "ppo" && kind != "reinforce") {
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

// The Pareto front of a rung's results (common/pareto.h), ordered by MACs, then AP (higher
// first), then trial id.
std::vector<ResultRef> ParetoFrontOf(std::vector<ResultRef> points) {
  std::sort(points.begin(), points.end(),
            [](const ResultRef& a, const ResultRef& b) { return a.trial->id() < b.trial->id(); });
  std::vector<ApMacs> ap_macs;
  ap_macs.reserve(points.size());
  for (const ResultRef& p : points) ap_macs.push_back({p.result->ap().stats(0), p.trial->macs()});
  std::vector<ResultRef> front;
  for (size_t i : ParetoFront(ap_macs)) front.push_back(points[i]);
  return front;
}

void AppendPareto(const Data& data, std::string* out) {
  absl::StrAppend(out, "<h2 id=\"pareto\">3. AP against MACs</h2>\n");
  std::vector<std::vector<ResultRef>> by_rung(data.num_rungs);
  int64_t macs_lo = std::numeric_limits<int64_t>::max(), macs_hi = 0;
  double ap_lo = 1, ap_hi = 0;
  for (const ResultRef& r : data.results) {
    if (r.trial->macs() <= 0) continue;
    by_rung[r.result->rung()].push_back(r);
    macs_lo = std::min(macs_lo, r.trial->macs());
    macs_hi = std::max(macs_hi, r.trial->macs());
    ap_lo = std::min(ap_lo, r.result->ap().stats(0));
    ap_hi = std::max(ap_hi, r.result->ap().stats(0));
  }
  if (macs_hi == 0) {
    absl::StrAppend(out, "<p>No priced results yet.</p>\n");
    return;
  }
  absl::StrAppend(out,
                  "<p>Every rung result against the trial's multiply-adds (priced at the proxy's size and scaling, "
                  "with the detection head). The staircases are each rung's Pareto front (highest AP for the "
                  "fewest MACs); the highest rung's front is ringed and labelled with trial ids.</p>\n");
  const int64_t max_macs = data.config->objective().max_macs();
  double x_lo = macs_lo / 1e6, x_hi = std::max(macs_hi, max_macs) / 1e6;
  // A wide range of costs reads better on a log axis.
  constexpr double kLogAxisRatio = 20;
  const bool log_x = x_hi / x_lo > kLogAxisRatio;
  if (log_x) {
    x_lo /= 1.1;
    x_hi *= 1.1;
  } else {
    std::tie(x_lo, x_hi) = Padded(x_lo, x_hi, 0.03);
  }
  auto [y_lo, y_hi] = Padded(ap_lo, ap_hi, 0.05);
  Chart chart(kChartHeight + 40, kPlotLeft, kPlotRight, Scale{x_lo, x_hi, 0, 1, log_x}, Scale{y_lo, y_hi});
  chart.Axes(
      log_x ? LogTicks(x_lo, x_hi) : LinearTicks(x_lo, x_hi, 10), [](double v) { return TickLabel(v); },
      "MACs (millions)", LinearTicks(y_lo, y_hi, 6), "AP");
  if (max_macs > 0) {
    const double px = chart.x()(max_macs / 1e6);
    chart.Raw(
        absl::StrFormat("<path d=\"M%.1f %.1fV%.1f\" stroke=\"%s\" stroke-dasharray=\"5 4\"/>"
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"%s\">max_macs</text>",
                        px, chart.plot_bottom(), kPlotTop, kRejectedColour, px - 4, kPlotTop + 12, kRejectedColour));
  }
  std::vector<ResultRef> top_front;
  for (int k = 0; k < data.num_rungs; ++k) {
    if (by_rung[k].empty()) continue;
    DotPath dots;
    for (const ResultRef& r : by_rung[k])
      dots.Add(chart.x()(r.trial->macs() / 1e6), chart.y()(r.result->ap().stats(0)));
    chart.Raw(dots.Svg(data.RungColour(k), kDotWidth, k == data.top_rung_seen ? 0.7 : kFaintOpacity));
    const std::vector<ResultRef> front = ParetoFrontOf(by_rung[k]);
    std::string d;
    for (const ResultRef& p : front) {
      const double px = chart.x()(p.trial->macs() / 1e6), py = chart.y()(p.result->ap().stats(0));
      if (d.empty()) {
        absl::StrAppendFormat(&d, "M%.1f %.1f", px, py);
      } else {
        absl::StrAppendFormat(&d, "H%.1f V%.1f", px, py);
      }
    }
    absl::StrAppendFormat(&d, "H%.1f", chart.plot_right());
    const bool top = k == data.top_rung_seen;
    chart.Raw(absl::StrFormat("<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"/>", d, data.RungColour(k),
                              top ? "2" : "1.2"));
    chart.Legend(Chart::Mark::kDot, data.RungColour(k),
                 absl::StrFormat("%s: %d, front %d", data.RungName(k), by_rung[k].size(), front.size()));
    if (top) top_front = front;
  }
  DotPath rings, centres;
  std::vector<std::pair<double, double>> labels;  // Where labels went, to keep them apart.
  constexpr double kLabelWidth = 30, kLabelHeight = 11;
  for (const ResultRef& p : top_front) {
    const double px = chart.x()(p.trial->macs() / 1e6), py = chart.y()(p.result->ap().stats(0));
    rings.Add(px, py);
    centres.Add(px, py);
    const bool crowded = std::any_of(labels.begin(), labels.end(), [&](const std::pair<double, double>& l) {
      return std::abs(l.first - px) < kLabelWidth && std::abs(l.second - py) < kLabelHeight;
    });
    if (top_front.size() <= kMaxFrontLabels && !crowded) {
      chart.Raw(
          absl::StrFormat("<text class=\"label\" x=\"%.1f\" y=\"%.1f\">%d</text>", px + 6, py - 6, p.trial->id()));
      labels.push_back({px, py});
    }
  }
  chart.Raw(rings.Svg(data.RungColour(data.top_rung_seen), 11, 1));
  chart.Raw(centres.Svg("#ffffff", 5, 1));
  absl::StrAppend(out, chart.Svg("AP against MACs with the Pareto front"));

  absl::StrAppendFormat(out, "<h3>Pareto front at %s</h3>\n", XmlEscape(data.RungName(data.top_rung_seen)));
  absl::StrAppend(out,
                  "<table class=\"list\"><tr><th>trial</th><th>AP</th><th>MACs</th><th>params</th>"
                  "<th>hash</th></tr>\n");
  // Listed best AP first: the end of the front a reader looks for.
  for (size_t i = 0; i < top_front.size() && i < kMaxFrontRows; ++i) {
    const ResultRef& p = top_front[top_front.size() - 1 - i];
    absl::StrAppendFormat(out, "<tr><td>%d</td><td>%.4f%s</td><td>%s</td><td>%s</td><td><code>%s</code></td></tr>\n",
                          p.trial->id(), p.result->ap().stats(0), SimTag(*p.result), Millions(p.trial->macs()),
                          Millions(p.trial->params()), XmlEscape(p.trial->hash().substr(0, 12)));
  }
  absl::StrAppend(out, "</table>\n");
  if (top_front.size() > kMaxFrontRows) {
    absl::StrAppendFormat(out, "<p>%d more points on the front are not listed.</p>\n",
                          top_front.size() - kMaxFrontRows);
  }
}

// DrawSvg's document made fit to sit inline beside others: no XML declaration, ids (markers,
// features, edges) prefixed so that drawings do not share them.
std::string InlineSvg(std::string svg, const std::string& prefix) {
  if (svg.rfind("<?xml", 0) == 0) svg.erase(0, svg.find('\n') + 1);
  return absl::StrReplaceAll(svg, {{"id=\"", absl::StrCat("id=\"", prefix)},
                                   {"url(#", absl::StrCat("url(#", prefix)},
                                   {"href=\"#", absl::StrCat("href=\"#", prefix)}});
}

void AppendArchitectures(const Data& data, const ReportOptions& options, std::string* out) {
  absl::StrAppend(out, "<h2 id=\"architectures\">4. The best architectures</h2>\n");
  const std::vector<v1::Trial>& ranked = data.ranked;
  if (ranked.empty()) {
    absl::StrAppend(out, "<p>No trial has a result yet.</p>\n");
    return;
  }
  const v1::ProxyTask& proxy = data.config->proxy();
  const absl::StatusOr<ss::ModelScale> scale = ss::NamedModelScale(proxy.scaling());
  absl::StrAppendFormat(out,
                        "<p>Ranked as the search ranks them: the highest rung first, then AP; each architecture "
                        "once. Drawn with the proxy's scaling ('%s') at %d px.</p>\n",
                        XmlEscape(proxy.scaling()), proxy.size());
  std::set<std::string> drawn;
  int place = 0;
  absl::StrAppend(out, "<div class=\"archs\">\n");
  for (const v1::Trial& t : ranked) {
    if (place >= options.top_architectures) break;
    if (!drawn.insert(t.hash()).second) continue;
    ++place;
    const v1::RungResult& r = *TopResult(t);
    const std::string title = absl::StrFormat("#%d: trial %d, AP %.4f at %s%s", place, t.id(), r.ap().stats(0),
                                              data.RungName(r.rung()), r.simulated() ? " (simulated)" : "");
    absl::StrAppendFormat(out,
                          "<div class=\"arch\"><h3 id=\"arch-%d\">%s</h3>\n<p>%s MACs, %s parameters; hash "
                          "<code>%s</code>%s.</p>\n",
                          t.id(), XmlEscape(title), Millions(t.macs()), Millions(t.params()),
                          XmlEscape(t.hash().substr(0, 16)),
                          t.parent() != 0 ? absl::StrFormat("; mutated from trial %d", t.parent()) : "");
    v1::ArchSpec spec = t.spec();
    if (scale.ok()) *spec.mutable_scaling() = scale->scaling;
    const int size = proxy.size() > 0 ? proxy.size() : 128;
    const absl::StatusOr<ss::ResolvedGraph> graph = ss::Resolve(spec, size, size);
    if (!scale.ok() || !graph.ok()) {
      absl::StrAppendFormat(out, "<p class=\"note\">Not drawn: %s</p></div>\n",
                            XmlEscape(std::string(scale.ok() ? graph.status().message() : scale.status().message())));
      continue;
    }
    absl::StrAppendFormat(
        out, "%s</div>\n",
        InlineSvg(ss::DrawSvg(*graph, absl::StrFormat("trial %d  (hash %s)", t.id(), t.hash().substr(0, 12))),
                  absl::StrFormat("t%d-", t.id())));
  }
  absl::StrAppend(out, "</div>\n");
}

// Non-overlapping intervals, closer than `gap` merged.
std::vector<std::pair<double, double>> Merge(std::vector<std::pair<double, double>> spans, double gap) {
  std::sort(spans.begin(), spans.end());
  std::vector<std::pair<double, double>> merged;
  for (const auto& s : spans) {
    if (!merged.empty() && s.first <= merged.back().second + gap) {
      merged.back().second = std::max(merged.back().second, s.second);
    } else {
      merged.push_back(s);
    }
  }
  return merged;
}

void AppendTimeline(const Data& data, const ReportOptions& options, std::string* out) {
  absl::StrAppend(out, "<h2 id=\"timeline\">5. Workers</h2>\n");
  struct Span {
    double start, end;
    int key;  // A rung, or kFailedKey.
  };
  constexpr int kFailedKey = -1;
  struct Row {
    std::string worker;
    double first = std::numeric_limits<double>::infinity();
    std::vector<Span> spans;
    int64_t results = 0, failures = 0;
  };
  std::map<std::string, Row> rows;
  double t0 = std::numeric_limits<double>::infinity(), t1 = -t0;
  auto add = [&](const std::string& worker, double start, double end, int key) {
    if (worker.empty() || end <= 0) return;
    start = std::min(start, end);
    Row& row = rows[worker];
    row.worker = worker;
    row.first = std::min(row.first, start);
    row.spans.push_back({start, end, key});
    (key == kFailedKey ? row.failures : row.results) += 1;
    t0 = std::min(t0, start);
    t1 = std::max(t1, end);
  };
  for (const ResultRef& r : data.results) {
    add(r.result->worker(), r.result->reported_at() - r.result->train_seconds(), r.result->reported_at(),
        r.result->rung());
  }
  for (const v1::Trial& t : data.snapshot->trials) {
    if (t.state() == v1::FAILED && t.leased_at() > 0) add(t.worker(), t.leased_at(), t.finished_at(), kFailedKey);
  }
  if (rows.empty()) {
    absl::StrAppend(out, "<p>No worker has reported yet.</p>\n");
    return;
  }
  std::vector<Row*> order;
  for (auto& [id, row] : rows) order.push_back(&row);
  std::stable_sort(order.begin(), order.end(), [](const Row* a, const Row* b) {
    if (a->first != b->first) return a->first < b->first;
    return NaturalLess(a->worker, b->worker);
  });
  const size_t shown = std::min<size_t>(order.size(), std::max(1, options.max_timeline_rows));
  absl::StrAppend(out,
                  "<p>One row per worker, in the order they started; a bar per rung result from the start of its "
                  "training (reported time minus training time) to its report, and failed trials from their last "
                  "lease to their failure. Where bars are narrower than a pixel, each pixel shows the rung that "
                  "trained longest in it.</p>\n");

  const double span = std::max(t1 - t0, 1e-3);
  // Ticks in the unit that suits the length of the search.
  const double unit = span < 120 ? 1 : span < 7200 ? 60 : 3600;
  const char* unit_name = unit == 1 ? "s" : unit == 60 ? "min" : "h";
  const double height = kPlotTop + kTimelineRow * shown + kPlotBottom;
  Chart chart(height, kTimelineLeft, kTimelineRight, Scale{0, span / unit}, Scale{0, static_cast<double>(shown)});
  chart.Axes(
      LinearTicks(0, span / unit, 10), [&](double v) { return absl::StrCat(TickLabel(v), " ", unit_name); },
      absl::StrFormat("time since the first trial started (%s)", UtcTime(t0)), {}, "");
  // Each row is drawn in pixel columns: a column takes the colour of the rung that trained longest
  // in it (a failure, when there was one), and runs of one colour become one bar. A long search
  // thus costs at most a few hundred bars per row however many trials it ran.
  const int columns = std::max(1, static_cast<int>(chart.plot_right() - chart.plot_left()));
  const double column_seconds = span / columns;
  const int keys = data.num_rungs + 1;  // Rungs, then failures.
  auto key_of = [&](int k) { return k == keys - 1 ? kFailedKey : k; };
  std::vector<std::string> paths(keys);
  for (size_t i = 0; i < shown; ++i) {
    const Row& row = *order[i];
    const double y = kPlotTop + kTimelineRow * (i + 0.5);
    std::vector<std::vector<double>> seconds(keys, std::vector<double>(columns, 0));
    std::vector<std::pair<double, double>> busy;
    for (const Span& s : row.spans) {
      busy.push_back({s.start, s.end});
      const int k = s.key == kFailedKey ? keys - 1 : s.key;
      const double a = (s.start - t0) / column_seconds, b = (s.end - t0) / column_seconds;
      for (int c = std::max(0, static_cast<int>(a)); c < columns && c <= static_cast<int>(b); ++c) {
        // At least a sliver, so that a result shorter than a column still shows.
        seconds[k][c] += std::max(std::min<double>(b, c + 1) - std::max<double>(a, c), 1e-6);
      }
    }
    int run_key = -1, run_start = 0;
    std::vector<int> last_end(keys, -1);  // Where the previous bar of each colour in this row ended.
    auto close_run = [&](int end) {
      if (run_key < 0) return;
      std::string& d = paths[run_key];
      if (last_end[run_key] < 0) {
        absl::StrAppendFormat(&d, "M%.0f %.0fh%d", chart.plot_left() + run_start, y, end - run_start);
      } else {
        absl::StrAppendFormat(&d, "m%d 0h%d", run_start - last_end[run_key], end - run_start);
      }
      last_end[run_key] = end;
    };
    for (int c = 0; c <= columns; ++c) {
      int key = -1;
      if (c < columns) {
        double most = 0;
        for (int k = 0; k < keys; ++k) {
          if (seconds[k][c] > most) {
            most = seconds[k][c];
            key = k;
          }
        }
        if (seconds[keys - 1][c] > 0) key = keys - 1;
      }
      if (key == run_key) continue;
      close_run(c);
      run_key = key;
      run_start = c;
    }
    double busy_seconds = 0;
    for (const auto& [a, b] : Merge(busy, 0)) busy_seconds += b - a;
    std::string label = row.worker;
    for (const WorkerRecord& w : data.snapshot->workers) {
      if (w.id == row.worker) label = absl::StrFormat("%s %s (%s)", w.id, w.host, w.device);
    }
    constexpr size_t kMaxLabel = 29;  // Fits kTimelineLeft at the chart's font size.
    if (label.size() > kMaxLabel) label = label.substr(0, kMaxLabel - 1) + "\xe2\x80\xa6";
    chart.Raw(absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", chart.plot_left() - 6, y + 4,
                              XmlEscape(label)));
    chart.Raw(absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\">%d, %.0f%% busy%s</text>", chart.plot_right() + 6, y + 4,
                              row.results, 100 * busy_seconds / span,
                              row.failures > 0 ? absl::StrFormat(", %d failed", row.failures) : ""));
  }
  for (int k = 0; k < keys; ++k) {
    if (paths[k].empty()) continue;
    const std::string colour = key_of(k) == kFailedKey ? kFailedColour : data.RungColour(k);
    chart.Raw(absl::StrFormat("<path d=\"%s\" stroke=\"%s\" stroke-width=\"%.0f\"/>", paths[k], colour, kBarWidth));
    chart.Legend(Chart::Mark::kBar, colour, key_of(k) == kFailedKey ? "failed trial" : data.RungName(k));
  }
  absl::StrAppend(out, chart.Svg("worker timeline"));
  absl::StrAppend(out,
                  "<p>Right of each row: results reported, and the share of the search's time the worker spent "
                  "training.</p>\n");
  if (order.size() > shown) {
    absl::StrAppendFormat(out, "<p>%d more workers are not drawn.</p>\n", order.size() - shown);
  }
}

void AppendFailures(const Data& data, const ReportOptions& options, std::string* out) {
  absl::StrAppend(out, "<h2 id=\"failures\">6. Failures</h2>\n");
  // Failures of training first (there are few, and each may need a look), then rejections.
  std::vector<const v1::Trial*> failed;
  for (const v1::Trial& t : data.snapshot->trials) {
    if (t.state() == v1::FAILED) failed.push_back(&t);
  }
  for (const v1::Trial& t : data.snapshot->trials) {
    if (t.state() == v1::REJECTED) failed.push_back(&t);
  }
  auto count = [&](const std::string& kind) {
    auto it = data.event_counts.find(kind);
    return it == data.event_counts.end() ? int64_t{0} : it->second;
  };
  absl::StrAppendFormat(out,
                        "<p>%d trials failed or were rejected. Events: %d lease expiries, %d retries after a "
                        "worker's failure, %d leases given back by stopping workers.</p>\n",
                        failed.size(), count("expired"), count("retry"), count("released"));
  if (!failed.empty()) {
    struct Group {
      int64_t count = 0;
      std::vector<int64_t> trials;
    };
    std::map<std::pair<std::string, std::string>, Group> groups;
    for (const v1::Trial* t : failed) {
      Group& g = groups[{StateName(t->state()), ReasonPattern(t->failure())}];
      ++g.count;
      if (g.trials.size() < 8) g.trials.push_back(t->id());
    }
    absl::StrAppend(out,
                    "<h3>By reason</h3>\n<table class=\"list\"><tr><th>state</th><th>count</th>"
                    "<th>reason (numbers as #)</th><th>trials</th></tr>\n");
    for (const auto& [key, g] : groups) {
      absl::StrAppendFormat(out, "<tr><td>%s</td><td>%d</td><td>%s</td><td>%s%s</td></tr>\n", key.first, g.count,
                            XmlEscape(key.second), absl::StrJoin(g.trials, ", "), g.count > 8 ? ", ..." : "");
    }
    absl::StrAppend(out,
                    "</table>\n<h3>Each failure</h3>\n<table class=\"list\"><tr><th>trial</th><th>state</th>"
                    "<th>rung</th><th>attempts</th><th>worker</th><th>MACs</th><th>reason</th></tr>\n");
    const size_t listed = std::min<size_t>(failed.size(), std::max(0, options.max_failures_listed));
    for (size_t i = 0; i < listed; ++i) {
      const v1::Trial& t = *failed[i];
      absl::StrAppendFormat(out,
                            "<tr class=\"failure\"><td>%d</td><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td>"
                            "<td>%s</td></tr>\n",
                            t.id(), StateName(t.state()), t.rung(), t.attempts(), XmlEscape(t.worker()),
                            Millions(t.macs()), XmlEscape(t.failure()));
    }
    absl::StrAppend(out, "</table>\n");
    if (failed.size() > listed) {
      absl::StrAppendFormat(out,
                            "<p>%d more are not listed (all of them: <code>vertebra status --db DB --json "
                            "--trials</code>).</p>\n",
                            failed.size() - listed);
    }
  }
  if (!data.lease_events.empty()) {
    absl::StrAppend(out,
                    "<h3>Recent lease expiries and retries</h3>\n<table class=\"list\"><tr><th>time</th>"
                    "<th>event</th><th>trial</th><th>detail</th></tr>\n");
    for (const Event& e : data.lease_events) {
      absl::StrAppendFormat(out, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%s</td></tr>\n", UtcTime(e.at),
                            XmlEscape(e.kind), e.trial, XmlEscape(e.detail));
    }
    absl::StrAppend(out, "</table>\n");
  }
}

constexpr const char* kStyle = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;margin:0;
  background:#f4f5f7}
main{max-width:1140px;margin:0 auto;padding:16px 20px 40px;background:#fff}
h1{font-size:24px;margin:8px 0 12px}h2{font-size:19px;margin:28px 0 6px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 4px}
nav a{margin-right:14px;color:#1f5fa8}
.banner{background:#fff3cd;border:2px solid #e0a800;padding:8px 12px;font-weight:600}
.sim{font-size:11px;background:#fff3cd;border:1px solid #e0a800;border-radius:3px;padding:0 4px}
table.kv th{text-align:left;padding:2px 14px 2px 0;color:#555;font-weight:600;vertical-align:top}
table.list{border-collapse:collapse;font-size:13px}
table.list th,table.list td{border-bottom:1px solid #e3e3e3;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
.note{color:#444;background:#f3f6fa;border-left:3px solid #8e9aa6;padding:6px 10px}
.best{font-size:15px}
svg.chart{display:block;max-width:100%;height:auto;font-size:11px;fill:#333}
svg.chart text.axis{font-size:12px;fill:#444}
svg.chart text.label{font-size:10px;fill:#111}
svg.chart .grid{stroke:#ececec;fill:none}
svg.chart .frame{fill:none;stroke:#bbb}
.archs{display:grid;grid-template-columns:1fr 1fr;gap:4px 24px}
.arch h3{margin-top:10px}.arch p{margin:2px 0;font-size:13px}
.arch svg{width:100%;height:auto}
ul.notes{margin:4px 0;padding-left:20px;font-size:13px}
)css";

}  // namespace

absl::StatusOr<std::string> RenderReport(const controller::Store& store, const ReportOptions& options) {
  absl::StatusOr<Snapshot> snapshot = store.Load();
  if (!snapshot.ok()) return snapshot.status();
  if (!snapshot->experiment) return absl::NotFoundError("no experiment in this database");
  Data data;
  data.snapshot = &*snapshot;
  data.config = &*snapshot->experiment;
  data.simulated = data.config->simulated();
  data.num_rungs = std::max(1, data.config->rungs().steps_size());
  for (const v1::Trial& t : snapshot->trials) {
    if (t.reused_from() != 0) continue;
    for (const v1::RungResult& r : t.results()) {
      if (!HasAp(r) || r.rung() < 0) continue;
      data.results.push_back({&t, &r});
      data.num_rungs = std::max(data.num_rungs, r.rung() + 1);
      data.top_rung_seen = std::max(data.top_rung_seen, r.rung());
      data.simulated = data.simulated || r.simulated();
    }
  }
  std::stable_sort(data.results.begin(), data.results.end(), [](const ResultRef& a, const ResultRef& b) {
    if (a.result->reported_at() != b.result->reported_at()) return a.result->reported_at() < b.result->reported_at();
    return a.result->sequence() < b.result->sequence();
  });

  data.ranked = RankTrials(snapshot->trials);

  int64_t after = 0;
  while (true) {
    absl::StatusOr<std::vector<Event>> page = store.Events(after, kEventPage);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (Event& e : *page) {
      ++data.event_counts[e.kind];
      if (e.kind == "controller_started") ++data.controller_starts;
      if (e.kind == "stopped" || e.kind == "finished") data.stops.push_back(e);
      double entropy = 0;
      int64_t observed = 0;
      if (e.kind == "policy" && std::sscanf(e.detail.c_str(), "entropy %lf after %ld results", &entropy, &observed) == 2) {
        data.entropy.emplace_back(static_cast<double>(observed), entropy);
      }
      if (e.kind == "expired" || e.kind == "retry") {
        data.lease_events.push_back(std::move(e));
        if (data.lease_events.size() > 2 * kRecentLeaseEvents) {
          data.lease_events.erase(data.lease_events.begin(), data.lease_events.end() - kRecentLeaseEvents);
        }
      }
    }
    after = page->back().id;
  }
  if (data.lease_events.size() > kRecentLeaseEvents) {
    data.lease_events.erase(data.lease_events.begin(), data.lease_events.end() - kRecentLeaseEvents);
  }

  std::string out;
  out.reserve(1 << 20);
  absl::StrAppendFormat(&out,
                        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<title>%s%s: Vertebra search report</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n",
                        XmlEscape(data.config->name()), data.simulated ? " (simulated)" : "", kStyle);
  absl::StrAppend(&out,
                  "<nav><a href=\"#best-ap\">best AP</a><a href=\"#reward\">reward</a><a href=\"#pareto\">AP vs "
                  "MACs</a><a href=\"#architectures\">architectures</a><a href=\"#timeline\">workers</a><a "
                  "href=\"#failures\">failures</a></nav>\n");
  AppendHeader(data, options, &out);
  AppendBestSoFar(data, &out);
  AppendRewards(data, &out);
  AppendPareto(data, &out);
  AppendArchitectures(data, options, &out);
  AppendTimeline(data, options, &out);
  AppendFailures(data, options, &out);
  absl::StrAppend(&out, "</main>\n</body>\n</html>\n");
  return out;
}

}  // namespace vertebra::inspect
