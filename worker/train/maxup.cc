#include "worker/train/maxup.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace vertebra::worker {

MaxUpChoice SelectWorstCopies(Detector& model, const std::vector<at::Tensor>& copies,
                              const std::vector<std::vector<ImageTargets>>& targets, const AnchorSet& anchors,
                              const LossOptions& loss_options) {
  TORCH_CHECK(!copies.empty() && copies.size() == targets.size(), "SelectWorstCopies: ", copies.size(), " copies and ",
              targets.size(), " target lists");
  torch::NoGradGuard no_grad;
  // Training-mode forwards update BN running statistics and draw stochastic-depth masks: keep
  // both as they were, so that scoring is invisible to the training that follows.
  std::vector<at::Tensor> buffers = model->buffers();
  std::vector<at::Tensor> saved;
  saved.reserve(buffers.size());
  for (const at::Tensor& b : buffers) saved.push_back(b.clone());
  const c10::Device device = copies.front().device();
  at::Generator generator = at::globalContext().defaultGenerator(device);
  const at::Tensor rng_state = generator.get_state();

  std::vector<at::Tensor> losses;
  for (size_t c = 0; c < copies.size(); ++c) {
    const DetectorOutput out = model->forward(copies[c]);
    losses.push_back(ComputeLoss(out.head, anchors, targets[c], loss_options).per_image);
  }
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved[i]);
  generator.set_state(rng_state);

  MaxUpChoice choice;
  choice.losses = torch::stack(losses);
  // NaN counts as the largest loss: a copy that breaks the model is the worst case.
  choice.chosen = torch::nan_to_num(choice.losses, std::numeric_limits<double>::infinity()).argmax(0);
  return choice;
}

}  // namespace vertebra::worker
