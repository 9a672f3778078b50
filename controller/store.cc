#include "controller/store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace vertebra::controller {

std::string LeasedEventDetail(int64_t lease, const std::string& worker, int rung, int attempt,
                              const std::string& note) {
  return absl::StrFormat("lease %d to %s at rung %d, attempt %d%s", lease, worker, rung, attempt,
                         note.empty() ? "" : "; " + note);
}

std::optional<LeasedEvent> ParseLeasedEventDetail(const std::string& detail) {
  absl::string_view rest = detail;
  if (!absl::ConsumePrefix(&rest, "lease ")) return std::nullopt;
  LeasedEvent e;
  const size_t to = rest.find(" to ");
  const size_t at = rest.find(" at rung ");
  if (to == absl::string_view::npos || at == absl::string_view::npos || at <= to + 4) return std::nullopt;
  if (!absl::SimpleAtoi(rest.substr(0, to), &e.lease)) return std::nullopt;
  e.worker = std::string(rest.substr(to + 4, at - to - 4));
  rest.remove_prefix(at + 9);
  if (!absl::SimpleAtoi(rest.substr(0, rest.find(',')), &e.rung)) return std::nullopt;
  return e;
}

std::optional<double> BestAp(const v1::Trial& trial) {
  const v1::RungResult* best = nullptr;
  // `>=`: if a rung was reported twice (a retried lease whose first report also arrived), the later
  // report is the one the controller acted on.
  for (const v1::RungResult& result : trial.results()) {
    if (best == nullptr || result.rung() >= best->rung()) best = &result;
  }
  if (best == nullptr || best->ap().stats().empty()) return std::nullopt;
  return best->ap().stats(0);
}

void TrialCounts::Add(int state, int64_t n) {
  switch (state) {
    case v1::PENDING: pending += n; break;
    case v1::LEASED: leased += n; break;
    case v1::DONE: done += n; break;
    case v1::FAILED: failed += n; break;
    case v1::REJECTED: rejected += n; break;
    case v1::STOPPED: stopped += n; break;
    default: break;  // TRIAL_STATE_UNSPECIFIED and unknown values count nowhere.
  }
}

void TrialCounts::Add(const TrialCounts& o) {
  pending += o.pending;
  leased += o.leased;
  done += o.done;
  failed += o.failed;
  rejected += o.rejected;
  stopped += o.stopped;
}

void RoleCounts::Add(int role, int state, int64_t n) {
  switch (role) {
    case v1::TRIAL_ROLE_CONTROL: controls.Add(state, n); break;
    case v1::TRIAL_ROLE_FINAL: final_runs.Add(state, n); break;
    default: search.Add(state, n); break;  // TRIAL_ROLE_UNSPECIFIED: stored before roles, a search trial.
  }
}

TrialCounts RoleCounts::All() const {
  TrialCounts all = search;
  all.Add(controls);
  all.Add(final_runs);
  return all;
}

}  // namespace vertebra::controller
