// The firewall between LibTorch and the rest of Vertebra: devices, threads, autocast, and the
// translation of LibTorch exceptions into absl::Status. Everything that differs between LibTorch
// 1.13 (Debian) and 2.x lives in torch_util.cc.
#ifndef VERTEBRA_WORKER_MODEL_TORCH_UTIL_H_
#define VERTEBRA_WORKER_MODEL_TORCH_UTIL_H_

#include <c10/core/Device.h>

#include <exception>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace vertebra::worker {

// "auto" (CUDA device 0 when one is present, else CPU), "cpu", "cuda" or "cuda:N".
// InvalidArgument for anything else, FailedPrecondition for CUDA on a machine without it.
absl::StatusOr<c10::Device> ParseDevice(const std::string& spec);

// Whether this process can use CUDA.
bool CudaAvailable();

// Sets LibTorch's intra-op thread count (LibTorch defaults to one thread on some machines).
// InvalidArgument for n < 1.
absl::Status SetNumThreads(int n);

// The Status for an exception thrown by LibTorch or the standard library: ResourceExhausted for
// out-of-memory (CUDA or host), InvalidArgument for c10::Error that reports a bad value or
// shape, Internal otherwise. The message keeps LibTorch's first line.
absl::Status StatusFromException(const std::exception& e);

// Runs `f` and turns any exception into a Status. `f` returns absl::Status or absl::StatusOr<T>.
template <typename F>
auto GuardTorch(F&& f) -> decltype(f()) {
  try {
    return std::forward<F>(f)();
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

// Re-strides every 4-D parameter and buffer of `module` to channels-last, as Python's
// module.to(memory_format=torch.channels_last) does (1x1 conv weights included, whose NCHW
// strides would otherwise already count as channels-last contiguous and keep them on the NCHW
// path). On CPU this is worth 20-50% of a proxy training step (bench/compare_step.sh).
void ToChannelsLast(torch::nn::Module& module);

// While alive, the ops of this thread on `device`'s type (CPU or CUDA) run under bf16 autocast:
// convolutions and matrix products in bf16, the parameters, and whatever a caller casts back to
// fp32 (the losses), untouched. A no-op when `enabled` is false. Backward may run after it ends
// (autograd recorded the casts). Not copyable.
class Bf16Autocast {
 public:
  Bf16Autocast(c10::Device device, bool enabled);
  ~Bf16Autocast();
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool enabled_;
  c10::DeviceType type_;
  bool previous_ = false;
};

// A version string such as "1.13.0" for reports.
std::string TorchVersion();

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_MODEL_TORCH_UTIL_H_
