// The proxy training step as a benchmark: full steps (forward, matching and loss, backward, SGD
// update) of a SpineNet + RetinaNet detector on random images with random boxes, and a short GEMM
// probe of the machine's peak in the same process, so that the step's FLOP/s can be read as a
// fraction of what the machine does. No LibTorch in this header: the CLI includes it.
#ifndef VERTEBRA_WORKER_STEP_BENCH_H_
#define VERTEBRA_WORKER_STEP_BENCH_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "search_spaces/cost.h"
#include "vertebra/v1/arch.pb.h"
#include "vertebra/v1/kinds.pb.h"
#include "worker/precision.h"

namespace vertebra::worker {

struct StepBenchOptions {
  v1::ArchSpec spec;              // With the scaling to build (e.g. the proxy's 0.25 / 0.25).
  search_spaces::HeadOptions head = {64, 4, 3, 9, search_spaces::HeadNorm::kBatchNormPerLevel};
  int size = 128;                 // Square input, pixels.
  int batch = 8;
  int steps = 20;                 // Timed steps.
  int warmup_steps = 3;           // Untimed steps first (allocator and oneDNN warm-up).
  int threads = 1;
  std::string device = "cpu";     // auto, cpu, cuda, cuda:N
  bool channels_last = false;
  // fp32, bf16 (autocast of the forward and the loss; worker/precision.h says where bf16 falls
  // back to fp32) or auto.
  v1::Precision precision = v1::PRECISION_FP32;
  Bf16Probe cpu_has_bf16 = CpuHasBf16;  // Tests stand in another CPU.
  int boxes_per_image = 4;
  double learning_rate = 0.01;    // SGD, momentum 0.9.
  uint64_t seed = 0;
  // Seconds of the peak probe per kernel and data type, after the steps (0: no probe).
  double probe_seconds = 0.3;
  int probe_size = 1024;          // Side of the probe's matrices (a multiple of 4).
};

// The probe of the machine's peak: the best FLOP/s over the probe's time of an n x n x n matrix
// product (2 n^3 FLOPs) and of a 3x3 convolution of n / 4 channels on a 32 x 32 channels-last
// image (the implicit GEMM of oneDNN), at the step's thread count and device. Both, because
// LibTorch 1.13 hands fp32 matrix products to the system BLAS, which may not know the CPU, while
// the step's convolutions run in oneDNN. 0 where not measured.
struct PeakFlops {
  double fp32_matmul = 0, fp32_conv = 0;
  double bf16_matmul = 0, bf16_conv = 0;  // Only where bf16 is native (CUDA, or CpuHasBf16).
  double fp32() const { return fp32_matmul > fp32_conv ? fp32_matmul : fp32_conv; }
  double bf16() const { return bf16_matmul > bf16_conv ? bf16_matmul : bf16_conv; }
};

struct StepBenchResult {
  double images_per_s = 0;
  double ms_per_step = 0;
  double peak_rss_mb = 0;         // Of the whole process, from getrusage.
  double first_loss = 0;
  double last_loss = 0;
  int64_t parameters = 0;
  v1::Precision precision = v1::PRECISION_FP32;  // What the step computed in.
  std::string precision_notice;   // Set when bf16 was asked for and the step ran in fp32.
  // The roofline: the cost model's multiply-adds of one image (convolutions, head included),
  // achieved FLOP/s = 6 x that x images/s (forward 2 FLOPs per multiply-add, backward twice the
  // forward), and that as a fraction of the probe's peak in the step's precision (0 without one).
  int64_t macs_per_image = 0;
  double achieved_flops = 0;
  PeakFlops peak;
  double fraction_of_peak = 0;
  std::string device;
  int threads = 0;
  std::string torch_version;
};

// InvalidArgument for bad options, FailedPrecondition for CUDA where unavailable,
// ResourceExhausted for out-of-memory.
absl::StatusOr<StepBenchResult> RunStepBench(const StepBenchOptions& options);

// Builds the detector for `spec` at `size` with `head` and returns its trainable parameter count
// (what `vertebra arch stats --built` reports).
absl::StatusOr<int64_t> BuiltParameterCount(const v1::ArchSpec& spec, int size,
                                            const search_spaces::HeadOptions* head);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_STEP_BENCH_H_
