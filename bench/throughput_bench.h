// `vertebra bench search-throughput`: where a search's worker time went, read from its database
// (read-only; a running search's too). The window runs from the first lease to the last report:
//
//   - rung results per hour of that window;
//   - each worker's busy fraction: the time it held a lease over the time it was there (from its
//     registration, or the window's start if later, to the window's end), and the overall one;
//   - the split of all the workers' time: training (the reports' train_seconds less the repeated
//     steps), evaluation (eval_seconds), checkpoint I/O (checkpoint_seconds), repeated steps
//     (Trial.repeated_steps at the trial's measured seconds per step), the rest of the time in a
//     lease (building the model, reading data, reporting, leases lost without a report) and idle.
//
// The leases come from the "leased" events (controller/store.h: LeasedEventDetail); a lease ends
// at its report, or at the trial's next expiry, retry, failure or release, else at the window's
// end. Results from a worker older than eval_seconds and checkpoint_seconds count their
// evaluation and checkpoint time as training (and under "other" the evaluation at the rung's
// end). A simulated search's evaluation and checkpoint figures are the simulated trainer's shares
// (worker/agent/simulated.h), and the report says so. Thread-compatible.
#ifndef VERTEBRA_BENCH_THROUGHPUT_BENCH_H_
#define VERTEBRA_BENCH_THROUGHPUT_BENCH_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/store.h"

namespace vertebra::bench {

struct SearchThroughputOptions {
  std::string db;     // The search's SQLite database, opened read-only.
  bool json = false;  // One JSON object instead of text.
};

// Seconds of worker time by what they were spent on.
struct WorkerTimeSplit {
  double training = 0;
  double evaluation = 0;
  double checkpoint = 0;
  double repeated = 0;
  double other = 0;  // In a lease, but none of the above.
  double idle = 0;
  double total() const { return training + evaluation + checkpoint + repeated + other + idle; }
};

struct WorkerThroughput {
  std::string id, host, device;
  int64_t leases = 0, results = 0;
  double present_seconds = 0;  // From its registration (or the window's start) to the window's end.
  double busy_seconds = 0;     // Holding a lease, within that.
  double busy_fraction() const { return present_seconds > 0 ? busy_seconds / present_seconds : 0; }
};

struct SearchThroughput {
  std::string experiment;
  bool simulated = false;
  double first_lease = 0, last_report = 0;  // Unix seconds: the window.
  int64_t leases = 0, results = 0;
  std::vector<WorkerThroughput> workers;  // By id.
  WorkerTimeSplit split;
  double window_seconds() const { return last_report - first_lease; }
  double results_per_hour() const { return window_seconds() > 0 ? results * 3600.0 / window_seconds() : 0; }
  double busy_fraction() const;  // Over every worker's time.
};

// Reads the timeline out of `store`. The store's errors; FailedPrecondition for a store without an
// experiment.
absl::StatusOr<SearchThroughput> MeasureSearchThroughput(const controller::Store& store);

// Opens options.db read-only and writes the figures to `out`. Errors name the file: NotFound for
// a missing one, FailedPrecondition for one that is not a Vertebra database.
absl::Status RunSearchThroughput(const SearchThroughputOptions& options, std::ostream& out);

}  // namespace vertebra::bench

#endif  // VERTEBRA_BENCH_THROUGHPUT_BENCH_H_
