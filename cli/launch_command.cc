// `vertebra launch`: a whole search on this machine. It starts `vertebra controller` and N
// `vertebra worker` processes (this same binary), shows live progress read from the database,
// restarts a worker that dies, stops everything cleanly on Ctrl-C, and at the end prints the top
// architectures and writes the report. Run again on the same database, it resumes an unfinished
// search and only reports a finished one.
//
// Children run in their own process group so that Ctrl-C reaches this process alone: it stops
// the workers first (each gives its lease back while the controller still answers), then the
// controller.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "controller/config.h"
#include "controller/store.h"
#include "inspect/trials.h"

namespace vertebra::cli {
namespace {

namespace ctl = ::vertebra::controller;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<int> g_signals{0};
void OnSignal(int) {
  if (g_signals.fetch_add(1) >= 2) std::_Exit(130);  // A third Ctrl-C: out now.
}

struct LaunchFlags {
  std::string config, db, listen = "127.0.0.1:0", dir, device = "cpu", report;
  int workers = 2;
  int threads = 0;
  int top = 5;
  bool simulate = false;
};

// A child process of this binary.
struct Child {
  std::string name;
  std::vector<std::string> args;
  std::string log;
  pid_t pid = -1;
  int restarts = 0;
};

std::string SelfPath() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "vertebra" : p.string();
}

// Starts `child` with stdout and stderr appended to its log (this terminal's when the log is
// empty), in a process group of its own.
absl::Status Spawn(Child& child) {
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrFormat("cannot start %s: fork failed", child.name));
  if (pid == 0) {
    setpgid(0, 0);
    const int fd = child.log.empty() ? -1 : open(child.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    std::vector<char*> argv;
    for (std::string& a : child.args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::_Exit(127);
  }
  setpgid(pid, pid);
  child.pid = pid;
  return absl::OkStatus();
}

// Reaps `child` if it has exited; its exit status then, nullopt while it runs.
std::optional<int> Reap(Child& child) {
  if (child.pid <= 0) return 0;
  int status = 0;
  if (waitpid(child.pid, &status, WNOHANG) != child.pid) return std::nullopt;
  child.pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// SIGTERM, then up to `seconds` for it to exit, then SIGKILL.
void Stop(Child& child, double seconds) {
  if (child.pid <= 0) return;
  kill(child.pid, SIGTERM);
  const Clock::time_point until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(seconds));
  while (Clock::now() < until) {
    if (Reap(child)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(child.pid, SIGKILL);
  waitpid(child.pid, nullptr, 0);
  child.pid = -1;
}

std::string Duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

// Runs `child` to its end; its exit status (1 when it could not start).
int RunToEnd(Child& child) {
  if (!Spawn(child).ok()) return 1;
  int status = 0;
  waitpid(child.pid, &status, 0);
  child.pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// The database as the controller writes it, opened read-only once the controller has created it
// and then kept open.
class DatabaseReader {
 public:
  explicit DatabaseReader(std::string path) : path_(std::move(path)) {}
  // nullptr until the database exists.
  const ctl::Store* store() {
    if (store_ == nullptr) {
      absl::StatusOr<std::unique_ptr<ctl::Store>> opened = ctl::OpenSqliteStore(path_, {.read_only = true});
      if (opened.ok()) store_ = std::move(*opened);
    }
    return store_.get();
  }

 private:
  std::string path_;
  std::unique_ptr<ctl::Store> store_;
};

// One line of progress from the database (read-only, while the controller writes it).
std::string ProgressLine(DatabaseReader& db, int64_t budget, double elapsed, int64_t done_at_start) {
  const ctl::Store* store = db.store();
  if (store == nullptr) return "waiting for the controller";
  absl::StatusOr<ctl::TrialCounts> c = store->Counts();
  if (!c.ok()) return "waiting for the controller";
  std::string line = absl::StrFormat("trials %d/%d done, %d running, %d failed, %d rejected", c->done, budget,
                                     c->leased, c->failed, c->rejected);
  absl::StatusOr<v1::Trial> best = inspect::FindTrial(*store, "best");
  if (best.ok()) {
    const v1::RungResult* r = inspect::TopResult(*best);
    line += absl::StrFormat(" | best AP %.4f (trial %d, rung %d, %d steps)", r->ap().stats(0), best->id(), r->rung(),
                            r->steps());
  }
  const int64_t finished = c->done + c->failed - done_at_start;
  if (finished > 0 && elapsed > 0) {
    const double per_hour = finished / elapsed * 3600;
    const int64_t left = std::max<int64_t>(0, budget - c->done - c->failed);
    line += absl::StrFormat(" | %.1f trials/h | about %s left", per_hour, Duration(left / per_hour * 3600));
  }
  return line;
}

void RunLaunch(const LaunchFlags& f) {
  absl::StatusOr<v1::ExperimentConfig> config = ctl::ReadExperimentConfig(f.config);
  if (!config.ok()) Fail(config.status());
  if (config->simulated() && !f.simulate) {
    Fail(absl::InvalidArgumentError(f.config + ": a simulated experiment: pass --simulate to run simulated workers"));
  }
  if (!config->simulated() && f.simulate) {
    Fail(absl::InvalidArgumentError(f.config + ": --simulate needs an experiment with a \"simulation\" section"));
  }
  const fs::path dir = f.dir.empty() ? fs::path("runs") / config->name() : fs::path(f.dir);
  const std::string db = f.db.empty() ? (dir / "search.db").string() : f.db;
  const std::string report = f.report.empty() ? (dir / "report.html").string() : f.report;
  std::error_code ec;
  fs::create_directories(dir / "logs", ec);
  if (ec) Fail(absl::InvalidArgumentError(absl::StrFormat("--dir: cannot create %s: %s", dir.string(), ec.message())));
  const std::string self = SelfPath();

  auto finish = [&](bool write_report) {
    std::cout << "\nTop architectures (" << db << "):\n" << std::flush;
    Child top{"top", {self, "top", "--db", db, "-n", std::to_string(f.top)}, ""};  // To this terminal.
    RunToEnd(top);
    if (write_report) {
      Child render{"report", {self, "report", "--db", db, "-o", report}, (dir / "logs" / "launch.log").string()};
      if (RunToEnd(render) == 0) {
        std::cout << "report: " << report << "\n";
      } else {
        std::cout << "the report could not be written; see " << (dir / "logs" / "launch.log").string() << "\n";
      }
    }
  };

  // A finished search is reported, not started over.
  if (fs::exists(db)) {
    absl::StatusOr<std::unique_ptr<ctl::Store>> store = ctl::OpenSqliteStore(db, {.read_only = true});
    if (!store.ok()) Fail(store.status());
    absl::StatusOr<ctl::Snapshot> snapshot = (*store)->Load();
    if (!snapshot.ok()) Fail(snapshot.status());
    if (snapshot->experiment_state == "finished") {
      absl::StatusOr<ctl::TrialCounts> c = (*store)->Counts();
      std::cout << absl::StrFormat("The search in %s is finished (%d trials done, %d failed): nothing to run. "
                                   "Use another --db to start a new one.\n",
                                   db, c.ok() ? c->done : 0, c.ok() ? c->failed : 0);
      store->reset();
      finish(!fs::exists(report));
      if (fs::exists(report)) std::cout << "report: " << report << "\n";
      return;
    }
    if (!snapshot->experiment_state.empty()) std::cout << "Resuming the search in " << db << "\n";
  }

  // Beyond loopback the controller wants a token: one per launch, readable by this user only.
  const std::string host = f.listen.substr(0, f.listen.rfind(':'));
  std::string token_file;
  if (host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
    token_file = (dir / "token").string();
    std::ifstream random("/dev/urandom", std::ios::binary);
    unsigned char bytes[24];
    random.read(reinterpret_cast<char*>(bytes), sizeof(bytes));
    std::string token;
    for (unsigned char b : bytes) token += absl::StrFormat("%02x", b);
    const int fd = open(token_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, token.data(), token.size()) != static_cast<ssize_t>(token.size())) {
      Fail(absl::InternalError("cannot write " + token_file));
    }
    close(fd);
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const std::string port_file = (dir / "controller.port").string();
  fs::remove(port_file, ec);
  Child controller{"controller",
                   {self, "controller", "--config", f.config, "--db", db, "--listen", f.listen, "--port-file",
                    port_file, "--exit-when-done"},
                   (dir / "logs" / "controller.log").string()};
  if (!token_file.empty()) {
    controller.args.push_back("--token-file");
    controller.args.push_back(token_file);
  }
  if (absl::Status s = Spawn(controller); !s.ok()) Fail(s);
  std::string port;
  for (int i = 0; i < 600 && port.empty(); ++i) {
    if (std::optional<int> exited = Reap(controller)) {
      Fail(absl::FailedPreconditionError(absl::StrFormat("the controller exited (status %d): see %s", *exited,
                                                         controller.log)));
    }
    std::ifstream in(port_file);
    std::getline(in, port);
    if (port.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (port.empty()) {
    Stop(controller, 5);
    Fail(absl::DeadlineExceededError("the controller did not start listening within 60 s: see " + controller.log));
  }
  const std::string address = (host == "0.0.0.0" || host == "[::]" ? "127.0.0.1" : host) + ":" + port;
  std::vector<Child> workers;
  for (int i = 1; i <= f.workers; ++i) {
    Child w{absl::StrFormat("worker-%d", i),
            {self, "worker", "--controller", address, "--work-dir", (dir / absl::StrFormat("worker-%d", i)).string(),
             "--device", f.device},
            (dir / "logs" / absl::StrFormat("worker-%d.log", i)).string()};
    if (f.threads > 0) {
      w.args.push_back("--threads");
      w.args.push_back(std::to_string(f.threads));
    }
    if (f.simulate) w.args.push_back("--simulate");
    if (!token_file.empty()) {
      w.args.push_back("--token-file");
      w.args.push_back(token_file);
    }
    if (absl::Status s = Spawn(w); !s.ok()) Fail(s);
    workers.push_back(std::move(w));
  }
  std::cout << absl::StrFormat("%s: controller on %s, %d workers; database %s, logs in %s (Ctrl-C stops, "
                               "the same command resumes)\n",
                               config->name(), address, f.workers, db, (dir / "logs").string());
  const bool tty = isatty(STDOUT_FILENO);
  const Clock::time_point start = Clock::now();
  Clock::time_point last_line = start - std::chrono::hours(1);
  int64_t done_at_start = -1;
  DatabaseReader reader(db);
  bool controller_done = false;
  int controller_status = 0;
  while (g_signals.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (std::optional<int> exited = Reap(controller)) {
      controller_done = true;
      controller_status = *exited;
      break;
    }
    for (Child& w : workers) {
      std::optional<int> exited = Reap(w);
      // Status 0: the worker heard that the experiment is over.
      if (!exited || *exited == 0) continue;
      if (w.restarts >= 3 * f.workers + 10) continue;  // Something is wrong with this machine: stop trying.
      ++w.restarts;
      std::cout << (tty ? "\n" : "")
                << absl::StrFormat("%s exited (status %d); restarting it (see %s)\n", w.name, *exited, w.log);
      if (absl::Status s = Spawn(w); !s.ok()) std::cout << s.message() << "\n";
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (done_at_start < 0 && reader.store() != nullptr) {
      absl::StatusOr<ctl::TrialCounts> c = reader.store()->Counts();
      if (c.ok()) done_at_start = c->done + c->failed;
    }
    const auto since = Clock::now() - last_line;
    if ((tty && since > std::chrono::seconds(2)) || since > std::chrono::seconds(30)) {
      last_line = Clock::now();
      const std::string line = absl::StrCat(
          "[", Duration(elapsed), "] ",
          ProgressLine(reader, config->budget().trials(), elapsed, std::max<int64_t>(0, done_at_start)));
      if (tty) {
        std::cout << "\r\033[K" << line << std::flush;
      } else {
        std::cout << line << "\n" << std::flush;
      }
    }
  }
  if (tty) std::cout << "\n";
  if (!controller_done) {
    std::cout << "stopping: workers give their leases back, then the controller stops\n" << std::flush;
    for (Child& w : workers) {
      if (w.pid > 0) kill(w.pid, SIGTERM);
    }
    for (Child& w : workers) Stop(w, 30);
    Stop(controller, 30);
    std::cout << "stopped; run the same command to resume the search in " << db << "\n";
    finish(false);
    throw CLI::RuntimeError(130);
  }
  // The experiment is over: workers hear it on their next call and exit.
  for (Child& w : workers) Stop(w, 60);
  if (controller_status != 0) {
    Fail(absl::InternalError(absl::StrFormat("the controller exited with status %d: see %s", controller_status,
                                             controller.log)));
  }
  std::cout << absl::StrFormat("[%s] %s\n", Duration(std::chrono::duration<double>(Clock::now() - start).count()),
                               ProgressLine(reader, config->budget().trials(), 0, 0));
  finish(true);
}

}  // namespace

void RegisterLaunchCommand(CLI::App& app) {
  auto f = std::make_shared<LaunchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "launch", "Run a whole search here: a controller and N workers, live progress, the top architectures and the "
                "report at the end; run again to resume");
  cmd->add_option("--config", f->config, "Experiment file (JSON), e.g. experiments/demo.json")->required();
  cmd->add_option("--workers", f->workers, "Local worker processes")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--dir", f->dir, "Folder for the database, logs, workers' runs and report (default: runs/NAME)");
  cmd->add_option("--db", f->db, "SQLite database (default: DIR/search.db)");
  cmd->add_option("--listen", f->listen, "Controller address (port 0: any free port)")->capture_default_str();
  cmd->add_option("--device", f->device, "Workers' device: auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", f->threads, "LibTorch threads per worker (default: the experiment's proxy.threads)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--report", f->report, "Where the report goes (default: DIR/report.html)");
  cmd->add_option("--top", f->top, "Architectures listed at the end")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--simulate", f->simulate, "Simulated workers, for an experiment with a \"simulation\" section");
  cmd->callback([f] { RunLaunch(*f); });
}

}  // namespace vertebra::cli
