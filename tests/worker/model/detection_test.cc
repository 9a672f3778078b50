// Anchors, matching, losses, NMS and post-processing, checked by hand and against brute force.
#include "worker/model/detection.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/model/torch_util.h"

namespace vertebra::worker {
namespace {

at::Tensor Boxes(std::vector<float> v) { return torch::tensor(v).view({-1, 4}); }

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(AnchorsTest, CountSizesAndCentres) {
  AnchorOptions options;  // base 4, 3 scales, 3 ratios.
  const AnchorSet set = GenerateAnchors({100, 130}, {3, 4, 5, 6, 7}, options, torch::TensorOptions());
  int64_t expected = 0;
  for (int l = 3; l <= 7; ++l) expected += ((100 + (1 << l) - 1) >> l) * ((130 + (1 << l) - 1) >> l) * 9;
  EXPECT_EQ(set.boxes.size(0), expected);
  ASSERT_EQ(set.level_counts.size(), 5u);
  EXPECT_EQ(set.level_counts[0], 13 * 17 * 9);
  // The first cell of P3: centre (4, 4); ratio 0.5, scale 1: 32 / sqrt(0.5) wide, 32 sqrt(0.5) high.
  const at::Tensor a = set.boxes[0];
  EXPECT_NEAR((a[0] + a[2]).item<float>() / 2, 4.0, 1e-5);
  EXPECT_NEAR((a[2] - a[0]).item<float>(), 32 / std::sqrt(0.5), 1e-4);
  EXPECT_NEAR((a[3] - a[1]).item<float>(), 32 * std::sqrt(0.5), 1e-4);
  // The second anchor of a cell is the next scale: 32 x 2^(1/3).
  const at::Tensor b = set.boxes[1];
  EXPECT_NEAR((b[3] - b[1]).item<float>(), 32 * std::pow(2.0, 1.0 / 3) * std::sqrt(0.5), 1e-4);
  // The 10th anchor sits one cell to the right.
  EXPECT_NEAR((set.boxes[9][0] + set.boxes[9][2]).item<float>() / 2, 12.0, 1e-5);
}

TEST(BoxCoderTest, EncodeDecodeRoundTrip) {
  torch::manual_seed(1);
  const at::Tensor xy = torch::rand({50, 2}) * 100;
  const at::Tensor anchors = torch::cat({xy, xy + torch::rand({50, 2}) * 50 + 1}, 1);
  const at::Tensor bxy = torch::rand({50, 2}) * 100;
  const at::Tensor boxes = torch::cat({bxy, bxy + torch::rand({50, 2}) * 50 + 1}, 1);
  const at::Tensor back = DecodeBoxes(anchors, EncodeBoxes(anchors, boxes));
  EXPECT_LT((back - boxes).abs().max().item<float>(), 1e-3);
  // Hand case: anchor centre (5, 5) 10x10, box centre (6, 6) 10x20.
  const at::Tensor d = EncodeBoxes(Boxes({0, 0, 10, 10}), Boxes({1, -4, 11, 16}));
  EXPECT_NEAR(d[0][0].item<float>(), 0.1, 1e-6);
  EXPECT_NEAR(d[0][1].item<float>(), 0.1, 1e-6);
  EXPECT_NEAR(d[0][2].item<float>(), 0.0, 1e-6);
  EXPECT_NEAR(d[0][3].item<float>(), std::log(2.0), 1e-6);
}

TEST(MatchTest, ForegroundIgnoredBackgroundAndLowQuality) {
  const at::Tensor anchors = Boxes({0, 0, 10, 10,     // IoU 1 with box 0
                                    0, 0, 10, 12,     // IoU 100/120 = 0.83 with box 0
                                    0, 0, 10, 22.5,   // IoU 100/225 = 0.444: ignored
                                    50, 50, 60, 60,   // nothing: background
                                    100, 100, 130, 130});  // IoU 100/900 with box 1: its best anchor
  const at::Tensor gt = Boxes({0, 0, 10, 10, 100, 100, 110, 110});
  MatchOptions options;
  const at::Tensor m = MatchAnchors(anchors, gt, options);
  EXPECT_EQ(m[0].item<int64_t>(), 0);
  EXPECT_EQ(m[1].item<int64_t>(), 0);
  EXPECT_EQ(m[2].item<int64_t>(), kIgnored);
  EXPECT_EQ(m[3].item<int64_t>(), kBackground);
  EXPECT_EQ(m[4].item<int64_t>(), 1);  // Low-quality match: box 1 would have no anchor.
  options.allow_low_quality = false;
  EXPECT_EQ(MatchAnchors(anchors, gt, options)[4].item<int64_t>(), kBackground);
  // No ground truth: everything is background.
  const at::Tensor none = MatchAnchors(anchors, torch::zeros({0, 4}), options);
  EXPECT_TRUE((none == kBackground).all().item<bool>());
}

// One anchor, one box: the focal and box losses computed by hand.
TEST(LossTest, OneAnchorOneBoxByHand) {
  AnchorSet anchors;
  anchors.boxes = Boxes({0, 0, 10, 10});
  anchors.level_counts = {1};
  HeadOutput head;
  head.class_logits = torch::tensor({0.5f, -1.0f}).view({1, 1, 2}).requires_grad_();
  head.box_deltas = torch::tensor({0.3f, 0.1f, -0.05f, 0.0f}).view({1, 1, 4}).requires_grad_();
  ImageTargets t;
  t.boxes = Boxes({1, 1, 11, 11});  // IoU 81 / 119 = 0.68: a positive; deltas (0.1, 0.1, 0, 0).
  t.classes = torch::tensor({1}, torch::kInt64);
  LossOptions options;  // alpha 0.25, gamma 2, smooth L1 beta 0.1.
  const DetectionLoss loss = ComputeLoss(head, anchors, {t}, options);
  EXPECT_EQ(loss.num_positives, 1);
  // Class 0 is a negative at logit 0.5; class 1 the positive at logit -1.
  const double p0 = Sigmoid(0.5), p1 = Sigmoid(-1.0);
  const double negative = 0.75 * -std::log(1 - p0) * p0 * p0;
  const double positive = 0.25 * -std::log(p1) * (1 - p1) * (1 - p1);
  EXPECT_NEAR(loss.class_loss.item<double>(), negative + positive, 1e-6);
  // |diff| = (0.2, 0, 0.05, 0): 0.2 - 0.05 above beta, 0.5 x 0.05^2 / 0.1 below it.
  EXPECT_NEAR(loss.box_loss.item<double>(), 0.15 + 0.0125, 1e-6);
  EXPECT_NEAR(loss.total.item<double>(), negative + positive + 0.1625, 1e-6);
  loss.total.backward();
  EXPECT_TRUE(head.class_logits.grad().defined());
  options.box_loss = BoxLoss::kL1;
  EXPECT_NEAR(ComputeLoss(head, anchors, {t}, options).box_loss.item<double>(), 0.25, 1e-6);
}

TEST(LossTest, IgnoredAnchorsDoNotCountAndImagesWithoutBoxesWork) {
  AnchorSet anchors;
  anchors.boxes = Boxes({0, 0, 10, 22.5, 50, 50, 60, 60});  // IoU 0.444 (ignored); background.
  anchors.level_counts = {2};
  HeadOutput head;
  head.class_logits = torch::tensor({3.0f, 0.7f}).view({1, 2, 1});
  head.box_deltas = torch::zeros({1, 2, 4});
  ImageTargets t{Boxes({0, 0, 10, 10}), torch::tensor({0}, torch::kInt64)};
  LossOptions options;
  options.match.allow_low_quality = false;
  const DetectionLoss loss = ComputeLoss(head, anchors, {t}, options);
  const double p = Sigmoid(0.7);
  // Only the background anchor counts; no positives, so the normalizer is 1.
  EXPECT_NEAR(loss.class_loss.item<double>(), 0.75 * -std::log(1 - p) * p * p, 1e-6);
  EXPECT_EQ(loss.box_loss.item<double>(), 0.0);
  ImageTargets empty{torch::zeros({0, 4}), torch::zeros({0}, torch::kInt64)};
  EXPECT_EQ(ComputeLoss(head, anchors, {empty}, options).num_positives, 0);
}

// The straightforward greedy NMS, box by box.
std::vector<int64_t> BruteForceNms(const at::Tensor& boxes, const at::Tensor& scores, double threshold) {
  const int64_t n = boxes.size(0);
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  auto s = scores.accessor<float, 1>();
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  auto b = boxes.accessor<float, 2>();
  auto iou = [&](int64_t i, int64_t j) {
    const double w = std::max(0.0f, std::min(b[i][2], b[j][2]) - std::max(b[i][0], b[j][0]));
    const double h = std::max(0.0f, std::min(b[i][3], b[j][3]) - std::max(b[i][1], b[j][1]));
    const double inter = w * h;
    const double ua = (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]) + (b[j][2] - b[j][0]) * (b[j][3] - b[j][1]) - inter;
    return ua > 0 ? inter / ua : 0.0;
  };
  std::vector<int64_t> keep;
  for (int64_t i : order) {
    bool suppressed = false;
    for (int64_t k : keep) suppressed = suppressed || iou(k, i) > threshold;
    if (!suppressed) keep.push_back(i);
  }
  return keep;
}

TEST(NmsTest, MatchesBruteForceOnRandomBoxes) {
  for (int seed = 0; seed < 20; ++seed) {
    torch::manual_seed(seed);
    const int64_t n = 50 + seed * 20;
    const at::Tensor xy = torch::rand({n, 2}) * 200;
    const at::Tensor boxes = torch::cat({xy, xy + torch::rand({n, 2}) * 60 + 1}, 1);
    const at::Tensor scores = torch::rand({n});
    for (double threshold : {0.3, 0.5, 0.7}) {
      const at::Tensor kept = Nms(boxes, scores, threshold);
      const std::vector<int64_t> got(kept.data_ptr<int64_t>(), kept.data_ptr<int64_t>() + kept.numel());
      EXPECT_EQ(got, BruteForceNms(boxes, scores, threshold)) << "seed " << seed << " threshold " << threshold;
    }
  }
  EXPECT_EQ(Nms(torch::zeros({0, 4}), torch::zeros({0}), 0.5).numel(), 0);
}

// Postprocess keeps 100 of up to 5,000 candidates: stopping there must not change which 100.
TEST(NmsTest, StoppingAtMaxKeepGivesTheFirstBoxesOfTheFullAnswer) {
  for (int seed = 0; seed < 6; ++seed) {
    torch::manual_seed(seed);
    const int64_t n = 700 + seed * 300;  // Several blocks of rows.
    const at::Tensor xy = torch::rand({n, 2}) * 400;
    const at::Tensor boxes = torch::cat({xy, xy + torch::rand({n, 2}) * 60 + 1}, 1);
    const at::Tensor scores = torch::rand({n});
    const at::Tensor all = Nms(boxes, scores, 0.5);
    ASSERT_GT(all.numel(), 300) << seed;
    for (int64_t max_keep : {1, 100, 257, 300}) {
      const at::Tensor some = Nms(boxes, scores, 0.5, max_keep);
      ASSERT_EQ(some.numel(), max_keep) << seed;
      EXPECT_TRUE(torch::equal(some, all.slice(0, 0, max_keep))) << "seed " << seed << " max_keep " << max_keep;
    }
    EXPECT_TRUE(torch::equal(Nms(boxes, scores, 0.5, 100000), all)) << seed;
    // Crowded candidates, as a weak detector's: fewer than max_keep survive.
    const at::Tensor near = torch::rand({n, 2}) * 40;
    const at::Tensor crowded = torch::cat({near, near + torch::rand({n, 2}) * 60 + 20}, 1);
    const at::Tensor crowded_all = Nms(crowded, scores, 0.5);
    ASSERT_LT(crowded_all.numel(), 100) << seed;
    EXPECT_TRUE(torch::equal(Nms(crowded, scores, 0.5, 100), crowded_all)) << seed;
  }
}

TEST(NmsTest, ClassesDoNotSuppressEachOther) {
  const at::Tensor boxes = Boxes({0, 0, 10, 10, 0, 0, 10, 10, 1, 1, 10, 10});
  const at::Tensor scores = torch::tensor({0.9f, 0.8f, 0.7f});
  const at::Tensor kept = BatchedNms(boxes, scores, torch::tensor({0, 1, 0}, torch::kInt64), 0.5);
  EXPECT_EQ(kept.numel(), 2);
  EXPECT_EQ(kept[0].item<int64_t>(), 0);
  EXPECT_EQ(kept[1].item<int64_t>(), 1);
}

TEST(PostprocessTest, ThresholdNmsCapAndOriginalCoordinates) {
  AnchorSet anchors;
  anchors.boxes = Boxes({10, 10, 30, 30, 12, 12, 32, 32, 60, 60, 100, 100, 0, 0, 4, 4});
  anchors.level_counts = {2, 2};
  HeadOutput head;
  // Two classes; anchor 1 overlaps anchor 0 in class 0 (suppressed); anchor 3 is below threshold.
  head.class_logits = torch::tensor({4.0f, -9.0f, 3.0f, -9.0f, -9.0f, 2.0f, -9.0f, -9.0f}).view({1, 4, 2});
  head.box_deltas = torch::zeros({1, 4, 4});
  ImageMeta meta;
  meta.scale = 2.0;  // The network saw the image at twice its size.
  meta.original = {40, 45};
  PostprocessOptions options;
  const std::vector<Detections> out = Postprocess(head, anchors, {meta}, options);
  ASSERT_EQ(out.size(), 1u);
  const Detections& d = out[0];
  ASSERT_EQ(d.scores.numel(), 2);
  EXPECT_NEAR(d.scores[0].item<float>(), Sigmoid(4.0), 1e-6);
  EXPECT_EQ(d.classes[0].item<int64_t>(), 0);
  EXPECT_EQ(d.classes[1].item<int64_t>(), 1);
  // Anchor 0 mapped back: /2.
  EXPECT_TRUE(torch::allclose(d.boxes[0], torch::tensor({5.0f, 5.0f, 15.0f, 15.0f})));
  // Anchor 2 mapped back is (30, 30, 50, 50), clipped to the 45 x 40 image.
  EXPECT_TRUE(torch::allclose(d.boxes[1], torch::tensor({30.0f, 30.0f, 45.0f, 40.0f})));
  options.max_detections = 1;
  EXPECT_EQ(Postprocess(head, anchors, {meta}, options)[0].scores.numel(), 1);
}

TEST(TorchUtilTest, ExceptionsBecomeStatuses) {
  const absl::Status shape = GuardTorch([]() -> absl::Status {
    (void)torch::matmul(torch::ones({2, 3}), torch::ones({2, 3}));
    return absl::OkStatus();
  });
  EXPECT_FALSE(shape.ok());
  EXPECT_THAT(std::string(shape.message()), ::testing::HasSubstr("torch:"));
  EXPECT_TRUE(absl::IsResourceExhausted(StatusFromException(std::bad_alloc())));
  EXPECT_TRUE(absl::IsResourceExhausted(
      StatusFromException(std::runtime_error("CUDA out of memory. Tried to allocate 2.00 GiB"))));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseDevice("tpu:0").status()));
  EXPECT_TRUE(ParseDevice("cpu").ok());
  if (!CudaAvailable()) EXPECT_TRUE(absl::IsFailedPrecondition(ParseDevice("cuda:0").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(SetNumThreads(0)));
}

// On CUDA the loss and post-processing agree with the CPU. Skips without a GPU.
TEST(CudaTest, LossAndNmsMatchTheCpu) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(3);
  const AnchorSet cpu_anchors = GenerateAnchors({64, 64}, {3, 4, 5, 6, 7}, AnchorOptions{}, torch::TensorOptions());
  const int64_t n = cpu_anchors.boxes.size(0);
  HeadOutput head{torch::randn({2, n, 3}), torch::randn({2, n, 4}) * 0.1};
  std::vector<ImageTargets> targets = {{Boxes({4, 4, 40, 30}), torch::tensor({2}, torch::kInt64)},
                                       {Boxes({10, 10, 20, 50, 30, 0, 60, 20}), torch::tensor({0, 1}, torch::kInt64)}};
  const DetectionLoss cpu = ComputeLoss(head, cpu_anchors, targets, LossOptions{});
  const torch::Device cuda(torch::kCUDA, 0);
  AnchorSet gpu_anchors{cpu_anchors.boxes.to(cuda), cpu_anchors.level_counts};
  HeadOutput gpu_head{head.class_logits.to(cuda), head.box_deltas.to(cuda)};
  const DetectionLoss gpu = ComputeLoss(gpu_head, gpu_anchors, targets, LossOptions{});
  EXPECT_NEAR(cpu.total.item<double>(), gpu.total.item<double>(), 1e-4);
  const at::Tensor boxes = DecodeBoxes(cpu_anchors.boxes, head.box_deltas[0]);
  const at::Tensor scores = torch::rand({n});
  EXPECT_TRUE(torch::equal(Nms(boxes, scores, 0.5), Nms(boxes.to(cuda), scores.to(cuda), 0.5).cpu()));
}

}  // namespace
}  // namespace vertebra::worker
