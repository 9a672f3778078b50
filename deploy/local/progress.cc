#include "deploy/local/progress.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "inspect/trials.h"

namespace vertebra::deploy {

namespace ctl = ::vertebra::controller;

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

std::string ProgressLine(const ctl::Store* store, const v1::ExperimentConfig& config, double elapsed,
                         int64_t finished_at_start) {
  if (store == nullptr) return "waiting for the controller";
  absl::StatusOr<ctl::RoleCounts> c = store->Counts();
  if (!c.ok()) return "waiting for the controller";
  const int64_t budget = config.budget().trials();
  const ctl::TrialCounts& search = c->search;
  std::string line = absl::StrFormat("trials %d/%d done, %d running, %d failed, %d rejected", search.done, budget,
                                     search.leased, search.failed, search.rejected);
  // Controls and final runs: done of how many, and what is running or failed.
  auto role = [&line](const char* name, const ctl::TrialCounts& n, int64_t of) {
    absl::StrAppendFormat(&line, " | %s %d/%d done", name, n.done, of);
    if (n.leased > 0) absl::StrAppendFormat(&line, ", %d running", n.leased);
    if (n.failed > 0) absl::StrAppendFormat(&line, ", %d failed", n.failed);
  };
  const int64_t controls = std::max<int64_t>(c->controls.total(), config.controls_size());
  if (controls > 0) role("controls", c->controls, controls);
  const int64_t final_runs = inspect::FinalRunsExpected(config, *c);
  if (final_runs > 0) role("final", c->final_runs, final_runs);
  absl::StatusOr<v1::Trial> best = inspect::FindTrial(*store, "best");
  if (best.ok()) {
    const v1::RungResult* r = inspect::TopResult(*best);
    line += absl::StrFormat(" | best AP %.4f (trial %d, rung %d, %d steps)", r->ap().stats(0), best->id(), r->rung(),
                            r->steps());
  }
  const ctl::TrialCounts all = c->All();
  const int64_t finished = all.done + all.failed - finished_at_start;
  if (finished > 0 && elapsed > 0) {
    const double per_hour = finished / elapsed * 3600;
    auto left_of = [](int64_t of, const ctl::TrialCounts& n) { return std::max<int64_t>(0, of - n.done - n.failed); };
    const int64_t left = left_of(budget, search) + left_of(controls, c->controls) + left_of(final_runs, c->final_runs);
    line += absl::StrFormat(" | %.1f trials/h | about %s left", per_hour, FormatDuration(left / per_hour * 3600));
  }
  return line;
}

const ctl::Store* DatabaseReader::store() {
  if (store_ == nullptr) {
    absl::StatusOr<std::unique_ptr<ctl::Store>> opened = ctl::OpenSqliteStore(path_, {.read_only = true});
    if (opened.ok()) store_ = std::move(*opened);
  }
  return store_.get();
}

bool ProgressDisplay::Due() const {
  const Clock::duration since = Clock::now() - last_;
  return (live_ && since > kLiveInterval) || since > kLogInterval;
}

void ProgressDisplay::Show(const std::string& line) {
  last_ = Clock::now();
  if (live_) {
    out_ << "\r\033[K" << line << std::flush;
  } else {
    out_ << line << "\n" << std::flush;
  }
}

void ProgressDisplay::EndLine() {
  if (live_) out_ << "\n";
}

}  // namespace vertebra::deploy
