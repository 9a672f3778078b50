#include "worker/train/trainer.h"

#include <sys/stat.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "proto/kinds.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_spec.h"
#include "search_spaces/resolve.h"
#include "worker/data/loader.h"
#include "worker/model/detection.h"
#include "worker/model/retinanet.h"
#include "worker/model/state_io.h"
#include "worker/model/torch_util.h"
#include "worker/train/maxup.h"

namespace vertebra::worker {
namespace {

namespace fs = std::filesystem;
namespace ss = search_spaces;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// ImageNet statistics on 0..255 pixels: the usual input normalization.
constexpr float kMean[3] = {123.675f, 116.28f, 103.53f};
constexpr float kStd[3] = {58.395f, 57.12f, 57.375f};
constexpr int kCheckpointVersion = 1;

const char* ScheduleName(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kCosine: return "cosine";
    case ScheduleKind::kStep: return "step";
    case ScheduleKind::kWsd: return "wsd";
  }
  return "cosine";
}

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Runs `io` (a checkpoint's write or read), adds its seconds to *seconds and returns its result.
template <typename Io>
auto Timed(double* seconds, const Io& io) {
  const Clock::time_point start = Clock::now();
  auto result = io();
  *seconds += Seconds(start);
  return result;
}

absl::Status ValidateTrainOptions(const TrainOptions& o) {
  auto bad = [](const std::string& m) { return absl::InvalidArgumentError(m); };
  if (o.size < 32) return bad(absl::StrFormat("size: must be at least 32, got %d", o.size));
  if (o.batch < 1) return bad(absl::StrFormat("batch: must be at least 1, got %d", o.batch));
  if (o.steps < 1) return bad(absl::StrFormat("steps: must be at least 1, got %d", o.steps));
  if (!(o.lr > 0)) return bad(absl::StrFormat("lr: must be positive, got %g", o.lr));
  if (o.weight_decay < 0) return bad("weight decay: must not be negative");
  if (o.momentum < 0 || o.momentum >= 1) return bad("momentum: must be in [0, 1)");
  if (o.warmup_steps < 0 || o.warmup_steps >= o.steps) {
    return bad(absl::StrFormat("warmup steps: must be in [0, steps), got %d", o.warmup_steps));
  }
  for (double f : o.decay_at) {
    if (!(f > 0 && f < 1)) return bad(absl::StrFormat("decay_at: fractions must be in (0, 1), got %g", f));
  }
  if (o.clip_norm < 0) return bad("clip norm: must not be negative");
  if (o.maxup < 1) return bad(absl::StrFormat("maxup: must be at least 1, got %d", o.maxup));
  if (o.threads < 1) return bad(absl::StrFormat("threads: must be at least 1, got %d", o.threads));
  if (o.stochastic_depth < 0 || o.stochastic_depth >= 1) return bad("stochastic depth: must be in [0, 1)");
  if (!(o.anchor_scale > 0)) return bad("anchor scale: must be positive");
  if (o.eval_batch < 1) return bad("eval batch: must be at least 1");
  if (o.rung_end < 0 || o.rung_end > o.steps) {
    return bad(absl::StrFormat("rung end: must be in [0, steps = %d], got %d", o.steps, o.rung_end));
  }
  if (o.reading == Reading::kCooldown && o.schedule != ScheduleKind::kWsd) {
    return bad("reading cooldown: needs the wsd schedule (a cool-down forks from a constant learning rate)");
  }
  if (o.reading == Reading::kEma && !(o.ema_decay > 0)) return bad("reading ema: needs an ema decay in (0, 1)");
  if (o.ema_decay < 0 || o.ema_decay >= 1) return bad(absl::StrFormat("ema decay: must be in [0, 1), got %g", o.ema_decay));
  if (!(o.cooldown_fraction > 0 && o.cooldown_fraction <= 1)) {
    return bad(absl::StrFormat("cooldown fraction: must be in (0, 1], got %g", o.cooldown_fraction));
  }
  const int64_t end = o.rung_end > 0 ? o.rung_end : o.steps;
  for (size_t i = 0; i < o.readings.size(); ++i) {
    if (o.readings[i] < 1 || o.readings[i] >= end || (i > 0 && o.readings[i] <= o.readings[i - 1])) {
      return bad(absl::StrFormat("readings: must increase within [1, %d), got %d at position %d", end, o.readings[i], i));
    }
  }
  if (o.checkpoint_every < 0 || o.eval_every < 0 || o.stop_after < 0) {
    return bad("checkpoint/eval intervals: must not be negative");
  }
  if (o.out_dir.empty()) return bad("out: a run folder is required");
  return absl::OkStatus();
}

// The seed of the training images' order and augmentation.
uint64_t DataSeedOf(const TrainOptions& o) { return o.data_seed != 0 ? o.data_seed : o.seed; }

// The options that define the run: a checkpoint only resumes a run with the same ones.
json RunIdentity(const TrainOptions& o, const ss::HeadOptions& head, int num_classes) {
  json j;
  j["arch_hash"] = ss::ArchHash(o.spec);
  j["head"] = {{"width", head.width}, {"convs", head.num_convs}, {"norm", static_cast<int>(head.norm)},
               {"classes", num_classes}};
  j["swish"] = o.swish;
  j["stochastic_depth"] = o.stochastic_depth;
  j["anchor_scale"] = o.anchor_scale;
  j["focal"] = {o.focal_alpha, o.focal_gamma};
  j["size"] = o.size;
  j["batch"] = o.batch;
  // A wsd run's schedule does not depend on its length: it may be extended (--resume, more steps).
  if (o.schedule != ScheduleKind::kWsd) j["steps"] = o.steps;
  j["optimizer"] = o.optimizer == OptimizerKind::kSgd ? "sgd" : "adamw";
  j["lr"] = o.lr;
  j["momentum"] = o.momentum;
  j["weight_decay"] = o.weight_decay;
  j["warmup_steps"] = o.warmup_steps;
  j["schedule"] = ScheduleName(o.schedule);
  j["reading"] = ReadingName(o.reading);
  if (o.reading == Reading::kCooldown) j["cooldown_fraction"] = o.cooldown_fraction;
  if (o.ema_decay > 0) j["ema_decay"] = o.ema_decay;
  j["decay_at"] = o.decay_at;
  j["decay_factor"] = o.decay_factor;
  j["clip_norm"] = o.clip_norm;
  j["augment"] = {{"flip", o.augment.horizontal_flip}, {"min_scale", o.augment.min_scale},
                  {"max_scale", o.augment.max_scale}};
  j["maxup"] = o.maxup;
  j["seed"] = o.seed;
  if (DataSeedOf(o) != o.seed) j["data_seed"] = DataSeedOf(o);
  return j;
}

// A batch's copy `copy` as a normalized float tensor [B, 3, S, S] and its targets.
std::pair<at::Tensor, std::vector<ImageTargets>> ToTensors(const data::Batch& batch, int copy, c10::Device device,
                                                           bool channels_last) {
  const int64_t s = batch.size;
  const size_t image_bytes = static_cast<size_t>(s) * s * 3;
  const uint8_t* first = batch.pixels.data() + static_cast<size_t>(copy) * batch.batch * image_bytes;
  const at::Tensor nhwc = torch::from_blob(const_cast<uint8_t*>(first), {batch.batch, s, s, 3}, torch::kUInt8);
  const at::Tensor mean = torch::tensor({kMean[0], kMean[1], kMean[2]});
  const at::Tensor stddev = torch::tensor({kStd[0], kStd[1], kStd[2]});
  at::Tensor images = ((nhwc.to(torch::kFloat32) - mean) / stddev).permute({0, 3, 1, 2});
  images = images.contiguous(channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  images = images.to(device);
  std::vector<ImageTargets> targets;
  for (int i = 0; i < batch.batch; ++i) {
    const std::vector<data::Object>& objects = batch.objects[static_cast<size_t>(copy) * batch.batch + i];
    std::vector<float> boxes;
    std::vector<int64_t> classes;
    for (const data::Object& o : objects) {
      if (o.crowd) continue;  // Crowd regions are not training targets.
      boxes.insert(boxes.end(), {o.x1, o.y1, o.x2, o.y2});
      classes.push_back(o.category);
    }
    ImageTargets t;
    const int64_t n = static_cast<int64_t>(classes.size());
    t.boxes = torch::tensor(boxes, torch::kFloat32).reshape({n, 4}).to(device);
    t.classes = torch::tensor(classes, torch::kInt64).reshape({n}).to(device);
    targets.push_back(std::move(t));
  }
  return {images, std::move(targets)};
}

// Parameters split into those that get weight decay (conv and linear weights) and those that do
// not (biases, BN and GN scales and shifts: every tensor of rank <= 1).
std::pair<std::vector<at::Tensor>, std::vector<at::Tensor>> SplitDecay(const torch::nn::Module& model) {
  std::vector<at::Tensor> decay, no_decay;
  for (const at::Tensor& p : model.parameters()) (p.dim() <= 1 ? no_decay : decay).push_back(p);
  return {decay, no_decay};
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const TrainOptions& o, const torch::nn::Module& model) {
  auto [decay, no_decay] = SplitDecay(model);
  if (o.optimizer == OptimizerKind::kSgd) {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(
                                   torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay)));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::SGDOptions>(
                                      torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(0)));
    return std::make_unique<torch::optim::SGD>(std::move(groups), torch::optim::SGDOptions(o.lr));
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay)));
  groups.emplace_back(no_decay,
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(o.lr).weight_decay(0)));
  return std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(o.lr));
}

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr) {
  for (torch::optim::OptimizerParamGroup& g : optimizer.param_groups()) g.options().set_lr(lr);
}

// An exponential moving average of a model's parameters and floating-point buffers (BN
// statistics); integer buffers are copied. Its tensors live on the model's device.
class WeightAverage {
 public:
  WeightAverage(torch::nn::Module& model, double decay) : decay_(decay) {
    torch::NoGradGuard no_grad;
    for (const auto& item : model.named_parameters(/*recurse=*/true)) Add(item.key(), item.value());
    for (const auto& item : model.named_buffers(/*recurse=*/true)) Add(item.key(), item.value());
  }

  // After the run's `updates`-th optimizer step.
  void Update(int64_t updates) {
    torch::NoGradGuard no_grad;
    const double n = static_cast<double>(updates);
    const double d = std::min(decay_, (1.0 + n) / (10.0 + n));
    for (size_t i = 0; i < live_.size(); ++i) {
      if (average_[i].is_floating_point()) {
        average_[i].mul_(d).add_(live_[i], 1.0 - d);
      } else {
        average_[i].copy_(live_[i]);
      }
    }
  }

  // Exchanges the model's tensors with the average (twice restores them).
  void Swap() {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < live_.size(); ++i) {
      const at::Tensor held = live_[i].clone();
      live_[i].copy_(average_[i]);
      average_[i].copy_(held);
    }
  }

  void Save(torch::serialize::OutputArchive& archive) const {
    for (size_t i = 0; i < live_.size(); ++i) archive.write(names_[i], average_[i].cpu());
  }

  absl::Status Load(torch::serialize::InputArchive& archive) {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < live_.size(); ++i) {
      at::Tensor t;
      if (!archive.try_read(names_[i], t)) {
        return absl::InvalidArgumentError(absl::StrFormat("the weight average has no %s", names_[i]));
      }
      average_[i].copy_(t);
    }
    return absl::OkStatus();
  }

 private:
  void Add(const std::string& name, const at::Tensor& tensor) {
    names_.push_back(name);
    live_.push_back(tensor);
    average_.push_back(tensor.detach().clone());
  }

  double decay_;
  std::vector<std::string> names_;
  std::vector<at::Tensor> live_;     // The model's own tensors (shared storage).
  std::vector<at::Tensor> average_;
};

struct Checkpoint {
  int64_t step = 0;
  int64_t cooldown_step = 0;  // cooldown.pt: steps of the fork done.
  json identity;
};

absl::Status SaveCheckpoint(const std::string& path, Detector& model, torch::optim::Optimizer& optimizer,
                            int64_t step, const json& identity, c10::Device device, const WeightAverage* average,
                            int64_t cooldown_step = 0) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  model->save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  if (average != nullptr) {
    torch::serialize::OutputArchive average_archive;
    average->Save(average_archive);
    archive.write("ema", average_archive);
  }
  archive.write("version", c10::IValue(static_cast<int64_t>(kCheckpointVersion)));
  archive.write("step", c10::IValue(step));
  archive.write("cooldown_step", c10::IValue(cooldown_step));
  archive.write("identity", c10::IValue(identity.dump()));
  at::Generator cpu_generator = at::detail::getDefaultCPUGenerator();
  archive.write("rng_cpu", cpu_generator.get_state());
  if (device.is_cuda()) {
    at::Generator device_generator = at::globalContext().defaultGenerator(device);
    archive.write("rng_device", device_generator.get_state());
  }
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  return WriteFileAtomically(path, bytes);
}

absl::StatusOr<Checkpoint> LoadCheckpoint(const std::string& path, Detector& model, torch::optim::Optimizer& optimizer,
                                          const json& identity, c10::Device device, WeightAverage* average) {
  ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path));
  torch::serialize::InputArchive archive;
  try {
    // Every tensor straight onto the run's device: LibTorch's Optimizer::load keeps its state
    // (momentum, Adam moments) where the archive puts it, so a CPU load would leave it on the CPU
    // beside CUDA parameters and the first step after a resume would fail.
    archive.load_from(bytes.data(), bytes.size(), device);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not a Vertebra checkpoint (%s)", path, e.what()));
  }
  c10::IValue version, step, stored_identity, cooldown_step;
  if (!archive.try_read("version", version) || !archive.try_read("step", step) ||
      !archive.try_read("identity", stored_identity)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not a Vertebra checkpoint (no version/step/identity)", path));
  }
  if (version.toInt() != kCheckpointVersion) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: checkpoint version %d, this build reads %d", path,
                                                      version.toInt(), kCheckpointVersion));
  }
  const json stored = json::parse(stored_identity.toStringRef(), nullptr, false);
  for (auto it = identity.begin(); it != identity.end(); ++it) {
    if (!stored.contains(it.key()) || stored[it.key()] != it.value()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: written for a different run: %s was %s, now %s (use another --out to start a new run)", path, it.key(),
          stored.contains(it.key()) ? stored[it.key()].dump() : "absent", it.value().dump()));
    }
  }
  torch::serialize::InputArchive model_archive, optimizer_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  model->load(model_archive);
  model->to(device);
  optimizer.load(optimizer_archive);
  if (average != nullptr) {
    torch::serialize::InputArchive average_archive;
    if (archive.try_read("ema", average_archive)) {
      const absl::Status s = average->Load(average_archive);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrFormat("%s: %s", path, s.message()));
    }
  }
  at::Tensor rng_cpu;
  archive.read("rng_cpu", rng_cpu);
  at::Generator cpu_generator = at::detail::getDefaultCPUGenerator();
  cpu_generator.set_state(rng_cpu.cpu());  // Generator states are CPU byte tensors.
  if (device.is_cuda()) {
    at::Tensor rng_device;
    at::Generator device_generator = at::globalContext().defaultGenerator(device);
    if (archive.try_read("rng_device", rng_device)) device_generator.set_state(rng_device.cpu());
  }
  Checkpoint out{step.toInt(), 0, stored};
  if (archive.try_read("cooldown_step", cooldown_step)) out.cooldown_step = cooldown_step.toInt();
  return out;
}

// metrics.jsonl without the lines after `step`, and without the lines at `step` that
// `keep_at_step` refuses (a resumed run rewrites what the interrupted one logged past its
// checkpoint, and redoes a reading it had not finished).
absl::Status TruncateMetrics(const std::string& path, int64_t step, const std::function<bool(const json&)>& keep_at_step) {
  if (!fs::exists(path)) return absl::OkStatus();
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  std::istringstream in(text);
  std::string line, kept;
  while (std::getline(in, line)) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step") || j["step"].get<int64_t>() > step) continue;
    if (j.contains("event") && j["step"].get<int64_t>() == step && !keep_at_step(j)) continue;
    kept += line + "\n";
  }
  return WriteFileAtomically(path, kept);
}

// Whether metrics.jsonl has the evaluation of `reading` at `step` (lines from before readings
// had names are readings of the weights).
bool HasReading(const std::string& path, int64_t step, Reading reading) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return false;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("event", "") != "eval" || j.value("step", int64_t{-1}) != step) continue;
    if (j.value("reading", "weights") == ReadingName(reading)) return true;
  }
  return false;
}

json StatsJson(const eval::CocoStats& stats) {
  json j;
  const std::array<double, eval::kNumCocoStats> values = stats.AsArray();
  for (int i = 0; i < eval::kNumCocoStats; ++i) j[std::string(eval::kCocoStatNames[i])] = values[i];
  return j;
}

struct EvalOutput {
  eval::CocoStats stats;
  std::vector<eval::Detection> detections;
  int64_t images = 0;
  int64_t skipped = 0;
  double scoring_seconds = 0;  // Of the COCO evaluator, after the detections were made.
};

// Letterboxes every held-out image to the input size, detects, maps boxes back to the original
// pixels, and scores with the COCO evaluator. Undecodable images are skipped, counted, and left
// out of the ground truth.
absl::StatusOr<EvalOutput> EvaluateDetector(Detector& model, const data::Dataset& val, const eval::GroundTruth& gt,
                                            const AnchorSet& anchors, const TrainOptions& o, c10::Device device,
                                            bool bf16) {
  std::optional<c10::InferenceMode> inference;
  std::optional<torch::NoGradGuard> no_grad;
  if (o.former_evaluation) {
    no_grad.emplace();
  } else {
    inference.emplace();
  }
  model->eval();
  EvalOutput out;
  PostprocessOptions post;
  post.nms_every_candidate = o.former_evaluation;
  std::set<int64_t> skipped_ids;
  for (int start = 0; start < val.size(); start += o.eval_batch) {
    const int end = std::min(val.size(), start + o.eval_batch);
    data::Batch batch;
    batch.batch = 0;
    batch.size = o.size;
    std::vector<ImageMeta> metas;
    std::vector<int64_t> image_ids;
    for (int i = start; i < end; ++i) {
      absl::StatusOr<data::Example> example = val.Get(i);
      if (!example.ok()) {
        if (example.status().code() != absl::StatusCode::kDataLoss) return example.status();
        ++out.skipped;
        skipped_ids.insert(gt.images[i].id);  // EvalGroundTruth lists images in index order.
        continue;
      }
      data::AugmentedExample a = data::Letterbox(*example, o.size);
      batch.pixels.insert(batch.pixels.end(), a.image.pixels.begin(), a.image.pixels.end());
      batch.objects.push_back({});
      ++batch.batch;
      metas.push_back({a.scale, {example->image.width, example->image.height}});
      image_ids.push_back(example->image_id);
    }
    if (batch.batch == 0) continue;
    const at::Tensor images = ToTensors(batch, 0, device, o.channels_last).first;
    DetectorOutput output;
    {
      Bf16Autocast autocast(device, bf16);
      output = model->forward(images);
    }
    const std::vector<Detections> dets = Postprocess(output.head, anchors, metas, post);  // In fp32.
    for (size_t i = 0; i < dets.size(); ++i) {
      const at::Tensor boxes = dets[i].boxes.cpu(), scores = dets[i].scores.cpu(), classes = dets[i].classes.cpu();
      const auto b = boxes.accessor<float, 2>();
      const auto s = scores.accessor<float, 1>();
      const auto c = classes.accessor<int64_t, 1>();
      for (int64_t k = 0; k < boxes.size(0); ++k) {
        eval::Detection d;
        d.image_id = image_ids[i];
        d.category_id = val.categories()[c[k]].coco_id;
        d.bbox = {b[k][0], b[k][1], b[k][2] - b[k][0], b[k][3] - b[k][1]};
        d.score = s[k];
        out.detections.push_back(d);
      }
    }
    out.images += batch.batch;
  }
  model->train();
  eval::GroundTruth scored = gt;
  if (out.skipped > 0) {
    // Only the images that were seen count.
    auto& images = scored.images;
    images.erase(std::remove_if(images.begin(), images.end(),
                                [&](const eval::Image& im) { return skipped_ids.count(im.id) > 0; }),
                 images.end());
    auto& annotations = scored.annotations;
    annotations.erase(std::remove_if(annotations.begin(), annotations.end(),
                                     [&](const eval::Annotation& a) { return skipped_ids.count(a.image_id) > 0; }),
                      annotations.end());
  }
  const Clock::time_point scoring_start = Clock::now();
  out.stats = eval::Evaluate(scored, out.detections);
  out.scoring_seconds = Seconds(scoring_start);
  return out;
}

std::string DetectionsJson(const std::vector<eval::Detection>& detections) {
  json j = json::array();
  for (const eval::Detection& d : detections) {
    j.push_back({{"image_id", d.image_id},
                 {"category_id", d.category_id},
                 {"bbox", {d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h}},
                 {"score", d.score}});
  }
  return j.dump();
}

}  // namespace

int64_t DefaultWarmupSteps(int64_t steps) {
  constexpr int64_t kWarmupSteps = 50;
  return std::min<int64_t>(kWarmupSteps, steps / 10);
}

double DefaultLearningRate(OptimizerKind optimizer, int batch) {
  constexpr double kSgdLearningRate = 0.28;  // The paper's, at kSgdReferenceBatch.
  constexpr double kSgdReferenceBatch = 256;
  constexpr double kAdamWLearningRate = 2e-3;
  return optimizer == OptimizerKind::kSgd ? kSgdLearningRate * batch / kSgdReferenceBatch : kAdamWLearningRate;
}

double DefaultWeightDecay(OptimizerKind optimizer) {
  constexpr double kSgdWeightDecay = 4e-5;
  constexpr double kAdamWWeightDecay = 1e-4;
  return optimizer == OptimizerKind::kSgd ? kSgdWeightDecay : kAdamWWeightDecay;
}

const char* ReadingName(Reading reading) {
  switch (reading) {
    case Reading::kWeights: return "weights";
    case Reading::kCooldown: return "cooldown";
    case Reading::kEma: return "ema";
  }
  return "weights";
}

double LearningRateAt(const TrainOptions& o, int64_t step) {
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  if (o.schedule == ScheduleKind::kWsd) return o.lr;
  if (o.schedule == ScheduleKind::kCosine) {
    const double t = static_cast<double>(step - o.warmup_steps) / static_cast<double>(o.steps - o.warmup_steps);
    return o.lr * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  double lr = o.lr;
  for (double f : o.decay_at) {
    if (static_cast<double>(step) >= f * static_cast<double>(o.steps)) lr *= o.decay_factor;
  }
  return lr;
}

int64_t CooldownSteps(const TrainOptions& o, int64_t step) {
  return std::max<int64_t>(1, std::llround(o.cooldown_fraction * static_cast<double>(step)));
}

double CooldownLearningRate(const TrainOptions& o, int64_t k, int64_t length) {
  return o.lr * static_cast<double>(length - k) / static_cast<double>(length);
}

std::string TrainResultJson(const TrainResult& r, const TrainOptions& o) {
  json j;
  j["status"] = std::string(KindName(r.status));
  j["arch"] = o.spec.name();
  j["arch_hash"] = search_spaces::ArchHash(o.spec);
  j["steps"] = o.steps;
  j["steps_done"] = r.steps_done;
  j["resumed_from"] = r.resumed_from;
  j["schedule"] = ScheduleName(o.schedule);
  j["reading"] = ReadingName(o.reading);
  j["cooldown_steps"] = r.cooldown_steps;
  if (r.status == v1::TRAIN_DIVERGED) j["diverged_step"] = r.diverged_step;
  j["final_loss"] = std::isfinite(r.final_loss) ? json(r.final_loss) : json(nullptr);
  j["train_seconds"] = r.train_seconds;
  j["eval_seconds"] = r.eval_seconds;
  j["eval_scoring_seconds"] = r.eval_scoring_seconds;
  j["checkpoint_seconds"] = r.checkpoint_seconds;
  j["wall_seconds"] = r.wall_seconds;
  j["images_per_s"] = r.images_per_s;
  j["skipped_images"] = r.skipped_images;
  j["parameters"] = r.parameters;
  j["macs"] = r.macs;
  j["size"] = o.size;
  j["batch"] = o.batch;
  j["maxup"] = o.maxup;
  j["seed"] = o.seed;
  if (DataSeedOf(o) != o.seed) j["data_seed"] = DataSeedOf(o);
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["precision"] = std::string(KindName(r.precision));
  j["precision_requested"] = std::string(KindName(o.precision));
  if (!r.precision_notice.empty()) j["precision_notice"] = r.precision_notice;
  if (r.stats) {
    j["ap"] = StatsJson(*r.stats);
    j["eval_images"] = r.eval_images;
    j["eval_detections"] = r.eval_detections;
  } else {
    j["ap"] = nullptr;
  }
  return j.dump(2) + "\n";
}

absl::StatusOr<TrainResult> Train(const data::Dataset& train, const data::Dataset& val, const TrainOptions& options,
                                  const std::function<void(const Progress&)>& on_progress) {
  RETURN_IF_ERROR(ValidateTrainOptions(options));
  RETURN_IF_ERROR(ss::ValidateArchSpec(options.spec));
  const TrainOptions& o = options;
  if (train.categories().size() != val.categories().size()) {
    return absl::InvalidArgumentError(absl::StrFormat("val: %d categories, the training set has %d",
                                                      val.categories().size(), train.categories().size()));
  }
  ASSIGN_OR_RETURN(const c10::Device device, ParseDevice(o.device));
  RETURN_IF_ERROR(SetNumThreads(o.threads));
  ASSIGN_OR_RETURN(const ss::ResolvedGraph graph, ss::Resolve(o.spec, o.size, o.size));
  const PrecisionChoice precision = ResolvePrecision(
      o.precision, device.is_cuda(), o.cpu_has_bf16 != nullptr ? o.cpu_has_bf16() : CpuHasBf16());
  const bool bf16 = precision.precision == v1::PRECISION_BF16;
  if (!precision.notice.empty()) std::fprintf(stderr, "vertebra: %s\n", precision.notice.c_str());
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrFormat("out: cannot create %s: %s", o.out_dir, ec.message()));
  const std::string checkpoint_path = (fs::path(o.out_dir) / "checkpoint.pt").string();
  const std::string metrics_path = (fs::path(o.out_dir) / "metrics.jsonl").string();
  if (!o.resume && fs::exists(checkpoint_path)) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "%s exists: pass --resume to continue that run, or choose another --out", checkpoint_path));
  }
  if (o.resume && !fs::exists(checkpoint_path)) {
    return absl::NotFoundError(absl::StrFormat("--resume: %s does not exist", checkpoint_path));
  }
  ASSIGN_OR_RETURN(const eval::GroundTruth gt, val.EvalGroundTruth());

  ss::HeadOptions head = o.head;
  head.num_classes = static_cast<int>(train.categories().size());
  head.anchors_per_location = AnchorOptions().num_anchors();
  const json identity = RunIdentity(o, head, head.num_classes);

  const Clock::time_point wall_start = Clock::now();
  return GuardTorch([&]() -> absl::StatusOr<TrainResult> {
    torch::manual_seed(o.seed);
    DetectorOptions detector_options;
    detector_options.backbone.activation = o.swish ? Activation::kSwish : Activation::kRelu;
    detector_options.backbone.stochastic_depth_rate = o.stochastic_depth;
    detector_options.head = head;
    Detector model(graph, detector_options);
    model->to(device);
    std::unique_ptr<torch::optim::Optimizer> optimizer = MakeOptimizer(o, *model);
    if (o.channels_last) ToChannelsLast(*model);
    std::unique_ptr<WeightAverage> average;
    if (o.ema_decay > 0) average = std::make_unique<WeightAverage>(*model, o.ema_decay);

    TrainResult result;
    result.device = device.str();
    result.threads = o.threads;
    result.precision = precision.precision;
    result.precision_notice = precision.notice;
    result.parameters = CountParameters(*model);
    result.macs = ss::CountCost(graph, head).total_macs;
    const int64_t end_step = o.rung_end > 0 ? o.rung_end : o.steps;
    double checkpoint_seconds = 0;  // Writing and reading checkpoints.
    auto is_reading_point = [&](int64_t at) {
      return at == end_step || std::binary_search(o.readings.begin(), o.readings.end(), at);
    };
    const std::string cooldown_path = (fs::path(o.out_dir) / "cooldown.pt").string();
    int64_t step = 0;
    // The unfinished reading at the resumed step: -1 none, else the cool-down steps already done.
    int64_t pending_reading = -1;
    if (o.resume) {
      ASSIGN_OR_RETURN(const Checkpoint checkpoint, Timed(&checkpoint_seconds, [&] {
                         return LoadCheckpoint(checkpoint_path, model, *optimizer, identity, device, average.get());
                       }));
      step = checkpoint.step;
      result.resumed_from = step;
      // A reading at the end is always redone: its weights are not kept.
      if (is_reading_point(step) && (step == end_step || !HasReading(metrics_path, step, o.reading))) {
        pending_reading = 0;
        if (o.reading == Reading::kCooldown && fs::exists(cooldown_path)) {
          absl::StatusOr<Checkpoint> fork = Timed(&checkpoint_seconds, [&] {
            return LoadCheckpoint(cooldown_path, model, *optimizer, identity, device, /*average=*/nullptr);
          });
          if (fork.ok() && fork->step == step && fork->cooldown_step < CooldownSteps(o, step)) {
            pending_reading = fork->cooldown_step;
          } else {
            // Another reading's fork, or unreadable: the pre-fork state is the truth.
            RETURN_IF_ERROR(Timed(&checkpoint_seconds, [&] {
                              return LoadCheckpoint(checkpoint_path, model, *optimizer, identity, device, average.get());
                            }).status());
          }
        }
      }
      const int64_t cooldown_kept = pending_reading;
      RETURN_IF_ERROR(TruncateMetrics(metrics_path, step, [&](const json& j) {
        if (pending_reading < 0) return true;  // The reading here was finished.
        if (cooldown_kept == 0) return false;  // Redone from its start.
        // Into a cool-down: keep the other readings and the fork's steps done.
        if (j.value("event", "") == "cooldown") return j.value("cooldown_step", int64_t{0}) <= cooldown_kept;
        return j.value("reading", "weights") != ReadingName(Reading::kCooldown);
      }));
    } else {
      std::error_code remove_ec;
      fs::remove(metrics_path, remove_ec);
    }
    std::error_code stale_ec;
    if (pending_reading <= 0) fs::remove(cooldown_path, stale_ec);
    if (o.channels_last) ToChannelsLast(*model);  // A checkpoint's tensors come back as they were saved.
    model->train();

    std::vector<int> levels;
    for (const ss::Endpoint& e : graph.endpoints) levels.push_back(e.level);
    AnchorOptions anchor_options;
    anchor_options.base_scale = o.anchor_scale;
    const AnchorSet anchors =
        GenerateAnchors({o.size, o.size}, levels, anchor_options, torch::TensorOptions().device(device));
    LossOptions loss_options;
    loss_options.focal_alpha = o.focal_alpha;
    loss_options.focal_gamma = o.focal_gamma;

    data::LoaderOptions loader_options;
    loader_options.batch = o.batch;
    loader_options.augment = o.augment;
    loader_options.augment.size = o.size;
    loader_options.copies = o.maxup;
    loader_options.threads = o.loader_threads;
    loader_options.seed = DataSeedOf(o);
    loader_options.start_step = step;
    ASSIGN_OR_RETURN(std::unique_ptr<data::Loader> loader, data::Loader::Create(train, loader_options));
    int64_t skipped_by_forks = 0;

    std::ofstream metrics(metrics_path, std::ios::app);
    if (!metrics) return absl::InternalError(absl::StrFormat("cannot open %s for writing", metrics_path));
    const Clock::time_point train_start = Clock::now();
    Clock::time_point last_checkpoint = Clock::now();
    double eval_seconds = 0;
    const double checkpoint_seconds_before = checkpoint_seconds;
    // Seconds of training since train_start: evaluation and checkpoint I/O excluded.
    auto training_seconds = [&] {
      return Seconds(train_start) - eval_seconds - (checkpoint_seconds - checkpoint_seconds_before);
    };
    double recent_images_per_s = 0;
    const int64_t start_step = step;
    const int64_t last_step = o.stop_after > 0 ? std::min(end_step, o.stop_after) : end_step;
    result.status = v1::TRAIN_COMPLETED;
    std::optional<EvalOutput> final_eval;

    auto evaluate = [&](int64_t at_step, Reading reading) -> absl::Status {
      const Clock::time_point t0 = Clock::now();
      ASSIGN_OR_RETURN(EvalOutput e, EvaluateDetector(model, val, gt, anchors, o, device, bf16));
      eval_seconds += Seconds(t0);
      result.eval_scoring_seconds += e.scoring_seconds;
      json line = StatsJson(e.stats);
      line["event"] = "eval";
      line["step"] = at_step;
      line["reading"] = ReadingName(reading);
      line["elapsed_s"] = training_seconds();
      metrics << line.dump() << "\n" << std::flush;
      if (reading != o.reading) return absl::OkStatus();
      if (on_progress) {
        Progress p;
        p.step = at_step;
        p.steps = o.steps;
        p.resumed_from = result.resumed_from;
        p.ap = e.stats.ap;
        on_progress(p);
      }
      final_eval = std::move(e);
      return absl::OkStatus();
    };

    struct StepOutcome {
      double loss = 0, class_loss = 0, box_loss = 0, grad_norm = 0;
    };
    // One optimizer step on the loader's next batch; nullopt when the loss is not finite (the
    // parameters are then left as they were).
    auto train_step = [&](data::Loader& from, double lr, double* loss_value) -> absl::StatusOr<std::optional<StepOutcome>> {
      ASSIGN_OR_RETURN(const data::Batch batch, from.Next());
      auto [images, targets] = ToTensors(batch, 0, device, o.channels_last);
      if (o.maxup > 1 || o.maxup_score_always) {
        std::vector<at::Tensor> copies{images};
        std::vector<std::vector<ImageTargets>> copy_targets{targets};
        for (int c = 1; c < o.maxup; ++c) {
          auto [im, t] = ToTensors(batch, c, device, o.channels_last);
          copies.push_back(im);
          copy_targets.push_back(std::move(t));
        }
        MaxUpChoice choice;
        {
          Bf16Autocast autocast(device, bf16);  // Scored as the step computes.
          choice = SelectWorstCopies(model, copies, copy_targets, anchors, loss_options);
        }
        const at::Tensor chosen = choice.chosen.cpu();
        std::vector<at::Tensor> rows;
        for (int i = 0; i < o.batch; ++i) {
          const int64_t c = chosen[i].item<int64_t>();
          rows.push_back(copies[c][i]);
          targets[i] = copy_targets[c][i];
        }
        images = torch::stack(rows).contiguous(o.channels_last ? at::MemoryFormat::ChannelsLast
                                                                : at::MemoryFormat::Contiguous);
      }
      SetLearningRate(*optimizer, lr);
      optimizer->zero_grad();
      DetectionLoss loss;
      {
        Bf16Autocast autocast(device, bf16);
        const DetectorOutput out = model->forward(images);
        loss = ComputeLoss(out.head, anchors, targets, loss_options);  // Reduced in fp32.
      }
      *loss_value = loss.total.item<double>();
      if (!std::isfinite(*loss_value)) return std::optional<StepOutcome>();
      loss.total.backward();
      StepOutcome outcome;
      outcome.loss = *loss_value;
      outcome.class_loss = loss.class_loss.item<double>();
      outcome.box_loss = loss.box_loss.item<double>();
      if (o.clip_norm > 0) outcome.grad_norm = torch::nn::utils::clip_grad_norm_(model->parameters(), o.clip_norm);
      optimizer->step();
      return std::optional<StepOutcome>(outcome);
    };
    auto step_line = [](int64_t at, const StepOutcome& s, double lr) {
      return json{{"step", at},         {"loss", s.loss}, {"class_loss", s.class_loss}, {"box_loss", s.box_loss},
                  {"lr", lr},           {"grad_norm", s.grad_norm}};
    };

    enum class ReadOutcome { kRead, kStopped, kDiverged };
    // Reads the run at `at` (the model holds the state at `at`, or, resuming into a cool-down,
    // the fork's state after `cooldown_from` of its steps). Leaves the model at `at`, except at
    // the end, where it keeps the weights that were read (model.safetensors).
    auto read_at = [&](int64_t at, int64_t cooldown_from) -> absl::StatusOr<ReadOutcome> {
      if (cooldown_from == 0) {
        if (o.reading == Reading::kWeights || o.read_all) RETURN_IF_ERROR(evaluate(at, Reading::kWeights));
        if (average != nullptr && (o.reading == Reading::kEma || o.read_all)) {
          average->Swap();
          const absl::Status s = evaluate(at, Reading::kEma);
          average->Swap();
          RETURN_IF_ERROR(s);
        }
      }
      if (o.reading != Reading::kCooldown) return ReadOutcome::kRead;
      const int64_t length = CooldownSteps(o, at);
      data::LoaderOptions fork_options = loader_options;
      fork_options.start_step = at + cooldown_from;
      ASSIGN_OR_RETURN(std::unique_ptr<data::Loader> fork_loader, data::Loader::Create(train, fork_options));
      Clock::time_point last_fork_checkpoint = Clock::now();
      for (int64_t k = cooldown_from; k < length; ++k) {
        const double lr = CooldownLearningRate(o, k, length);
        double loss_value = 0;
        ASSIGN_OR_RETURN(const std::optional<StepOutcome> s, train_step(*fork_loader, lr, &loss_value));
        if (!s) {
          result.diverged_step = at;
          result.final_loss = loss_value;
          return ReadOutcome::kDiverged;
        }
        ++result.cooldown_steps;
        json line = step_line(at, *s, lr);
        line["event"] = "cooldown";
        line["cooldown_step"] = k + 1;
        line["elapsed_s"] = training_seconds();
        metrics << line.dump() << "\n" << std::flush;
        if (on_progress) {
          Progress p;
          p.step = at;
          p.steps = o.steps;
          p.resumed_from = result.resumed_from;
          p.loss = s->loss;
          p.cooldown_step = k + 1;
          p.cooldown_steps = length;
          p.elapsed_s = training_seconds();
          on_progress(p);
        }
        const bool stopping = o.stop != nullptr && o.stop->load();
        const bool periodic =
            (o.checkpoint_every > 0 && (k + 1) % o.checkpoint_every == 0) ||
            (o.checkpoint_minutes > 0 && Seconds(last_fork_checkpoint) >= 60 * o.checkpoint_minutes);
        if ((periodic || stopping) && k + 1 < length) {
          RETURN_IF_ERROR(Timed(&checkpoint_seconds, [&] {
            return SaveCheckpoint(cooldown_path, model, *optimizer, at, identity, device, nullptr, k + 1);
          }));
          last_fork_checkpoint = Clock::now();
        }
        if (stopping && k + 1 < length) return ReadOutcome::kStopped;
      }
      skipped_by_forks += fork_loader->skipped();
      RETURN_IF_ERROR(evaluate(at, Reading::kCooldown));
      if (at != end_step) {
        // Back to the state before the fork.
        RETURN_IF_ERROR(Timed(&checkpoint_seconds, [&] {
                          return LoadCheckpoint(checkpoint_path, model, *optimizer, identity, device, average.get());
                        }).status());
        if (o.channels_last) ToChannelsLast(*model);
        model->train();
      }
      std::error_code ec;
      fs::remove(cooldown_path, ec);
      return ReadOutcome::kRead;
    };
    auto settle = [&](ReadOutcome outcome) {
      if (outcome == ReadOutcome::kStopped) result.status = v1::TRAIN_STOPPED;
      if (outcome == ReadOutcome::kDiverged) result.status = v1::TRAIN_DIVERGED;
      return outcome == ReadOutcome::kRead;
    };

    bool reading_done = true;
    if (pending_reading >= 0) {
      ASSIGN_OR_RETURN(const ReadOutcome outcome, read_at(step, pending_reading));
      reading_done = settle(outcome);
    }
    while (reading_done && step < last_step) {
      const Clock::time_point step_start = Clock::now();
      const double lr = LearningRateAt(o, step);
      double loss_value = 0;
      ASSIGN_OR_RETURN(const std::optional<StepOutcome> s, train_step(*loader, lr, &loss_value));
      if (!s) {
        result.status = v1::TRAIN_DIVERGED;
        result.diverged_step = step + 1;
        result.final_loss = loss_value;
        break;
      }
      ++step;
      if (average != nullptr) average->Update(step);
      result.final_loss = s->loss;
      const double step_seconds = Seconds(step_start);
      const double images_per_s = o.batch / step_seconds;
      recent_images_per_s = step == start_step + 1 ? images_per_s : 0.9 * recent_images_per_s + 0.1 * images_per_s;
      const double elapsed = training_seconds();
      json line = step_line(step, *s, lr);
      line["images_per_s"] = images_per_s;
      line["elapsed_s"] = elapsed;
      metrics << line.dump() << "\n" << std::flush;
      if (on_progress) {
        Progress p;
        p.step = step;
        p.steps = o.steps;
        p.resumed_from = result.resumed_from;
        p.loss = s->loss;
        p.images_per_s = recent_images_per_s;
        p.elapsed_s = elapsed;
        p.eta_s = recent_images_per_s > 0 ? (o.steps - step) * o.batch / recent_images_per_s : 0;
        on_progress(p);
      }
      const bool stopping = o.stop != nullptr && o.stop->load();
      const bool periodic = (o.checkpoint_every > 0 && step % o.checkpoint_every == 0) ||
                            (o.checkpoint_minutes > 0 && Seconds(last_checkpoint) >= 60 * o.checkpoint_minutes);
      const bool reading_here = is_reading_point(step) && !stopping;
      if (o.eval_every > 0 && step % o.eval_every == 0 && !reading_here) RETURN_IF_ERROR(evaluate(step, Reading::kWeights));
      // A cool-down fork returns to this checkpoint.
      if (periodic || stopping || step == last_step || (reading_here && o.reading == Reading::kCooldown)) {
        RETURN_IF_ERROR(Timed(&checkpoint_seconds, [&] {
          return SaveCheckpoint(checkpoint_path, model, *optimizer, step, identity, device, average.get());
        }));
        last_checkpoint = Clock::now();
      }
      if (stopping) {
        result.status = v1::TRAIN_STOPPED;
        break;
      }
      if (reading_here) {
        ASSIGN_OR_RETURN(const ReadOutcome outcome, read_at(step, 0));
        if (!settle(outcome)) break;
      }
    }
    result.steps_done = step;
    if (result.status == v1::TRAIN_COMPLETED && (step < end_step || !final_eval)) result.status = v1::TRAIN_STOPPED;
    result.train_seconds = training_seconds();
    const int64_t trained = step - start_step + result.cooldown_steps;
    result.images_per_s = result.train_seconds > 0 ? trained * o.batch / result.train_seconds : 0;
    result.skipped_images = loader->skipped() + skipped_by_forks;
    loader.reset();
    if (result.status == v1::TRAIN_COMPLETED) {
      result.stats = final_eval->stats;
      result.eval_images = final_eval->images;
      result.eval_detections = static_cast<int64_t>(final_eval->detections.size());
      result.skipped_images += final_eval->skipped;
      RETURN_IF_ERROR(
          WriteFileAtomically((fs::path(o.out_dir) / "detections.json").string(), DetectionsJson(final_eval->detections)));
      if (o.write_safetensors) {
        if (o.reading == Reading::kEma) average->Swap();  // The weights that were read.
        RETURN_IF_ERROR(SaveSafetensors(StateOf(*model), (fs::path(o.out_dir) / "model.safetensors").string(),
                                        {{"format", "pt"}, {"steps", std::to_string(step)}}));
        if (o.reading == Reading::kEma) average->Swap();
      }
    }
    result.eval_seconds = eval_seconds;
    result.checkpoint_seconds = checkpoint_seconds;
    result.wall_seconds = Seconds(wall_start);
    RETURN_IF_ERROR(WriteFileAtomically((fs::path(o.out_dir) / "result.json").string(), TrainResultJson(result, o)));
    return result;
  });
}

}  // namespace vertebra::worker
