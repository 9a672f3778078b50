// What a training run computes in: decided once at its start from the request (v1::Precision,
// spelled "auto", "fp32", "bf16"), the device, and whether this CPU does bf16 natively.
// Torch-free, so that the CLI, the trainer's header and the worker include it cheaply. Stateless
// and thread-safe.
#ifndef VERTEBRA_WORKER_PRECISION_H_
#define VERTEBRA_WORKER_PRECISION_H_

#include <string>

#include "vertebra/v1/kinds.pb.h"

namespace vertebra::worker {

// Whether this CPU executes bf16 arithmetic natively: AVX512_BF16 (Cooper Lake, Zen 4 and later)
// or AMX-BF16 (Sapphire Rapids and later), with AVX-512 F/BW/VL and an operating system that
// saves the AVX-512 registers (what oneDNN's bf16 kernels need). Reads cpuid once; false on
// other architectures.
bool CpuHasBf16();

// A probe of the CPU's bf16 support: CpuHasBf16, or a test's stand-in for another CPU.
using Bf16Probe = bool (*)();

struct PrecisionChoice {
  v1::Precision precision = v1::PRECISION_FP32;  // PRECISION_FP32 or PRECISION_BF16.
  std::string notice;  // One line for the user when bf16 was asked for and cannot be had.
};

// The precision a run computes in:
//   auto         bf16 on a CPU with native bf16 (`cpu_has_bf16`); fp32 on CUDA, where bf16 made
//                the proxy step slower (bench/results/gpu-check-h200.md), and on other CPUs;
//   bf16         bf16 on CUDA and on a CPU with native bf16; fp32 with a notice on other CPUs,
//                where bf16 would be emulated and slower than fp32;
//   fp32, UNSPECIFIED (a record from before the field) fp32.
PrecisionChoice ResolvePrecision(v1::Precision requested, bool cuda, bool cpu_has_bf16);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_PRECISION_H_
