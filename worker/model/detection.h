// RetinaNet's anchors, matching, losses and post-processing (detection.md §3), vectorized over
// anchors: loops run over images, levels or kept boxes, never over anchors. All functions work
// on CPU and CUDA tensors alike and are pure (thread-safe on distinct tensors).
//
// Boxes are [x1, y1, x2, y2] in input pixels, float32.
#ifndef VERTEBRA_WORKER_MODEL_DETECTION_H_
#define VERTEBRA_WORKER_MODEL_DETECTION_H_

#include <ATen/core/Tensor.h>

#include <vector>

#include "search_spaces/resolve.h"
#include "worker/model/retinanet.h"

namespace vertebra::worker {

struct AnchorOptions {
  // Anchor size on level l is base_scale x 2^l. 4 on COCO (detection.md §3; SpineNet uses 3 up
  // to SpineNet-96); 2 learned faster on 128-pixel proxy images.
  double base_scale = 4.0;
  int scales_per_octave = 3;                       // Sizes x 2^(i / scales_per_octave).
  std::vector<double> aspect_ratios = {0.5, 1.0, 2.0};  // Height / width.
  int num_anchors() const { return scales_per_octave * static_cast<int>(aspect_ratios.size()); }
};

// Anchors of every level for one input size, in the order of the head's outputs: levels P3..P7,
// then rows, columns, and the anchors of a location (ratio-major, then scale).
struct AnchorSet {
  at::Tensor boxes;                    // [num_anchors, 4]
  std::vector<int64_t> level_counts;   // Anchors per level.
};

// Anchors centred on each cell ((x + 0.5) * stride, (y + 0.5) * stride) of the level maps of an
// input of `input` pixels (sizes ceil(input / 2^l)).
AnchorSet GenerateAnchors(search_spaces::Size2 input, const std::vector<int>& levels, const AnchorOptions& options,
                          const at::TensorOptions& tensor_options);

// Pairwise IoU: [N, 4] x [M, 4] -> [N, M]. Empty boxes have IoU 0 with everything.
at::Tensor BoxIou(const at::Tensor& a, const at::Tensor& b);

// Standard box deltas (dx, dy, dw, dh) of `boxes` relative to `anchors`, both [N, 4].
at::Tensor EncodeBoxes(const at::Tensor& anchors, const at::Tensor& boxes);
// The inverse, with dw and dh clamped to log(1000 / 16) so that exp() cannot overflow.
at::Tensor DecodeBoxes(const at::Tensor& anchors, const at::Tensor& deltas);

struct MatchOptions {
  double foreground_iou = 0.5;
  double background_iou = 0.4;
  // Each ground-truth box's best anchors (ties included) become positives even below
  // foreground_iou, so that no object goes without an anchor.
  bool allow_low_quality = true;
};

// Anchor labels from matching: >= 0 is the index of the matched ground-truth box.
inline constexpr int64_t kBackground = -1;
inline constexpr int64_t kIgnored = -2;

// [num_anchors] int64: the matched box index, kBackground or kIgnored. `gt_boxes` is [G, 4],
// G may be 0 (every anchor is background).
at::Tensor MatchAnchors(const at::Tensor& anchors, const at::Tensor& gt_boxes, const MatchOptions& options);

enum class BoxLoss { kSmoothL1, kL1 };

struct LossOptions {
  double focal_alpha = 0.25;
  double focal_gamma = 2.0;
  BoxLoss box_loss = BoxLoss::kSmoothL1;
  double smooth_l1_beta = 0.1;  // detectron2's value (detection.md §3).
  double box_loss_weight = 1.0;
  MatchOptions match;
};

// The ground truth of one image: boxes [G, 4] and class indices [G] (int64, 0-based).
struct ImageTargets {
  at::Tensor boxes;
  at::Tensor classes;
};

struct DetectionLoss {
  at::Tensor total;       // class_loss + box_loss_weight * box_loss, a scalar with gradients.
  at::Tensor class_loss;  // Focal loss summed over non-ignored anchors / num_positives.
  at::Tensor box_loss;    // Box loss summed over positives / num_positives.
  int64_t num_positives = 0;
  // [B], without gradients: each image's class + weighted box loss normalized by its own
  // positive anchors (at least 1), so that images can be compared with each other (MaxUp).
  at::Tensor per_image;
};

// The RetinaNet loss of a batch, normalized by the batch's positive anchors (at least 1).
DetectionLoss ComputeLoss(const HeadOutput& head, const AnchorSet& anchors, const std::vector<ImageTargets>& targets,
                          const LossOptions& options);

// Sigmoid focal loss, elementwise (no reduction): logits and 0/1 targets of the same shape.
at::Tensor SigmoidFocalLoss(const at::Tensor& logits, const at::Tensor& targets, double alpha, double gamma);

// Greedy NMS: indices of the kept boxes, highest score first. IoU is computed in blocks of rows
// of the matrix, in score order; the greedy pass reads each kept box's row. max_keep > 0: stop
// once that many are kept, computing only the kept boxes' rows: the first max_keep of the full
// answer, exactly, and a weak detector's thousands of overlapping candidates cost at most
// max_keep rows instead of the whole matrix.
at::Tensor Nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold, int64_t max_keep = 0);

// Class-wise NMS: boxes of different classes never suppress each other. max_keep as Nms's.
at::Tensor BatchedNms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& classes,
                      double iou_threshold, int64_t max_keep = 0);

struct PostprocessOptions {
  double score_threshold = 0.05;
  int64_t top_k_per_level = 1000;
  double nms_iou = 0.5;
  int64_t max_detections = 100;
  // Decide every candidate in NMS before keeping max_detections, as Postprocess once did: the same
  // detections, slower; `vertebra bench eval`'s baseline.
  bool nms_every_candidate = false;
};

// How an image was resized into the network input: input = original x scale (then padded).
struct ImageMeta {
  double scale = 1.0;
  search_spaces::Size2 original;
};

struct Detections {
  at::Tensor boxes;    // [M, 4] in original-image pixels, clipped to the image.
  at::Tensor scores;   // [M], descending.
  at::Tensor classes;  // [M] int64.
};

std::vector<Detections> Postprocess(const HeadOutput& head, const AnchorSet& anchors, const std::vector<ImageMeta>& metas,
                                    const PostprocessOptions& options);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_MODEL_DETECTION_H_
