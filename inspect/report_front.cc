#include "inspect/report_sections.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/pareto.h"
#include "common/text_util.h"
#include "inspect/chart.h"
#include "inspect/trials.h"
#include "search_spaces/draw.h"
#include "search_spaces/proxy.h"
#include "search_spaces/resolve.h"

namespace vertebra::inspect::report_internal {

// The Pareto front of a rung's results (common/pareto.h), ordered by MACs, then AP (higher
// first), then trial id.
static std::vector<ResultRef> ParetoFrontOf(std::vector<ResultRef> points) {
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
static std::string InlineSvg(std::string svg, const std::string& prefix) {
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
    const std::string title = absl::StrFormat(", AP %.4f at %s%s", r.ap().stats(0), data.RungName(r.rung()),
                                              r.simulated() ? " (simulated)" : "");
    absl::StrAppendFormat(out,
                          "<div class=\"arch\"><h3 id=\"arch-%d\">#%d: trial %s%s</h3>\n<p>%s MACs, %s parameters; "
                          "hash <code>%s</code>%s.</p>\n",
                          t.id(), place, TrialId(options, t.id()), XmlEscape(title), Millions(t.macs()), Millions(t.params()),
                          XmlEscape(t.hash().substr(0, 16)),
                          t.parent() != 0 ? absl::StrFormat("; mutated from trial %d", t.parent()) : "");
    const absl::StatusOr<ss::ResolvedProxy> model = ss::ResolveProxy(t.spec(), proxy);
    if (!model.ok()) {
      absl::StrAppendFormat(out, "<p class=\"note\">Not drawn: %s</p></div>\n",
                            XmlEscape(std::string(model.status().message())));
      continue;
    }
    absl::StrAppendFormat(
        out, "%s</div>\n",
        InlineSvg(ss::DrawSvg(model->graph, absl::StrFormat("trial %d  (hash %s)", t.id(), t.hash().substr(0, 12))),
                  absl::StrFormat("t%d-", t.id())));
  }
  absl::StrAppend(out, "</div>\n");
}

}  // namespace vertebra::inspect::report_internal
