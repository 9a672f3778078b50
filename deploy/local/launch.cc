#include "deploy/local/launch.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/token.h"
#include "controller/config.h"
#include "controller/final_stage.h"
#include "controller/store.h"
#include "deploy/local/child_process.h"
#include "deploy/local/progress.h"
#include "inspect/source.h"
#include "inspect/verdict.h"
#include "vertebra/v1/kinds.pb.h"

namespace vertebra::deploy {
namespace {

namespace ctl = ::vertebra::controller;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How long the controller may take to open its database and listen.
constexpr std::chrono::seconds kControllerStartTimeout{60};
// How long a worker has to give its lease back on a stop, and the controller to shut down.
constexpr double kStopGraceSeconds = 30;
// How long a worker has to hear that the experiment is over and exit on its own.
constexpr double kEndGraceSeconds = 60;
// How often the supervisor looks at its children.
constexpr std::chrono::milliseconds kPollInterval{200};

// Where a launch keeps its files.
struct LaunchPaths {
  fs::path dir;
  std::string db, report, logs;
  std::string Log(const std::string& name) const { return (fs::path(logs) / (name + ".log")).string(); }
};

absl::StatusOr<LaunchPaths> MakePaths(const LocalSearchOptions& o, const v1::ExperimentConfig& config) {
  LaunchPaths p;
  p.dir = o.dir.empty() ? fs::path("runs") / config.name() : fs::path(o.dir);
  p.db = o.db.empty() ? (p.dir / "search.db").string() : o.db;
  p.report = o.report.empty() ? (p.dir / "report.html").string() : o.report;
  p.logs = (p.dir / "logs").string();
  std::error_code ec;
  fs::create_directories(p.logs, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrFormat("--dir: cannot create %s: %s", p.dir.string(), ec.message()));
  }
  return p;
}

absl::StatusOr<v1::ExperimentConfig> ReadConfig(const LocalSearchOptions& o) {
  ASSIGN_OR_RETURN(v1::ExperimentConfig config, ctl::ReadExperimentConfig(o.config));
  if (config.simulated() && !o.simulate) {
    return absl::InvalidArgumentError(o.config + ": a simulated experiment: pass --simulate to run simulated workers");
  }
  if (!config.simulated() && o.simulate) {
    return absl::InvalidArgumentError(o.config + ": --simulate needs an experiment with a \"simulation\" section");
  }
  return config;
}

// One launch: the children, started in order and stopped in reverse.
class LocalSearch {
 public:
  LocalSearch(const LocalSearchOptions& options, v1::ExperimentConfig config, LaunchPaths paths)
      : o_(options), config_(std::move(config)), paths_(std::move(paths)) {}

  absl::Status Run();

 private:
  // True (after reporting it) when the database holds a finished search.
  absl::StatusOr<bool> ReportIfFinished();
  absl::Status StartController(const std::string& token_file);
  absl::Status StartWorkers(const std::string& token_file);
  // Until the controller exits (its exit status) or a stop is asked (nullopt).
  std::optional<int> Supervise();
  void RestartFailedWorkers(bool live);
  // The top architectures, to this terminal, and the report when asked.
  void PrintResults(bool write_report);
  // The final validation's verdict, one sentence per control, when the search has one.
  void PrintVerdict();
  bool StopAsked() const { return o_.stop != nullptr && o_.stop->load(); }
  double Elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  const LocalSearchOptions& o_;
  const v1::ExperimentConfig config_;
  const LaunchPaths paths_;
  Clock::time_point start_;  // When the children were all started.
  DatabaseReader reader_{paths_.db};
  std::string address_;  // Where the workers find the controller.
  std::optional<ChildProcess> controller_;
  std::vector<ChildProcess> workers_;
};

absl::StatusOr<bool> LocalSearch::ReportIfFinished() {
  if (!fs::exists(paths_.db)) return false;
  ASSIGN_OR_RETURN(std::unique_ptr<ctl::Store> store, ctl::OpenSqliteStore(paths_.db, {.read_only = true}));
  ASSIGN_OR_RETURN(const ctl::Snapshot snapshot, store->Load());
  if (snapshot.experiment_state != v1::EXPERIMENT_FINISHED) {
    if (snapshot.experiment_state != v1::EXPERIMENT_STATE_UNSPECIFIED) std::cout << "Resuming the search in " << paths_.db << "\n";
    return false;
  }
  {
    // A larger final section than the one that ran: the controller trains only the missing runs.
    std::map<int64_t, v1::Trial> trials;
    int64_t next_id = 1;
    for (const v1::Trial& t : snapshot.trials) {
      trials[t.id()] = t;
      next_id = std::max(next_id, t.id() + 1);
    }
    const ctl::FinalPlan plan = ctl::PlanFinalStage(config_, trials, next_id, 0);
    if (!plan.runs.empty()) {
      std::cout << absl::StrFormat(
          "The search in %s is finished; its final section asks for %d more run%s: training only those\n", paths_.db,
          plan.runs.size(), plan.runs.size() == 1 ? "" : "s");
      return false;
    }
  }
  absl::StatusOr<ctl::RoleCounts> c = store->Counts();
  std::cout << absl::StrFormat(
      "The search in %s is finished (%d trials done, %d failed): nothing to run. "
      "Use another --db to start a new one.\n",
      paths_.db, c.ok() ? c->search.done : 0, c.ok() ? c->search.failed : 0);
  store.reset();
  PrintResults(!fs::exists(paths_.report));
  if (fs::exists(paths_.report)) std::cout << "report: " << paths_.report << "\n";
  return true;
}

absl::Status LocalSearch::StartController(const std::string& token_file) {
  const std::string port_file = (paths_.dir / "controller.port").string();
  std::error_code ec;
  fs::remove(port_file, ec);
  std::vector<std::string> args = {o_.binary,     "controller", "--config",        o_.config,
                                   "--db",        paths_.db,    "--listen",        o_.listen,
                                   "--port-file", port_file,    "--exit-when-done"};
  if (token_file.empty()) {
    args.push_back("--no-auth");
  } else {
    args.insert(args.end(), {"--token-file", token_file});
  }
  controller_.emplace("controller", std::move(args), paths_.Log("controller"));
  RETURN_IF_ERROR(controller_->Start());
  std::string port;
  for (const Clock::time_point until = Clock::now() + kControllerStartTimeout; port.empty() && Clock::now() < until;) {
    if (std::optional<int> exited = controller_->Reap()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("the controller exited (status %d): see %s", *exited, controller_->log()));
    }
    std::ifstream in(port_file);
    std::getline(in, port);
    if (port.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (port.empty()) {
    controller_->Stop(5);
    return absl::DeadlineExceededError(absl::StrFormat("the controller did not start listening within %d s: see %s",
                                                       kControllerStartTimeout.count(), controller_->log()));
  }
  // A wildcard address is reached through loopback.
  const std::string host = o_.listen.substr(0, o_.listen.rfind(':'));
  address_ = (host == "0.0.0.0" || host == "[::]" ? "127.0.0.1" : host) + ":" + port;
  return absl::OkStatus();
}

absl::Status LocalSearch::StartWorkers(const std::string& token_file) {
  for (int i = 1; i <= o_.workers; ++i) {
    const std::string name = absl::StrFormat("worker-%d", i);
    std::vector<std::string> args = {o_.binary,  "worker",     "--controller",
                                     address_,   "--work-dir", (paths_.dir / name).string(),
                                     "--device", o_.device};
    if (o_.threads > 0) args.insert(args.end(), {"--threads", std::to_string(o_.threads)});
    if (o_.simulate) args.push_back("--simulate");
    if (!token_file.empty()) args.insert(args.end(), {"--token-file", token_file});
    workers_.emplace_back(name, std::move(args), paths_.Log(name));
    RETURN_IF_ERROR(workers_.back().Start());
  }
  return absl::OkStatus();
}

void LocalSearch::RestartFailedWorkers(bool live) {
  const int cap = o_.max_restarts_per_worker >= 0 ? o_.max_restarts_per_worker : DefaultMaxRestarts(o_.workers);
  for (ChildProcess& w : workers_) {
    std::optional<int> exited = w.Reap();
    // Status 0: the worker heard that the experiment is over.
    if (!exited || *exited == 0 || w.restarts() >= cap) continue;
    w.RecordRestart();
    std::cout << (live ? "\n" : "")
              << absl::StrFormat("%s exited (status %d); restarting it (see %s)\n", w.name(), *exited, w.log());
    if (absl::Status s = w.Start(); !s.ok()) std::cout << s.message() << "\n";
  }
}

std::optional<int> LocalSearch::Supervise() {
  ProgressDisplay display(std::cout, o_.live_progress);
  start_ = Clock::now();
  int64_t finished_at_start = -1;
  std::optional<int> controller_status;
  while (!StopAsked()) {
    std::this_thread::sleep_for(kPollInterval);
    if ((controller_status = controller_->Reap())) break;
    RestartFailedWorkers(display.live());
    const double elapsed = Elapsed();
    if (finished_at_start < 0 && reader_.store() != nullptr) {
      absl::StatusOr<ctl::RoleCounts> c = reader_.store()->Counts();
      if (c.ok()) {
        const ctl::TrialCounts all = c->All();  // Every role's: the rate counts them all.
        finished_at_start = all.done + all.failed;
      }
    }
    if (display.Due()) {
      display.Show(absl::StrCat(
          "[", FormatDuration(elapsed), "] ",
          ProgressLine(reader_.store(), config_, elapsed, std::max<int64_t>(0, finished_at_start))));
    }
  }
  display.EndLine();
  return controller_status;
}

void LocalSearch::PrintVerdict() {
  absl::StatusOr<std::unique_ptr<inspect::SearchSource>> source = inspect::OpenDatabase(paths_.db);
  if (!source.ok()) return;
  absl::StatusOr<inspect::SearchSummary> summary = (*source)->Summary();
  absl::StatusOr<std::vector<v1::Trial>> trials = (*source)->Trials();
  if (!summary.ok() || !trials.ok()) return;
  const std::optional<inspect::Verdict> verdict = inspect::ComputeVerdict(summary->config, *trials);
  if (!verdict) return;
  std::cout << absl::StrFormat("\nThe verdict (%d fresh seeds per architecture, %d steps each%s):\n",
                               verdict->config.seeds(), verdict->config.steps(),
                               verdict->complete ? "" : "; some runs have not finished");
  for (const std::string& sentence : inspect::VerdictSentences(*verdict)) std::cout << sentence << "\n";
  if (!verdict->note.empty()) std::cout << verdict->note << "\n";
}

void LocalSearch::PrintResults(bool write_report) {
  std::cout << "\nTop architectures (" << paths_.db << "):\n" << std::flush;
  ChildProcess top("top", {o_.binary, "top", "--db", paths_.db, "-n", std::to_string(o_.top)});  // To this terminal.
  top.RunToEnd();
  PrintVerdict();
  if (!write_report) return;
  const std::string log = paths_.Log("launch");
  ChildProcess render("report", {o_.binary, "report", "--db", paths_.db, "-o", paths_.report}, log);
  if (render.RunToEnd() == 0) {
    std::cout << "report: " << paths_.report << "\n";
  } else {
    std::cout << "the report could not be written; see " << log << "\n";
  }
}

absl::Status LocalSearch::Run() {
  // A finished search is reported, not started over.
  ASSIGN_OR_RETURN(const bool finished, ReportIfFinished());
  if (finished) return absl::OkStatus();
  // A token per launch, readable by this user only, on loopback too (any local user can reach a
  // loopback port); none with no_auth.
  std::string token_file;
  if (!o_.no_auth) {
    token_file = (paths_.dir / "token").string();
    RETURN_IF_ERROR(WriteNewToken(token_file));
  }
  RETURN_IF_ERROR(StartController(token_file));
  RETURN_IF_ERROR(StartWorkers(token_file));
  std::cout << absl::StrFormat(
      "%s: controller on %s, %d workers; database %s, logs in %s (Ctrl-C stops, "
      "the same command resumes)\n",
      config_.name(), address_, o_.workers, paths_.db, paths_.logs);
  const std::optional<int> controller_status = Supervise();
  if (!controller_status) {
    std::cout << "stopping: workers give their leases back, then the controller stops\n" << std::flush;
    for (ChildProcess& w : workers_) w.Terminate();
    for (ChildProcess& w : workers_) w.Stop(kStopGraceSeconds);
    controller_->Stop(kStopGraceSeconds);
    std::cout << "stopped; run the same command to resume the search in " << paths_.db << "\n";
    PrintResults(false);
    return absl::CancelledError("stopped");
  }
  // The experiment is over: workers hear it on their next call and exit.
  for (ChildProcess& w : workers_) w.Stop(kEndGraceSeconds);
  if (*controller_status != 0) {
    return absl::InternalError(
        absl::StrFormat("the controller exited with status %d: see %s", *controller_status, controller_->log()));
  }
  std::cout << absl::StrFormat("[%s] %s\n", FormatDuration(Elapsed()),
                               ProgressLine(reader_.store(), config_, 0, 0));
  PrintResults(true);
  return absl::OkStatus();
}

}  // namespace

int DefaultMaxRestarts(int workers) { return 3 * workers + 10; }

absl::Status RunLocalSearch(const LocalSearchOptions& options) {
  ASSIGN_OR_RETURN(v1::ExperimentConfig config, ReadConfig(options));
  ASSIGN_OR_RETURN(LaunchPaths paths, MakePaths(options, config));
  LocalSearch search(options, std::move(config), std::move(paths));
  return search.Run();
}

}  // namespace vertebra::deploy
