#include "inspect/report.h"

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/text_util.h"
#include "inspect/report_sections.h"
#include "proto/kinds.h"
#include "inspect/trials.h"

namespace vertebra::inspect {
namespace report_internal {

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

std::string SimTag(const v1::RungResult& r) { return r.simulated() ? " <span class=\"sim\">simulated</span>" : ""; }

std::string TrialId(const ReportOptions& options, int64_t id) {
  if (options.trial_link.empty()) return absl::StrCat(id);
  return absl::StrFormat("<a href=\"%s%d\">%d</a>", XmlEscape(options.trial_link), id, id);
}

}  // namespace report_internal

namespace {

using namespace report_internal;  // NOLINT: the sections and the data they share.

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
    if (t.reused_from() != 0 || !IsSearchTrial(t)) continue;
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
  data.verdict = ComputeVerdict(*data.config, snapshot->trials);
  data.predictor = controller::PredictorQualityOf(*data.config, snapshot->trials);

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
                        "<title>%s%s: Vertebra search report</title>\n<style>%s</style>\n%s</head>\n<body>\n<main>\n%s",
                        XmlEscape(data.config->name()), data.simulated ? " (simulated)" : "", kStyle,
                        options.head_html, options.top_html);
  absl::StrAppend(&out,
                  "<nav>", data.verdict ? "<a href=\"#final\">final validation</a>" : "", "<a href=\"#best-ap\">best AP</a><a href=\"#reward\">reward</a><a href=\"#pareto\">AP vs "
                  "MACs</a><a href=\"#architectures\">architectures</a><a href=\"#timeline\">workers</a><a "
                  "href=\"#failures\">failures</a></nav>\n");
  AppendHeader(data, options, &out);
  AppendFinal(data, &out);
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
