// The report's final-validation section: a strip plot of every seed's AP per finalist and
// control (the mean as a bar), and the verdict table.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/stats.h"
#include "common/text_util.h"
#include "inspect/chart.h"
#include "inspect/report_sections.h"

namespace vertebra::inspect::report_internal {
namespace {

constexpr const char* kFinalistColour = "#1f5fa8";
constexpr const char* kControlColour = "#e67e22";
// Seeds of one subject are spread over this fraction of its column, so equal APs stay visible.
constexpr double kJitter = 0.18;
// Half the width of a subject's mean bar, in columns.
constexpr double kMeanHalfWidth = 0.3;

}  // namespace

void AppendFinal(const Data& data, std::string* out) {
  if (!data.verdict) return;
  const Verdict& v = *data.verdict;
  absl::StrAppendFormat(out,
                        "<section id=\"final\"><h2>Final validation</h2>\n<p>When the search budget was spent, the "
                        "%d best trials of the highest rung and every control were trained again with fresh seeds "
                        "(%d per architecture, %d steps each, every run an independent run with its own annealed "
                        "schedule). A finalist <b>beats</b> a control only when its mean AP is more than %g pooled "
                        "seed SDs higher and a one-sided Welch t-test gives p &lt; %g.%s%s</p>\n",
                        v.finalists.size(), v.config.seeds(), v.config.steps(), kBeatsPooledSds, kBeatsP,
                        v.complete ? "" : " <b>Some runs have not finished.</b>",
                        v.note.empty() ? "" : absl::StrCat(" ", XmlEscape(v.note), "."));
  std::vector<const FinalSubject*> subjects;
  for (const FinalSubject& s : v.finalists) subjects.push_back(&s);
  for (const FinalSubject& s : v.controls) subjects.push_back(&s);
  double lo = INFINITY, hi = -INFINITY;
  for (const FinalSubject* s : subjects) {
    for (double ap : s->aps) {
      lo = std::min(lo, ap);
      hi = std::max(hi, ap);
    }
  }
  if (std::isfinite(lo)) {
    auto [y_lo, y_hi] = Padded(lo, hi, 0.08);
    const double n = static_cast<double>(subjects.size());
    Chart chart(kChartHeight, kPlotLeft, kPlotRight, Scale{-0.5, n - 0.5}, Scale{y_lo, y_hi});
    std::vector<double> ticks;
    for (size_t i = 0; i < subjects.size(); ++i) ticks.push_back(static_cast<double>(i));
    chart.Axes(
        ticks,
        [&subjects](double x) {
          const long i = std::lround(x);
          return i >= 0 && i < static_cast<long>(subjects.size()) ? subjects[i]->name : std::string();
        },
        "finalists and controls (one dot per seed, the bar at the mean)", LinearTicks(y_lo, y_hi, 6), "AP");
    for (size_t i = 0; i < subjects.size(); ++i) {
      const FinalSubject& s = *subjects[i];
      const char* colour = s.control ? kControlColour : kFinalistColour;
      DotPath dots;
      for (size_t k = 0; k < s.aps.size(); ++k) {
        const double offset = s.aps.size() > 1 ? kJitter * (2.0 * k / (s.aps.size() - 1) - 1) : 0;
        dots.Add(chart.x()(i + offset), chart.y()(s.aps[k]));
      }
      chart.Raw(dots.Svg(colour, 7, 0.85, s.name));
      if (!s.aps.empty()) {
        const double y = chart.y()(Mean(s.aps));
        chart.Raw(absl::StrFormat("<path d=\"M%.1f %.1fH%.1f\" stroke=\"%s\" stroke-width=\"2\"/>",
                                  chart.x()(i - kMeanHalfWidth), y, chart.x()(i + kMeanHalfWidth), colour));
      }
    }
    chart.Legend(Chart::Mark::kDot, kFinalistColour, "finalist");
    chart.Legend(Chart::Mark::kDot, kControlColour, "control");
    absl::StrAppend(out, chart.Svg("AP of every final run, per finalist and control"));
  }
  absl::StrAppend(out,
                  "<table class=\"list\"><tr><th>architecture</th><th>role</th><th>AP mean</th><th>SD</th>"
                  "<th>seeds</th><th>MACs</th><th>parameters</th></tr>\n");
  for (const FinalSubject* s : subjects) {
    absl::StrAppendFormat(out, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td>%s</td></tr>\n",
                          XmlEscape(s->name), s->control ? "control" : "finalist",
                          s->aps.empty() ? "-" : absl::StrFormat("%.3f", Mean(s->aps)),
                          s->aps.size() < 2 ? "-" : absl::StrFormat("%.3f", SampleSd(s->aps)), s->aps.size(),
                          Millions(s->macs), Millions(s->params));
  }
  absl::StrAppend(out,
                  "</table>\n<h3>Verdict</h3>\n<table class=\"list\"><tr><th>finalist</th><th>control</th>"
                  "<th>difference</th><th>pooled SDs</th><th>Welch p</th><th>verdict</th></tr>\n");
  for (const FinalComparison& c : v.comparisons) {
    const FinalSubject& f = v.finalists[c.finalist];
    const FinalSubject& k = v.controls[c.control];
    absl::StrAppendFormat(out, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                          XmlEscape(f.name), XmlEscape(k.name),
                          std::isfinite(c.welch.difference) ? absl::StrFormat("%+.3f", c.welch.difference) : "-",
                          c.decided && std::isfinite(c.pooled_sds) ? absl::StrFormat("%.1f", c.pooled_sds) : "-",
                          c.decided ? absl::StrFormat("%.4f", c.welch.p_greater) : "-",
                          !c.decided ? "not decided yet" : c.beats ? "<b>beats</b>" : "not distinguishable from");
  }
  absl::StrAppend(out, "</table>\n");
  const double total = v.search_seconds + v.control_seconds + v.final_seconds;
  if (total > 0) {
    absl::StrAppendFormat(out,
                          "<p>Training time: search %s, controls %s (%.0f%%), final validation %s (%.0f%%).</p>\n",
                          Duration(v.search_seconds), Duration(v.control_seconds), 100 * v.control_seconds / total,
                          Duration(v.final_seconds), 100 * v.final_seconds / total);
  }
  absl::StrAppend(out, "</section>\n");
}

}  // namespace vertebra::inspect::report_internal
