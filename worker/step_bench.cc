#include "worker/step_bench.h"

#include <sys/resource.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "search_spaces/resolve.h"
#include "worker/model/detection.h"
#include "worker/model/retinanet.h"
#include "worker/model/torch_util.h"

namespace vertebra::worker {
namespace {

namespace ss = search_spaces;
using Clock = std::chrono::steady_clock;

// SGD momentum of the paper's recipe (spinenet.md §6.1).
constexpr double kMomentum = 0.9;
// Random boxes are at least this many pixels on a side, so that some anchor matches them.
constexpr double kMinBoxSide = 8.0;

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux.
}

std::vector<ImageTargets> RandomTargets(const StepBenchOptions& o, torch::Generator& gen) {
  std::vector<ImageTargets> targets;
  for (int i = 0; i < o.batch; ++i) {
    const int n = o.boxes_per_image;
    const at::Tensor wh = torch::rand({n, 2}, gen) * (o.size / 2.0 - kMinBoxSide) + kMinBoxSide;
    const at::Tensor xy = torch::rand({n, 2}, gen) * (o.size - wh);
    ImageTargets t;
    t.boxes = torch::cat({xy, xy + wh}, 1);
    t.classes = torch::randint(o.head.num_classes, {n}, gen, torch::kInt64);
    targets.push_back(t);
  }
  return targets;
}

void Synchronize(c10::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// The best FLOP/s of `run`, which does `flops` FLOPs, over about `seconds` (after one untimed
// call, which sets the kernel up).
template <typename Run>
double BestFlops(c10::Device device, double flops, double seconds, Run run) {
  torch::NoGradGuard no_grad;
  run();
  Synchronize(device);
  double best = 0;
  const Clock::time_point start = Clock::now();
  do {
    const Clock::time_point t0 = Clock::now();
    run();
    Synchronize(device);
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    if (t > 0) best = std::max(best, flops / t);
  } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds);
  return best;
}

// The probe's image side and kernel of the convolution (PeakFlops).
constexpr int kProbeImage = 32;
constexpr int kProbeKernel = 3;

// {matrix product, convolution} FLOP/s in `dtype`.
std::pair<double, double> ProbeFlops(c10::Device device, at::ScalarType dtype, int n, double seconds) {
  const auto options = torch::TensorOptions().device(device).dtype(dtype);
  const at::Tensor a = torch::randn({n, n}, options), b = torch::randn({n, n}, options);
  at::Tensor c = torch::empty({n, n}, options);
  const double matmul = BestFlops(device, 2.0 * n * n * static_cast<double>(n), seconds, [&] { at::mm_out(c, a, b); });
  const int channels = n / 4;
  const at::Tensor x =
      torch::randn({1, channels, kProbeImage, kProbeImage}, options).contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor w =
      torch::randn({channels, channels, kProbeKernel, kProbeKernel}, options).contiguous(at::MemoryFormat::ChannelsLast);
  const double conv_flops = 2.0 * channels * channels * kProbeKernel * kProbeKernel * kProbeImage * kProbeImage;
  const double conv = BestFlops(device, conv_flops, seconds, [&] { at::conv2d(x, w, {}, 1, 1); });
  return {matmul, conv};
}

absl::Status Validate(const StepBenchOptions& o) {
  if (o.size < 8) return absl::InvalidArgumentError(absl::StrFormat("size: must be at least 8, got %d", o.size));
  if (o.batch < 1) return absl::InvalidArgumentError(absl::StrFormat("batch: must be at least 1, got %d", o.batch));
  if (o.steps < 1) return absl::InvalidArgumentError(absl::StrFormat("steps: must be at least 1, got %d", o.steps));
  if (o.warmup_steps < 0) return absl::InvalidArgumentError("warmup_steps: must not be negative");
  if (o.boxes_per_image < 0) return absl::InvalidArgumentError("boxes_per_image: must not be negative");
  if (o.probe_seconds < 0) return absl::InvalidArgumentError("probe_seconds: must not be negative");
  if (o.probe_size < 4 || o.probe_size % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("probe_size: must be a positive multiple of 4, got %d", o.probe_size));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StepBenchResult> RunStepBench(const StepBenchOptions& o) {
  RETURN_IF_ERROR(Validate(o));
  ASSIGN_OR_RETURN(const c10::Device device, ParseDevice(o.device));
  const bool cpu_has_bf16 = o.cpu_has_bf16 != nullptr ? o.cpu_has_bf16() : CpuHasBf16();
  const PrecisionChoice precision = ResolvePrecision(o.precision, device.is_cuda(), cpu_has_bf16);
  const bool bf16 = precision.precision == v1::PRECISION_BF16;
  RETURN_IF_ERROR(SetNumThreads(o.threads));
  ASSIGN_OR_RETURN(const ss::ResolvedGraph graph, ss::Resolve(o.spec, o.size, o.size));
  return GuardTorch([&]() -> absl::StatusOr<StepBenchResult> {
    torch::manual_seed(o.seed);
    auto gen = at::detail::createCPUGenerator(o.seed);
    DetectorOptions options;
    options.head = o.head;
    Detector model(graph, options);
    model->to(device);
    if (o.channels_last) ToChannelsLast(*model);
    model->train();
    std::vector<int> levels;
    for (const ss::Endpoint& e : graph.endpoints) levels.push_back(e.level);
    AnchorOptions anchor_options;
    anchor_options.base_scale = 2.0;  // The small-image setting (proxy-pilot.md).
    const AnchorSet anchors = GenerateAnchors({o.size, o.size}, levels, anchor_options,
                                              torch::TensorOptions().device(device));
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(o.learning_rate).momentum(kMomentum));
    at::Tensor images = torch::randn({o.batch, 3, o.size, o.size}, gen).to(device);
    if (o.channels_last) images = images.contiguous(at::MemoryFormat::ChannelsLast);
    std::vector<ImageTargets> targets = RandomTargets(o, gen);
    for (ImageTargets& t : targets) {
      t.boxes = t.boxes.to(device);
      t.classes = t.classes.to(device);
    }
    const LossOptions loss_options;
    StepBenchResult result;
    auto step = [&]() {
      sgd.zero_grad();
      DetectionLoss loss;
      {
        Bf16Autocast autocast(device, bf16);
        const DetectorOutput out = model->forward(images);
        loss = ComputeLoss(out.head, anchors, targets, loss_options);
      }
      loss.total.backward();
      sgd.step();
      return loss.total.item<double>();  // Synchronizes with the device.
    };
    for (int i = 0; i < o.warmup_steps; ++i) {
      const double l = step();
      if (i == 0) result.first_loss = l;
    }
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < o.steps; ++i) {
      result.last_loss = step();
      if (o.warmup_steps == 0 && i == 0) result.first_loss = result.last_loss;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    result.ms_per_step = 1000.0 * seconds / o.steps;
    result.images_per_s = o.batch * o.steps / seconds;
    result.peak_rss_mb = PeakRssMb();
    result.parameters = CountParameters(*model);
    result.precision = precision.precision;
    result.precision_notice = precision.notice;
    result.macs_per_image = ss::CountCost(graph, o.head).total_macs;
    // Forward: 2 FLOPs per multiply-add; backward: the gradients of the inputs and of the weights,
    // each as much as the forward.
    constexpr double kTrainingFlopsPerMac = 6.0;
    result.achieved_flops = kTrainingFlopsPerMac * static_cast<double>(result.macs_per_image) * result.images_per_s;
    if (o.probe_seconds > 0) {
      std::tie(result.peak.fp32_matmul, result.peak.fp32_conv) =
          ProbeFlops(device, at::kFloat, o.probe_size, o.probe_seconds);
      if (device.is_cuda() || cpu_has_bf16) {
        std::tie(result.peak.bf16_matmul, result.peak.bf16_conv) =
            ProbeFlops(device, at::kBFloat16, o.probe_size, o.probe_seconds);
      }
      const double peak = bf16 ? result.peak.bf16() : result.peak.fp32();
      if (peak > 0) result.fraction_of_peak = result.achieved_flops / peak;
    }
    result.device = device.str();
    result.threads = o.threads;
    result.torch_version = TorchVersion();
    return result;
  });
}

absl::StatusOr<int64_t> BuiltParameterCount(const v1::ArchSpec& spec, int size, const ss::HeadOptions* head) {
  ASSIGN_OR_RETURN(const ss::ResolvedGraph graph, ss::Resolve(spec, size, size));
  return GuardTorch([&]() -> absl::StatusOr<int64_t> {
    DetectorOptions options;
    options.backbone.reference_init = false;  // Counting only.
    if (head == nullptr) return CountParameters(*SpineNet(graph, options.backbone));
    options.head = *head;
    return CountParameters(*Detector(graph, options));
  });
}

}  // namespace vertebra::worker
