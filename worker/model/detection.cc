#include "worker/model/detection.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace vertebra::worker {
namespace {

namespace ss = search_spaces;

// Rows of the NMS overlap matrix computed at once: bounds the IoU temporaries to about 30 MB for
// 5,000 boxes.
constexpr int64_t kNmsRowChunk = 256;

// Box deltas larger than this are clamped before exp() (detectron2's bbox_xform_clip).
const double kMaxDeltaLogScale = std::log(1000.0 / 16.0);

at::Tensor Area(const at::Tensor& b) {
  return (b.select(1, 2) - b.select(1, 0)).clamp_min(0) * (b.select(1, 3) - b.select(1, 1)).clamp_min(0);
}

}  // namespace

AnchorSet GenerateAnchors(ss::Size2 input, const std::vector<int>& levels, const AnchorOptions& options,
                          const at::TensorOptions& tensor_options) {
  const at::TensorOptions f32 = tensor_options.dtype(torch::kFloat32);
  AnchorSet set;
  std::vector<at::Tensor> per_level;
  for (int level : levels) {
    const ss::Size2 size = ss::LevelSize(input, level);
    const double stride = static_cast<double>(1 << level);
    // Cell anchors [A, 4] centred on 0, ratio-major then scale.
    std::vector<float> cell;
    for (double ratio : options.aspect_ratios) {
      for (int s = 0; s < options.scales_per_octave; ++s) {
        const double side = options.base_scale * stride * std::pow(2.0, static_cast<double>(s) / options.scales_per_octave);
        const double w = side / std::sqrt(ratio);
        const double h = side * std::sqrt(ratio);
        cell.insert(cell.end(), {static_cast<float>(-w / 2), static_cast<float>(-h / 2), static_cast<float>(w / 2),
                                 static_cast<float>(h / 2)});
      }
    }
    const at::Tensor cell_t = torch::tensor(cell, f32).view({-1, 4});
    const at::Tensor ys = (torch::arange(size.height, f32) + 0.5) * stride;
    const at::Tensor xs = (torch::arange(size.width, f32) + 0.5) * stride;
    const std::vector<at::Tensor> grid = torch::meshgrid({ys, xs}, "ij");
    const at::Tensor cy = grid[0].reshape({-1});
    const at::Tensor cx = grid[1].reshape({-1});
    const at::Tensor centers = torch::stack({cx, cy, cx, cy}, 1);  // [H*W, 4]
    const at::Tensor anchors = (centers.unsqueeze(1) + cell_t.unsqueeze(0)).reshape({-1, 4});
    set.level_counts.push_back(anchors.size(0));
    per_level.push_back(anchors);
  }
  set.boxes = torch::cat(per_level, 0);
  return set;
}

at::Tensor BoxIou(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor lt = torch::max(a.slice(1, 0, 2).unsqueeze(1), b.slice(1, 0, 2).unsqueeze(0));
  const at::Tensor rb = torch::min(a.slice(1, 2, 4).unsqueeze(1), b.slice(1, 2, 4).unsqueeze(0));
  const at::Tensor wh = (rb - lt).clamp_min(0);
  const at::Tensor inter = wh.select(2, 0) * wh.select(2, 1);
  const at::Tensor uni = Area(a).unsqueeze(1) + Area(b).unsqueeze(0) - inter;
  return torch::where(uni > 0, inter / uni.clamp_min(1e-12), torch::zeros_like(inter));
}

at::Tensor EncodeBoxes(const at::Tensor& anchors, const at::Tensor& boxes) {
  const at::Tensor aw = anchors.select(1, 2) - anchors.select(1, 0);
  const at::Tensor ah = anchors.select(1, 3) - anchors.select(1, 1);
  const at::Tensor ax = anchors.select(1, 0) + 0.5 * aw;
  const at::Tensor ay = anchors.select(1, 1) + 0.5 * ah;
  const at::Tensor bw = (boxes.select(1, 2) - boxes.select(1, 0)).clamp_min(1e-6);
  const at::Tensor bh = (boxes.select(1, 3) - boxes.select(1, 1)).clamp_min(1e-6);
  const at::Tensor bx = boxes.select(1, 0) + 0.5 * bw;
  const at::Tensor by = boxes.select(1, 1) + 0.5 * bh;
  return torch::stack({(bx - ax) / aw, (by - ay) / ah, torch::log(bw / aw), torch::log(bh / ah)}, 1);
}

at::Tensor DecodeBoxes(const at::Tensor& anchors, const at::Tensor& deltas) {
  const at::Tensor d = deltas.to(torch::kFloat32);
  const at::Tensor aw = anchors.select(1, 2) - anchors.select(1, 0);
  const at::Tensor ah = anchors.select(1, 3) - anchors.select(1, 1);
  const at::Tensor ax = anchors.select(1, 0) + 0.5 * aw;
  const at::Tensor ay = anchors.select(1, 1) + 0.5 * ah;
  const at::Tensor cx = d.select(1, 0) * aw + ax;
  const at::Tensor cy = d.select(1, 1) * ah + ay;
  const at::Tensor w = torch::exp(d.select(1, 2).clamp_max(kMaxDeltaLogScale)) * aw;
  const at::Tensor h = torch::exp(d.select(1, 3).clamp_max(kMaxDeltaLogScale)) * ah;
  return torch::stack({cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h}, 1);
}

at::Tensor MatchAnchors(const at::Tensor& anchors, const at::Tensor& gt_boxes, const MatchOptions& options) {
  const int64_t n = anchors.size(0);
  const at::TensorOptions i64 = anchors.options().dtype(torch::kInt64);
  if (gt_boxes.size(0) == 0) return torch::full({n}, kBackground, i64);
  const at::Tensor iou = BoxIou(gt_boxes, anchors);  // [G, N]
  const auto [best_iou, best_gt] = iou.max(0);        // Per anchor.
  at::Tensor matched = best_gt.clone();
  matched.masked_fill_(best_iou < options.foreground_iou, kIgnored);
  matched.masked_fill_(best_iou < options.background_iou, kBackground);
  if (options.allow_low_quality) {
    // Anchors whose IoU with some box equals that box's best IoU (> 0) become positives.
    const at::Tensor best_per_gt = std::get<0>(iou.max(1, /*keepdim=*/true));  // [G, 1]
    const at::Tensor is_best = (iou == best_per_gt) & (best_per_gt > 0);
    const at::Tensor promoted = is_best.any(0);
    matched = torch::where(promoted, best_gt, matched);
  }
  return matched;
}

at::Tensor SigmoidFocalLoss(const at::Tensor& logits, const at::Tensor& targets, double alpha, double gamma) {
  const at::Tensor p = torch::sigmoid(logits);
  const at::Tensor ce = torch::binary_cross_entropy_with_logits(logits, targets, {}, {}, at::Reduction::None);
  const at::Tensor p_t = p * targets + (1 - p) * (1 - targets);
  at::Tensor loss = ce * torch::pow(1 - p_t, gamma);
  if (alpha >= 0) loss = loss * (alpha * targets + (1 - alpha) * (1 - targets));
  return loss;
}

DetectionLoss ComputeLoss(const HeadOutput& head, const AnchorSet& anchors, const std::vector<ImageTargets>& targets,
                          const LossOptions& options) {
  const int64_t batch = head.class_logits.size(0);
  const int64_t num_classes = head.class_logits.size(2);
  TORCH_CHECK(static_cast<int64_t>(targets.size()) == batch, "ComputeLoss: ", targets.size(), " targets for a batch of ",
              batch);
  // Matching happens without gradients, per image, vectorized over anchors.
  std::vector<at::Tensor> matches, box_targets, class_targets;
  int64_t num_positives = 0;
  {
    torch::NoGradGuard no_grad;
    for (int64_t i = 0; i < batch; ++i) {
      const ImageTargets& t = targets[i];
      const at::Tensor gt_boxes = t.boxes.to(anchors.boxes.device(), torch::kFloat32);
      const at::Tensor gt_classes = t.classes.to(anchors.boxes.device(), torch::kInt64);
      const at::Tensor matched = MatchAnchors(anchors.boxes, gt_boxes, options.match);
      const at::Tensor positive = matched >= 0;
      num_positives += positive.sum().item<int64_t>();
      const at::Tensor safe = matched.clamp_min(0);
      at::Tensor onehot = torch::zeros({anchors.boxes.size(0), num_classes}, anchors.boxes.options());
      if (gt_boxes.size(0) > 0) {
        onehot.scatter_(1, gt_classes.index_select(0, safe).unsqueeze(1), 1.0);
        onehot.mul_(positive.unsqueeze(1).to(onehot.dtype()));
        box_targets.push_back(EncodeBoxes(anchors.boxes, gt_boxes.index_select(0, safe)));
      } else {
        box_targets.push_back(torch::zeros_like(anchors.boxes));
      }
      matches.push_back(matched);
      class_targets.push_back(onehot);
    }
  }
  const at::Tensor matched = torch::stack(matches);  // [B, N]
  const at::Tensor positive = matched >= 0;
  const at::Tensor valid = (matched != kIgnored).unsqueeze(2).to(head.class_logits.dtype());
  const double normalizer = static_cast<double>(std::max<int64_t>(num_positives, 1));

  const at::Tensor logits = head.class_logits.to(torch::kFloat32);
  const at::Tensor focal =
      SigmoidFocalLoss(logits, torch::stack(class_targets), options.focal_alpha, options.focal_gamma);
  DetectionLoss loss;
  loss.num_positives = num_positives;
  loss.class_loss = (focal * valid.to(torch::kFloat32)).sum() / normalizer;

  const at::Tensor deltas = head.box_deltas.to(torch::kFloat32).index({positive});
  const at::Tensor wanted = torch::stack(box_targets).index({positive});
  at::Tensor box;
  if (options.box_loss == BoxLoss::kSmoothL1) {
    const at::Tensor diff = (deltas - wanted).abs();
    const double beta = options.smooth_l1_beta;
    box = beta > 0 ? torch::where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta) : diff;
  } else {
    box = (deltas - wanted).abs();
  }
  loss.box_loss = box.sum() / normalizer;
  loss.total = loss.class_loss + options.box_loss_weight * loss.box_loss;
  {
    torch::NoGradGuard no_grad;
    const at::Tensor per_image_positives = positive.sum(1).clamp_min(1).to(torch::kFloat32);
    const at::Tensor class_per_image = (focal * valid.to(torch::kFloat32)).sum({1, 2});
    // Scatter each positive's box loss back to its image.
    const at::Tensor image_of_positive = torch::nonzero(positive).select(1, 0);
    const at::Tensor box_per_image =
        torch::zeros({batch}, class_per_image.options()).index_add_(0, image_of_positive, box.sum(1).detach());
    loss.per_image = (class_per_image.detach() + options.box_loss_weight * box_per_image) / per_image_positives;
  }
  return loss;
}

at::Tensor Nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold, int64_t max_keep) {
  const at::TensorOptions i64 = boxes.options().dtype(torch::kInt64);
  if (boxes.size(0) == 0) return torch::empty({0}, i64);
  const at::Tensor order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const at::Tensor sorted = boxes.index_select(0, order);
  const int64_t n = sorted.size(0);
  std::vector<uint8_t> removed(n, 0);
  std::vector<int64_t> keep;
  if (max_keep > 0) {
    // At most max_keep rows are needed, each kept box's: computed one by one, a removed box's
    // never (a weak detector's thousands of overlapping candidates keep few).
    for (int64_t i = 0; i < n && static_cast<int64_t>(keep.size()) < max_keep; ++i) {
      if (removed[i]) continue;
      keep.push_back(i);
      if (i + 1 == n || static_cast<int64_t>(keep.size()) == max_keep) break;
      const at::Tensor row =
          (BoxIou(sorted.slice(0, i, i + 1), sorted.slice(0, i + 1)) > iou_threshold).to(torch::kCPU).contiguous();
      const bool* later = row.data_ptr<bool>();
      for (int64_t j = i + 1; j < n; ++j) removed[j] |= static_cast<uint8_t>(later[j - i - 1]);
    }
    return order.index_select(0, torch::tensor(keep, torch::kInt64).to(boxes.device()));
  }
  // Row i of a block: box j (j > i in score order) overlaps box i too much. In blocks of rows:
  // BoxIou's [rows, n, 2] temporaries for all n rows at once would take ~0.6 GB at n = 5000.
  const at::Tensor columns = torch::arange(n, sorted.options().dtype(torch::kInt64));
  for (int64_t begin = 0; begin < n; begin += kNmsRowChunk) {
    const int64_t end = std::min(n, begin + kNmsRowChunk);
    const at::Tensor rows = torch::arange(begin, end, columns.options()).unsqueeze(1);
    const at::Tensor block =
        ((BoxIou(sorted.slice(0, begin, end), sorted) > iou_threshold) & (columns > rows)).to(torch::kCPU).contiguous();
    const bool* matrix = block.data_ptr<bool>();
    for (int64_t i = begin; i < end; ++i) {
      if (removed[i]) continue;
      keep.push_back(i);
      const bool* row = matrix + (i - begin) * n;
      for (int64_t j = i + 1; j < n; ++j) removed[j] |= static_cast<uint8_t>(row[j]);
    }
  }
  const at::Tensor kept = torch::tensor(keep, torch::kInt64).to(boxes.device());
  return order.index_select(0, kept);
}

at::Tensor BatchedNms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& classes,
                      double iou_threshold, int64_t max_keep) {
  if (boxes.size(0) == 0) return torch::empty({0}, boxes.options().dtype(torch::kInt64));
  // Shift each class to its own region of the plane so that classes cannot overlap.
  const at::Tensor span = boxes.max() - boxes.min() + 1;
  const at::Tensor offsets = classes.to(boxes.dtype()) * span;
  return Nms(boxes + offsets.unsqueeze(1), scores, iou_threshold, max_keep);
}

std::vector<Detections> Postprocess(const HeadOutput& head, const AnchorSet& anchors, const std::vector<ImageMeta>& metas,
                                    const PostprocessOptions& options) {
  torch::NoGradGuard no_grad;
  const int64_t batch = head.class_logits.size(0);
  const int64_t num_classes = head.class_logits.size(2);
  TORCH_CHECK(static_cast<int64_t>(metas.size()) == batch, "Postprocess: ", metas.size(), " metas for a batch of ",
              batch);
  std::vector<Detections> out;
  for (int64_t i = 0; i < batch; ++i) {
    const at::Tensor scores_all = torch::sigmoid(head.class_logits[i].to(torch::kFloat32));  // [N, K]
    const at::Tensor deltas_all = head.box_deltas[i];
    std::vector<at::Tensor> boxes, scores, classes;
    int64_t start = 0;
    for (int64_t count : anchors.level_counts) {
      const at::Tensor level_scores = scores_all.slice(0, start, start + count).reshape({-1});
      const at::Tensor candidates = torch::nonzero(level_scores > options.score_threshold).squeeze(1);
      at::Tensor picked = level_scores.index_select(0, candidates);
      at::Tensor flat = candidates;
      if (picked.size(0) > options.top_k_per_level) {
        const auto [top, idx] = picked.topk(options.top_k_per_level);
        picked = top;
        flat = candidates.index_select(0, idx);
      }
      const at::Tensor anchor_index = torch::div(flat, num_classes, "floor") + start;
      boxes.push_back(DecodeBoxes(anchors.boxes.index_select(0, anchor_index), deltas_all.index_select(0, anchor_index)));
      scores.push_back(picked);
      classes.push_back(torch::remainder(flat, num_classes));
      start += count;
    }
    Detections d;
    at::Tensor b = torch::cat(boxes), s = torch::cat(scores), c = torch::cat(classes);
    at::Tensor keep = BatchedNms(b, s, c, options.nms_iou, options.nms_every_candidate ? 0 : options.max_detections);
    if (keep.size(0) > options.max_detections) keep = keep.slice(0, 0, options.max_detections);
    const ImageMeta& meta = metas[i];
    b = b.index_select(0, keep) / meta.scale;
    b.select(1, 0).clamp_(0, meta.original.width);
    b.select(1, 2).clamp_(0, meta.original.width);
    b.select(1, 1).clamp_(0, meta.original.height);
    b.select(1, 3).clamp_(0, meta.original.height);
    d.boxes = b;
    d.scores = s.index_select(0, keep);
    d.classes = c.index_select(0, keep);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace vertebra::worker
