#include "inspect/report_sections.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/text_util.h"
#include "inspect/chart.h"
#include "proto/kinds.h"

namespace vertebra::inspect::report_internal {

// Non-overlapping intervals, closer than `gap` merged.
static std::vector<std::pair<double, double>> Merge(std::vector<std::pair<double, double>> spans, double gap) {
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
      Group& g = groups[{std::string(KindName(t->state())), ReasonPattern(t->failure())}];
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
                            t.id(), std::string(KindName(t.state())), t.rung(), t.attempts(), XmlEscape(t.worker()),
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

}  // namespace vertebra::inspect::report_internal
