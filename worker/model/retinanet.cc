#include "worker/model/retinanet.h"

#include <torch/nn/init.h>

#include <cmath>
#include <string>

#include "absl/strings/str_format.h"

namespace vertebra::worker {
namespace {

namespace ss = search_spaces;

// Detection heads start from small random weights (focal-loss paper §4.1).
constexpr double kHeadInitStd = 0.01;
constexpr int kClassSubnet = 0;
constexpr int kBoxSubnet = 1;
constexpr int kBoxCoordinates = 4;

torch::nn::Conv2d Conv3x3(int in, int out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(true));
}

// [N, A * C, H, W] -> [N, H * W * A, C]
at::Tensor FlattenLevel(const at::Tensor& x, int channels_per_anchor) {
  const int64_t n = x.size(0);
  return x.permute({0, 2, 3, 1}).reshape({n, -1, channels_per_anchor});
}

}  // namespace

RetinaNetHeadImpl::RetinaNetHeadImpl(int in_channels, int num_levels, const DetectorOptions& options)
    : head_(options.head), activation_(options.backbone.activation), num_levels_(num_levels) {
  const char* subnet_names[] = {"class", "box"};
  std::vector<torch::nn::Conv2d>* towers[] = {&class_convs_, &box_convs_};
  batch_norms_.resize(2);
  group_norms_.resize(2);
  for (int s = 0; s < 2; ++s) {
    int in = in_channels;
    for (int i = 0; i < head_.num_convs; ++i) {
      towers[s]->push_back(register_module(absl::StrFormat("%s_conv_%d", subnet_names[s], i), Conv3x3(in, head_.width)));
      in = head_.width;
    }
    if (head_.norm == ss::HeadNorm::kBatchNormPerLevel) {
      batch_norms_[s].resize(num_levels);
      for (int l = 0; l < num_levels; ++l) {
        for (int i = 0; i < head_.num_convs; ++i) {
          auto bn = register_module(absl::StrFormat("%s_bn_l%d_%d", subnet_names[s], l, i),
                                    torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(head_.width)
                                                               .momentum(1.0 - options.backbone.bn_decay)
                                                               .eps(options.backbone.bn_epsilon)));
          batch_norms_[s][l].push_back(bn);
        }
      }
    } else if (head_.norm == ss::HeadNorm::kGroupNorm) {
      for (int i = 0; i < head_.num_convs; ++i) {
        auto gn = register_module(
            absl::StrFormat("%s_gn_%d", subnet_names[s], i),
            torch::nn::GroupNorm(torch::nn::GroupNormOptions(ss::HeadGroupNormGroups(head_.width), head_.width)));
        group_norms_[s].push_back(gn);
      }
    }
  }
  const int tower_out = head_.num_convs > 0 ? head_.width : in_channels;
  class_predict_ = register_module("class_predict",
                                   Conv3x3(tower_out, head_.anchors_per_location * head_.num_classes));
  box_predict_ = register_module("box_predict", Conv3x3(tower_out, head_.anchors_per_location * kBoxCoordinates));

  torch::NoGradGuard no_grad;
  for (auto& child : modules(/*include_self=*/false)) {
    if (auto* conv = child->as<torch::nn::Conv2d>()) {
      conv->weight.normal_(0.0, kHeadInitStd);
      conv->bias.zero_();
    }
  }
  class_predict_->bias.fill_(-std::log((1.0 - options.prior_probability) / options.prior_probability));
}

at::Tensor RetinaNetHeadImpl::Norm(int subnet, int level, int conv, const at::Tensor& x) {
  switch (head_.norm) {
    case ss::HeadNorm::kBatchNormPerLevel: return batch_norms_[subnet][level][conv]->forward(x);
    case ss::HeadNorm::kGroupNorm: return group_norms_[subnet][conv]->forward(x);
    case ss::HeadNorm::kNone: break;
  }
  return x;
}

at::Tensor RetinaNetHeadImpl::Tower(std::vector<torch::nn::Conv2d>& convs, int subnet, int level, at::Tensor x) {
  for (size_t i = 0; i < convs.size(); ++i) {
    x = Activate(Norm(subnet, level, static_cast<int>(i), convs[i]->forward(x)), activation_);
  }
  return x;
}

HeadOutput RetinaNetHeadImpl::forward(const std::vector<at::Tensor>& pyramid) {
  std::vector<at::Tensor> logits, deltas;
  for (int l = 0; l < static_cast<int>(pyramid.size()); ++l) {
    logits.push_back(
        FlattenLevel(class_predict_->forward(Tower(class_convs_, kClassSubnet, l, pyramid[l])), head_.num_classes));
    deltas.push_back(
        FlattenLevel(box_predict_->forward(Tower(box_convs_, kBoxSubnet, l, pyramid[l])), kBoxCoordinates));
  }
  return {at::cat(logits, 1), at::cat(deltas, 1)};
}

DetectorImpl::DetectorImpl(const ss::ResolvedGraph& graph, const DetectorOptions& options) : options_(options) {
  backbone_ = register_module("backbone", SpineNet(graph, options.backbone));
  head_ = register_module("head", RetinaNetHead(graph.scaling.endpoint_filters(),
                                                static_cast<int>(graph.endpoints.size()), options));
}

DetectorOutput DetectorImpl::forward(const at::Tensor& images) {
  DetectorOutput out;
  out.pyramid = backbone_->forward(images);
  out.head = head_->forward(out.pyramid);
  return out;
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const at::Tensor& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace vertebra::worker
