// MaxUp (detection.md §4): score M augmented copies of every image without gradients and keep,
// per image, the copy with the largest detection loss. The scoring leaves the model exactly as it
// found it: BN running statistics and the RNG state are restored afterwards.
#ifndef VERTEBRA_WORKER_TRAIN_MAXUP_H_
#define VERTEBRA_WORKER_TRAIN_MAXUP_H_

#include <ATen/core/Tensor.h>

#include <vector>

#include "worker/model/detection.h"
#include "worker/model/retinanet.h"

namespace vertebra::worker {

struct MaxUpChoice {
  at::Tensor losses;  // [M, B]: copy c of image i scored losses[c][i] (DetectionLoss::per_image).
  at::Tensor chosen;  // [B] int64: the copy with the largest loss (the first on ties).
};

// copies[c] is copy c of the batch ([B, 3, S, S]) and targets[c] its ground truth. The model is
// scored in its current mode (training mode: batch statistics, as the training forward sees).
MaxUpChoice SelectWorstCopies(Detector& model, const std::vector<at::Tensor>& copies,
                              const std::vector<std::vector<ImageTargets>>& targets, const AnchorSet& anchors,
                              const LossOptions& loss_options);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_TRAIN_MAXUP_H_
