#include "bench/report_bench.h"

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "controller/config.h"
#include "controller/store.h"
#include "inspect/report.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_spec.h"
#include "search_spaces/decisions.h"
#include "search_spaces/proxy.h"

namespace vertebra::bench {
namespace {

namespace ctl = ::vertebra::controller;
namespace ss = ::vertebra::search_spaces;
using SteadyClock = std::chrono::steady_clock;

// The generated experiment. Three rungs as a long search would use; max_macs near the top of the
// sampled costs so that a few percent of proposals are rejected.
constexpr const char* kBenchConfig = R"json({
  "name": "generated-report-bench",
  "seed": 1,
  "algorithm": {"kind": "evolution", "population": 64, "tournament": 8},
  "budget": {"trials": 10000, "parallel": 32},
  "rungs": {"steps": [500, 2000, 8000], "eta": 3},
  "simulation": {"seconds": 0.05}
})json";
// Share of proposals over the MACs limit, and of trainings that fail.
constexpr double kRejectedShare = 0.04;
constexpr double kFailedShare = 0.01;
constexpr double kExpiredShare = 0.02;
// Made-up training speed: seconds per step of a network of median cost.
constexpr double kSecondsPerStep = 0.01;
// Fixed start of the generated history, so that the same flags give the same database.
constexpr double kStartTime = 1.7e9;
// Rows per transaction while writing the history.
constexpr size_t kWriteChunk = 1000;

double Millis(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Generated {
  int64_t results = 0, rejected = 0, failed = 0;
};

// A history like a search's: trials proposed in id order, leased to the first free worker
// (promotions first), promoted when in the top 1/eta of their rung so far.
absl::StatusOr<Generated> Generate(ctl::Store& store, const ReportBenchOptions& f) {
  absl::StatusOr<v1::ExperimentConfig> parsed = ctl::ParseExperimentConfig(kBenchConfig, "bench report");
  if (!parsed.ok()) return parsed.status();
  v1::ExperimentConfig config = *parsed;
  config.mutable_budget()->set_trials(f.trials);
  config.mutable_budget()->set_parallel(f.workers);
  config.set_seed(f.seed);
  absl::StatusOr<ss::SearchSpace> space = ss::SearchSpace::Create(ss::SearchSpaceOptions{});
  if (!space.ok()) return space.status();
  std::mt19937_64 rng(f.seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform;

  std::vector<v1::Trial> trials(f.trials);
  std::vector<double> quality(f.trials);
  std::vector<int64_t> costs;
  for (int i = 0; i < f.trials; ++i) {
    const std::vector<int> d = space->Sample(rng);
    absl::StatusOr<v1::ArchSpec> spec = space->Decode(d);
    if (!spec.ok()) return spec.status();
    absl::StatusOr<ss::ResolvedProxy> model = ss::ResolveProxy(*spec, config.proxy());
    if (!model.ok()) return model.status();
    v1::Trial& t = trials[i];
    t.set_id(i + 1);
    *t.mutable_spec() = *spec;
    t.set_hash(ss::ArchHash(*spec));
    for (int x : d) t.add_decisions(x);
    t.set_params(model->cost.total_params);
    t.set_macs(model->cost.total_macs);
    costs.push_back(model->cost.total_macs);
  }
  std::vector<int64_t> sorted = costs;
  std::sort(sorted.begin(), sorted.end());
  const int64_t max_macs = sorted[static_cast<size_t>((1 - kRejectedShare) * (sorted.size() - 1))];
  const double median = static_cast<double>(sorted[sorted.size() / 2]);
  config.mutable_objective()->set_max_macs(max_macs);
  for (int i = 0; i < f.trials; ++i) {
    // A larger network does better, the search finds better ones as it goes, and each has a
    // trait no cost explains.
    quality[i] = 0.30 + 0.05 * std::log(costs[i] / median) + 0.04 * i / f.trials + 0.03 * normal(rng);
  }

  Generated g;
  std::vector<ctl::Event> events;
  auto event = [&events](double at, const std::string& kind, int64_t trial, const std::string& detail) {
    ctl::Event e;
    e.at = at;
    e.kind = kind;
    e.trial = trial;
    e.detail = detail;
    events.push_back(std::move(e));
  };
  ctl::Mutation start;
  start.create_experiment = config;
  start.experiment_state = v1::EXPERIMENT_RUNNING;
  event(kStartTime, "controller_started", 0, "generated history");
  std::vector<std::string> worker_ids;
  for (int w = 0; w < f.workers; ++w) {
    ctl::WorkerRecord r;
    r.id = absl::StrFormat("w-%d", w + 1);
    r.host = absl::StrFormat("gen-host-%d", w / 8);
    r.device = "simulated";
    r.simulated = true;
    r.registered_at = r.last_seen = kStartTime;
    worker_ids.push_back(r.id);
    start.workers.push_back(r);
    event(kStartTime, "registered", 0, absl::StrFormat("%s on %s (%s)", r.id, r.host, r.device));
  }

  const v1::RungConfig& rungs = config.rungs();
  const int num_rungs = rungs.steps_size();
  std::vector<std::vector<double>> rung_aps(num_rungs);  // Sorted.
  struct Job {
    int64_t trial;
    int rung;
    double ready;  // When the result that earned the promotion is in.
  };
  auto later = [](const Job& a, const Job& b) { return a.ready != b.ready ? a.ready > b.ready : a.trial > b.trial; };
  std::priority_queue<Job, std::vector<Job>, decltype(later)> promotions(later);
  // Workers by the time they are free, then by index.
  using Free = std::pair<double, int>;
  std::priority_queue<Free, std::vector<Free>, std::greater<Free>> free;
  for (int w = 0; w < f.workers; ++w) free.push({kStartTime, w});
  int64_t next_new = 0, lease = 0, sequence = 0;
  while (true) {
    auto [now, w] = free.top();
    // The next proposal within the limit; those over it are rejected as they are proposed.
    while (next_new < f.trials && trials[next_new].macs() > max_macs) {
      v1::Trial& t = trials[next_new];
      t.set_state(v1::REJECTED);
      t.set_failure(absl::StrFormat("%d multiply-adds exceed objective.max_macs %d", t.macs(), max_macs));
      t.set_created_at(now);
      t.set_finished_at(now);
      event(now, "rejected", t.id(), t.failure());
      ++g.rejected;
      ++next_new;
    }
    Job job;
    if (!promotions.empty() && (promotions.top().ready <= now || next_new >= f.trials)) {
      job = promotions.top();
      promotions.pop();
      now = std::max(now, job.ready);
    } else if (next_new < f.trials) {
      job = {next_new++, 0, now};
      trials[job.trial].set_created_at(now);
    } else {
      break;
    }
    free.pop();
    v1::Trial& t = trials[job.trial];
    const int64_t steps = rungs.steps(job.rung);
    const int64_t previous = job.rung > 0 ? rungs.steps(job.rung - 1) : 0;
    const double seconds =
        (steps - previous) * kSecondsPerStep * std::sqrt(t.macs() / median) * (0.9 + 0.2 * uniform(rng));
    t.set_worker(worker_ids[w]);
    t.set_rung(job.rung);
    t.set_lease(++lease);
    t.set_leased_at(now);
    t.set_attempts(1);
    event(now, "leased", t.id(), ctl::LeasedEventDetail(lease, worker_ids[w], job.rung, 1));
    if (uniform(rng) < kExpiredShare) {
      event(now + seconds / 2, "expired", t.id(), absl::StrFormat("lease %d of %s", lease, worker_ids[w]));
    }
    const double end = now + seconds;
    free.push({end, w});
    if (job.rung == 0 && uniform(rng) < kFailedShare) {
      t.set_state(v1::FAILED);
      t.set_failure("generated failure: the worker reported an error while training");
      t.set_finished_at(end);
      event(end, "failed", t.id(), t.failure());
      ++g.failed;
      continue;
    }
    const double fraction = 1 - 0.6 * std::exp(-static_cast<double>(steps) / rungs.steps(num_rungs - 1));
    const double top_fraction = 1 - 0.6 * std::exp(-1.0);
    const double ap = std::clamp(quality[job.trial] * fraction + 0.01 * normal(rng), 0.01, 0.9);
    v1::RungResult* r = t.add_results();
    r->set_rung(job.rung);
    r->set_steps(steps);
    // The twelve COCO numbers, shaped like real ones around the AP.
    for (double m : {1.0, 1.55, 1.05, 0.35, 1.05, 1.4, 0.45, 0.8, 0.95, 0.55, 1.1, 1.45}) {
      r->mutable_ap()->add_stats(std::min(1.0, ap * m));
    }
    r->set_ap_at_top(ap * top_fraction / fraction);
    r->set_reward(r->ap_at_top());
    r->set_train_seconds(seconds);
    r->set_images_per_s(16 / (seconds / (steps - previous)));
    r->set_worker(worker_ids[w]);
    r->set_simulated(true);
    r->set_continued(job.rung > 0);
    r->set_reported_at(end);
    r->set_lease(lease);
    r->set_sequence(++sequence);
    t.set_reward(r->reward());
    t.set_state(v1::DONE);
    t.set_finished_at(end);
    t.set_reported_lease(lease);
    event(end, "reported", t.id(), absl::StrFormat("AP %.4f at rung %d by %s", ap, job.rung, worker_ids[w]));
    ++g.results;
    std::vector<double>& seen = rung_aps[job.rung];
    seen.insert(std::upper_bound(seen.begin(), seen.end(), ap), ap);
    const int64_t better = seen.end() - std::upper_bound(seen.begin(), seen.end(), ap);
    if (job.rung + 1 < num_rungs && better < static_cast<int64_t>(seen.size()) / rungs.eta()) {
      promotions.push({job.trial, job.rung + 1, end});
      event(end, "promoted", t.id(), absl::StrFormat("to rung %d (%d steps)", job.rung + 1, rungs.steps(job.rung + 1)));
    }
  }
  double last = kStartTime;
  for (const v1::Trial& t : trials) last = std::max(last, t.finished_at());
  event(last, "finished", 0, "every trial is accounted for");
  std::stable_sort(events.begin(), events.end(), [](const ctl::Event& a, const ctl::Event& b) { return a.at < b.at; });

  if (absl::Status st = store.Apply(start); !st.ok()) return st;
  for (size_t i = 0; i < trials.size(); i += kWriteChunk) {
    ctl::Mutation m;
    m.trials.assign(trials.begin() + i, trials.begin() + std::min(trials.size(), i + kWriteChunk));
    if (absl::Status st = store.Apply(m); !st.ok()) return st;
  }
  for (size_t i = 0; i < events.size(); i += 5 * kWriteChunk) {
    ctl::Mutation m;
    m.events.assign(events.begin() + i, events.begin() + std::min(events.size(), i + 5 * kWriteChunk));
    if (absl::Status st = store.Apply(m); !st.ok()) return st;
  }
  ctl::Mutation end;
  end.experiment_state = v1::EXPERIMENT_FINISHED;
  end.policy = ctl::PolicyCheckpoint{v1::ALGORITHM_EVOLUTION, sequence, "generated: no policy ran"};
  if (absl::Status st = store.Apply(end); !st.ok()) return st;
  return g;
}

}  // namespace

absl::Status RunReportBench(const ReportBenchOptions& f, std::ostream& os) {
  std::string dir_template = (std::filesystem::temp_directory_path() / "vertebra-report-bench-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::UnavailableError(absl::StrFormat("%s: cannot create a temporary directory", dir_template));
  }
  const std::string dir = dir_template;
  const std::string db = dir + "/generated.db";
  const SteadyClock::time_point g0 = SteadyClock::now();
  Generated g;
  {
    ctl::SqliteOptions options;
    options.full_sync = false;  // A throw-away database: durability buys nothing here.
    ASSIGN_OR_RETURN(const std::unique_ptr<ctl::Store> store, ctl::OpenSqliteStore(db, options));
    ASSIGN_OR_RETURN(g, Generate(*store, f));
  }
  const double generate_ms = Millis(SteadyClock::now() - g0);

  // Best of `repeat`: open read-only, load, render, as `vertebra report` does.
  double best_ms = 0, load_ms = 0;
  std::string html;
  for (int i = 0; i < f.repeat; ++i) {
    const SteadyClock::time_point t0 = SteadyClock::now();
    ctl::SqliteOptions options;
    options.read_only = true;
    ASSIGN_OR_RETURN(const std::unique_ptr<ctl::Store> store, ctl::OpenSqliteStore(db, options));
    const SteadyClock::time_point t1 = SteadyClock::now();
    RETURN_IF_ERROR(store->Load().status());
    const double load = Millis(SteadyClock::now() - t1);
    const SteadyClock::time_point t2 = SteadyClock::now();
    inspect::ReportOptions report_options;
    report_options.source = db;
    ASSIGN_OR_RETURN(std::string rendered, inspect::RenderReport(*store, report_options));
    const double ms = Millis(SteadyClock::now() - t2) + Millis(t1 - t0);
    if (i == 0 || ms < best_ms) {
      best_ms = ms;
      load_ms = load;
    }
    html = std::move(rendered);
  }
  const std::string out = f.out.empty() ? dir + "/report.html" : f.out;
  RETURN_IF_ERROR(WriteFileAtomically(out, html));
  if (!f.keep) {
    std::error_code ignored;
    std::filesystem::remove(db, ignored);
    std::filesystem::remove(db + "-wal", ignored);
    std::filesystem::remove(db + "-shm", ignored);
    std::filesystem::remove(db + ".lock", ignored);
    if (f.out.empty()) std::filesystem::remove(out, ignored);
    std::filesystem::remove(dir, ignored);
  }
  if (f.json) {
    nlohmann::json j = {{"trials", f.trials},     {"workers", f.workers}, {"results", g.results},
                        {"rejected", g.rejected}, {"failed", g.failed},   {"generate_ms", generate_ms},
                        {"render_ms", best_ms},   {"load_ms", load_ms},   {"bytes", html.size()},
                        {"repeat", f.repeat}};
    if (f.keep || !f.out.empty()) j["report"] = out;
    if (f.keep) j["db"] = db;
    os << j.dump() << "\n";
    return absl::OkStatus();
  }
  os << absl::StrFormat(
      "generated history (simulated): %d trials, %d rung results, %d rejected, %d failed, %d workers, in %.0f ms\n"
      "report: %.0f KB, rendered in %.0f ms (best of %d; Load() of the store alone: %.0f ms)\n",
      f.trials, g.results, g.rejected, g.failed, f.workers, generate_ms, html.size() / 1024.0, best_ms, f.repeat,
      load_ms);
  if (f.keep || !f.out.empty()) os << absl::StrFormat("wrote %s\n", out);
  if (f.keep) os << absl::StrFormat("kept the database %s\n", db);
  return absl::OkStatus();
}

}  // namespace vertebra::bench
