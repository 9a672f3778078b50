// SpineNet in LibTorch, built from a resolved graph (search_spaces/resolve.h). This module does
// no architecture arithmetic of its own: every level, width, edge and extra parent comes from
// the graph, so its parameter count equals the cost model's to the unit.
//
// Submodule names are stable functions of the spec ("block_07.resample_1.squeeze_conv"), so a
// checkpoint written by one run loads into any other build of the same spec.
#ifndef VERTEBRA_WORKER_MODEL_SPINENET_H_
#define VERTEBRA_WORKER_MODEL_SPINENET_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "search_spaces/resolve.h"

namespace vertebra::worker {

enum class Activation { kRelu, kSwish };

struct SpineNetOptions {
  Activation activation = Activation::kRelu;
  // TF-style BN decay: the running statistics keep this fraction each step (the paper's 0.99;
  // LibTorch's momentum is 1 - decay).
  double bn_decay = 0.99;
  double bn_epsilon = 1e-3;
  // Stochastic depth (spinenet.md §6.2): block row k drops its residual branch with probability
  // rate * (k + 1) / num_rows during training. 0 disables it (the default; protocol C uses 0.2).
  double stochastic_depth_rate = 0.0;
  // Initialize as the reference does (InitializeBackbone). False keeps LibTorch's default
  // initialization, which is cheaper: for code that only counts parameters or checks shapes.
  bool reference_init = true;
};

// Applies the activation of `options`.
at::Tensor Activate(const at::Tensor& x, Activation activation);

// A conv without bias followed by a BN; the unit from which the backbone is built.
class ConvBnImpl : public torch::nn::Module {
 public:
  ConvBnImpl(int in, int out, int kernel, int stride, const SpineNetOptions& options);
  at::Tensor forward(const at::Tensor& x);

 private:
  int stride_;
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::BatchNorm2d bn_{nullptr};
};
TORCH_MODULE(ConvBn);

// A bottleneck (1x1, 3x3, 1x1; x4 expansion) or residual (3x3, 3x3) block at stride 1, with a
// 1x1 projection shortcut from `in_channels` when `projection` (else in_channels must equal the
// block's output channels).
class ResidualUnitImpl : public torch::nn::Module {
 public:
  ResidualUnitImpl(v1::BlockType type, int in_channels, int inner, bool projection, double drop_rate,
                   const SpineNetOptions& options);
  at::Tensor forward(const at::Tensor& x);

 private:
  Activation activation_;
  double drop_rate_;
  std::vector<ConvBn> convs_;
  ConvBn projection_{nullptr};
};
TORCH_MODULE(ResidualUnit);

// One parent edge: squeeze, then stride-2 conv + max-pools or nearest upsampling, then expand.
class ResampleImpl : public torch::nn::Module {
 public:
  ResampleImpl(const search_spaces::ResampleEdge& edge, const SpineNetOptions& options);
  // `target` is the spatial size of the receiving block for the current input.
  at::Tensor forward(const at::Tensor& x, search_spaces::Size2 target);

 private:
  search_spaces::ResampleEdge edge_;
  Activation activation_;
  ConvBn squeeze_{nullptr};
  ConvBn strided_{nullptr};
  ConvBn expand_{nullptr};
};
TORCH_MODULE(Resample);

// One spec row: resample both parents, add the extra parents, activate, then `repeats` units.
class SpineBlockImpl : public torch::nn::Module {
 public:
  SpineBlockImpl(const search_spaces::ResolvedBlock& block, int num_rows, const SpineNetOptions& options);
  // `features` holds every earlier feature by index; `target` is this block's spatial size.
  at::Tensor forward(const std::vector<at::Tensor>& features, search_spaces::Size2 target);

 private:
  search_spaces::ResolvedBlock block_;
  Activation activation_;
  Resample resample_[2] = {nullptr, nullptr};
  torch::nn::ModuleList units_;
};
TORCH_MODULE(SpineBlock);

// The backbone: input images [N, 3, H, W] of any size -> P3..P7 [N, endpoint_filters, ceil(H /
// 2^l), ceil(W / 2^l)]. Not thread-safe (a module).
class SpineNetImpl : public torch::nn::Module {
 public:
  SpineNetImpl(const search_spaces::ResolvedGraph& graph, const SpineNetOptions& options);
  std::vector<at::Tensor> forward(const at::Tensor& images);
  const search_spaces::ResolvedGraph& graph() const { return graph_; }

 private:
  search_spaces::ResolvedGraph graph_;
  SpineNetOptions options_;
  ConvBn stem_conv_{nullptr};
  std::vector<torch::nn::ModuleList> stem_groups_;
  std::vector<SpineBlock> blocks_;
  std::vector<ConvBn> endpoints_;
};
TORCH_MODULE(SpineNet);

// Variance-scaling initialization as in the reference TF code (spinenet.md §2.3): conv weights
// from a normal truncated at two standard deviations with variance 1 / fan_in; BN gamma 1, beta 0.
void InitializeBackbone(torch::nn::Module& module);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_MODEL_SPINENET_H_
