#include "bench/throughput_bench.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace vertebra::bench {
namespace {

namespace ctl = ::vertebra::controller;
using json = nlohmann::ordered_json;

// Events fetched per read of the store's event log.
constexpr int64_t kEventPage = 10000;
// The events that end a lease which did not report: the trial's lease is gone after each.
const std::set<std::string>& LeaseEnds() {
  static const std::set<std::string> ends = {"reported", "expired", "retry", "failed", "released", "leased"};
  return ends;
}

struct Lease {
  int64_t trial = 0;
  std::string worker;
  double start = 0;
  std::optional<double> end;  // nullopt: still held when the log ends.
};

// Every lease of the event log, oldest first, with its end where the log has one.
absl::StatusOr<std::vector<Lease>> Leases(const ctl::Store& store) {
  std::vector<Lease> leases;
  std::map<int64_t, size_t> open;  // Trial -> its lease in `leases` without an end yet.
  for (int64_t after = 0;;) {
    ASSIGN_OR_RETURN(const std::vector<ctl::Event> events, store.Events(after, kEventPage));
    for (const ctl::Event& e : events) {
      after = e.id;
      if (e.trial == 0 || LeaseEnds().count(e.kind) == 0) continue;
      if (auto it = open.find(e.trial); it != open.end()) {
        leases[it->second].end = e.at;
        open.erase(it);
      }
      if (e.kind != "leased") continue;
      const std::optional<ctl::LeasedEvent> leased = ctl::ParseLeasedEventDetail(e.detail);
      if (!leased) continue;
      open[e.trial] = leases.size();
      leases.push_back({e.trial, leased->worker, e.at, std::nullopt});
    }
    if (static_cast<int64_t>(events.size()) < kEventPage) break;
  }
  return leases;
}

// The length of the union of `spans`.
double Covered(std::vector<std::pair<double, double>> spans) {
  std::sort(spans.begin(), spans.end());
  double covered = 0, reach = -std::numeric_limits<double>::infinity();
  for (const auto& [a, b] : spans) {
    const double from = std::max(a, reach);
    if (b > from) covered += b - from;
    reach = std::max(reach, b);
  }
  return covered;
}

// Steps a result's lease trained: its rung's steps from where it began, and its cool-down fork.
int64_t TrainedSteps(const v1::RungResult& r) { return std::max<int64_t>(0, r.steps() - r.start_step()) + r.cooldown_steps(); }

std::string Span(double seconds) {
  if (seconds < 120) return absl::StrFormat("%.1f s", seconds);
  if (seconds < 7200) return absl::StrFormat("%.1f min", seconds / 60);
  return absl::StrFormat("%.2f h", seconds / 3600);
}

double Share(double part, double whole) { return whole > 0 ? part / whole : 0; }

}  // namespace

double SearchThroughput::busy_fraction() const {
  double busy = 0, present = 0;
  for (const WorkerThroughput& w : workers) {
    busy += w.busy_seconds;
    present += w.present_seconds;
  }
  return Share(busy, present);
}

absl::StatusOr<SearchThroughput> MeasureSearchThroughput(const ctl::Store& store) {
  ASSIGN_OR_RETURN(const ctl::Snapshot snapshot, store.Load());
  if (!snapshot.experiment) return absl::FailedPreconditionError("the database holds no experiment");
  SearchThroughput out;
  out.experiment = snapshot.experiment->name();
  out.simulated = snapshot.experiment->simulated();
  ASSIGN_OR_RETURN(const std::vector<Lease> leases, Leases(store));
  out.leases = static_cast<int64_t>(leases.size());
  if (leases.empty()) return out;

  // The window: from the first lease to the last report.
  out.first_lease = leases.front().start;
  out.last_report = out.first_lease;
  for (const v1::Trial& t : snapshot.trials) {
    for (const v1::RungResult& r : t.results()) out.last_report = std::max(out.last_report, r.reported_at());
  }
  const double t0 = out.first_lease, t1 = out.last_report;

  std::map<std::string, WorkerThroughput> workers;
  std::map<std::string, double> registered_at;
  for (const ctl::WorkerRecord& w : snapshot.workers) {
    WorkerThroughput& row = workers[w.id];
    row.id = w.id;
    row.host = w.host;
    row.device = w.device;
    registered_at[w.id] = w.registered_at;
  }
  std::map<std::string, std::vector<std::pair<double, double>>> busy;
  std::map<std::string, double> first_lease;
  for (const Lease& l : leases) {
    WorkerThroughput& row = workers[l.worker];
    row.id = l.worker;
    ++row.leases;
    const double start = std::clamp(l.start, t0, t1), end = std::clamp(l.end.value_or(t1), t0, t1);
    busy[l.worker].push_back({start, end});
    auto [it, fresh] = first_lease.emplace(l.worker, start);
    if (!fresh) it->second = std::min(it->second, start);
  }

  // Measured seconds per step over every result: for trials that repeated steps but reported none.
  double all_seconds = 0;
  int64_t all_steps = 0;
  for (const v1::Trial& t : snapshot.trials) {
    for (const v1::RungResult& r : t.results()) {
      all_seconds += r.train_seconds();
      all_steps += TrainedSteps(r);
    }
  }
  const double mean_seconds_per_step = all_steps > 0 ? all_seconds / all_steps : 0;
  double reported_training = 0;
  for (const v1::Trial& t : snapshot.trials) {
    double seconds = 0;
    int64_t steps = 0;
    for (const v1::RungResult& r : t.results()) {
      ++out.results;
      seconds += r.train_seconds();
      steps += TrainedSteps(r);
      reported_training += r.train_seconds();
      out.split.evaluation += r.eval_seconds();
      out.split.checkpoint += r.checkpoint_seconds();
      auto w = workers.find(r.worker());
      if (w != workers.end()) ++w->second.results;
    }
    const double per_step = steps > 0 ? seconds / steps : mean_seconds_per_step;
    // Repeated steps a reported lease trained are inside its train_seconds; those of a lease lost
    // without a report are not, and count under "other" with the rest of that lease.
    out.split.repeated += std::min(seconds, static_cast<double>(t.repeated_steps()) * per_step);
  }
  out.split.training = std::max(0.0, reported_training - out.split.repeated);

  double busy_seconds = 0, present_seconds = 0;
  for (auto& [id, row] : workers) {
    auto registered = registered_at.find(id);
    double from = registered != registered_at.end() ? registered->second : t1;
    if (auto f = first_lease.find(id); f != first_lease.end()) from = std::min(from, f->second);
    from = std::clamp(from, t0, t1);
    row.busy_seconds = Covered(busy[id]);
    row.present_seconds = std::max(t1 - from, row.busy_seconds);
    busy_seconds += row.busy_seconds;
    present_seconds += row.present_seconds;
    out.workers.push_back(row);
  }
  const double measured = out.split.training + out.split.repeated + out.split.evaluation + out.split.checkpoint;
  out.split.other = std::max(0.0, busy_seconds - measured);
  out.split.idle = std::max(0.0, present_seconds - busy_seconds);
  return out;
}

absl::Status RunSearchThroughput(const SearchThroughputOptions& options, std::ostream& out) {
  if (options.db.empty()) return absl::InvalidArgumentError("--db: the search's database is required");
  ASSIGN_OR_RETURN(const std::unique_ptr<ctl::Store> store, ctl::OpenSqliteStore(options.db, {.read_only = true}));
  absl::StatusOr<SearchThroughput> measured = MeasureSearchThroughput(*store);
  if (!measured.ok()) {
    return absl::Status(measured.status().code(), absl::StrFormat("%s: %s", options.db, measured.status().message()));
  }
  const SearchThroughput& s = *measured;
  const WorkerTimeSplit& split = s.split;
  const double total = split.total();
  const std::pair<const char*, double> parts[] = {
      {"training", split.training},     {"evaluation", split.evaluation}, {"checkpoint_io", split.checkpoint},
      {"repeated_steps", split.repeated}, {"other_in_lease", split.other}, {"idle", split.idle}};
  if (options.json) {
    json j;
    j["db"] = options.db;
    j["experiment"] = s.experiment;
    j["simulated"] = s.simulated;
    j["leases"] = s.leases;
    j["results"] = s.results;
    j["window_seconds"] = s.window_seconds();
    j["results_per_hour"] = s.results_per_hour();
    j["busy_fraction"] = s.busy_fraction();
    j["worker_seconds"] = total;
    json seconds = json::object(), fractions = json::object();
    for (const auto& [name, value] : parts) {
      seconds[name] = value;
      fractions[name] = Share(value, total);
    }
    j["split_seconds"] = seconds;
    j["split_fractions"] = fractions;
    j["workers"] = json::array();
    for (const WorkerThroughput& w : s.workers) {
      j["workers"].push_back({{"id", w.id},
                              {"host", w.host},
                              {"device", w.device},
                              {"leases", w.leases},
                              {"results", w.results},
                              {"present_seconds", w.present_seconds},
                              {"busy_seconds", w.busy_seconds},
                              {"busy_fraction", w.busy_fraction()}});
    }
    out << j.dump() << "\n";
    return absl::OkStatus();
  }
  out << absl::StrFormat("%s: experiment \"%s\"%s\n", options.db, s.experiment, s.simulated ? " (simulated)" : "");
  if (s.leases == 0) {
    out << "No trial has been leased yet.\n";
    return absl::OkStatus();
  }
  out << absl::StrFormat("%d rung results in %s from the first lease to the last report: %.1f per hour\n", s.results,
                         Span(s.window_seconds()), s.results_per_hour());
  out << absl::StrFormat("%d workers, busy %.1f%% of their time overall\n", s.workers.size(), 100 * s.busy_fraction());
  for (const WorkerThroughput& w : s.workers) {
    out << absl::StrFormat("  %-24s %-14s %3d leases %3d results, busy %5.1f%% of %s\n", w.id,
                           w.device.empty() ? "" : w.device, w.leases, w.results, 100 * w.busy_fraction(),
                           Span(w.present_seconds));
  }
  out << absl::StrFormat("Worker time, %s in all%s:\n", Span(total),
                         s.simulated ? " (evaluation and checkpoint I/O: the simulated trainer's shares)" : "");
  const std::pair<const char*, double> lines[] = {
      {"training", split.training},
      {"evaluation", split.evaluation},
      {"checkpoint I/O", split.checkpoint},
      {"repeated steps", split.repeated},
      {"other in a lease (model, data, reports, lost leases)", split.other},
      {"idle", split.idle}};
  for (const auto& [name, value] : lines) {
    out << absl::StrFormat("  %-54s %5.1f%%  %s\n", name, 100 * Share(value, total), Span(value));
  }
  return absl::OkStatus();
}

}  // namespace vertebra::bench
