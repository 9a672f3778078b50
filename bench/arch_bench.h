// `vertebra bench arch`: what the controller spends on every proposal, timed over sampled
// architectures: decode the decisions, validate the spec, resolve it, count its cost with a
// RetinaNet head, hash it. Sampling is done beforehand and not timed. Thread-compatible.
#ifndef VERTEBRA_BENCH_ARCH_BENCH_H_
#define VERTEBRA_BENCH_ARCH_BENCH_H_

#include <cstdint>
#include <ostream>

#include "absl/status/status.h"

namespace vertebra::bench {

// The proxy task's input size (spinenet.md §4): what the controller prices proposals at.
inline constexpr int kProxyInputSize = 512;

struct ArchBenchOptions {
  int count = 20000;  // Architectures timed.
  uint64_t seed = 1;  // Of the sampling.
  int size = kProxyInputSize;
  bool json = false;  // One JSON object instead of two lines of text.
};

// Writes the mean time per architecture, in total and per stage, to `out`. Errors come from the
// search space (none for a sampled architecture unless the cost model is broken).
absl::Status RunArchBench(const ArchBenchOptions& options, std::ostream& out);

}  // namespace vertebra::bench

#endif  // VERTEBRA_BENCH_ARCH_BENCH_H_
