#include "worker/model/torch_util.h"

#include <ATen/autocast_mode.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <new>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

// The autocast API changed in LibTorch 2.4: device-type arguments replaced the per-device calls.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define VERTEBRA_AUTOCAST_BY_DEVICE 1
#else
#define VERTEBRA_AUTOCAST_BY_DEVICE 0
#endif

namespace vertebra::worker {
namespace {

std::string FirstLine(const std::string& s) {
  const size_t end = s.find('\n');
  return end == std::string::npos ? s : s.substr(0, end);
}

}  // namespace

bool CudaAvailable() { return torch::cuda::is_available(); }

absl::StatusOr<c10::Device> ParseDevice(const std::string& spec) {
  if (spec == "auto") return CudaAvailable() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  int index = 0;
  if (spec == "cuda" || (absl::StartsWith(spec, "cuda:") && absl::SimpleAtoi(spec.substr(5), &index) && index >= 0)) {
    if (!CudaAvailable()) {
      return absl::FailedPreconditionError(absl::StrFormat("device '%s': this machine has no usable CUDA", spec));
    }
    if (index >= static_cast<int>(torch::cuda::device_count())) {
      return absl::InvalidArgumentError(absl::StrFormat("device '%s': only %d CUDA devices", spec,
                                                        static_cast<int>(torch::cuda::device_count())));
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("device '%s': expected auto, cpu, cuda or cuda:N", spec));
}

absl::Status SetNumThreads(int n) {
  if (n < 1) return absl::InvalidArgumentError(absl::StrFormat("threads: must be at least 1, got %d", n));
  torch::set_num_threads(n);
  return absl::OkStatus();
}

absl::Status StatusFromException(const std::exception& e) {
  const std::string what = e.what();
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr || absl::StrContains(what, "out of memory") ||
      absl::StrContains(what, "Out of memory")) {
    return absl::ResourceExhaustedError("out of memory: " + FirstLine(what));
  }
  if (dynamic_cast<const c10::Error*>(&e) != nullptr) {
    const auto* err = dynamic_cast<const c10::Error*>(&e);
    const std::string msg = FirstLine(err->what_without_backtrace());
    if (dynamic_cast<const c10::ValueError*>(&e) != nullptr || dynamic_cast<const c10::IndexError*>(&e) != nullptr ||
        dynamic_cast<const c10::TypeError*>(&e) != nullptr) {
      return absl::InvalidArgumentError("torch: " + msg);
    }
    return absl::InternalError("torch: " + msg);
  }
  return absl::InternalError(FirstLine(what));
}

Bf16Autocast::Bf16Autocast(c10::Device device, bool enabled) : enabled_(enabled), type_(device.type()) {
  if (!enabled_) return;
#if VERTEBRA_AUTOCAST_BY_DEVICE
  previous_ = at::autocast::is_autocast_enabled(type_);
  at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  at::autocast::set_autocast_enabled(type_, true);
#else
  if (type_ == c10::kCUDA) {
    previous_ = at::autocast::is_enabled();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    previous_ = at::autocast::is_cpu_enabled();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
}

Bf16Autocast::~Bf16Autocast() {
  if (!enabled_) return;
#if VERTEBRA_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(type_, previous_);
#else
  if (type_ == c10::kCUDA) {
    at::autocast::set_enabled(previous_);
  } else {
    at::autocast::set_cpu_enabled(previous_);
  }
#endif
  at::autocast::clear_cache();  // The casts of this step's weights; the next step has new ones.
}

void ToChannelsLast(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (at::Tensor& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(at::empty_like(p, at::MemoryFormat::ChannelsLast).copy_(p));
  }
  for (at::Tensor& b : module.buffers()) {
    if (b.dim() == 4) b.set_data(at::empty_like(b, at::MemoryFormat::ChannelsLast).copy_(b));
  }
}

std::string TorchVersion() { return TORCH_VERSION; }

}  // namespace vertebra::worker
