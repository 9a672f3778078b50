// The training benchmarks (built with LibTorch; this header is torch-free):
//   `vertebra bench step`    full proxy training steps on random data (worker/step_bench.h);
//   `vertebra bench loader`  the data loader alone against the training step;
//   `vertebra bench maxup`   MaxUp's cost against plain training;
//   `vertebra bench eval`    the held-out evaluation of one checkpoint as it ran before
//                            (NoGradGuard, NMS over every candidate, 32 images per pass) against
//                            the current one at each evaluation batch size.
// The last three measure their rivals side by side in one process, alternating in rounds, and
// report medians and ratios: the machines they run on are shared and noisy. Not thread-safe:
// they train with the LibTorch threads they are given.
#ifndef VERTEBRA_BENCH_TRAIN_BENCH_H_
#define VERTEBRA_BENCH_TRAIN_BENCH_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "search_spaces/cost.h"
#include "vertebra/v1/arch.pb.h"
#include "worker/step_bench.h"

namespace vertebra::bench {

struct StepBenchOptions {
  std::string arch;  // The architecture's name or file, as reported.
  worker::StepBenchOptions step;
  bool json = false;  // One JSON object instead of a line of text.
};

// Writes the step's speed to `out`. RunStepBench's errors.
absl::Status RunStepBench(const StepBenchOptions& options, std::ostream& out);

struct TrainBenchOptions {
  std::string arch = "spinenet-49";  // The architecture's name or file, as reported.
  v1::ArchSpec spec;                 // The architecture at the proxy scaling
  search_spaces::HeadOptions head;   // and the proxy's head (search_spaces::ResolveProxy).
  std::string data = "synthetic";    // A worker/data/data_spec.h spec; held-out: 16 images.
  int size = 128;                    // Square input side.
  int batch = 16;
  int threads = 1;          // LibTorch threads of the training step.
  int steps = 20;           // Training steps per measurement.
  int rounds = 2;           // Alternating rounds; medians are reported.
  // Loader threads (default 1 2), MaxUp copies (default 1 2 4) or evaluation batch sizes (default
  // 8 32 64).
  std::vector<int> values;
  int batches = 100;        // Loader only: batches per measurement.
  int held_out = 16;        // Images held out of the data for the evaluation.
  bool json = false;        // One JSON object instead of text.
};

// The loader's images per second at each thread count, against the training step's. The data
// spec's and the trainer's errors.
absl::Status RunLoaderBench(const TrainBenchOptions& options, std::ostream& out);

// Training images per second with each number of MaxUp copies (1 always included) and the time
// per image relative to plain training. The data spec's and the trainer's errors.
absl::Status RunMaxUpBench(const TrainBenchOptions& options, std::ostream& out);

// Trains `steps` steps into a temporary folder, then evaluates that checkpoint on the held-out
// images in alternating rounds: as evaluation was (worker::TrainOptions::former_evaluation) at 32
// images per pass, and as it is at each evaluation batch size. Median seconds per evaluation, the ratio
// of the first to each, and whether every variant gave the same AP. The trainer's errors.
absl::Status RunEvalBench(const TrainBenchOptions& options, std::ostream& out);

}  // namespace vertebra::bench

#endif  // VERTEBRA_BENCH_TRAIN_BENCH_H_
