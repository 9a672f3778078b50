// Training and evaluating a detector: what `vertebra train`, a proxy trial and a full-scale
// re-training all run. One function, Train, owns a run folder:
//
//   metrics.jsonl    one JSON object per line: {"step", "loss", "class_loss", "box_loss", "lr",
//                    "grad_norm", "images_per_s", "elapsed_s"} per step; {"event": "eval", "step",
//                    "AP", ..., "elapsed_s"} per evaluation. Flushed line by line.
//   checkpoint.pt    model, optimizer, step, RNG state and the run's options (LibTorch archive),
//                    written atomically (temporary file, fsync, rename).
//   detections.json  the held-out detections in COCO results format.
//   result.json      status, the 12 AP numbers, steps, times, images/s, parameters and MACs.
//
// The header is torch-free so that the CLI and the worker agent include it cheaply.
#ifndef VERTEBRA_WORKER_TRAIN_TRAINER_H_
#define VERTEBRA_WORKER_TRAIN_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/coco_eval.h"
#include "search_spaces/cost.h"
#include "vertebra/v1/arch.pb.h"
#include "worker/data/augment.h"
#include "worker/data/dataset.h"

namespace vertebra::worker {

enum class OptimizerKind { kSgd, kAdamW };
enum class ScheduleKind { kCosine, kStep };

struct TrainOptions {
  // The architecture with its scaling; the head below (num_classes is taken from the dataset).
  v1::ArchSpec spec;
  search_spaces::HeadOptions head;
  bool swish = false;               // Protocol C's activation (spinenet.md §6.1).
  double stochastic_depth = 0;      // Protocol C: 0.2.
  // RetinaNet anchors: base size anchor_scale x stride. 2 suits 128-pixel proxy inputs
  // (proxy-pilot.md); SpineNet uses 3 (<= 96) or 4 (143, 190).
  double anchor_scale = 2.0;
  double focal_alpha = 0.25;
  double focal_gamma = 2.0;

  int size = 128;                   // Square input side.
  int batch = 16;
  int64_t steps = 500;
  OptimizerKind optimizer = OptimizerKind::kAdamW;
  double lr = 2e-3;                 // Peak learning rate.
  double momentum = 0.9;            // SGD only.
  double weight_decay = 1e-4;       // Not applied to biases and BN/GN parameters.
  // Linear warm-up over the first warmup_steps from lr / warmup_steps to lr, then the decay.
  int64_t warmup_steps = 50;
  ScheduleKind schedule = ScheduleKind::kCosine;
  // Step decay: the lr is multiplied by decay_factor at each of these fractions of `steps`
  // (the paper's "x0.1 for the last 30 and last 10 of 350 epochs": 320/350, 340/350).
  std::vector<double> decay_at = {320.0 / 350.0, 340.0 / 350.0};
  double decay_factor = 0.1;
  double clip_norm = 10.0;          // 0 = no clipping.

  data::AugmentOptions augment;     // `size` is overwritten with the size above.
  // MaxUp (detection.md): M augmented copies of each image, train on the one with the largest
  // loss. 1 = plain augmentation.
  int maxup = 1;
  // Run MaxUp's scoring pass even when maxup = 1. It then chooses the only copy and changes
  // nothing: tests use it to show that the pass leaves no trace (BN statistics, RNG).
  bool maxup_score_always = false;

  uint64_t seed = 0;                // Initialization, data order, augmentation, stochastic depth.
  int threads = 1;                  // LibTorch intra-op threads.
  int loader_threads = 2;
  std::string device = "cpu";       // "cpu", "cuda", "cuda:N" or "auto".
  bool channels_last = true;

  std::string out_dir;              // Created if missing.
  // Also write the trained weights as out_dir/model.safetensors when the run completes (every
  // parameter and buffer under its module name; worker/model/state_io.h).
  bool write_safetensors = false;
  // Continue from out_dir/checkpoint.pt (InvalidArgument if it was written for another
  // architecture, dataset or options that change the run). Without `resume` an existing
  // checkpoint is an error (AlreadyExists), so that a finished run is never overwritten.
  bool resume = false;
  int64_t checkpoint_every = 0;     // Steps between checkpoints (0: by time only).
  double checkpoint_minutes = 10;   // Also checkpoint when this long has passed since the last.
  int64_t eval_every = 0;           // Evaluate every N steps as well as at the end (0: end only).
  int eval_batch = 32;
  // Stop after this step (the run's schedule still spans `steps`): a test's interrupted run.
  int64_t stop_after = 0;
  // Train to this step of the schedule that spans `steps`, then checkpoint and evaluate: a rung
  // of successive halving, whose survivors continue the same run (`resume`) to a later rung.
  // The result's status is "completed" at rung_end (0: at `steps`).
  int64_t rung_end = 0;

  // Set from another thread (a signal handler) to stop after the current step: the run writes a
  // checkpoint and ends with status "stopped".
  const std::atomic<bool>* stop = nullptr;
};

struct Progress {
  int64_t step = 0;   // Steps done.
  int64_t steps = 0;
  double loss = 0;
  double images_per_s = 0;
  double elapsed_s = 0;
  double eta_s = 0;
  std::optional<double> ap;  // Set right after an evaluation.
};

struct TrainResult {
  std::string status;              // "completed", "diverged" or "stopped".
  int64_t steps_done = 0;
  int64_t resumed_from = 0;        // 0 for a fresh run.
  int64_t diverged_step = 0;       // The step whose loss was not finite (status "diverged").
  double final_loss = 0;
  double train_seconds = 0;        // This process's training time, evaluation excluded.
  double eval_seconds = 0;
  double wall_seconds = 0;         // This process, from start to result.json.
  double images_per_s = 0;         // Training images (MaxUp: distinct images) per second.
  int64_t skipped_images = 0;      // Undecodable images skipped (training and evaluation).
  int64_t parameters = 0;
  int64_t macs = 0;                // Detector multiply-adds at `size`.
  std::optional<eval::CocoStats> stats;  // Held-out AP (status "completed").
  int64_t eval_images = 0;
  std::string device;
  int threads = 0;
};

// Trains on `train`, evaluates on `val`, and writes the run folder. Bad options and files are
// InvalidArgument naming the option; a diverged or stopped run is a result, not an error.
absl::StatusOr<TrainResult> Train(const data::Dataset& train, const data::Dataset& val, const TrainOptions& options,
                                  const std::function<void(const Progress&)>& on_progress = nullptr);

// result.json's content.
std::string TrainResultJson(const TrainResult& result, const TrainOptions& options);

// The warm-up a run of `steps` gets unless told otherwise: 50 steps, at most a tenth of the run.
int64_t DefaultWarmupSteps(int64_t steps);

// The learning rate at step `step` (0-based) of the schedule in `options`.
double LearningRateAt(const TrainOptions& options, int64_t step);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_TRAIN_TRAINER_H_
