// `vertebra bench search`: the policies against each other on the simulated objective, in-process
// and deterministic (a fake clock, no network): the scheduler, the store's in-memory twin, and the
// simulated trainer's SimulatedAp as the "training". It reports, per algorithm over several
// seeds, the best architecture found (by its noiseless final AP, which no policy sees) and the
// mean final AP of the last quarter of proposals, and writes the best-so-far curves as CSV.
//
// `--rungs` compares budgets: e.g. "500" (one low rung) against "500,2000" (successive halving)
// with the same total number of training steps.
#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "controller/config.h"
#include "controller/scheduler.h"
#include "nlohmann/json.hpp"
#include "worker/agent/simulated.h"

namespace vertebra::cli {
namespace {

namespace ctl = ::vertebra::controller;
using json = nlohmann::json;

// Simulated time that moves one second per report. The search runs on one thread.
class SteppedClock : public ctl::Clock {
 public:
  double Now() const override { return now_; }
  void Advance(double seconds) { now_ += seconds; }

 private:
  double now_ = 1.7e9;  // Any fixed start: runs are reproducible.
};

struct SearchBenchFlags {
  std::string config = "experiments/simulated.json";
  std::vector<std::string> algorithms = {"ppo", "reinforce", "evolution", "random"};
  std::vector<std::string> rungs;  // Each entry "500" or "500,2000": a budget layout to compare.
  int seeds = 5;
  int64_t step_budget = 0;  // Total training steps per run (0: trials x first rung).
  int parallel = 8;
  std::string csv;
  bool json = false;
};

struct RunResult {
  double best_final = 0;            // Noiseless final AP of the architecture the search ranks best.
  double last_quarter_final = 0;    // Mean noiseless final AP of the last quarter of proposals.
  std::vector<double> best_so_far;  // Per report: final AP of the best-ranked trial so far.
  std::vector<double> proposed;     // Per report: the reported trial's final AP at its first rung, else -1.
  int64_t trials = 0;
  int64_t steps = 0;
};

// One simulated search: `parallel` leases outstanding, reported oldest first.
RunResult RunOne(v1::ExperimentConfig config, uint64_t seed, int parallel, int64_t step_budget) {
  config.set_seed(seed);
  config.mutable_lease()->set_lease_seconds(1e9);  // No heartbeats here: leases must not expire.
  std::unique_ptr<ctl::Store> store = ctl::NewMemoryStore();
  SteppedClock clock;
  ctl::SchedulerOptions options;
  options.policy_thread = false;
  absl::StatusOr<std::unique_ptr<ctl::Scheduler>> opened = ctl::Scheduler::Open(store.get(), config, &clock, options);
  if (!opened.ok()) Fail(opened.status());
  ctl::Scheduler& s = **opened;
  v1::RegisterRequest registration;
  registration.set_host("bench");
  registration.set_device("cpu");
  registration.set_simulated(true);
  absl::StatusOr<v1::RegisterReply> registered = s.Register(registration);
  if (!registered.ok()) Fail(registered.status());
  v1::LeaseRequest ask;
  ask.set_worker_id(registered->worker_id());
  const int64_t top = config.simulation().full_steps();
  RunResult out;
  std::map<int64_t, double> final_of;  // Trial -> noiseless final AP.
  std::deque<v1::LeaseReply> running;
  // The search's own view: the trial with the best reward at the highest rung reached.
  int64_t best_trial = 0;
  int best_rung = -1;
  double best_ap = -1;
  std::vector<double> proposal_finals;
  while (true) {
    if (absl::Status st = s.RunPolicy(); !st.ok()) Fail(st);
    bool finished = false;
    while (static_cast<int>(running.size()) < parallel && (step_budget == 0 || out.steps < step_budget)) {
      absl::StatusOr<v1::LeaseReply> r = s.Lease(ask);
      if (!r.ok()) Fail(r.status());
      if (r->status() == v1::LeaseReply::FINISHED) finished = true;
      if (r->status() != v1::LeaseReply::GRANTED) break;
      out.steps += r->steps() - r->previous_steps();  // Promotions continue from a checkpoint.
      running.push_back(*std::move(r));
    }
    if (running.empty()) {
      if (finished || (step_budget > 0 && out.steps >= step_budget)) break;
      if (absl::Status st = s.RunPolicy(); !st.ok()) Fail(st);
      absl::StatusOr<v1::LeaseReply> r = s.Lease(ask);
      if (!r.ok() || r->status() != v1::LeaseReply::GRANTED) break;
      out.steps += r->steps() - r->previous_steps();
      running.push_back(*std::move(r));
    }
    const v1::LeaseReply g = running.front();
    running.pop_front();
    absl::StatusOr<worker::SimulatedScore> score =
        worker::SimulatedAp(g.spec(), g.steps(), top, config.simulation(), config.seed(), g.rung());
    if (!score.ok()) Fail(score.status());
    v1::ReportRequest report;
    report.set_worker_id(registered->worker_id());
    report.set_trial(g.trial());
    report.set_lease(g.lease());
    report.mutable_ap()->mutable_stats()->Add(score->stats.begin(), score->stats.end());
    report.set_simulated(true);
    if (absl::StatusOr<v1::ReportReply> o = s.Report(report); !o.ok()) Fail(o.status());
    clock.Advance(1);
    out.proposed.push_back(g.rung() == 0 ? score->final_ap : -1);
    if (g.rung() == 0) {
      final_of[g.trial()] = score->final_ap;
      proposal_finals.push_back(score->final_ap);
    }
    if (g.rung() > best_rung || (g.rung() == best_rung && score->stats[0] > best_ap)) {
      best_rung = g.rung();
      best_ap = score->stats[0];
      best_trial = g.trial();
    }
    out.best_so_far.push_back(final_of[best_trial]);
  }
  out.trials = static_cast<int64_t>(proposal_finals.size());
  out.best_final = best_trial ? final_of[best_trial] : 0;
  const size_t q = proposal_finals.size() / 4;
  if (q > 0) {
    out.last_quarter_final =
        std::accumulate(proposal_finals.end() - q, proposal_finals.end(), 0.0) / static_cast<double>(q);
  }
  return out;
}

double Mean(const std::vector<double>& v) { return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }
double Sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = Mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / (v.size() - 1));
}

void RunSearchBench(const SearchBenchFlags& f) {
  absl::StatusOr<v1::ExperimentConfig> base = ctl::ReadExperimentConfig(f.config);
  if (!base.ok()) Fail(base.status());
  if (!base->simulated()) Fail(absl::InvalidArgumentError(f.config + ": bench search needs a simulated experiment"));
  std::vector<std::string> layouts = f.rungs;
  if (layouts.empty()) {
    std::vector<std::string> steps;
    for (int64_t s : base->rungs().steps()) steps.push_back(std::to_string(s));
    layouts.push_back(absl::StrJoin(steps, ","));
  }
  int64_t full_steps = base->simulation().full_steps();
  for (const std::string& layout : layouts) {
    for (const std::string& s : std::vector<std::string>(absl::StrSplit(layout, ','))) {
      full_steps = std::max<int64_t>(full_steps, std::stoll(s));
    }
  }
  json rows = json::array();
  std::ofstream csv;
  if (!f.csv.empty()) {
    csv.open(f.csv);
    csv << "algorithm,rungs,seed,report,best_final_ap,proposal_final_ap\n";
  }
  for (const std::string& layout : layouts) {
    for (const std::string& algorithm : f.algorithms) {
      v1::ExperimentConfig config = *base;
      config.mutable_algorithm()->set_kind(algorithm);
      config.mutable_rungs()->clear_steps();
      for (const std::string& s : std::vector<std::string>(absl::StrSplit(layout, ','))) {
        config.mutable_rungs()->add_steps(std::stoll(s));
      }
      // With a step budget, the trial budget is only a ceiling. Every layout is scored against
      // the same "final" budget: the largest rung of any layout compared.
      if (f.step_budget > 0) config.mutable_budget()->set_trials(1000000);
      config.mutable_simulation()->set_full_steps(full_steps);
      std::vector<double> best, last;
      std::vector<int64_t> trials;
      for (int seed = 0; seed < f.seeds; ++seed) {
        const RunResult r = RunOne(config, 1000 + seed, f.parallel, f.step_budget);
        best.push_back(r.best_final);
        last.push_back(r.last_quarter_final);
        trials.push_back(r.trials);
        if (csv.is_open()) {
          for (size_t i = 0; i < r.best_so_far.size(); ++i) {
            // A report of a promoted trial leaves the proposal column empty.
            const std::string proposed = r.proposed[i] < 0 ? "" : absl::StrFormat("%.6f", r.proposed[i]);
            csv << absl::StrFormat("\"%s\",\"%s\",%d,%d,%.6f,%s\n", algorithm, layout, seed, i + 1, r.best_so_far[i],
                                   proposed);
          }
        }
      }
      rows.push_back({{"algorithm", algorithm},
                      {"rungs", layout},
                      {"seeds", f.seeds},
                      {"best_final_mean", Mean(best)},
                      {"best_final_sd", Sd(best)},
                      {"last_quarter_mean", Mean(last)},
                      {"last_quarter_sd", Sd(last)},
                      {"trials_mean", Mean(std::vector<double>(trials.begin(), trials.end()))}});
      if (!f.json) {
        std::cout << absl::StrFormat(
            "%-10s rungs %-10s best found %.4f +- %.4f   last quarter %.4f +- %.4f   (%.0f trials, %d seeds)\n",
            algorithm, layout, Mean(best), Sd(best), Mean(last), Sd(last),
            Mean(std::vector<double>(trials.begin(), trials.end())), f.seeds);
      }
    }
  }
  if (f.json) std::cout << rows.dump() << "\n";
}

}  // namespace

void RegisterSearchBenchmark(CLI::App& bench) {
  auto f = std::make_shared<SearchBenchFlags>();
  CLI::App* cmd = bench.add_subcommand(
      "search", "Compare the policies (and rung layouts) on the simulated objective, in-process and deterministic");
  cmd->add_option("--config", f->config, "A simulated experiment")->capture_default_str();
  cmd->add_option("--algorithms", f->algorithms, "ppo reinforce evolution random")->capture_default_str();
  cmd->add_option("--rungs", f->rungs, "Rung layouts to compare, e.g. 500 500,2000 (default: the config's)");
  cmd->add_option("--seeds", f->seeds, "Seeds per algorithm")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--step-budget", f->step_budget, "Total training steps per search (default: the trial budget)");
  cmd->add_option("--parallel", f->parallel, "Leases outstanding at once")->capture_default_str();
  cmd->add_option("--csv", f->csv, "Write the curves here: per report, the best-so-far and the proposal's final AP (CSV)");
  cmd->add_flag("--json", f->json, "Print JSON");
  cmd->callback([f] { RunSearchBench(*f); });
}

}  // namespace vertebra::cli
