// `vertebra bench report`: how long `vertebra report` takes, and how large its page is, for a long
// search. It writes a generated history into a fresh SQLite database in a temporary directory (an
// experiment named "generated-report-bench", marked simulated: architectures sampled uniformly
// from the search space and priced as the controller prices them, a made-up AP, workers, rungs
// with promotions, rejections and failures), then times reading it back and rendering the report.
// bench/report_load.sh adds the load time of the page in a headless browser. Thread-compatible.
#ifndef VERTEBRA_BENCH_REPORT_BENCH_H_
#define VERTEBRA_BENCH_REPORT_BENCH_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace vertebra::bench {

struct ReportBenchOptions {
  int trials = 10000;  // In the generated history.
  int workers = 32;    // In the generated history.
  uint64_t seed = 1;   // Of the generated history.
  int repeat = 3;      // Renderings timed; the best counts.
  std::string out;     // Keep the report here; empty: a temporary file, removed.
  bool keep = false;   // Keep the temporary directory with the database.
  bool json = false;   // One JSON object instead of text.
};

// Writes the sizes and times (and where it kept files) to `out`. Unavailable when no temporary
// directory can be made; the store's and the report's errors otherwise.
absl::Status RunReportBench(const ReportBenchOptions& options, std::ostream& out);

}  // namespace vertebra::bench

#endif  // VERTEBRA_BENCH_REPORT_BENCH_H_
