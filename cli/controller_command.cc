// `vertebra controller`, `vertebra worker`, `vertebra status`, `vertebra top`: running a search and
// looking at it. status and top read the database (read-only, never written) or ask a running controller.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/search_source.h"
#include "common/file_util.h"
#include "common/token.h"
#include "controller/config.h"
#include "controller/predictor.h"
#include "controller/scheduler.h"
#include "controller/service.h"
#include "controller/store.h"
#include "inspect/show.h"
#include "inspect/source.h"
#include "inspect/trials.h"
#include "inspect/verdict.h"
#include "nlohmann/json.hpp"
#include "proto/kinds.h"
#include "worker/agent/agent.h"
#include "worker/agent/device.h"
#include "worker/agent/simulated.h"
#if VERTEBRA_WITH_TORCH
#include "worker/agent/proxy_runner.h"
#endif

namespace vertebra::cli {
namespace {

namespace ctl = ::vertebra::controller;
using json = nlohmann::json;

std::atomic<bool> g_stop{false};

void OnSignal(int) {
  if (g_stop.exchange(true)) std::_Exit(130);  // A second signal: out now.
}

struct ControllerFlags {
  std::string config, db, listen = "127.0.0.1:50051", token_file, tls_cert, tls_key, tls_client_ca, port_file;
  bool exit_when_done = false;
  bool no_auth = false;
  double lock_wait = 0;
};

// The search's bearer token: --token-file, else $VERTEBRA_TOKEN, else DB.token (made on the first
// start, 0600, and kept for restarts); none with --no-auth. `where` says which, for the log.
std::string ControllerToken(const ControllerFlags& f, std::string* where) {
  const bool from_env = std::getenv("VERTEBRA_TOKEN") != nullptr;
  if (f.no_auth) {
    if (!f.token_file.empty()) Fail(absl::InvalidArgumentError("--no-auth and --token-file: choose one"));
    *where = "none (--no-auth): anyone who can reach the port can use and stop the search";
    return "";
  }
  if (!f.token_file.empty() || from_env) {
    absl::StatusOr<std::string> token = ReadToken(f.token_file);
    if (!token.ok()) Fail(token.status());
    if (token->empty()) Fail(absl::InvalidArgumentError("VERTEBRA_TOKEN: empty (unset it, or use --no-auth)"));
    *where = f.token_file.empty() ? "$VERTEBRA_TOKEN" : f.token_file;
    return *token;
  }
  const std::string path = f.db + ".token";
  absl::StatusOr<std::string> token = ReadOrCreateToken(path);
  if (!token.ok()) Fail(absl::InvalidArgumentError(absl::StrFormat("--db %s: its token: %s", f.db, token.status().message())));
  *where = path + " (clients: --token-file " + path + ")";
  return *token;
}

void RunController(const ControllerFlags& f) {
  absl::StatusOr<v1::ExperimentConfig> config = ctl::ReadExperimentConfig(f.config);
  if (!config.ok()) Fail(config.status());
  ctl::SqliteOptions store_options;
  store_options.lock_wait_seconds = f.lock_wait;
  absl::StatusOr<std::unique_ptr<ctl::Store>> store = ctl::OpenSqliteStore(f.db, store_options);
  if (!store.ok()) Fail(store.status());
  std::string token_origin;
  const std::string token = ControllerToken(f, &token_origin);  // After the store: --db is a usable path.
  absl::StatusOr<std::unique_ptr<ctl::Scheduler>> scheduler =
      ctl::Scheduler::Open(store->get(), *config, ctl::RealClock());
  if (!scheduler.ok()) Fail(absl::InvalidArgumentError(absl::StrFormat("%s: %s", f.db, scheduler.status().message())));
  ctl::ServerOptions options;
  options.listen = f.listen;
  options.token = token;
  options.tls_cert = f.tls_cert;
  options.tls_key = f.tls_key;
  options.tls_client_ca = f.tls_client_ca;
  absl::StatusOr<std::unique_ptr<ctl::ControllerServer>> server =
      ctl::ControllerServer::Start(scheduler->get(), store->get(), options);
  if (!server.ok()) Fail(server.status());
  const std::string host = f.listen.substr(0, f.listen.rfind(':'));
  std::cout << absl::StrFormat("controller for '%s' listening on %s:%d (database %s)\n", (*scheduler)->config().name(),
                               host, (*server)->port(), f.db)
            << "token: " << token_origin << "\n"
            << std::flush;
  if (!f.port_file.empty()) {
    // Whoever asked for the port waits for this file: failing to write it is an error, not a hang.
    if (absl::Status s = WriteFileAtomically(f.port_file, absl::StrFormat("%d\n", (*server)->port())); !s.ok()) {
      (*server)->Shutdown();
      Fail(absl::InvalidArgumentError(absl::StrFormat("--port-file %s: %s", f.port_file, s.message())));
    }
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  // With --exit-when-done, keep answering for two heartbeat intervals after the end, so that
  // workers waiting for work hear that the experiment is over instead of finding no controller.
  const auto linger = std::chrono::duration<double>(std::max(2.0, 2 * (*scheduler)->config().lease().heartbeat_seconds()));
  std::optional<std::chrono::steady_clock::time_point> done_at;
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (f.exit_when_done) {
      const v1::StatusReply s = (*scheduler)->Status();
      if (s.state() != v1::EXPERIMENT_RUNNING && s.leased() == 0 && !done_at) done_at = std::chrono::steady_clock::now();
      if (done_at && std::chrono::steady_clock::now() - *done_at > linger) break;
    }
  }
  (*server)->Shutdown();
  const v1::StatusReply s = (*scheduler)->Status();
  std::cout << absl::StrFormat("controller stopped: %s, %d done, %d failed, %d pending, %d leased\n",
                               KindName(s.state()), s.done(), s.failed(), s.pending(), s.leased());
}

struct WorkerFlags {
  std::string controller, token_file, tls_ca, tls_cert, tls_key, work_dir = ".", device = "cpu";
  bool simulate = false;
  double sim_seconds = -1;
  int threads = 0;
  int max_trials = 0;
  double give_up = 0;
  bool quiet = false;
};

void RunWorker(const WorkerFlags& f) {
#if !VERTEBRA_WITH_TORCH
  if (!f.simulate) {
    Fail(absl::InvalidArgumentError(
        "--simulate is required: this build has no LibTorch, so its worker runs simulated trials only"));
  }
#endif
  absl::StatusOr<std::string> token = ReadToken(f.token_file);
  if (!token.ok()) Fail(token.status());
  worker::AgentOptions o;
  o.controller = f.controller;
  o.token = *token;
  o.tls_ca = f.tls_ca;
  o.tls_cert = f.tls_cert;
  o.tls_key = f.tls_key;
  o.work_dir = f.work_dir;
  const worker::DeviceDescription device = worker::DescribeDevice(f.device);
  o.device = device.description;
  o.memory_mb = device.memory_mb;
  if (f.simulate) o.device = "simulated (" + o.device + ")";
  o.simulated = f.simulate;
  o.max_trials = f.max_trials;
  o.give_up_seconds = f.give_up;
  o.stop = &g_stop;
  if (!f.quiet) o.log = [](const std::string& line) { std::cerr << "worker: " << line << "\n"; };
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::unique_ptr<worker::TrialRunner> runner;
  if (f.simulate) {
    runner = std::make_unique<worker::SimulatedRunner>(f.sim_seconds, f.work_dir);
  } else {
#if VERTEBRA_WITH_TORCH
    worker::ProxyRunnerOptions options;
    options.work_dir = f.work_dir;
    options.device = f.device;
    options.threads = f.threads;
    runner = std::make_unique<worker::ProxyRunner>(options);
#endif
  }
  absl::StatusOr<worker::AgentSummary> summary = worker::RunAgent(o, *runner);
  if (!summary.ok()) Fail(summary.status());
  std::cout << absl::StrFormat("worker %s: %d reported, %d resent from the spool, %d released; %s\n",
                               summary->worker_id, summary->reported, summary->spooled_resent, summary->released,
                               summary->exit_reason);
}

// What status and top print. Both rank as `show best` does (inspect::RankTrials: the highest
// rung first, then AP), from the database or from the controller alike.

std::string TopLine(const v1::Trial& t) {
  const v1::RungResult& r = *inspect::TopResult(t);
  return absl::StrFormat("%-6d %-8.4f %-5d %-7d %-10.1f %-10.2f %s%s\n", t.id(), r.ap().stats(0), r.rung(), r.steps(),
                         t.macs() / 1e6, t.params() / 1e6, t.hash().substr(0, 12),
                         r.simulated() ? "  (simulated)" : "");
}

std::string TopHeader() {
  return absl::StrFormat("%-6s %-8s %-5s %-7s %-10s %-10s %s\n", "trial", "AP", "rung", "steps", "MACs (M)",
                         "params (M)", "hash");
}

// Counts by state, as status --json prints them.
json CountsJson(const ctl::TrialCounts& n) {
  return {{"pending", n.pending}, {"leased", n.leased},     {"done", n.done},
          {"failed", n.failed},   {"rejected", n.rejected}, {"stopped", n.stopped}};
}

// Trials named on status's line of repeated steps; --json lists them all.
constexpr size_t kRepeatedTrialsShown = 5;

std::vector<v1::Trial> TrialsOrFail(const inspect::SearchSource& source) {
  absl::StatusOr<std::vector<v1::Trial>> trials = source.Trials();
  if (!trials.ok()) Fail(trials.status());
  return *std::move(trials);
}

void RunStatus(const SearchSourceFlags& flags, bool as_json, bool with_trials) {
  const std::unique_ptr<inspect::SearchSource> source = flags.Open();
  absl::StatusOr<inspect::SearchSummary> summary = source->Summary();
  if (!summary.ok()) Fail(summary.status());
  const std::vector<v1::Trial> trials = TrialsOrFail(*source);
  const std::vector<v1::Trial> ranked = inspect::RankTrials(trials);
  const v1::ExperimentConfig& c = summary->config;
  // The search's own trials; controls and final runs are counted apart.
  const ctl::TrialCounts& n = summary->counts.search;
  const ctl::TrialCounts& controls = summary->counts.controls;
  const ctl::TrialCounts& finals = summary->counts.final_runs;
  const int64_t final_runs = inspect::FinalRunsExpected(c, summary->counts);
  const inspect::StepCounts steps = inspect::CountTrainedSteps(trials);
  const std::vector<ctl::PredictorQuality> predictor = ctl::PredictorQualityOf(c, trials);
  const int top_rung = std::max(1, c.rungs().steps_size()) - 1;
  if (as_json) {
    json j = {{"experiment", c.name()},
              {"algorithm", c.algorithm().kind()},
              {"state", std::string(KindName(summary->state))},
              {"simulated", c.simulated()},
              {"budget", c.budget().trials()},
              {"pending", n.pending},
              {"leased", n.leased},
              {"done", n.done},
              {"failed", n.failed},
              {"rejected", n.rejected},
              {"stopped", n.stopped},
              {"controls", CountsJson(controls)},
              {"final", CountsJson(finals)},
              {"workers", summary->workers}};
    j["final"]["expected"] = final_runs;
    json repeated = json::array();
    for (const auto& [trial, n_steps] : steps.repeated_by_trial) repeated.push_back({{"trial", trial}, {"steps", n_steps}});
    j["steps"] = {{"trained", steps.trained}, {"repeated", steps.repeated}, {"repeated_by_trial", repeated}};
    if (!ranked.empty()) j["best"] = inspect::TrialSummaryJson(ranked.front());
    j["predictor"] = json::array();
    for (const ctl::PredictorQuality& q : predictor) j["predictor"].push_back(inspect::PredictorQualityJson(q, top_rung));
    if (with_trials) {
      j["trials"] = json::array();
      for (const v1::Trial& t : trials) j["trials"].push_back(inspect::TrialSummaryJson(t));
    }
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << absl::StrFormat("experiment '%s' (%s%s): %s\n", c.name(), c.algorithm().kind(),
                               c.simulated() ? ", simulated" : "", KindName(summary->state));
  std::cout << absl::StrFormat(
      "trials: %d done, %d leased, %d pending, %d failed, %d rejected, %d stopped (budget %d)\n", n.done, n.leased,
      n.pending, n.failed, n.rejected, n.stopped, c.budget().trials());
  if (controls.total() > 0) {
    std::cout << absl::StrFormat("controls: %d of %d done, %d leased, %d pending, %d failed, %d stopped\n",
                                 controls.done, controls.total(), controls.leased, controls.pending, controls.failed,
                                 controls.stopped);
  }
  if (finals.total() > 0) {
    std::cout << absl::StrFormat("final runs: %d of %d done, %d leased, %d pending, %d failed, %d stopped\n",
                                 finals.done, finals.total(), finals.leased, finals.pending, finals.failed,
                                 finals.stopped);
  } else if (final_runs > 0) {
    std::cout << absl::StrFormat("final runs: none yet; up to %d when the search's budget is spent\n", final_runs);
  }
  std::cout << absl::StrFormat("workers: %d registered\n", summary->workers);
  std::cout << "steps: " << inspect::StepCountsText(steps, kRepeatedTrialsShown) << "\n";
  if (!ranked.empty()) {
    const v1::Trial& t = ranked.front();
    const v1::RungResult& r = *inspect::TopResult(t);
    std::cout << absl::StrFormat("best: trial %d, AP %.4f at rung %d (%d steps), %.1f M MACs, hash %s\n", t.id(),
                                 r.ap().stats(0), r.rung(), r.steps(), t.macs() / 1e6, t.hash().substr(0, 12));
  }
  for (const ctl::PredictorQuality& q : predictor) std::cout << inspect::PredictorQualityLine(q, top_rung) << "\n";
}

void RunTop(const SearchSourceFlags& flags, int k, bool pareto, bool as_json) {
  const std::unique_ptr<inspect::SearchSource> source = flags.Open();
  const std::vector<v1::Trial> trials = TrialsOrFail(*source);
  if (pareto) {
    const inspect::ParetoFront front = inspect::ComputeParetoFront(trials);
    if (as_json) {
      json j = {{"rung", front.rung}, {"candidates", front.candidates}, {"trials", json::array()}};
      for (const v1::Trial& t : front.front) j["trials"].push_back(inspect::TrialSummaryJson(t));
      std::cout << j.dump() << "\n";
      return;
    }
    std::cout << absl::StrFormat(
        "Pareto front of AP (higher) against MACs at the proxy scaling (lower): %d of the %d trials measured at rung "
        "%d, the highest rung reached (AP is not comparable across rungs; reused results left out)\n",
        front.front.size(), front.candidates, front.rung);
    std::cout << TopHeader();
    for (const v1::Trial& t : front.front) std::cout << TopLine(t);
    return;
  }
  std::vector<v1::Trial> ranked = inspect::RankTrials(trials);
  if (ranked.size() > static_cast<size_t>(k)) ranked.resize(k);
  absl::StatusOr<inspect::SearchSummary> summary = source->Summary();
  if (!summary.ok()) Fail(summary.status());
  const std::optional<inspect::Verdict> verdict = inspect::ComputeVerdict(summary->config, trials);
  if (as_json) {
    // One shape whatever the search has: {"trials": [...], "final": the verdict, or null}.
    json list = json::array();
    for (const v1::Trial& t : ranked) list.push_back(inspect::TrialSummaryJson(t));
    const json j = {{"trials", std::move(list)}, {"final", verdict ? inspect::VerdictJson(*verdict) : json(nullptr)}};
    std::cout << j.dump() << "\n";
    return;
  }
  if (verdict) std::cout << inspect::VerdictText(*verdict) << "\nSearch trials:\n";
  std::cout << TopHeader();
  for (const v1::Trial& t : ranked) std::cout << TopLine(t);
}

}  // namespace

void RegisterSearchCommands(CLI::App& app) {
  auto c = std::make_shared<ControllerFlags>();
  CLI::App* controller = app.add_subcommand(
      "controller", "Run the search controller: the policy, the scheduler and the gRPC services over a SQLite database. "
                    "Restarting it on the same database resumes the experiment.");
  controller->add_option("--config", c->config, "Experiment configuration (JSON)")->required();
  controller->add_option("--db", c->db, "SQLite database (created if missing)")->required();
  controller->add_option("--listen", c->listen, "HOST:PORT (port 0: any free port)")->capture_default_str();
  controller->add_option("--token-file", c->token_file,
                         "Bearer token every client must present (default: $VERTEBRA_TOKEN, else DB.token, made "
                         "with mode 0600 on the first start and kept), on loopback too");
  controller->add_flag("--no-auth", c->no_auth,
                       "No bearer token: anyone who can reach the port may report, steer or stop the search "
                       "(loopback only; for tests)");
  controller->add_option("--tls-cert", c->tls_cert, "PEM certificate chain: serve TLS");
  controller->add_option("--tls-key", c->tls_key, "PEM private key of --tls-cert");
  controller->add_option("--tls-client-ca", c->tls_client_ca, "PEM CA: require client certificates it signed (mTLS)");
  controller->add_option("--port-file", c->port_file, "Write the bound port to this file");
  controller->add_option("--lock-wait", c->lock_wait,
                         "Seconds to wait for another controller to let go of the database (as after a requeue)")
      ->check(CLI::NonNegativeNumber);
  controller->add_flag("--exit-when-done", c->exit_when_done, "Exit once the experiment has finished");
  controller->callback([c] { RunController(*c); });

  auto w = std::make_shared<WorkerFlags>();
  CLI::App* worker = app.add_subcommand(
      "worker", "Run a worker: lease trials from a controller, train them, report the results");
  worker->add_option("--controller", w->controller, "HOST:PORT of the controller")->required();
  worker->add_option("--token-file", w->token_file, "Bearer token (default: $VERTEBRA_TOKEN)");
  worker->add_option("--tls-ca", w->tls_ca, "PEM CA: connect with TLS and verify the controller");
  worker->add_option("--tls-cert", w->tls_cert, "PEM client certificate (mTLS)");
  worker->add_option("--tls-key", w->tls_key, "PEM key of --tls-cert");
  worker->add_option("--work-dir", w->work_dir,
                     "Where trials train (runs/) and reports wait until acknowledged (spool/)")->capture_default_str();
  worker->add_option("--device", w->device, "Where to train: auto, cpu, cuda or cuda:N")->capture_default_str();
  worker->add_option("--threads", w->threads, "LibTorch threads per trial (default: the experiment's proxy.threads)")
      ->check(CLI::PositiveNumber);
  worker->add_flag("--simulate", w->simulate, "Run the simulated trainer (load tests; results are marked simulated)");
  worker->add_option("--sim-seconds", w->sim_seconds, "Seconds per simulated top-rung trial (default: the experiment's)");
  worker->add_option("--max-trials", w->max_trials, "Exit after this many reports");
  worker->add_option("--give-up", w->give_up, "Exit when the controller is unreachable this many seconds (0: never)");
  worker->add_flag("--quiet", w->quiet, "No log lines");
  worker->callback([w] { RunWorker(*w); });

  auto status_source = std::make_shared<SearchSourceFlags>();
  auto as_json = std::make_shared<bool>(false);
  auto with_trials = std::make_shared<bool>(false);
  CLI::App* status = app.add_subcommand(
      "status", "An experiment's state, from its database (read-only) or from its running controller");
  status_source->AddOptions(status);
  status->add_flag("--json", *as_json, "Print one JSON object");
  status->add_flag("--trials", *with_trials, "With --json: every trial's record too");
  status->callback([status_source, as_json, with_trials] { RunStatus(*status_source, *as_json, *with_trials); });

  auto top_source = std::make_shared<SearchSourceFlags>();
  auto k = std::make_shared<int>(10);
  auto pareto = std::make_shared<bool>(false);
  auto top_json = std::make_shared<bool>(false);
  CLI::App* top = app.add_subcommand(
      "top",
      "The best trials of an experiment: by AP at the highest rung each reached, or the Pareto front of AP "
      "against MACs; the final validation's verdict (finalists against controls) first when the search has one");
  top_source->AddOptions(top);
  top->add_option("-n", *k, "How many")->capture_default_str()->check(CLI::Range(1, 100000));
  top->add_flag("--pareto", *pareto,
                "The Pareto front of AP against MACs among the trials at the highest rung reached (all of it: -n "
                "does not apply)");
  top->add_flag("--json", *top_json,
                "Print one JSON object: {\"trials\": [...], \"final\": the final validation's verdict, or null "
                "when the search has none}; with --pareto {\"rung\", \"candidates\", \"trials\"}");
  top->callback([top_source, k, pareto, top_json] { RunTop(*top_source, *k, *pareto, *top_json); });
}

}  // namespace vertebra::cli
