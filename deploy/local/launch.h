// A whole search on this machine, as `vertebra launch` runs it: a controller and N workers as
// child processes (the `vertebra` binary itself), live progress read from the database, workers
// restarted when they die, a clean stop on request, and at the end the top architectures and
// the report. Run again on the same database, it resumes an unfinished search and only reports
// a finished one.
//
// Children run in process groups of their own so that Ctrl-C on the terminal reaches the
// launcher alone; on a stop it stops the workers first (each gives its lease back while the
// controller still answers), then the controller.
#ifndef VERTEBRA_DEPLOY_LOCAL_LAUNCH_H_
#define VERTEBRA_DEPLOY_LOCAL_LAUNCH_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"

namespace vertebra::deploy {

struct LocalSearchOptions {
  std::string config;                  // The experiment (JSON).
  std::string binary;                  // The `vertebra` executable the children run.
  int workers = 2;                     // Local worker processes.
  std::string dir;                     // Database, logs, workers' runs, report. Empty: runs/NAME.
  std::string db;                      // Empty: DIR/search.db.
  std::string report;                  // Empty: DIR/report.html.
  std::string listen = "127.0.0.1:0";  // The controller's address (port 0: any free port).
  std::string device = "cpu";          // The workers' --device.
  int threads = 0;                     // LibTorch threads per worker; 0: the experiment's proxy.threads.
  int top = 5;                         // Architectures listed at the end.
  bool simulate = false;               // Simulated workers; the experiment must have a "simulation".
  // No bearer token (loopback only). Otherwise every launch writes a new token to DIR/token (mode
  // 0600) for its controller and workers, on loopback too: any local user can reach a loopback port.
  bool no_auth = false;
  // How often one worker that exits with an error is restarted before the launcher gives up on
  // it (the others go on). Negative: DefaultMaxRestarts(workers).
  int max_restarts_per_worker = -1;
  bool live_progress = false;  // Standard output is a terminal: one progress line, rewritten.
  // Set from elsewhere (a signal handler) to stop the search cleanly; nullptr: runs to the end.
  const std::atomic<bool>* stop = nullptr;
};

// The default cap on restarts of one worker: a few per worker, plus some slack for a slow
// start. Beyond it something is wrong with this machine, and restarting only hides it.
int DefaultMaxRestarts(int workers);

// Runs the search in `options` to its end, writing progress and results to standard output and
// the children's logs to DIR/logs. OK once the experiment has finished (or was finished
// already); Cancelled after a clean stop through `options.stop` (the same call resumes it);
// InvalidArgument for a bad configuration or --simulate that does not match it, or a folder
// that cannot be created; FailedPrecondition or DeadlineExceeded when the controller does not
// start; Internal when it fails. Not thread-safe: it owns the children it starts.
absl::Status RunLocalSearch(const LocalSearchOptions& options);

}  // namespace vertebra::deploy

#endif  // VERTEBRA_DEPLOY_LOCAL_LAUNCH_H_
