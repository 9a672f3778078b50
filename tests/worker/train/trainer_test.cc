#include "worker/train/trainer.h"

#include <torch/torch.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "search_spaces/family.h"
#include "tests/testing/proxy_model.h"
#include "worker/data/synthetic.h"
#include "worker/model/detection.h"
#include "worker/model/torch_util.h"
#include "worker/train/maxup.h"

namespace vertebra::worker {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::unique_ptr<data::SyntheticDataset> TinySet(uint64_t seed, int images) {
  data::SyntheticOptions o;
  o.size = 64;
  o.images = images;
  o.min_side = 12;
  o.max_side = 40;
  o.seed = seed;
  return *data::SyntheticDataset::Create(o);
}

class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vertebra_train_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    train_ = TinySet(1, 24);
    val_ = TinySet(2, 6);
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrainOptions Options(const std::string& run) const {
    TrainOptions o;
    o.spec = search_spaces::SpineNet49();
    *o.spec.mutable_scaling() = test_util::ProxyScaling();
    o.head = test_util::ProxyHead();
    o.size = 64;
    o.batch = 4;
    o.steps = 6;
    o.warmup_steps = 2;
    o.augment.min_scale = 0.8;
    o.augment.max_scale = 1.2;
    o.seed = 7;
    o.threads = 1;
    o.loader_threads = 2;
    o.checkpoint_minutes = 0;
    o.out_dir = (dir_ / run).string();
    return o;
  }

  // The "loss" of every step line of a run's metrics.jsonl, in order.
  std::vector<double> Losses(const std::string& run) const {
    std::ifstream in(dir_ / run / "metrics.jsonl");
    std::vector<double> losses;
    std::string line;
    int64_t expected_step = 1;
    while (std::getline(in, line)) {
      const json j = json::parse(line);
      if (j.contains("event")) continue;
      EXPECT_EQ(j["step"].get<int64_t>(), expected_step++);
      losses.push_back(j["loss"].get<double>());
    }
    return losses;
  }

  json Result(const std::string& run) const {
    std::ifstream in(dir_ / run / "result.json");
    return json::parse(in);
  }

  // Trains `o` (6 steps) in one go as run "full", and stopped after step 3 and resumed as run
  // "split"; expects the same loss curve and AP, bit for bit.
  void ExpectAResumedRunRepeatsTheUninterruptedOne(TrainOptions o) const {
    o.out_dir = (dir_ / "full").string();
    absl::StatusOr<TrainResult> full = Train(*train_, *val_, o);
    ASSERT_TRUE(full.ok()) << full.status();
    ASSERT_EQ(full->status, v1::TRAIN_COMPLETED) << TrainResultJson(*full, o);

    o.out_dir = (dir_ / "split").string();
    o.stop_after = 3;
    absl::StatusOr<TrainResult> stopped = Train(*train_, *val_, o);
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    EXPECT_EQ(stopped->status, v1::TRAIN_STOPPED);
    EXPECT_EQ(stopped->steps_done, 3);

    o.stop_after = 0;
    o.resume = true;
    absl::StatusOr<TrainResult> resumed = Train(*train_, *val_, o);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    EXPECT_EQ(resumed->resumed_from, 3);
    EXPECT_EQ(resumed->status, v1::TRAIN_COMPLETED);

    const std::vector<double> a = Losses("full"), b = Losses("split");
    ASSERT_EQ(a.size(), 6u);
    ASSERT_EQ(b.size(), 6u);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
    EXPECT_EQ(Result("full")["ap"], Result("split")["ap"]);
  }

  fs::path dir_;
  std::unique_ptr<data::SyntheticDataset> train_, val_;
};

TEST_F(TrainTest, WritesTheRunFolderAndTheLossFalls) {
  TrainOptions o = Options("run");
  o.steps = 12;
  o.lr = 3e-3;
  absl::StatusOr<TrainResult> r = Train(*train_, *val_, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, v1::TRAIN_COMPLETED);
  for (const char* f : {"metrics.jsonl", "checkpoint.pt", "detections.json", "result.json"}) {
    EXPECT_TRUE(fs::exists(dir_ / "run" / f)) << f;
  }
  const std::vector<double> losses = Losses("run");
  ASSERT_EQ(losses.size(), 12u);
  EXPECT_LT(losses.back(), losses.front());
  const json result = Result("run");
  EXPECT_EQ(result["status"], "completed");
  EXPECT_EQ(result["steps_done"], 12);
  EXPECT_EQ(result["eval_images"], 6);
  for (const char* key : {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}) {
    EXPECT_TRUE(result["ap"].contains(key)) << key;
  }
  EXPECT_GT(result["parameters"].get<int64_t>(), 0);
  EXPECT_GT(result["macs"].get<int64_t>(), 0);
  const json detections = json::parse(std::ifstream(dir_ / "run" / "detections.json"));
  ASSERT_TRUE(detections.is_array());
  for (const json& d : detections) {
    EXPECT_GE(d["category_id"].get<int>(), 1);
    EXPECT_EQ(d["bbox"].size(), 4u);
  }
}

TEST_F(TrainTest, ResumedRunRepeatsTheUninterruptedLossCurveExactly) {
  TrainOptions o = Options("full");
  o.stochastic_depth = 0.2;  // The RNG state must travel with the checkpoint too.
  o.maxup = 2;
  ExpectAResumedRunRepeatsTheUninterruptedOne(o);
}

// Stand-ins for the CPU's bf16 probe. bf16 autocast runs on any CPU (emulated where it is not
// native), so the bf16 tests run everywhere.
bool CpuWithBf16() { return true; }
bool CpuWithoutBf16() { return false; }

TEST_F(TrainTest, Bf16RunsRecordTheirPrecisionAndResumeBitForBit) {
  TrainOptions o = Options("full");
  o.precision = v1::PRECISION_AUTO;
  o.cpu_has_bf16 = CpuWithBf16;
  o.maxup = 2;  // The scoring pass runs under autocast too.
  ExpectAResumedRunRepeatsTheUninterruptedOne(o);
  EXPECT_EQ(Result("full")["precision"], "bf16");
  EXPECT_EQ(Result("full")["precision_requested"], "auto");
  EXPECT_EQ(Result("split")["precision"], "bf16");

  TrainOptions fp32 = o;
  fp32.out_dir = (dir_ / "fp32").string();
  fp32.precision = v1::PRECISION_FP32;
  ASSERT_TRUE(Train(*train_, *val_, fp32).ok());
  EXPECT_EQ(Result("fp32")["precision"], "fp32");
  // bf16 really ran: its rounding moves the very first loss away from fp32's (a little).
  const double first_bf16 = Losses("full")[0], first_fp32 = Losses("fp32")[0];
  EXPECT_NE(first_bf16, first_fp32);
  EXPECT_NEAR(first_bf16, first_fp32, 0.05 * first_fp32);
}

TEST_F(TrainTest, Bf16OnACpuWithoutItIsFp32WithANotice) {
  TrainOptions fp32 = Options("fp32");
  fp32.precision = v1::PRECISION_FP32;
  ASSERT_TRUE(Train(*train_, *val_, fp32).ok());
  TrainOptions asked = Options("asked");
  asked.precision = v1::PRECISION_BF16;
  asked.cpu_has_bf16 = CpuWithoutBf16;
  absl::StatusOr<TrainResult> r = Train(*train_, *val_, asked);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->precision, v1::PRECISION_FP32);
  EXPECT_NE(r->precision_notice.find("no native bf16"), std::string::npos) << r->precision_notice;
  const json result = Result("asked");
  EXPECT_EQ(result["precision"], "fp32");
  EXPECT_EQ(result["precision_requested"], "bf16");
  EXPECT_EQ(result["precision_notice"], r->precision_notice);
  // The fallback is plain fp32 training, bit for bit.
  EXPECT_EQ(Losses("asked"), Losses("fp32"));
  EXPECT_EQ(result["ap"], Result("fp32")["ap"]);
}

// Every line of a run's metrics.jsonl without its timings: what must repeat bit for bit.
std::vector<json> Lines(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<json> lines;
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    j.erase("elapsed_s");
    j.erase("images_per_s");
    lines.push_back(j);
  }
  return lines;
}

std::vector<json> Events(const std::vector<json>& lines, const std::string& event) {
  std::vector<json> out;
  for (const json& j : lines) {
    if (j.value("event", "") == event) out.push_back(j);
  }
  return out;
}

TrainOptions Wsd(TrainOptions o) {
  o.schedule = ScheduleKind::kWsd;
  o.reading = Reading::kCooldown;
  o.steps = 8;
  o.readings = {4};
  o.cooldown_fraction = 0.5;  // Forks of 2 steps at step 4 and of 4 at step 8.
  return o;
}

TEST_F(TrainTest, WsdReadingsAreCooledDownForksThatLeaveTheRunAsItWas) {
  TrainOptions plain = Wsd(Options("plain"));
  plain.reading = Reading::kWeights;  // The same constant-lr run, read without forks.
  ASSERT_TRUE(Train(*train_, *val_, plain).ok());
  TrainOptions forked = Wsd(Options("forked"));
  absl::StatusOr<TrainResult> r = Train(*train_, *val_, forked);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, v1::TRAIN_COMPLETED);
  EXPECT_EQ(r->steps_done, 8);
  EXPECT_EQ(r->cooldown_steps, 6);
  EXPECT_EQ(Losses("plain"), Losses("forked"));  // The fork at step 4 left no trace.
  const std::vector<json> lines = Lines(dir_ / "forked");
  const std::vector<json> cooldown = Events(lines, "cooldown");
  ASSERT_EQ(cooldown.size(), 6u);
  EXPECT_EQ(cooldown[0]["step"], 4);
  EXPECT_EQ(cooldown[1]["cooldown_step"], 2);
  EXPECT_DOUBLE_EQ(cooldown[0]["lr"].get<double>(), forked.lr);
  EXPECT_DOUBLE_EQ(cooldown[1]["lr"].get<double>(), forked.lr / 2);
  EXPECT_DOUBLE_EQ(cooldown[5]["lr"].get<double>(), forked.lr / 4);
  const std::vector<json> evals = Events(lines, "eval");
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_EQ(evals[0]["step"], 4);
  EXPECT_EQ(evals[0]["reading"], "cooldown");
  EXPECT_EQ(evals[1]["step"], 8);
  EXPECT_EQ(Result("forked")["ap"]["AP"], evals[1]["AP"]);
  EXPECT_EQ(Result("forked")["cooldown_steps"], 6);
  EXPECT_FALSE(fs::exists(dir_ / "forked" / "cooldown.pt"));
}

TEST_F(TrainTest, RunStoppedInsideACooldownResumesIntoItBitForBit) {
  TrainOptions full = Wsd(Options("full"));
  full.stochastic_depth = 0.2;
  full.ema_decay = 0.9;
  full.read_all = true;
  ASSERT_TRUE(Train(*train_, *val_, full).ok());

  // Stopped after the first step of each fork: once at step 4, once in the final cool-down.
  TrainOptions split = full;
  split.out_dir = (dir_ / "split").string();
  std::atomic<bool> stop{false};
  split.stop = &stop;
  auto stop_in_fork = [&stop](const Progress& p) {
    if (p.cooldown_step == 1) stop.store(true);
  };
  absl::StatusOr<TrainResult> first = Train(*train_, *val_, split, stop_in_fork);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status, v1::TRAIN_STOPPED);
  EXPECT_EQ(first->steps_done, 4);
  EXPECT_TRUE(fs::exists(dir_ / "split" / "cooldown.pt"));
  stop.store(false);
  split.resume = true;
  absl::StatusOr<TrainResult> second = Train(*train_, *val_, split, stop_in_fork);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->status, v1::TRAIN_STOPPED);
  EXPECT_EQ(second->steps_done, 8);
  stop.store(false);
  absl::StatusOr<TrainResult> third = Train(*train_, *val_, split);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->status, v1::TRAIN_COMPLETED);
  EXPECT_EQ(third->cooldown_steps, 3);  // The final fork's last 3 steps.

  EXPECT_EQ(Lines(dir_ / "full"), Lines(dir_ / "split"));
  EXPECT_EQ(Result("full")["ap"], Result("split")["ap"]);
  const std::vector<json> evals = Events(Lines(dir_ / "full"), "eval");
  ASSERT_EQ(evals.size(), 6u);  // Weights, average and cool-down at steps 4 and 8.
  EXPECT_EQ(evals[0]["reading"], "weights");
  EXPECT_EQ(evals[1]["reading"], "ema");
  EXPECT_EQ(evals[2]["reading"], "cooldown");
}

TEST_F(TrainTest, APromotedWsdRunContinuesFromBeforeTheLowerRungsCooldown) {
  TrainOptions whole = Wsd(Options("whole"));
  whole.readings = {};
  ASSERT_TRUE(Train(*train_, *val_, whole).ok());

  TrainOptions rung = Wsd(Options("rungs"));
  rung.readings = {};
  rung.rung_end = 4;
  absl::StatusOr<TrainResult> low = Train(*train_, *val_, rung);
  ASSERT_TRUE(low.ok()) << low.status();
  EXPECT_EQ(low->status, v1::TRAIN_COMPLETED);
  EXPECT_EQ(low->cooldown_steps, 2);
  rung.rung_end = 0;
  rung.resume = true;
  absl::StatusOr<TrainResult> high = Train(*train_, *val_, rung);
  ASSERT_TRUE(high.ok()) << high.status();
  EXPECT_EQ(high->resumed_from, 4);
  EXPECT_EQ(high->cooldown_steps, 4);  // No step of the lower rung is repeated.
  EXPECT_EQ(Losses("whole"), Losses("rungs"));
  EXPECT_EQ(Result("whole")["ap"], Result("rungs")["ap"]);
  EXPECT_EQ(Events(Lines(dir_ / "rungs"), "eval").size(), 2u);  // The lower rung's reading is kept.

  // A wsd run may be extended: its schedule does not depend on its length.
  TrainOptions longer = rung;
  longer.steps = 10;
  absl::StatusOr<TrainResult> extended = Train(*train_, *val_, longer);
  ASSERT_TRUE(extended.ok()) << extended.status();
  EXPECT_EQ(extended->steps_done, 10);
}

TEST_F(TrainTest, ReadingsNeedTheirScheduleOrAverage) {
  TrainOptions o = Options("run");
  o.reading = Reading::kCooldown;
  EXPECT_NE(Train(*train_, *val_, o).status().message().find("reading cooldown"), std::string::npos);
  o = Options("run");
  o.reading = Reading::kEma;
  EXPECT_NE(Train(*train_, *val_, o).status().message().find("reading ema"), std::string::npos);
  o = Wsd(Options("run"));
  o.readings = {8};
  EXPECT_NE(Train(*train_, *val_, o).status().message().find("readings"), std::string::npos);
}

TEST_F(TrainTest, ResumeRefusesAnotherRunsCheckpointAndFreshRunsRefuseToOverwrite) {
  TrainOptions o = Options("run");
  o.stop_after = 2;
  ASSERT_TRUE(Train(*train_, *val_, o).ok());
  // A fresh start into the same folder would destroy the run.
  TrainOptions again = Options("run");
  EXPECT_EQ(Train(*train_, *val_, again).status().code(), absl::StatusCode::kAlreadyExists);
  // Resuming with a different learning rate is another run.
  TrainOptions other = Options("run");
  other.resume = true;
  other.lr = 1e-2;
  const absl::Status s = Train(*train_, *val_, other).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("lr"), std::string::npos) << s;
  // Resuming a folder without a checkpoint.
  TrainOptions none = Options("empty");
  none.resume = true;
  EXPECT_EQ(Train(*train_, *val_, none).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TrainTest, MaxUpWithOneCopyIsPlainTrainingBitForBit) {
  TrainOptions plain = Options("plain");
  plain.stochastic_depth = 0.2;
  TrainOptions scored = Options("scored");
  scored.stochastic_depth = 0.2;
  scored.maxup_score_always = true;  // Runs the scoring pass, which must leave no trace.
  ASSERT_TRUE(Train(*train_, *val_, plain).ok());
  ASSERT_TRUE(Train(*train_, *val_, scored).ok());
  EXPECT_EQ(Losses("plain"), Losses("scored"));
  EXPECT_EQ(Result("plain")["ap"], Result("scored")["ap"]);
}

// A data seed draws the images (order and augmentation) apart from the seed that initializes the
// network: the seed's own value is the default, another one changes the run, it is recorded, and a
// run with one resumes bit for bit.
TEST_F(TrainTest, TheDataSeedDrawsTheImagesApartFromTheInitialization) {
  TrainOptions implicit = Options("implicit");
  TrainOptions explicit_same = Options("explicit");
  explicit_same.data_seed = explicit_same.seed;
  TrainOptions other = Options("other");
  other.data_seed = 9;
  for (const TrainOptions* o : {&implicit, &explicit_same, &other}) ASSERT_TRUE(Train(*train_, *val_, *o).ok());
  EXPECT_EQ(Losses("implicit"), Losses("explicit"));
  EXPECT_NE(Losses("implicit").front(), Losses("other").front());
  EXPECT_FALSE(Result("implicit").contains("data_seed"));
  EXPECT_EQ(Result("other")["data_seed"], 9);
  EXPECT_EQ(Result("other")["seed"], 7);

  TrainOptions resumed = Options("full");
  resumed.data_seed = 9;
  ExpectAResumedRunRepeatsTheUninterruptedOne(resumed);
}

TEST_F(TrainTest, DivergenceEndsTheRunWithItsStep) {
  TrainOptions o = Options("run");
  o.optimizer = OptimizerKind::kSgd;
  o.lr = 1e30;
  o.warmup_steps = 0;
  o.clip_norm = 0;
  absl::StatusOr<TrainResult> r = Train(*train_, *val_, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, v1::TRAIN_DIVERGED);
  EXPECT_GE(r->diverged_step, 2);
  const json result = Result("run");
  EXPECT_EQ(result["status"], "diverged");
  EXPECT_EQ(result["diverged_step"], r->diverged_step);
  EXPECT_TRUE(result["ap"].is_null());
}

TEST_F(TrainTest, BadOptionsNameTheOption) {
  TrainOptions o = Options("run");
  o.warmup_steps = 6;
  EXPECT_NE(Train(*train_, *val_, o).status().message().find("warmup"), std::string::npos);
  o = Options("run");
  o.maxup = 0;
  EXPECT_NE(Train(*train_, *val_, o).status().message().find("maxup"), std::string::npos);
}

TEST(LearningRate, DefaultsFollowThePapersSgdRecipeAndTheProxysAdamW) {
  EXPECT_DOUBLE_EQ(DefaultLearningRate(OptimizerKind::kSgd, 256), 0.28);
  EXPECT_DOUBLE_EQ(DefaultLearningRate(OptimizerKind::kSgd, 64), 0.07);
  EXPECT_DOUBLE_EQ(DefaultLearningRate(OptimizerKind::kAdamW, 64), 2e-3);
  EXPECT_DOUBLE_EQ(DefaultWeightDecay(OptimizerKind::kSgd), 4e-5);
  EXPECT_DOUBLE_EQ(DefaultWeightDecay(OptimizerKind::kAdamW), 1e-4);
}

TEST(LearningRate, WarmsUpLinearlyThenFollowsCosineOrSteps) {
  TrainOptions o;
  o.lr = 1.0;
  o.steps = 110;
  o.warmup_steps = 10;
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 0), 0.1);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 9), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 10), 1.0);
  EXPECT_NEAR(LearningRateAt(o, 60), 0.5, 1e-12);
  EXPECT_NEAR(LearningRateAt(o, 109), 0.5 * (1 + std::cos(M_PI * 99 / 100)), 1e-12);
  o.schedule = ScheduleKind::kStep;
  o.decay_at = {0.5, 0.9};
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 54), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 55), 0.1);
  EXPECT_NEAR(LearningRateAt(o, 99), 0.01, 1e-15);
  o.schedule = ScheduleKind::kWsd;
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 9), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 109), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 100000), 1.0);
  o.cooldown_fraction = 0.1;
  EXPECT_EQ(CooldownSteps(o, 300), 30);
  EXPECT_EQ(CooldownSteps(o, 4), 1);
  EXPECT_DOUBLE_EQ(CooldownLearningRate(o, 0, 4), 1.0);
  EXPECT_DOUBLE_EQ(CooldownLearningRate(o, 3, 4), 0.25);
}

TEST(MaxUp, ChoosesTheCopyWithTheLargestLossAndLeavesTheModelUnchanged) {
  torch::manual_seed(3);
  const int size = 64;
  const search_spaces::ResolvedGraph graph = test_util::ProxySpineNet49(size);
  DetectorOptions options;
  options.head = test_util::ProxyHead();
  Detector model(graph, options);
  model->train();
  std::vector<int> levels;
  for (const search_spaces::Endpoint& e : graph.endpoints) levels.push_back(e.level);
  AnchorOptions anchor_options;
  anchor_options.base_scale = 2;
  const AnchorSet anchors = GenerateAnchors({size, size}, levels, anchor_options, torch::TensorOptions());
  const int copies = 4, batch = 3;
  std::vector<at::Tensor> images;
  std::vector<std::vector<ImageTargets>> targets;
  for (int c = 0; c < copies; ++c) {
    images.push_back(torch::randn({batch, 3, size, size}));
    std::vector<ImageTargets> t;
    for (int i = 0; i < batch; ++i) {
      const float x = 4.0f + 6.0f * c + i, w = 12.0f + 5.0f * c;
      t.push_back({torch::tensor({x, x, x + w, x + w}).reshape({1, 4}), torch::tensor({(c + i) % 3}, torch::kInt64)});
    }
    targets.push_back(t);
  }
  const std::vector<at::Tensor> before = model->buffers();
  std::vector<at::Tensor> saved;
  for (const at::Tensor& b : before) saved.push_back(b.clone());
  const LossOptions loss_options;
  const MaxUpChoice choice = SelectWorstCopies(model, images, targets, anchors, loss_options);
  for (size_t k = 0; k < before.size(); ++k) EXPECT_TRUE(torch::equal(before[k], saved[k])) << "buffer " << k;
  ASSERT_EQ(choice.losses.sizes(), (std::vector<int64_t>{copies, batch}));

  // Score each copy on its own: the same losses, and the chosen copy's is the largest.
  for (int i = 0; i < batch; ++i) {
    std::vector<double> own;
    for (int c = 0; c < copies; ++c) {
      const MaxUpChoice single =
          SelectWorstCopies(model, {images[c]}, {targets[c]}, anchors, loss_options);  // Same batch statistics.
      own.push_back(single.losses[0][i].item<double>());
      EXPECT_NEAR(own.back(), choice.losses[c][i].item<double>(), 1e-5) << "copy " << c << " image " << i;
    }
    const int64_t chosen = choice.chosen[i].item<int64_t>();
    for (int c = 0; c < copies; ++c) EXPECT_GE(own[chosen], own[c]) << "image " << i;
  }
}

}  // namespace
}  // namespace vertebra::worker
