// Training and evaluating a detector: what `vertebra train`, a proxy trial and a full-scale
// re-training all run. One function, Train, owns a run folder:
//
//   metrics.jsonl    one JSON object per line: {"step", "loss", "class_loss", "box_loss", "lr",
//                    "grad_norm", "images_per_s", "elapsed_s"} per step; {"event": "cooldown",
//                    "step" (the reading's), "cooldown_step", "loss", ...} per step of a cool-down
//                    fork; {"event": "eval", "step", "reading", "AP", ..., "elapsed_s"} per
//                    evaluation. Flushed line by line.
//   checkpoint.pt    model, optimizer, step, RNG state, the weight average and the run's options
//                    (LibTorch archive), written atomically (temporary file, fsync, rename).
//   cooldown.pt      during a cool-down fork only: the fork's state, so a stopped run resumes
//                    into the cool-down; checkpoint.pt keeps the state before the fork.
//   detections.json  the held-out detections in COCO results format.
//   result.json      status, the 12 AP numbers, steps, times (training, evaluation, checkpoint
//                    I/O, wall), images/s, parameters, MACs and the precision the run computed in.
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
#include "vertebra/v1/kinds.pb.h"
#include "worker/data/augment.h"
#include "worker/data/dataset.h"
#include "worker/precision.h"

namespace vertebra::worker {

enum class OptimizerKind { kSgd, kAdamW };
enum class ScheduleKind {
  kCosine,  // Linear warm-up, then cosine decay to zero at `steps`.
  kStep,    // Linear warm-up, then x decay_factor at each of decay_at.
  kWsd,     // Warm-up, stable, decay: linear warm-up, then constant; decays only in cool-down forks.
};

// Which weights a reading of the run evaluates (a rung of successive halving is a reading).
enum class Reading {
  kWeights,   // The weights as they are at that step.
  kCooldown,  // kWsd only: a fork of the run whose lr decays linearly to zero over
              // cooldown_fraction x the reading's step count; the run continues from the state
              // before the fork, so a later reading never repeats steps.
  kEma,       // The exponential moving average of the weights (ema_decay > 0): no extra steps.
};

// "weights", "cooldown", "ema" (metrics.jsonl's "reading"; experiment and command-line names).
const char* ReadingName(Reading reading);

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

  // The run is read at each of `readings` (steps, increasing, below the end) and at its end
  // (rung_end, else steps): `reading` says which weights a reading evaluates and which one is
  // the run's result. kCooldown needs kWsd; kEma needs ema_decay > 0.
  std::vector<int64_t> readings;
  Reading reading = Reading::kWeights;
  // The cool-down's length as a fraction of the reading's step count. 0.15: inside the 10-20%
  // that the WSD literature finds enough to match a full cosine run, and at most 20% extra steps.
  double cooldown_fraction = 0.15;
  // > 0: keep an exponential moving average of the weights and BN statistics (decay
  // min(ema_decay, (1 + n) / (10 + n)) after n steps, as TensorFlow's), saved with checkpoints.
  double ema_decay = 0;
  // Evaluate every available reading at each point (weights, the average, the cool-down), not
  // only `reading`: a fidelity study compares them on one run.
  bool read_all = false;

  data::AugmentOptions augment;     // `size` is overwritten with the size above.
  // MaxUp (detection.md): M augmented copies of each image, train on the one with the largest
  // loss. 1 = plain augmentation.
  int maxup = 1;
  // Run MaxUp's scoring pass even when maxup = 1. It then chooses the only copy and changes
  // nothing: tests use it to show that the pass leaves no trace (BN statistics, RNG).
  bool maxup_score_always = false;

  uint64_t seed = 0;                // Initialization, data order, augmentation, stochastic depth.
  uint64_t data_seed = 0;           // Data order and augmentation instead of `seed` (0: `seed`).
  int threads = 1;                  // LibTorch intra-op threads.
  int loader_threads = 2;
  std::string device = "cpu";       // "cpu", "cuda", "cuda:N" or "auto".
  bool channels_last = true;
  // What training and evaluation compute in (worker/precision.h): bf16 autocasts the forward
  // passes and the loss; the parameters, the loss's reductions, the gradients and the optimizer's
  // state stay fp32. Not part of the run's identity, as the device is not: a run resumed on
  // another machine may compute in another precision (result.json records this process's).
  v1::Precision precision = v1::PRECISION_FP32;
  Bf16Probe cpu_has_bf16 = CpuHasBf16;  // Tests stand in a CPU without bf16.

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
  int eval_batch = 32;              // Held-out images per forward pass; the AP does not depend on it.
  // Evaluation runs under torch::InferenceMode (no autograd records and no version counters on
  // any tensor it makes), and its NMS stops at the 100 detections an image keeps. true: evaluate
  // as it once did, under NoGradGuard alone and deciding every candidate in NMS (the same AP);
  // `vertebra bench eval` times the two side by side.
  bool former_evaluation = false;
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
  std::optional<double> ap;  // Set right after an evaluation of the run's reading.
  int64_t cooldown_step = 0;   // In a cool-down fork: its steps done (step stays the reading's).
  int64_t cooldown_steps = 0;  // In a cool-down fork: its length.
  int64_t resumed_from = 0;    // The step this process continued the run from (0: a fresh run).
};

struct TrainResult {
  v1::TrainStatus status = v1::TRAIN_STATUS_UNSPECIFIED;  // Written in words to result.json.
  int64_t steps_done = 0;
  int64_t resumed_from = 0;        // 0 for a fresh run.
  int64_t cooldown_steps = 0;      // Steps of cool-down forks run by this process (beyond steps_done).
  int64_t diverged_step = 0;       // The step whose loss was not finite (status "diverged").
  double final_loss = 0;
  double train_seconds = 0;        // This process's training time, evaluation and checkpoint I/O excluded.
  double eval_seconds = 0;         // Held-out evaluations (every reading, eval_every's curve too).
  double eval_scoring_seconds = 0;  // Of eval_seconds: the COCO evaluator's, after detection.
  double checkpoint_seconds = 0;   // Writing and reading checkpoint.pt and cooldown.pt.
  double wall_seconds = 0;         // This process, from start to result.json.
  double images_per_s = 0;         // Training images (MaxUp: distinct images) per second.
  int64_t skipped_images = 0;      // Undecodable images skipped (training and evaluation).
  int64_t parameters = 0;
  int64_t macs = 0;                // Detector multiply-adds at `size`.
  std::optional<eval::CocoStats> stats;  // Held-out AP (status "completed").
  int64_t eval_images = 0;
  int64_t eval_detections = 0;     // Detections the result's evaluation scored (at most 100 an image).
  std::string device;
  int threads = 0;
  v1::Precision precision = v1::PRECISION_FP32;  // What this process computed in.
  std::string precision_notice;  // Set when bf16 was asked for and the run computed in fp32.
};

// Trains on `train`, evaluates on `val`, and writes the run folder. Bad options and files are
// InvalidArgument naming the option; a diverged or stopped run is a result, not an error.
absl::StatusOr<TrainResult> Train(const data::Dataset& train, const data::Dataset& val, const TrainOptions& options,
                                  const std::function<void(const Progress&)>& on_progress = nullptr);

// result.json's content.
std::string TrainResultJson(const TrainResult& result, const TrainOptions& options);

// The warm-up a run of `steps` gets unless told otherwise: 50 steps, at most a tenth of the run.
int64_t DefaultWarmupSteps(int64_t steps);

// The peak learning rate a run with `optimizer` at `batch` images per step gets unless told
// otherwise: for SGD the paper's full-scale recipe, 0.28 at batch 256 scaled linearly
// (spinenet.md §6.2); for AdamW 2e-3, which suits the short proxy runs.
double DefaultLearningRate(OptimizerKind optimizer, int batch);

// The weight decay a run with `optimizer` gets unless told otherwise: the paper's L2 of 4e-5 on
// kernels for SGD (spinenet.md §6.2), 1e-4 for AdamW.
double DefaultWeightDecay(OptimizerKind optimizer);

// The learning rate at step `step` (0-based) of the schedule in `options`.
double LearningRateAt(const TrainOptions& options, int64_t step);

// The length of the cool-down fork that reads the run at `step` (kCooldown).
int64_t CooldownSteps(const TrainOptions& options, int64_t step);

// The learning rate at step `k` (0-based) of a cool-down of `length` steps: linear to zero.
double CooldownLearningRate(const TrainOptions& options, int64_t k, int64_t length);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_TRAIN_TRAINER_H_
