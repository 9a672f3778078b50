// `vertebra bench controller`: the controller's speed as workers see it.
//
//   * lease + report cycles per second, and the p50/p99 latency of a cycle, with W concurrent
//     simulated workers over loopback gRPC against a real SQLite database (synchronous=FULL:
//     every state change is fsynced before it is answered);
//   * the latency of Lease (a worker asking for the next proposal) with H trials of history,
//     in-process, and how long restoring that history takes at start-up.
//
// As a load test (--sample-seconds), the throughput measurement also records a time series:
// the process's resident memory, cycles/s, p99 latency and failed calls per interval, so a long
// run shows whether memory stays flat after warm-up. Failed calls are counted, not fatal: the
// worker waits 100 ms and goes on.
//
// bench/controller_peer.py measures Optuna's ask/tell on SQLite in the same shapes; the
// bench/compare_controller.sh script runs both side by side. Not thread-safe: it runs its own
// threads and server.
#ifndef VERTEBRA_BENCH_CONTROLLER_BENCH_H_
#define VERTEBRA_BENCH_CONTROLLER_BENCH_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace vertebra::bench {

struct ControllerBenchOptions {
  std::vector<int> workers = {16, 64, 256};    // Concurrent workers, one measurement each.
  std::vector<int> history = {10000, 100000};  // Trials of history, one measurement each.
  double seconds = 5;                          // Measured per worker count, after a warm-up second.
  int lease_samples = 300;                     // Leases timed per history size.
  std::string dir;                             // Where the databases go; empty: the temp folder.
  double sample_seconds = 0;                   // > 0: a time series with this interval (load test).
  double work_seconds = 0;                     // Each simulated worker holds a lease this long.
  bool json = false;                           // One JSON object instead of a line per measurement.
};

// Writes a line per measurement (or one JSON object at the end) to `out`. Errors from the store,
// the scheduler or the server (e.g. a --dir that cannot be written).
absl::Status RunControllerBench(const ControllerBenchOptions& options, std::ostream& out);

}  // namespace vertebra::bench

#endif  // VERTEBRA_BENCH_CONTROLLER_BENCH_H_
