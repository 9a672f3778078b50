// The report's sections and what they share: the layout and colours, the data read from the
// store once, small formatting helpers. Internal to inspect/report*.cc; report.h is the
// contract. Each Append* function appends one section's HTML to `out`.
#ifndef VERTEBRA_INSPECT_REPORT_SECTIONS_H_
#define VERTEBRA_INSPECT_REPORT_SECTIONS_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "controller/predictor.h"
#include "controller/store.h"
#include "inspect/report.h"
#include "inspect/verdict.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::search_spaces {}

namespace vertebra::inspect::report_internal {

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

// ---- Small helpers (report.cc) ----------------------------------------------------------------

std::string UtcTime(double unix_seconds);  // "2026-01-02 03:04:05 UTC"; "-" for 0.
std::string Duration(double seconds);      // In s, min or h, whichever reads best.
std::string Millions(int64_t v);           // "12.34 M".
// A reason with its numbers replaced by "#", so that "123 multiply-adds exceed ... 100" and
// "456 multiply-adds exceed ... 100" are counted as one kind of failure.
std::string ReasonPattern(const std::string& reason);
// "w-2" before "w-10": digit runs compare as numbers.
bool NaturalLess(const std::string& a, const std::string& b);
// A result whose AP is a number the charts can use.
bool HasAp(const v1::RungResult& r);
// The "simulated" tag after a simulated result's AP.
std::string SimTag(const v1::RungResult& r);
// A trial's id, as a link to its page when options.trial_link is set.
std::string TrialId(const ReportOptions& options, int64_t id);

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
  std::vector<ResultRef> results;  // Of search trials, in the order the controller committed them.
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
  std::optional<Verdict> verdict;  // The final validation (inspect/verdict.h), when there is one.
  // The predictor across rungs the results give (controller/predictor.h), per rung below the top.
  std::vector<controller::PredictorQuality> predictor;

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

// ---- Sections ------------------------------------------------------------------------------

// report_progress.cc: the header (name, algorithm, state, counts, the best trial, why the search
// stopped), the best AP so far per rung, the rewards the policy observed, the predictor across
// rungs that put them on the top rung's scale, and the policy's entropy.
void AppendHeader(const Data& data, const ReportOptions& options, std::string* out);
void AppendBestSoFar(const Data& data, std::string* out);
void AppendRewards(const Data& data, std::string* out);
// report_front.cc: AP against MACs with each rung's Pareto front; drawings of the best architectures.
void AppendPareto(const Data& data, std::string* out);
void AppendArchitectures(const Data& data, const ReportOptions& options, std::string* out);
// report_workers.cc: a timeline of leases per worker; the failures by reason, recent expiries.
void AppendTimeline(const Data& data, const ReportOptions& options, std::string* out);
void AppendFailures(const Data& data, const ReportOptions& options, std::string* out);
// report_final.cc: the final validation: a strip plot of the seeds per finalist and control, and
// the verdict table. Nothing without a final stage.
void AppendFinal(const Data& data, std::string* out);

}  // namespace vertebra::inspect::report_internal

#endif  // VERTEBRA_INSPECT_REPORT_SECTIONS_H_
