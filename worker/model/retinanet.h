// The RetinaNet detector: a SpineNet backbone and a class/box head shared across P3..P7
// (detection.md §3), with the head's structure taken from search_spaces::HeadOptions so that the
// cost model counts exactly what is built.
#ifndef VERTEBRA_WORKER_MODEL_RETINANET_H_
#define VERTEBRA_WORKER_MODEL_RETINANET_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "search_spaces/cost.h"
#include "search_spaces/resolve.h"
#include "worker/model/spinenet.h"

namespace vertebra::worker {

struct DetectorOptions {
  SpineNetOptions backbone;
  search_spaces::HeadOptions head;
  // Initial foreground probability of every class output (focal-loss paper: 0.01), so that the
  // loss does not start dominated by the easy negatives.
  double prior_probability = 0.01;
};

// Class logits and box deltas of every anchor, levels concatenated in order P3..P7 and, within a
// level, by row, column, then anchor (the order of anchors.h).
struct HeadOutput {
  at::Tensor class_logits;  // [N, num_anchors, num_classes]
  at::Tensor box_deltas;    // [N, num_anchors, 4]
};

class RetinaNetHeadImpl : public torch::nn::Module {
 public:
  RetinaNetHeadImpl(int in_channels, int num_levels, const DetectorOptions& options);
  HeadOutput forward(const std::vector<at::Tensor>& pyramid);

 private:
  // One subnet's conv tower on one level.
  at::Tensor Tower(std::vector<torch::nn::Conv2d>& convs, int subnet, int level, at::Tensor x);
  at::Tensor Norm(int subnet, int level, int conv, const at::Tensor& x);

  search_spaces::HeadOptions head_;
  Activation activation_;
  int num_levels_;
  std::vector<torch::nn::Conv2d> class_convs_, box_convs_;
  std::vector<std::vector<std::vector<torch::nn::BatchNorm2d>>> batch_norms_;  // [subnet][level][conv]
  std::vector<std::vector<torch::nn::GroupNorm>> group_norms_;                  // [subnet][conv]
  torch::nn::Conv2d class_predict_{nullptr}, box_predict_{nullptr};
};
TORCH_MODULE(RetinaNetHead);

struct DetectorOutput {
  std::vector<at::Tensor> pyramid;  // P3..P7
  HeadOutput head;
};

class DetectorImpl : public torch::nn::Module {
 public:
  DetectorImpl(const search_spaces::ResolvedGraph& graph, const DetectorOptions& options);
  DetectorOutput forward(const at::Tensor& images);
  const DetectorOptions& options() const { return options_; }
  const search_spaces::ResolvedGraph& graph() const { return backbone_->graph(); }

 private:
  DetectorOptions options_;
  SpineNet backbone_{nullptr};
  RetinaNetHead head_{nullptr};
};
TORCH_MODULE(Detector);

// Number of trainable parameter elements of a module (what the cost model predicts).
int64_t CountParameters(const torch::nn::Module& module);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_MODEL_RETINANET_H_
