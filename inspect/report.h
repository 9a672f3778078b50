// The search report: one self-contained HTML page (inline CSS and SVG, no scripts, nothing
// fetched) that shows an experiment read from its store: the header (name, algorithm, state,
// trial counts, simulated or real), the best AP so far per rung, the rewards the policy learned
// from, AP against MACs with the Pareto front per rung, drawings of the best architectures, a
// timeline per worker, and the failures with their reasons.
//
// The page stays small for long searches: every chart draws a series as one <path> (points are
// zero-length round-capped segments, deduplicated per pixel; timeline bars closer than a pixel
// are merged), and long tables are cut with a count of what was left out.
#ifndef VERTEBRA_INSPECT_REPORT_H_
#define VERTEBRA_INSPECT_REPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "controller/store.h"

namespace vertebra::inspect {

struct ReportOptions {
  // Shown in the header as where the data came from (e.g. the database path); may be empty.
  std::string source;
  // Drawings of the best architectures (ranked as RankTrials ranks them).
  int top_architectures = 5;
  // Rows of the failures table; the rest are counted, not listed.
  int max_failures_listed = 200;
  // Rows of the worker timeline; further workers are counted, not drawn.
  int max_timeline_rows = 128;
  // For a page served live (dashboard.h): markup added to <head> (e.g. a refresh) and to the top
  // of the page, and, when not empty, the link of a trial's page: trial ids in the best-trial
  // line and the architectures' titles link to trial_link + id.
  std::string head_html;
  std::string top_html;
  std::string trial_link;
};

// The report of the experiment in `store` as an HTML document. The output depends only on the
// store's contents and `options` (no clock is read), so the same database gives the same page.
// NotFound when the store holds no experiment; a store error is returned as it is.
// Reads the whole history once (Load, then the event log in pages); thread-safe as the store is.
absl::StatusOr<std::string> RenderReport(const controller::Store& store, const ReportOptions& options = {});

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_REPORT_H_
