#include "worker/model/spinenet.h"

#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/init.h>

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"

namespace vertebra::worker {
namespace {

namespace F = torch::nn::functional;
namespace ss = search_spaces;

at::Tensor MaxPool3x3s2(const at::Tensor& x) {
  return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
}

// Drops the residual branch of whole samples with probability `rate`, scaling the kept ones.
at::Tensor DropPath(const at::Tensor& branch, double rate, bool training) {
  if (!training || rate <= 0.0) return branch;
  const double keep = 1.0 - rate;
  at::Tensor mask = torch::empty({branch.size(0), 1, 1, 1}, branch.options()).bernoulli_(keep);
  return branch * mask / keep;
}

// n draws from N(0, 1) by the Box-Muller transform.
at::Tensor StandardNormal(int64_t n, const at::TensorOptions& options) {
  // u1 stays away from 0 so that log(u1) is finite.
  constexpr double kSmallestUniform = 1e-12;
  const at::Tensor u1 = torch::empty({n}, options).uniform_(kSmallestUniform, 1.0);
  const at::Tensor u2 = torch::empty({n}, options).uniform_(0.0, 2.0 * M_PI);
  return (-2.0 * u1.log()).sqrt_() * u2.cos_();
}

}  // namespace

at::Tensor Activate(const at::Tensor& x, Activation activation) {
  return activation == Activation::kSwish ? at::silu(x) : at::relu(x);
}

ConvBnImpl::ConvBnImpl(int in, int out, int kernel, int stride, const SpineNetOptions& options) : stride_(stride) {
  conv_ = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false)));
  bn_ = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(out)
                                                         .momentum(1.0 - options.bn_decay)
                                                         .eps(options.bn_epsilon)));
}

at::Tensor ConvBnImpl::forward(const at::Tensor& x) {
  const bool one_high = x.size(2) == 1, one_wide = x.size(3) == 1;
  if (stride_ == 1 || (!one_high && !one_wide)) return bn_->forward(conv_->forward(x));
  // Along a side of one pixel, a strided conv (odd kernel, padding kernel / 2) reads only its
  // centre taps, as a conv of stride 1 does: the same arithmetic and output. That side takes
  // stride 1, because LibTorch 1.13's oneDNN returns garbage bf16 weight gradients for a strided
  // conv whose input is one pixel wide (a level-6 map at 64 px feeding level 7).
  const at::Tensor y = F::conv2d(x, conv_->weight,
                                 F::Conv2dFuncOptions()
                                     .stride(std::vector<int64_t>{one_high ? 1 : stride_, one_wide ? 1 : stride_})
                                     .padding(conv_->options.padding()));
  return bn_->forward(y);
}

ResidualUnitImpl::ResidualUnitImpl(v1::BlockType type, int in_channels, int inner, bool projection,
                                   double drop_rate, const SpineNetOptions& options)
    : activation_(options.activation), drop_rate_(drop_rate) {
  const int out = type == v1::BOTTLENECK ? 4 * inner : inner;
  if (type == v1::BOTTLENECK) {
    convs_ = {ConvBn(in_channels, inner, 1, 1, options), ConvBn(inner, inner, 3, 1, options),
              ConvBn(inner, out, 1, 1, options)};
  } else {
    convs_ = {ConvBn(in_channels, inner, 3, 1, options), ConvBn(inner, inner, 3, 1, options)};
  }
  for (size_t i = 0; i < convs_.size(); ++i) register_module(absl::StrFormat("conv_%d", i), convs_[i]);
  if (projection) projection_ = register_module("projection", ConvBn(in_channels, out, 1, 1, options));
}

at::Tensor ResidualUnitImpl::forward(const at::Tensor& x) {
  at::Tensor y = x;
  for (size_t i = 0; i < convs_.size(); ++i) {
    y = convs_[i]->forward(y);
    if (i + 1 < convs_.size()) y = Activate(y, activation_);
  }
  y = DropPath(y, drop_rate_, is_training());
  const at::Tensor shortcut = projection_ ? projection_->forward(x) : x;
  return Activate(y + shortcut, activation_);
}

ResampleImpl::ResampleImpl(const ss::ResampleEdge& edge, const SpineNetOptions& options)
    : edge_(edge), activation_(options.activation) {
  squeeze_ = register_module("squeeze", ConvBn(edge.in_channels, edge.squeeze_channels, 1, 1, options));
  if (edge.strided_conv) {
    strided_ = register_module("strided", ConvBn(edge.squeeze_channels, edge.squeeze_channels, 3, 2, options));
  }
  expand_ = register_module("expand", ConvBn(edge.squeeze_channels, edge.out_channels, 1, 1, options));
}

at::Tensor ResampleImpl::forward(const at::Tensor& x, ss::Size2 target) {
  at::Tensor y = Activate(squeeze_->forward(x), activation_);
  if (edge_.strided_conv) {
    y = Activate(strided_->forward(y), activation_);
    for (int i = 0; i < edge_.max_pools; ++i) y = MaxPool3x3s2(y);
  } else if (edge_.upsample) {
    y = F::interpolate(y, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{target.height, target.width})
                              .mode(torch::kNearest));
  }
  return expand_->forward(y);
}

SpineBlockImpl::SpineBlockImpl(const ss::ResolvedBlock& block, int num_rows, const SpineNetOptions& options)
    : block_(block), activation_(options.activation) {
  for (int i = 0; i < 2; ++i) {
    resample_[i] = register_module(absl::StrFormat("resample_%d", i), Resample(block.edges[i], options));
  }
  // spinenet.md §6.2: the rate grows linearly with the row; every repeat of a row shares it.
  const double drop_rate = options.stochastic_depth_rate * (block.row + 1) / num_rows;
  units_ = register_module("units", torch::nn::ModuleList());
  for (int r = 0; r < block.repeats; ++r) {
    units_->push_back(ResidualUnit(block.feature.type, block.feature.channels, block.feature.inner_width,
                                   /*projection=*/false, drop_rate, options));
  }
}

at::Tensor SpineBlockImpl::forward(const std::vector<at::Tensor>& features, ss::Size2 target) {
  at::Tensor x = resample_[0]->forward(features[block_.edges[0].parent], target) +
                 resample_[1]->forward(features[block_.edges[1].parent], target);
  for (int extra : block_.extra_parents) x = x + features[extra];
  x = Activate(x, activation_);
  for (const auto& unit : *units_) x = unit->as<ResidualUnit>()->forward(x);
  return x;
}

SpineNetImpl::SpineNetImpl(const ss::ResolvedGraph& graph, const SpineNetOptions& options)
    : graph_(graph), options_(options) {
  const ss::Stem& stem = graph.stem;
  stem_conv_ = register_module("stem_conv", ConvBn(ss::Stem::kInChannels, ss::Stem::kConvFilters,
                                                   ss::Stem::kConvKernel, 2, options));
  int channels = ss::Stem::kConvFilters;
  for (int g = 0; g < ss::Stem::kNumGroups; ++g) {
    torch::nn::ModuleList group;
    for (int r = 0; r < stem.repeats; ++r) {
      const bool projection = g == 0 && r == 0 && stem.projection;
      group->push_back(ResidualUnit(v1::BOTTLENECK, channels, stem.inner_width, projection, 0.0, options));
      channels = graph.features[g].channels;
    }
    stem_groups_.push_back(register_module(absl::StrFormat("stem_group_%d", g), group));
  }
  const int num_rows = static_cast<int>(graph.blocks.size());
  for (const ss::ResolvedBlock& block : graph.blocks) {
    blocks_.push_back(register_module(absl::StrFormat("block_%02d", block.row), SpineBlock(block, num_rows, options)));
  }
  for (const ss::Endpoint& e : graph.endpoints) {
    endpoints_.push_back(
        register_module(absl::StrFormat("endpoint_p%d", e.level), ConvBn(e.in_channels, e.filters, 1, 1, options)));
  }
  if (options.reference_init) InitializeBackbone(*this);
}

std::vector<at::Tensor> SpineNetImpl::forward(const at::Tensor& images) {
  const ss::Size2 input{static_cast<int>(images.size(2)), static_cast<int>(images.size(3))};
  at::Tensor x = Activate(stem_conv_->forward(images), options_.activation);
  x = MaxPool3x3s2(x);
  std::vector<at::Tensor> features;
  features.reserve(graph_.features.size());
  for (const torch::nn::ModuleList& group : stem_groups_) {
    for (const auto& unit : *group) x = unit->as<ResidualUnit>()->forward(x);
    features.push_back(x);
  }
  for (size_t k = 0; k < blocks_.size(); ++k) {
    features.push_back(blocks_[k]->forward(features, ss::LevelSize(input, graph_.blocks[k].feature.level)));
  }
  std::vector<at::Tensor> pyramid;
  pyramid.reserve(endpoints_.size());
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    pyramid.push_back(Activate(endpoints_[i]->forward(features[graph_.endpoints[i].feature]), options_.activation));
  }
  return pyramid;
}

void InitializeBackbone(torch::nn::Module& module) {
  // TF's variance_scaling_initializer (scale 1, fan_in, truncated normal): a normal truncated at
  // +-2 sigma, whose standard deviation is 0.8796 of the untruncated one, so sigma is divided by
  // that to keep the variance at 1 / fan_in.
  constexpr double kTruncatedStdCorrection = 0.87962566103423978;
  // Rejection rounds: 4.6% of draws fall outside +-2 sigma, so after 12 rounds about 1e-16 of
  // the values remain to be clamped.
  constexpr int kRedrawRounds = 12;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> weights;
  int64_t total = 0;
  for (auto& child : module.modules(/*include_self=*/false)) {
    if (auto* conv = child->as<torch::nn::Conv2d>()) {
      weights.push_back(conv->weight);
      total += conv->weight.numel();
    } else if (auto* bn = child->as<torch::nn::BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
  if (weights.empty()) return;
  // One standard truncated normal draw for all weights (per-tensor draws cost more in op
  // dispatch than in arithmetic for the small convs of a proxy model), by Box-Muller from
  // uniforms: LibTorch's CPU normal_ is several times slower than its vectorized uniform_.
  at::Tensor z = StandardNormal(total, weights[0].options());
  for (int round = 0; round < kRedrawRounds; ++round) {
    const at::Tensor outside = z.abs() > 2.0;
    const int64_t count = outside.sum().item<int64_t>();
    if (count == 0) break;
    z.masked_scatter_(outside, StandardNormal(count, z.options()));
  }
  z.clamp_(-2.0, 2.0);
  int64_t offset = 0;
  for (at::Tensor& w : weights) {
    const double fan_in = static_cast<double>(w.size(1) * w.size(2) * w.size(3));
    const double stddev = std::sqrt(1.0 / fan_in) / kTruncatedStdCorrection;
    w.copy_(z.narrow(0, offset, w.numel()).view_as(w)).mul_(stddev);
    offset += w.numel();
  }
}

}  // namespace vertebra::worker
