// `vertebra launch`: a whole search on this machine (deploy/local/launch.h). The command turns
// flags into LocalSearchOptions, and Ctrl-C into a clean stop.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "deploy/local/launch.h"

namespace vertebra::cli {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};

void OnSignal(int) {
  g_stop = true;                                     // The first: stop cleanly.
  if (g_signals.fetch_add(1) >= 2) std::_Exit(130);  // A third Ctrl-C: out now.
}

// This binary, which the launcher runs as the controller and the workers.
std::string SelfPath() {
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "vertebra" : p.string();
}

}  // namespace

void RegisterLaunchCommand(CLI::App& app, LocalSearchRunner run) {
  auto o = std::make_shared<deploy::LocalSearchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "launch",
      "Run a whole search here: a controller and N workers, live progress, the top architectures and the "
      "report at the end; run again to resume");
  cmd->add_option("--config", o->config, "Experiment file (JSON), e.g. experiments/demo.json")->required();
  cmd->add_option("--workers", o->workers, "Local worker processes")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--dir", o->dir, "Folder for the database, logs, workers' runs and report (default: runs/NAME)");
  cmd->add_option("--db", o->db, "SQLite database (default: DIR/search.db)");
  cmd->add_option("--listen", o->listen, "Controller address (port 0: any free port)")->capture_default_str();
  cmd->add_option("--device", o->device, "Workers' device: auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", o->threads, "LibTorch threads per worker (default: the experiment's proxy.threads)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--report", o->report, "Where the report goes (default: DIR/report.html)");
  cmd->add_option("--top", o->top, "Architectures listed at the end")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--simulate", o->simulate, "Simulated workers, for an experiment with a \"simulation\" section");
  cmd->add_flag("--no-auth", o->no_auth,
                "No bearer token (loopback only; for tests). By default each launch writes a new token to "
                "DIR/token (mode 0600) for its controller and workers, on loopback too");
  cmd->callback([o, run] {
    o->binary = SelfPath();
    o->live_progress = isatty(STDOUT_FILENO) != 0;
    o->stop = &g_stop;
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    const absl::Status status = (run ? run : deploy::RunLocalSearch)(*o);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (absl::IsCancelled(status)) throw CLI::RuntimeError(kExitInterrupted);  // It has said so.
    if (!status.ok()) Fail(status);
  });
}

}  // namespace vertebra::cli
