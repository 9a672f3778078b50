#include "bench/search_bench.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "controller/config.h"
#include "controller/policy.h"
#include "controller/scheduler.h"
#include "nlohmann/json.hpp"
#include "proto/kinds.h"
#include "search_spaces/proxy.h"
#include "worker/agent/simulated.h"
#include "worker/agent/surrogate.h"

namespace vertebra::bench {
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

struct RunResult {
  double best_final = 0;            // Noiseless final AP of the architecture the search ranks best.
  double last_quarter_final = 0;    // Mean noiseless final AP of the last quarter of proposals.
  std::vector<double> best_so_far;  // Per report: final AP of the best-ranked trial so far.
  std::vector<double> proposed;     // Per report: the reported trial's final AP at its first rung, else -1.
  int64_t trials = 0;
  int64_t steps = 0;
};

// One simulated search: `parallel` leases outstanding, reported oldest first.
absl::StatusOr<RunResult> RunOne(v1::ExperimentConfig config, uint64_t seed, int parallel, int64_t step_budget) {
  config.set_seed(seed);
  config.mutable_lease()->set_lease_seconds(1e9);  // No heartbeats here: leases must not expire.
  std::unique_ptr<ctl::Store> store = ctl::NewMemoryStore();
  SteppedClock clock;
  ctl::SchedulerOptions options;
  options.policy_thread = false;
  ASSIGN_OR_RETURN(const std::unique_ptr<ctl::Scheduler> opened,
                   ctl::Scheduler::Open(store.get(), config, &clock, options));
  ctl::Scheduler& s = *opened;
  v1::RegisterRequest registration;
  registration.set_host("bench");
  registration.set_device("cpu");
  registration.set_simulated(true);
  ASSIGN_OR_RETURN(const v1::RegisterReply registered, s.Register(registration));
  v1::LeaseRequest ask;
  ask.set_worker_id(registered.worker_id());
  ask.set_worker_secret(registered.worker_secret());
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
    RETURN_IF_ERROR(s.RunPolicy());
    bool finished = false;
    while (static_cast<int>(running.size()) < parallel && (step_budget == 0 || out.steps < step_budget)) {
      ASSIGN_OR_RETURN(v1::LeaseReply r, s.Lease(ask));
      if (r.status() == v1::LeaseReply::FINISHED) finished = true;
      if (r.status() != v1::LeaseReply::GRANTED) break;
      out.steps += r.steps() - r.previous_steps();  // Promotions continue from a checkpoint.
      running.push_back(std::move(r));
    }
    if (running.empty()) {
      if (finished || (step_budget > 0 && out.steps >= step_budget)) break;
      RETURN_IF_ERROR(s.RunPolicy());
      absl::StatusOr<v1::LeaseReply> r = s.Lease(ask);
      if (!r.ok() || r->status() != v1::LeaseReply::GRANTED) break;
      out.steps += r->steps() - r->previous_steps();
      running.push_back(*std::move(r));
    }
    const v1::LeaseReply g = running.front();
    running.pop_front();
    ASSIGN_OR_RETURN(const worker::SimulatedScore score,
                     worker::SimulatedAp(g.spec(), g.steps(), top, config.simulation(), config.seed(), g.rung()));
    v1::ReportRequest report;
    report.set_worker_id(registered.worker_id());
    report.set_worker_secret(registered.worker_secret());
    report.set_trial(g.trial());
    report.set_lease(g.lease());
    report.mutable_ap()->mutable_stats()->Add(score.stats.begin(), score.stats.end());
    report.set_simulated(true);
    RETURN_IF_ERROR(s.Report(report).status());
    clock.Advance(1);
    out.proposed.push_back(g.rung() == 0 ? score.final_ap : -1);
    if (g.rung() == 0) {
      final_of[g.trial()] = score.final_ap;
      proposal_finals.push_back(score.final_ap);
    }
    if (g.rung() > best_rung || (g.rung() == best_rung && score.stats[0] > best_ap)) {
      best_rung = g.rung();
      best_ap = score.stats[0];
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

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}
double Sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = Mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / (v.size() - 1));
}

}  // namespace

absl::Status RunSearchBench(const SearchBenchOptions& f, std::ostream& out) {
  ASSIGN_OR_RETURN(v1::ExperimentConfig base, ctl::ReadExperimentConfig(f.config));
  if (!base.simulated()) return absl::InvalidArgumentError(f.config + ": bench search needs a simulated experiment");
  if (!f.objective.empty()) base.mutable_simulation()->set_objective(f.objective);
  std::vector<std::string> layouts = f.rungs;
  if (layouts.empty()) {
    std::vector<std::string> steps;
    for (int64_t s : base.rungs().steps()) steps.push_back(std::to_string(s));
    layouts.push_back(absl::StrJoin(steps, ","));
  }
  int64_t full_steps = base.simulation().full_steps();
  for (const std::string& layout : layouts) {
    for (const std::string& s : std::vector<std::string>(absl::StrSplit(layout, ','))) {
      full_steps = std::max<int64_t>(full_steps, std::stoll(s));
    }
  }
  json rows = json::array();
  std::ofstream csv, runs_csv;
  if (!f.csv.empty()) {
    csv.open(f.csv);
    csv << "algorithm,rungs,seed,report,best_final_ap,proposal_final_ap\n";
  }
  if (!f.runs_csv.empty()) {
    runs_csv.open(f.runs_csv);
    runs_csv << "algorithm,learning_rate,temperature,tanh_constant,entropy_weight,update_every,rungs,seed,trials,"
                "best_final_ap,last_quarter_final_ap\n";
  }
  // (algorithm, learning rate): the RL policies once per rate asked for.
  std::vector<std::pair<std::string, double>> variants;
  for (const std::string& algorithm : f.algorithms) {
    const bool rl = IsRlAlgorithm(ParseKind<v1::Algorithm>(algorithm).value_or(v1::ALGORITHM_UNSPECIFIED));
    if (!rl || f.learning_rates.empty()) {
      variants.push_back({algorithm, base.algorithm().learning_rate()});
    } else {
      for (double lr : f.learning_rates) variants.push_back({algorithm, lr});
    }
  }
  for (const std::string& layout : layouts) {
    for (const auto& [algorithm_kind, learning_rate] : variants) {
      v1::ExperimentConfig config = base;
      config.mutable_algorithm()->set_kind(algorithm_kind);
      config.mutable_algorithm()->set_learning_rate(learning_rate);
      const std::string algorithm =
          f.learning_rates.empty() || !IsRlAlgorithm(AlgorithmOf(config.algorithm()))
              ? algorithm_kind
              : absl::StrFormat("%s@%g", algorithm_kind, learning_rate);
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
        ASSIGN_OR_RETURN(const RunResult r, RunOne(config, 1000 + seed, f.parallel, f.step_budget));
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
        if (runs_csv.is_open()) {
          const v1::AlgorithmConfig& a = config.algorithm();
          runs_csv << absl::StrFormat("%s,%g,%g,%g,%g,%d,\"%s\",%d,%d,%.6f,%.6f\n", algorithm_kind, a.learning_rate(),
                                      a.temperature(), a.tanh_constant(), a.entropy_weight(), a.update_every(), layout,
                                      seed, r.trials, r.best_final, r.last_quarter_final);
          runs_csv.flush();
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
        out << absl::StrFormat(
            "%-16s rungs %-10s best found %.4f +- %.4f   last quarter %.4f +- %.4f   (%.0f trials, %d seeds)\n",
            algorithm, layout, Mean(best), Sd(best), Mean(last), Sd(last),
            Mean(std::vector<double>(trials.begin(), trials.end())), f.seeds);
      }
    }
  }
  if (SimulatedObjectiveOf(base.simulation()) == v1::SIMULATED_OBJECTIVE_SURROGATE && !f.json) {
    if (const std::string note = worker::SurrogateProvisionalNote(); !note.empty()) {
      out << "note: the surrogate's fit is provisional: " << note << "\n";
    }
  }
  if (f.json) out << rows.dump() << "\n";
  return absl::OkStatus();
}

namespace {

// Per decision, the share of samples choosing each option.
using Marginals = std::vector<std::vector<double>>;

Marginals MarginalsOf(const search_spaces::SearchSpace& space, const std::vector<std::vector<int>>& samples) {
  Marginals m;
  for (const search_spaces::Decision& d : space.decisions()) m.emplace_back(d.num_options, 0.0);
  for (const std::vector<int>& s : samples) {
    for (size_t t = 0; t < s.size(); ++t) m[t][s[t]] += 1.0 / static_cast<double>(samples.size());
  }
  return m;
}

// Total-variation distance between two samples' marginals, per decision: (mean, max) over decisions.
std::pair<double, double> MarginalDistance(const Marginals& a, const Marginals& b) {
  double sum = 0, worst = 0;
  for (size_t t = 0; t < a.size(); ++t) {
    double tv = 0;
    for (size_t o = 0; o < a[t].size(); ++o) tv += std::abs(a[t][o] - b[t][o]) / 2;
    sum += tv;
    worst = std::max(worst, tv);
  }
  return {a.empty() ? 0 : sum / static_cast<double>(a.size()), worst};
}

// log p(decisions) under SearchSpace::Sample, step by step: the completion weights' share.
double UniformLogProb(const search_spaces::SearchSpace& space, const std::vector<int>& decisions,
                      std::vector<double>* per_step) {
  search_spaces::DecisionCursor cursor(space);
  double total = 0;
  for (int d : decisions) {
    const std::vector<int64_t> w = cursor.CompletionWeights();
    const double sum = static_cast<double>(std::accumulate(w.begin(), w.end(), int64_t{0}));
    const double lp = std::log(static_cast<double>(w[d]) / sum);
    if (per_step != nullptr) per_step->push_back(lp);
    total += lp;
    (void)cursor.Choose(d);
  }
  return total;
}

}  // namespace

absl::Status RunUntrainedBench(const UntrainedBenchOptions& f, std::ostream& out) {
  absl::StatusOr<v1::ExperimentConfig> config = ctl::ReadExperimentConfig(f.config);
  if (!config.ok()) return config.status();
  config->set_seed(f.seed);
  absl::StatusOr<search_spaces::SearchSpace> space = ctl::MakeSearchSpace(*config);
  if (!space.ok()) return space.status();
  const int64_t top = config->simulation().full_steps() > 0 ? config->simulation().full_steps() : 2000;
  auto final_ap = [&](const std::vector<int>& d) -> absl::StatusOr<double> {
    ASSIGN_OR_RETURN(const v1::ArchSpec spec, space->Decode(d));
    ASSIGN_OR_RETURN(const search_spaces::ResolvedProxy proxy, search_spaces::ResolveProxy(spec, config->proxy()));
    ASSIGN_OR_RETURN(const worker::SimulatedScore s,
                     worker::SimulatedAp(proxy.spec, top, top, config->simulation(), f.seed, 0));
    return s.final_ap;
  };
  // Two independent uniform sets: the second gives the marginal distance sampling noise alone makes.
  std::mt19937_64 rng(f.seed);
  std::vector<std::vector<int>> uniform, uniform2;
  std::vector<double> uniform_ap;
  for (int i = 0; i < f.samples; ++i) {
    uniform.push_back(space->Sample(rng));
    ASSIGN_OR_RETURN(const double ap, final_ap(uniform.back()));
    uniform_ap.push_back(ap);
  }
  for (int i = 0; i < f.samples; ++i) uniform2.push_back(space->Sample(rng));
  const Marginals uniform_m = MarginalsOf(*space, uniform);
  const std::pair<double, double> floor = MarginalDistance(uniform_m, MarginalsOf(*space, uniform2));
  const double se_scale = 1.0 / std::sqrt(static_cast<double>(f.samples));
  json rows = json::array();
  if (!f.json) {
    out << absl::StrFormat("uniform     mean final AP %.4f +- %.4f (%d samples); marginal TV of a second uniform set: "
                                 "mean %.4f, max %.4f\n",
                                 Mean(uniform_ap), Sd(uniform_ap) * se_scale, f.samples, floor.first, floor.second);
  }
  rows.push_back({{"policy", "uniform"},
                  {"final_ap_mean", Mean(uniform_ap)},
                  {"final_ap_se", Sd(uniform_ap) * se_scale},
                  {"marginal_tv_mean", floor.first},
                  {"marginal_tv_max", floor.second}});
  for (const std::string& algorithm : f.algorithms) {
    v1::ExperimentConfig c = *config;
    c.mutable_algorithm()->set_kind(algorithm);
    ASSIGN_OR_RETURN(const std::unique_ptr<ctl::Policy> policy, ctl::MakePolicy(*space, c));
    std::vector<std::vector<int>> samples;
    std::vector<double> ap, kl;
    for (int i = 0; i < f.samples; ++i) {
      ASSIGN_OR_RETURN(const ctl::Proposal proposal, policy->Propose());
      const ctl::Proposal* p = &proposal;
      samples.push_back(p->decisions);
      ASSIGN_OR_RETURN(const double proposal_ap, final_ap(p->decisions));
      ap.push_back(proposal_ap);
      // KL(policy || uniform) = E_policy[log q(x) - log p(x)]; without log-probabilities (random,
      // evolution) the policy is taken to be the uniform sampler itself.
      if (p->log_probs.size() == p->decisions.size()) {
        kl.push_back(std::accumulate(p->log_probs.begin(), p->log_probs.end(), 0.0) -
                     UniformLogProb(*space, p->decisions, nullptr));
      }
    }
    const std::pair<double, double> tv = MarginalDistance(MarginalsOf(*space, samples), uniform_m);
    if (!f.json) {
      out << absl::StrFormat(
          "%-11s mean final AP %.4f +- %.4f; KL(policy || uniform) %.3f +- %.3f nats per sequence; marginal TV "
          "against uniform: mean %.4f, max %.4f\n",
          algorithm, Mean(ap), Sd(ap) * se_scale, Mean(kl), Sd(kl) * se_scale, tv.first, tv.second);
    }
    rows.push_back({{"policy", algorithm},
                    {"final_ap_mean", Mean(ap)},
                    {"final_ap_se", Sd(ap) * se_scale},
                    {"kl_mean", Mean(kl)},
                    {"kl_se", Sd(kl) * se_scale},
                    {"marginal_tv_mean", tv.first},
                    {"marginal_tv_max", tv.second}});
  }
  if (f.json) out << rows.dump() << "\n";
  return absl::OkStatus();
}

}  // namespace vertebra::bench
