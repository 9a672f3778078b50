// COCO bbox evaluation: each rule of detection.md §2 on a case small enough to work out by hand,
// the file formats, and (where /usr/bin/python3 has pycocotools) agreement with pycocotools on
// random sets.
//
// Arithmetic used below: pr = tp / (fp + tp + eps) with eps = 2^-52. For tp = 1, fp = 0 that is
// 1 / (1 + 2^-52), which rounds to 1 - 2^-52 = 0.9999999999999998; for tp + fp >= 2 the eps is
// lost in the addition (2 + 2^-52 rounds to 2), so 1/2, 2/3, 20/21 ... come out as those doubles.
// A lone true positive therefore scores 0.9999999999999998, not 1, in pycocotools as here.
#include "eval/coco_eval.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "eval/coco_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vertebra::eval {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// 1 - 2^-52: the precision of a lone true positive (see the top of the file).
constexpr double kLoneTp = 1 - 0x1p-52;
// For means of many equal terms, where the rounding of the sum is numpy's business.
constexpr double kTol = 1e-12;

Annotation Gt(int64_t id, int64_t image, int64_t category, Box box, double area = -1, bool crowd = false) {
  Annotation a;
  a.id = id;
  a.image_id = image;
  a.category_id = category;
  a.bbox = box;
  a.area = area < 0 ? box.w * box.h : area;
  a.iscrowd = crowd;
  return a;
}

Detection Det(int64_t image, int64_t category, Box box, double score) {
  Detection d;
  d.image_id = image;
  d.category_id = category;
  d.bbox = box;
  d.score = score;
  return d;
}

// Images 1..num_images of size x size pixels, categories 1..num_categories.
GroundTruth MakeGt(std::vector<Annotation> annotations, int num_images = 1, int num_categories = 1,
                   int64_t size = 1000) {
  GroundTruth gt;
  for (int i = 1; i <= num_images; ++i) gt.images.push_back(Image{i, size, size, absl::StrFormat("%d.jpg", i)});
  for (int c = 1; c <= num_categories; ++c) gt.categories.push_back(Category{c, absl::StrFormat("c%d", c)});
  gt.annotations = std::move(annotations);
  EXPECT_TRUE(ValidateGroundTruth(gt).ok()) << ValidateGroundTruth(gt);
  return gt;
}

// ---- parameters -------------------------------------------------------------------------------

TEST(CocoParamsTest, IouThresholdsAreNumpyLinspace) {
  const std::array<double, 10>& t = IouThresholds();
  EXPECT_EQ(t[0], 0.5);
  EXPECT_EQ(t[1], 0.55);
  EXPECT_EQ(t[5], 0.75);  // summarize() finds AP75's threshold by ==.
  EXPECT_EQ(t[8], 0.8999999999999999);
  EXPECT_LT(t[8], 0.9);  // 0.5 + 8 * (0.45 / 9) rounds below the double 0.9.
  EXPECT_EQ(t[9], 0.95);
}

TEST(CocoParamsTest, RecallPointsAreIToTimes0_01) {
  const std::array<double, 101>& r = RecallThresholds();
  for (int i = 0; i < 101; ++i) EXPECT_EQ(r[i], i == 100 ? 1.0 : i * 0.01) << i;
  EXPECT_EQ(r[35], 0.35000000000000003);
  EXPECT_GT(r[35], 0.35);       // 35 * 0.01 is not 35 / 100 ...
  EXPECT_EQ(7.0 / 20.0, 0.35);  // ... which is what a recall of 7 of 20 gives.
  EXPECT_EQ(r[50], 0.5);
}

TEST(CocoParamsTest, BoxIouIsBbIou) {
  const Box g{0, 0, 10, 10};
  EXPECT_EQ(BoxIou(g, g, false), 1.0);
  EXPECT_EQ(BoxIou({20, 20, 5, 5}, g, false), 0.0);
  EXPECT_EQ(BoxIou({10, 0, 5, 10}, g, false), 0.0);  // Touching edges: no +1 pixel convention.
  EXPECT_EQ(BoxIou({5, 0, 10, 10}, g, false), 50.0 / 150.0);
  // Crowd: the union is the detection's area, so a detection inside a crowd region scores 1.
  EXPECT_EQ(BoxIou({2, 2, 4, 4}, g, true), 1.0);
  EXPECT_EQ(BoxIou({5, 0, 10, 10}, g, true), 0.5);
  // 90 / 100 rounds to the double 0.9; a power-of-two box gives 0.8999999999999999 exactly.
  EXPECT_EQ(BoxIou({0, 0, 10, 9}, g, false), 0.9);
  EXPECT_EQ(BoxIou({0, 0, 16, 16 * IouThresholds()[8]}, {0, 0, 16, 16}, false), 0.8999999999999999);
}

// ---- evaluation rules -------------------------------------------------------------------------

// Two images, one object each, found exactly. Image 1: pr = [1 - 2^-52], image 2 (lower score)
// pr = [.., 2 / (2 + eps) = 1]; the envelope lifts the first to 1, so every precision entry is
// exactly 1 and so is the mean. Both objects are small (area 400): medium and large have no GT.
TEST(CocoEvalTest, PerfectDetectionsGiveOne) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {10, 10, 20, 20}), Gt(2, 2, 1, {50, 60, 20, 20})}, 2);
  const CocoStats s = Evaluate(gt, {Det(1, 1, {10, 10, 20, 20}, 0.9), Det(2, 1, {50, 60, 20, 20}, 0.8)});
  EXPECT_EQ(s.ap, 1.0);
  EXPECT_EQ(s.ap50, 1.0);
  EXPECT_EQ(s.ap75, 1.0);
  EXPECT_EQ(s.ap_small, 1.0);
  EXPECT_EQ(s.ap_medium, -1.0);
  EXPECT_EQ(s.ap_large, -1.0);
  EXPECT_EQ(s.ar1, 1.0);  // One detection per image is enough: maxDets counts per image.
  EXPECT_EQ(s.ar10, 1.0);
  EXPECT_EQ(s.ar100, 1.0);
  EXPECT_EQ(s.ar_small, 1.0);
  EXPECT_EQ(s.ar_medium, -1.0);
  EXPECT_EQ(s.ar_large, -1.0);
}

// One object, one exact detection: every precision entry is 1 - 2^-52 and so is their mean.
TEST(CocoEvalTest, LoneTruePositiveIsOneMinusEps) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {10, 10, 20, 20})});
  const CocoStats s = Evaluate(gt, {Det(1, 1, {10, 10, 20, 20}, 0.9)});
  EXPECT_EQ(s.ap, kLoneTp);
  EXPECT_EQ(s.ar100, 1.0);
}

// FP (score .9) then TP (.8), one object of area 100: tp = [0, 1], fp = [1, 1], rc = [0, 1],
// pr = [0, 1/2]; envelope [1/2, 1/2]. Recall point 0 takes index 0, the others index 1: every
// entry is 1/2, so AP = AP50 = AP75 = APs = 0.5 exactly. AR1 sees only the FP: 0.
TEST(CocoEvalTest, FalsePositiveAboveTruePositive) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 10, 10})});
  const CocoStats s = Evaluate(gt, {Det(1, 1, {50, 50, 10, 10}, 0.9), Det(1, 1, {0, 0, 10, 10}, 0.8)});
  EXPECT_EQ(s.ap, 0.5);
  EXPECT_EQ(s.ap50, 0.5);
  EXPECT_EQ(s.ap75, 0.5);
  EXPECT_EQ(s.ap_small, 0.5);
  EXPECT_EQ(s.ap_medium, -1.0);
  EXPECT_EQ(s.ap_large, -1.0);
  EXPECT_EQ(s.ar1, 0.0);
  EXPECT_EQ(s.ar10, 1.0);
  EXPECT_EQ(s.ar100, 1.0);
  EXPECT_EQ(s.ar_small, 1.0);
  EXPECT_EQ(s.ar_medium, -1.0);
}

// Equal scores in one image keep file order (stable mergesort): FP first is the case above
// (AP 0.5); TP first gives rc = [1, 1], pr = [1 - 2^-52, 1/2], every recall point at index 0.
TEST(CocoEvalTest, ScoreTiesInOneImageKeepFileOrder) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 10, 10})});
  const Detection fp = Det(1, 1, {50, 50, 10, 10}, 0.5);
  const Detection tp = Det(1, 1, {0, 0, 10, 10}, 0.5);
  EXPECT_EQ(Evaluate(gt, {fp, tp}).ap, 0.5);
  EXPECT_EQ(Evaluate(gt, {tp, fp}).ap, kLoneTp);
  // AR1 keeps whichever comes first.
  EXPECT_EQ(Evaluate(gt, {fp, tp}).ar1, 0.0);
  EXPECT_EQ(Evaluate(gt, {tp, fp}).ar1, 1.0);
}

// Across images, equal scores follow image id order, not file order. GT lists image 2 first; the
// file lists the TP in image 2 first. accumulate() concatenates image 1 (FP) then image 2 (TP):
// rc = [0, 1/2], pr = [0, 1/2], envelope [1/2, 1/2]. Points 0..50 (r_50 = 0.5) give 1/2, points
// 51..100 find no index and give 0: AP = 51 * 0.5 / 101. (File order would give 51 / 101.)
TEST(CocoEvalTest, ScoreTiesAcrossImagesFollowImageIds) {
  GroundTruth gt;
  gt.images = {Image{2, 100, 100, ""}, Image{1, 100, 100, ""}};
  gt.categories = {Category{1, "a"}};
  gt.annotations = {Gt(1, 2, 1, {0, 0, 10, 10}), Gt(2, 1, 1, {0, 0, 10, 10})};
  ASSERT_TRUE(ValidateGroundTruth(gt).ok());
  const CocoStats s = Evaluate(gt, {Det(2, 1, {0, 0, 10, 10}, 0.5), Det(1, 1, {50, 50, 10, 10}, 0.5)});
  EXPECT_NEAR(s.ap, 51 * 0.5 / 101, kTol);
  EXPECT_EQ(s.ar100, 0.5);
}

// A crowd region (listed first) and one object N. d1 and d2 lie inside the crowd: IoU =
// intersection / detection area = 1, both match it (a crowd is never used up) and are ignored.
// d3 hits N, d4 is a FP. Counted: TP then FP: rc = [1, 1], pr = [1 - 2^-52, 1/2]: AP = 1 - 2^-52.
// (If crowd matches counted as FPs, AP would be 1/3; if the crowd took one detection, 1/2.)
TEST(CocoEvalTest, CrowdAbsorbsDetectionsWhichAreIgnored) {
  const GroundTruth gt =
      MakeGt({Gt(1, 1, 1, {0, 0, 100, 100}, 10000, /*crowd=*/true), Gt(2, 1, 1, {150, 150, 20, 20})});
  const CocoStats s = Evaluate(gt, {Det(1, 1, {0, 0, 10, 10}, 0.9), Det(1, 1, {50, 50, 10, 10}, 0.8),
                                    Det(1, 1, {150, 150, 20, 20}, 0.7), Det(1, 1, {250, 250, 10, 10}, 0.6)});
  EXPECT_EQ(s.ap, kLoneTp);
  EXPECT_EQ(s.ar100, 1.0);
  EXPECT_EQ(s.ap_large, -1.0);  // The crowd is large but always ignored: no GT there.
}

// A crowd C (listed first, IoU 1 with the detection) and an object N (IoU 100 / 120 = 0.833).
// Ignored GTs are visited last, and only when no non-ignored GT reaches the threshold: at
// thresholds .5 .. .8 (7 of 10) the detection is a TP of N; at .85, .9-, .95 it falls to C and is
// ignored, leaving N unfound (precision 0, recall 0). AP = 7 * (1 - 2^-52) / 10, AR = 0.7.
TEST(CocoEvalTest, ObjectsAreMatchedBeforeCrowds) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 10, 10}, 100, /*crowd=*/true), Gt(2, 1, 1, {0, 0, 10, 12})});
  const CocoStats s = Evaluate(gt, {Det(1, 1, {0, 0, 10, 10}, 0.9)});
  EXPECT_NEAR(s.ap, 0.7, kTol);
  // A mean of 101 copies of 1 - 2^-52 need not be 1 - 2^-52 (numpy gives 1 - 2^-53).
  EXPECT_NEAR(s.ap50, 1.0, kTol);
  EXPECT_NEAR(s.ap75, 1.0, kTol);
  EXPECT_NEAR(s.ar100, 0.7, kTol);
}

// g1 = [0,0,10,20], g2 = [0,0,20,10]. d1 = [0,0,10,10] has IoU 0.5 with both; at threshold .5 the
// later one (g2) wins the tie. d2 = [0,0,20,10] then finds g2 taken and g1 at IoU 1/3: a FP.
// AP50: rc = [1/2, 1/2], pr = [1 - 2^-52, 1/2]: points 0..50 give 1 - 2^-52, the rest 0, so
// AP50 = 51 (1 - 2^-52) / 101. (Had g1 won, d2 would match g2 and AP50 would be 1.)
TEST(CocoEvalTest, LaterGtWinsEqualIou) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 10, 20}), Gt(2, 1, 1, {0, 0, 20, 10})});
  const CocoStats s = Evaluate(gt, {Det(1, 1, {0, 0, 10, 10}, 0.9), Det(1, 1, {0, 0, 20, 10}, 0.8)});
  EXPECT_NEAR(s.ap50, 51 * kLoneTp / 101, kTol);
  EXPECT_EQ(s.ar100, 0.5);  // One of two found at every threshold.
}

// IoU 0.9 (= 90 / 100) passes 9 thresholds (0.9 >= 0.8999999999999999) and fails 0.95: AP and AR
// are 0.9. An IoU of exactly 0.8999999999999999 (power-of-two box) also passes the 9th threshold,
// which only numpy's value of it allows: with the double 0.9 there, AP and AR would be 0.8.
TEST(CocoEvalTest, NinthThresholdIsLinspacesValue) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 10, 10})});
  const CocoStats a = Evaluate(gt, {Det(1, 1, {0, 0, 10, 9}, 0.9)});
  EXPECT_NEAR(a.ap, 9 * kLoneTp / 10, kTol);
  EXPECT_NEAR(a.ar100, 0.9, kTol);
  EXPECT_NEAR(a.ap75, 1.0, kTol);

  const GroundTruth gt16 = MakeGt({Gt(1, 1, 1, {0, 0, 16, 16})});
  const Box just_below{0, 0, 16, 16 * IouThresholds()[8]};
  ASSERT_EQ(BoxIou(just_below, gt16.annotations[0].bbox, false), IouThresholds()[8]);
  const CocoStats b = Evaluate(gt16, {Det(1, 1, just_below, 0.9)});
  EXPECT_NEAR(b.ap, 9 * kLoneTp / 10, kTol);
  EXPECT_NEAR(b.ar100, 0.9, kTol);
}

// 20 objects; 7 TPs, a FP, then 13 TPs (21 detections, exact boxes). rc after the 7th TP is
// 7/20 = 0.35 (the double just below 0.35000000000000003). pr: 1 - 2^-52, then 1 (x6), 7/8 (the
// FP), then 8/9 .. 20/21 increasing: envelope 1 over indices 0..6 and 20/21 from index 7 on.
// Points 0..34 reach index <= 6: precision 1. Point 35 is 0.35000000000000003 > 0.35, so its
// first index is 8 (rc 0.4): 20/21, as for points 36..100. Per threshold: (35 + 66 * 20/21) / 101.
// With points i / 100, point 35 would be 0.35, reach index 6 and give 1: (36 + 65 * 20/21) / 101.
TEST(CocoEvalTest, RecallPointsAreIToTimes0_01) {
  std::vector<Annotation> objects;
  std::vector<Detection> dets;
  for (int i = 0; i < 20; ++i) objects.push_back(Gt(i + 1, 1, 1, {40.0 * i, 0, 10, 10}));
  for (int i = 0; i < 20; ++i) {
    if (i == 7) dets.push_back(Det(1, 1, {900, 50, 10, 10}, 1.0 - 0.01 * i + 0.005));  // Between TPs 7 and 8.
    dets.push_back(Det(1, 1, {40.0 * i, 0, 10, 10}, 1.0 - 0.01 * i));
  }
  const CocoStats s = Evaluate(MakeGt(objects), dets);
  const double expected = (35 + 66 * (20.0 / 21.0)) / 101;
  const double with_i_over_100 = (36 + 65 * (20.0 / 21.0)) / 101;
  EXPECT_NEAR(s.ap, expected, kTol);
  EXPECT_NEAR(s.ap50, expected, kTol);
  EXPECT_GT(std::abs(expected - with_i_over_100), 1e-4);
  EXPECT_EQ(s.ar100, 1.0);
}

// 100 FPs score above the only TP of one (image, category): the TP is 101st and never counts,
// so AP = AR100 = 0 exactly (counted, it would give 1/101).
TEST(CocoEvalTest, OnlyTheTop100OfAnImageAndCategoryCount) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 10, 10})});
  std::vector<Detection> dets(100, Det(1, 1, {500, 500, 10, 10}, 0.9));
  dets.push_back(Det(1, 1, {0, 0, 10, 10}, 0.1));
  const CocoStats s = Evaluate(gt, dets);
  EXPECT_EQ(s.ap, 0.0);
  EXPECT_EQ(s.ar100, 0.0);
}

// The cap is per (image, category), not per image: two categories in one image, each with 99 FPs
// above its TP (the 100th). Each: pr at the TP = 1 / (100 + eps) = 0.01, rc = 1, envelope 0.01
// everywhere: AP = 0.01, AR100 = 1; the TP is past the 1st and 10th: AR1 = AR10 = 0. A cap of 100
// over the image's 200 detections would keep only FPs (AP 0).
TEST(CocoEvalTest, CapIsPerCategoryNotPerImage) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 10, 10}), Gt(2, 1, 2, {100, 100, 10, 10})}, 1, 2);
  std::vector<Detection> dets;
  for (int c = 1; c <= 2; ++c) {
    for (int i = 0; i < 99; ++i) dets.push_back(Det(1, c, {500, 500, 10, 10}, 0.9));
  }
  dets.push_back(Det(1, 1, {0, 0, 10, 10}, 0.1));
  dets.push_back(Det(1, 2, {100, 100, 10, 10}, 0.1));
  const CocoStats s = Evaluate(gt, dets);
  EXPECT_NEAR(s.ap, 0.01, kTol);
  EXPECT_EQ(s.ar100, 1.0);
  EXPECT_EQ(s.ar10, 0.0);
  EXPECT_EQ(s.ar1, 0.0);
}

// A 40 x 40 box (w * h = 1600, medium) whose area field is 1024: the field decides, and 1024 is
// both small (<= 32^2) and medium (>= 32^2). The detection (area 1600) is matched, so its own area
// does not matter. Large has no GT: -1.
TEST(CocoEvalTest, AreaFieldDecidesAndRangesAreInclusive) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 40, 40}, 1024)});
  const CocoStats s = Evaluate(gt, {Det(1, 1, {0, 0, 40, 40}, 0.9)});
  EXPECT_EQ(s.ap_small, kLoneTp);
  EXPECT_EQ(s.ap_medium, kLoneTp);
  EXPECT_EQ(s.ap_large, -1.0);
  EXPECT_EQ(s.ar_small, 1.0);
  EXPECT_EQ(s.ar_medium, 1.0);
  EXPECT_EQ(s.ar_large, -1.0);
}

// g1 = 20 x 20 box with area 5000 (medium only), g2 = 10 x 10 with area 100 (small). Detections:
// F (50 x 50, area 2500, hits nothing, .9), D1 on g1 (.8), D2 on g2 (.7).
//  all:    F, D1, D2 = FP, TP, TP; rc [0, 1/2, 1], pr [0, 1/2, 2/3]: envelope 2/3 everywhere.
//  small:  g1 ignored (5000 > 1024). F unmatched and 2500 is outside: ignored. D1 matches the
//          ignored g1: ignored. D2 TP: AP 1 - 2^-52.
//  medium: g2 ignored. F is a FP (2500 is medium), D1 TP, D2 matches g2: ignored. AP 0.5.
//  large:  no GT: -1.
TEST(CocoEvalTest, IgnoredMatchesAndOutOfRangeFalsePositives) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 20, 20}, 5000), Gt(2, 1, 1, {300, 300, 10, 10}, 100)});
  const CocoStats s = Evaluate(
      gt, {Det(1, 1, {200, 200, 50, 50}, 0.9), Det(1, 1, {0, 0, 20, 20}, 0.8), Det(1, 1, {300, 300, 10, 10}, 0.7)});
  EXPECT_NEAR(s.ap, 2.0 / 3.0, kTol);
  EXPECT_EQ(s.ap_small, kLoneTp);
  EXPECT_EQ(s.ap_medium, 0.5);
  EXPECT_EQ(s.ap_large, -1.0);
  EXPECT_EQ(s.ar1, 0.0);  // Only F.
  EXPECT_EQ(s.ar10, 1.0);
  EXPECT_EQ(s.ar_small, 1.0);
  EXPECT_EQ(s.ar_medium, 1.0);
  EXPECT_EQ(s.ar_large, -1.0);
}

// Category 1: two objects found exactly (precision 1 everywhere, as in PerfectDetectionsGiveOne).
// Category 2 has detections but no GT, category 3 nothing: both stay -1 and are left out of the
// means, so AP is 1, not 1/2 or 1/3.
TEST(CocoEvalTest, CategoriesWithoutGroundTruthAreLeftOut) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {10, 10, 20, 20}), Gt(2, 2, 1, {50, 60, 20, 20})}, 2, 3);
  const CocoStats s = Evaluate(gt, {Det(1, 1, {10, 10, 20, 20}, 0.9), Det(2, 1, {50, 60, 20, 20}, 0.8),
                                    Det(1, 2, {10, 10, 20, 20}, 0.95), Det(2, 2, {0, 0, 5, 5}, 0.3)});
  EXPECT_EQ(s.ap, 1.0);
  EXPECT_EQ(s.ar100, 1.0);
  // Detections of a category the GT does not have are dropped.
  const CocoStats t = Evaluate(
      gt, {Det(1, 1, {10, 10, 20, 20}, 0.9), Det(2, 1, {50, 60, 20, 20}, 0.8), Det(1, 7, {10, 10, 20, 20}, 0.95)});
  EXPECT_EQ(t.ap, 1.0);
}

// No detections: every (category, area) with GT has precision and recall 0, the rest -1.
TEST(CocoEvalTest, EmptyDetections) {
  const GroundTruth gt = MakeGt({Gt(1, 1, 1, {0, 0, 10, 10})});
  const std::array<double, kNumCocoStats> s = Evaluate(gt, {}).AsArray();
  //                                          AP AP50 AP75 APs APm APl AR1 AR10 AR100 ARs ARm ARl
  const std::array<double, kNumCocoStats> expected = {0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1};
  EXPECT_EQ(s, expected);
  // No GT at all: nothing to average anywhere.
  const std::array<double, kNumCocoStats> none = Evaluate(MakeGt({}), {}).AsArray();
  for (double v : none) EXPECT_EQ(v, -1.0);
  const std::array<double, kNumCocoStats> only_dets = Evaluate(MakeGt({}), {Det(1, 1, {0, 0, 5, 5}, 1)}).AsArray();
  for (double v : only_dets) EXPECT_EQ(v, -1.0);
}

// Three objects; detections by rank: TP, FP, TP, 8 x FP, TP. The first 1 hold one TP, the first
// 10 two, all three: AR1 = 1/3, AR10 = 2/3, AR100 = 1 (the same at every threshold).
TEST(CocoEvalTest, RecallAtOneTenAndHundredDetections) {
  const GroundTruth gt =
      MakeGt({Gt(1, 1, 1, {0, 0, 10, 10}), Gt(2, 1, 1, {100, 0, 10, 10}), Gt(3, 1, 1, {200, 0, 10, 10})});
  std::vector<Detection> dets;
  const auto add = [&dets](Box b) { dets.push_back(Det(1, 1, b, 1.0 - 0.01 * dets.size())); };
  add({0, 0, 10, 10});
  add({500, 500, 10, 10});
  add({100, 0, 10, 10});
  for (int i = 0; i < 8; ++i) add({500, 500, 10, 10});
  add({200, 0, 10, 10});
  const CocoStats s = Evaluate(gt, dets);
  EXPECT_NEAR(s.ar1, 1.0 / 3, kTol);
  EXPECT_NEAR(s.ar10, 2.0 / 3, kTol);
  EXPECT_EQ(s.ar100, 1.0);
}

TEST(CocoEvalTest, SummaryLinesMatchPycocotools) {
  CocoStats s;
  s.ap = 0.51234;
  s.ap50 = 0.7;
  s.ar1 = 0.25;
  s.ar_medium = 0.0;
  const std::vector<std::string> lines = absl::StrSplit(FormatSummary(s), '\n');
  ASSERT_EQ(lines.size(), 13u);  // Twelve lines, each ending in '\n'.
  EXPECT_EQ(lines[0], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.512");
  EXPECT_EQ(lines[1], " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.700");
  EXPECT_EQ(lines[2], " Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = -1.000");
  EXPECT_EQ(lines[3], " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000");
  EXPECT_EQ(lines[4], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000");
  EXPECT_EQ(lines[6], " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.250");
  EXPECT_EQ(lines[7], " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = -1.000");
  EXPECT_EQ(lines[10], " Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.000");
  EXPECT_EQ(lines[11], " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000");
  EXPECT_EQ(lines[12], "");
}

// ---- validation and files ---------------------------------------------------------------------

constexpr char kInstances[] = R"({
  "info": {"year": 2017}, "licenses": [],
  "images": [{"id": 7, "width": 100, "height": 50, "file_name": "a.jpg", "license": 1},
             {"id": 3, "width": 20, "height": 20}],
  "categories": [{"id": 2, "name": "cat", "supercategory": "animal"}, {"id": 5}],
  "annotations": [
    {"id": 11, "image_id": 7, "category_id": 2, "bbox": [10, 5.5, 30, 20], "area": 512.5, "iscrowd": 0,
     "segmentation": [[10, 5.5, 40, 5.5, 40, 25.5]]},
    {"id": 12, "image_id": 3, "category_id": 5, "bbox": [0, 0, 20, 20], "area": 400, "iscrowd": true}]
})";

// The message of the InvalidArgument that parsing `text` must give.
std::string InstancesError(const std::string& text) {
  absl::StatusOr<GroundTruth> gt = ParseCocoInstances(text);
  EXPECT_FALSE(gt.ok()) << text;
  if (gt.ok()) return "";
  EXPECT_TRUE(absl::IsInvalidArgument(gt.status())) << gt.status();
  return std::string(gt.status().message());
}

// kInstances with its annotations replaced.
std::string WithAnnotations(const std::string& annotations) {
  return absl::StrFormat(
      R"({"images": [{"id": 7, "width": 100, "height": 50}], "categories": [{"id": 2, "name": "c"}],
          "annotations": [%s]})",
      annotations);
}

TEST(CocoJsonTest, ParsesInstances) {
  absl::StatusOr<GroundTruth> gt = ParseCocoInstances(kInstances);
  ASSERT_TRUE(gt.ok()) << gt.status();
  ASSERT_EQ(gt->images.size(), 2u);
  EXPECT_EQ(gt->images[0].id, 7);
  EXPECT_EQ(gt->images[0].width, 100);
  EXPECT_EQ(gt->images[0].height, 50);
  EXPECT_EQ(gt->images[0].file_name, "a.jpg");
  EXPECT_EQ(gt->images[1].file_name, "");
  ASSERT_EQ(gt->categories.size(), 2u);
  EXPECT_EQ(gt->categories[0].name, "cat");
  EXPECT_EQ(gt->categories[1].name, "");
  ASSERT_EQ(gt->annotations.size(), 2u);
  const Annotation& a = gt->annotations[0];
  EXPECT_EQ(a.id, 11);
  EXPECT_EQ(a.image_id, 7);
  EXPECT_EQ(a.category_id, 2);
  EXPECT_EQ(a.bbox.y, 5.5);
  EXPECT_EQ(a.bbox.w, 30);
  EXPECT_EQ(a.area, 512.5);
  EXPECT_FALSE(a.iscrowd);
  EXPECT_TRUE(gt->annotations[1].iscrowd);
}

TEST(CocoJsonTest, RejectsBadInstances) {
  EXPECT_THAT(InstancesError("{\"images\": ["), HasSubstr("malformed JSON"));
  EXPECT_THAT(InstancesError("[]"), HasSubstr("must be an object"));
  EXPECT_THAT(InstancesError(R"({"images": [{"id": 1, "width": 1e400, "height": 5}], "categories": [],
                                 "annotations": []})"),
              HasSubstr("images[0].width: number overflow parsing '1e400'"));
  EXPECT_THAT(InstancesError(R"({"images": [], "categories": []})"), HasSubstr("'annotations'"));
  EXPECT_THAT(InstancesError(R"({"images": [{"id": 1, "height": 5}], "categories": [], "annotations": []})"),
              HasSubstr("image 1: 'width' is missing"));
  EXPECT_THAT(InstancesError(R"({"images": [{"id": 1, "width": 0, "height": 5}], "categories": [],
                                 "annotations": []})"),
              HasSubstr("image 1: width and height must be positive"));
  EXPECT_THAT(InstancesError(R"({"images": [{"id": 1, "width": 9, "height": 5}, {"id": 1, "width": 9, "height": 5}],
                                 "categories": [], "annotations": []})"),
              HasSubstr("image id 1 appears more than once"));
  EXPECT_THAT(InstancesError(R"({"images": [], "categories": [{"id": 4}, {"id": 4}], "annotations": []})"),
              HasSubstr("category id 4 appears more than once"));

  // Annotations of image 7 (100 x 50), category 2; `rest` completes a valid one.
  const auto annotation_error = [](const std::string& fields) {
    return InstancesError(WithAnnotations("{" + fields + "}"));
  };
  const std::string rest = R"("image_id": 7, "category_id": 2, "area": 10, "iscrowd": 0)";
  EXPECT_THAT(annotation_error(R"("bbox": [0, 0, 1, 1], )" + rest), HasSubstr("annotations[0]: 'id' is missing"));
  EXPECT_THAT(annotation_error(R"("id": "9", "bbox": [0, 0, 1, 1], )" + rest),
              HasSubstr("annotations[0]: 'id' must be an integer"));
  EXPECT_THAT(annotation_error(R"("id": 9, "bbox": [0, 0, 1, 1], "image_id": 7, "category_id": 2, "iscrowd": 0)"),
              HasSubstr("annotation 9: 'area' is missing"));
  EXPECT_THAT(annotation_error(R"("id": 9, "bbox": [0, 0, 1], )" + rest),
              HasSubstr("annotation 9: 'bbox' must be 4 numbers"));
  EXPECT_THAT(
      annotation_error(R"("id": 9, "bbox": [0, 0, 1, 1], "image_id": 7, "category_id": 2, "area": 1, "iscrowd": 2)"),
      HasSubstr("annotation 9: 'iscrowd' must be 0 or 1"));
  EXPECT_THAT(annotation_error(R"("id": 9, "bbox": [0, 0, 0, 1], )" + rest),
              HasSubstr("annotation 9: bbox width and height must be positive"));
  EXPECT_THAT(annotation_error(R"("id": 9, "bbox": [0, 0, 5, -1], )" + rest),
              HasSubstr("annotation 9: bbox width and height must be positive"));
  EXPECT_THAT(annotation_error(R"("id": 9, "bbox": [90, 0, 11, 5], )" + rest),
              HasSubstr("annotation 9: bbox [90, 0, 11, 5] reaches outside its 100 x 50 image 7"));
  EXPECT_THAT(annotation_error(R"("id": 9, "bbox": [0, -1, 5, 5], )" + rest), HasSubstr("reaches outside"));
  EXPECT_THAT(
      annotation_error(R"("id": 9, "bbox": [0, 0, 5, 5], "image_id": 8, "category_id": 2, "area": 1, "iscrowd": 0)"),
      HasSubstr("annotation 9: image_id 8 is not an image"));
  EXPECT_THAT(
      annotation_error(R"("id": 9, "bbox": [0, 0, 5, 5], "image_id": 7, "category_id": 3, "area": 1, "iscrowd": 0)"),
      HasSubstr("annotation 9: category_id 3 is not a category"));
  EXPECT_THAT(
      annotation_error(R"("id": 9, "bbox": [0, 0, 5, 5], )" + rest + R"(}, {"id": 9, "bbox": [1, 1, 5, 5], )" + rest),
      HasSubstr("annotation 9: id appears more than once"));
  EXPECT_THAT(annotation_error(R"("id": 0, "bbox": [0, 0, 5, 5], )" + rest),
              HasSubstr("annotation 0: id must be >= 1"));
  EXPECT_THAT(
      annotation_error(R"("id": 9, "bbox": [0, 0, 5, 5], "image_id": 7, "category_id": 2, "area": -3, "iscrowd": 0)"),
      HasSubstr("annotation 9: area must be a finite number >= 0"));
  // Float rounding at the border is tolerated.
  EXPECT_TRUE(ParseCocoInstances(WithAnnotations(R"({"id": 9, "bbox": [0, 0, 100.0000001, 50], )" + rest + "}")).ok());
}

TEST(CocoJsonTest, ParsesResults) {
  absl::StatusOr<GroundTruth> gt = ParseCocoInstances(kInstances);
  ASSERT_TRUE(gt.ok()) << gt.status();
  absl::StatusOr<std::vector<Detection>> dets = ParseCocoResults(
      R"([{"image_id": 7, "category_id": 2, "bbox": [1, 2, 3, 4.5], "score": 0.25},
          {"image_id": 3, "category_id": 99, "bbox": [1, 2, 3, 4], "score": 0.5},
          {"image_id": 3, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 1, "segmentation": []}])",
      *gt);
  ASSERT_TRUE(dets.ok()) << dets.status();
  ASSERT_EQ(dets->size(), 2u);  // Category 99 is not in the GT: dropped.
  EXPECT_EQ((*dets)[0].image_id, 7);
  EXPECT_EQ((*dets)[0].category_id, 2);
  EXPECT_EQ((*dets)[0].bbox.h, 4.5);
  EXPECT_EQ((*dets)[0].score, 0.25);
  EXPECT_EQ((*dets)[1].category_id, 5);
  absl::StatusOr<std::vector<Detection>> empty = ParseCocoResults("[]", *gt);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

TEST(CocoJsonTest, RejectsBadResults) {
  absl::StatusOr<GroundTruth> gt = ParseCocoInstances(kInstances);
  ASSERT_TRUE(gt.ok()) << gt.status();
  const auto error = [&gt](const std::string& text) {
    absl::StatusOr<std::vector<Detection>> dets = ParseCocoResults(text, *gt);
    EXPECT_FALSE(dets.ok()) << text;
    return dets.ok() ? std::string() : std::string(dets.status().message());
  };
  EXPECT_THAT(error(R"({"image_id": 7})"), HasSubstr("must be an array"));
  EXPECT_THAT(error("[1, 2"), HasSubstr("malformed JSON"));
  // pycocotools asserts every result is on a GT image, whatever its category.
  EXPECT_THAT(error(R"([{"image_id": 7, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.2},
                        {"image_id": 42, "category_id": 99, "bbox": [1, 2, 3, 4], "score": 0.2}])"),
              HasSubstr("results[1]: image_id 42 is not an image of the ground truth"));
  EXPECT_THAT(error(R"([{"image_id": 7, "category_id": 2, "bbox": [1, 2, 3, 4]}])"),
              HasSubstr("results[0]: 'score' is missing"));
  EXPECT_THAT(error(R"([{"image_id": 7, "category_id": 2, "bbox": "x", "score": 1}])"),
              HasSubstr("results[0]: 'bbox' must be 4 numbers"));
}

std::string WriteTemp(const std::string& name, const std::string& contents) {
  const std::string path = absl::StrFormat("%scoco_eval_test_%d_%s", testing::TempDir(), getpid(), name);
  std::ofstream(path) << contents;
  return path;
}

TEST(CocoJsonTest, FileErrorsNameThePath) {
  absl::StatusOr<GroundTruth> missing = ReadCocoInstancesFile("/nonexistent/gt.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(std::string(missing.status().message()), StartsWith("/nonexistent/gt.json: "));

  const std::string bad = WriteTemp("bad_gt.json", "{");
  absl::StatusOr<GroundTruth> malformed = ReadCocoInstancesFile(bad);
  ASSERT_FALSE(malformed.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(malformed.status()));
  EXPECT_THAT(std::string(malformed.status().message()), StartsWith(bad + ": malformed JSON"));

  const std::string good = WriteTemp("gt.json", kInstances);
  absl::StatusOr<GroundTruth> gt = ReadCocoInstancesFile(good);
  ASSERT_TRUE(gt.ok()) << gt.status();
  const std::string dets = WriteTemp("dets.json", R"([{"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1],
                                                        "score": 1}])");
  absl::StatusOr<std::vector<Detection>> results = ReadCocoResultsFile(dets, *gt);
  ASSERT_FALSE(results.ok());
  EXPECT_THAT(std::string(results.status().message()), StartsWith(dets + ": results[0]: image_id 1"));
  std::remove(bad.c_str());
  std::remove(good.c_str());
  std::remove(dets.c_str());
}

// ---- agreement with pycocotools ---------------------------------------------------------------

#ifndef VERTEBRA_PYCOCOTOOLS_SCRIPT
#error "tests/CMakeLists.txt defines VERTEBRA_PYCOCOTOOLS_SCRIPT"
#endif
constexpr char kPython[] = "/usr/bin/python3";
// Random sets to compare; each takes pycocotools some milliseconds.
constexpr int kNumRandomSets = 300;

using nlohmann::json;

// A value drawn from one of the forms real files hold: integers, halves, two decimals, or any double.
double Coordinate(std::mt19937_64& rng, double lo, double hi) {
  const double v = std::uniform_real_distribution<double>(lo, hi)(rng);
  switch (rng() % 4) {
    case 0:
      return std::floor(v);
    case 1:
      return std::floor(v * 2) / 2;
    case 2:
      return std::floor(v * 100) / 100;
    default:
      return v;
  }
}

// One random ground truth and results file pair. Small images, ids out of order, a few categories
// (sometimes enough that numpy sums in several buffers), crowds, area fields unlike w * h and on
// the 32^2 / 96^2 boundaries, jittered and exact detections, coarse scores (ties), detections in
// categories the GT lacks, and now and then more than 100 detections in one (image, category).
std::pair<json, json> RandomSet(std::mt19937_64& rng) {
  const auto uniform = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const auto chance = [&rng](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  json images = json::array();
  json categories = json::array();
  json annotations = json::array();
  json results = json::array();
  std::vector<int> image_ids;
  std::vector<std::pair<int, int>> sizes;
  const int num_images = uniform(1, 5);
  while (static_cast<int>(image_ids.size()) < num_images) {
    const int id = uniform(1, 60);
    if (std::find(image_ids.begin(), image_ids.end(), id) != image_ids.end()) continue;
    image_ids.push_back(id);
    sizes.emplace_back(uniform(60, 400), uniform(60, 400));
    images.push_back({{"id", id}, {"width", sizes.back().first}, {"height", sizes.back().second}});
  }
  std::vector<int> category_ids;
  const int num_categories = chance(0.2) ? uniform(9, 14) : uniform(1, 4);
  while (static_cast<int>(category_ids.size()) < num_categories) {
    const int id = uniform(1, 90);
    if (std::find(category_ids.begin(), category_ids.end(), id) != category_ids.end()) continue;
    category_ids.push_back(id);
    categories.push_back({{"id", id}, {"name", absl::StrFormat("c%d", id)}});
  }
  const auto score = [&]() -> double {
    if (chance(0.5)) return uniform(1, 9) / 10.0;
    return std::uniform_real_distribution<double>(0, 1)(rng);
  };
  const auto add_det = [&](int image, int category, double x, double y, double w, double h) {
    results.push_back({{"image_id", image}, {"category_id", category}, {"bbox", {x, y, w, h}}, {"score", score()}});
  };
  int next_id = 1;
  for (size_t i = 0; i < image_ids.size(); ++i) {
    const double width = sizes[i].first;
    const double height = sizes[i].second;
    for (int category : category_ids) {
      if (chance(0.4)) continue;
      const int num_gts = uniform(0, 6);
      for (int g = 0; g < num_gts; ++g) {
        const double max_side = chance(0.5) ? 40 : (chance(0.5) ? 110 : 300);
        const double w = std::max(1.0, Coordinate(rng, 1, std::min(max_side, width)));
        const double h = std::max(1.0, Coordinate(rng, 1, std::min(max_side, height)));
        const double x = Coordinate(rng, 0, width - w);
        const double y = Coordinate(rng, 0, height - h);
        double area = w * h;
        if (chance(0.3)) area = std::floor(area * std::uniform_real_distribution<double>(0.3, 1.0)(rng));
        if (chance(0.1)) area = chance(0.5) ? 1024 : 9216;
        const bool crowd = chance(0.1);
        annotations.push_back({{"id", next_id++},
                               {"image_id", image_ids[i]},
                               {"category_id", category},
                               {"bbox", {x, y, w, h}},
                               {"area", area},
                               {"iscrowd", crowd ? 1 : 0}});
        const int copies = uniform(0, 2);
        for (int c = 0; c < copies; ++c) {
          if (chance(0.3)) {
            add_det(image_ids[i], category, x, y, w, h);
            continue;
          }
          const double s = chance(0.5) ? 0.05 : 0.2;
          std::normal_distribution<double> jitter(0, s);
          const double dw = std::max(0.5, w * (1 + jitter(rng)));
          const double dh = std::max(0.5, h * (1 + jitter(rng)));
          add_det(image_ids[i], category, std::floor((x + w * jitter(rng)) * 100) / 100,
                  std::floor((y + h * jitter(rng)) * 100) / 100, dw, dh);
        }
      }
      const int false_positives = chance(0.05) ? uniform(95, 130) : uniform(0, 4);
      for (int f = 0; f < false_positives; ++f) {
        const double w = Coordinate(rng, 1, 120);
        const double h = Coordinate(rng, 1, 120);
        add_det(image_ids[i], category, Coordinate(rng, 0, width), Coordinate(rng, 0, height), w, h);
      }
    }
    if (chance(0.2)) add_det(image_ids[i], 1000 + uniform(0, 5), 1, 1, 10, 10);  // Unknown category.
  }
  // pycocotools' loadRes cannot take an empty list.
  if (results.empty()) add_det(image_ids[0], category_ids[0], 0, 0, 10, 10);
  json gt = {{"images", images}, {"categories", categories}, {"annotations", annotations}};
  return {gt, results};
}

TEST(CocoEvalPycocotoolsTest, MatchesPycocotoolsOnRandomSets) {
  if (std::system(absl::StrFormat("%s -c 'import pycocotools' >/dev/null 2>&1", kPython).c_str()) != 0) {
    GTEST_SKIP() << kPython << " has no pycocotools";
  }
  const std::string dir = absl::StrFormat("%scoco_eval_test_%d", testing::TempDir(), getpid());
  ASSERT_EQ(std::system(absl::StrFormat("mkdir -p '%s'", dir).c_str()), 0);
  std::mt19937_64 rng(20240611);
  std::vector<CocoStats> ours;
  for (int i = 0; i < kNumRandomSets; ++i) {
    const auto [gt_json, results_json] = RandomSet(rng);
    const std::string gt_text = gt_json.dump();
    const std::string results_text = results_json.dump();
    std::ofstream(absl::StrFormat("%s/gt_%d.json", dir, i)) << gt_text;
    std::ofstream(absl::StrFormat("%s/dt_%d.json", dir, i)) << results_text;
    absl::StatusOr<GroundTruth> gt = ParseCocoInstances(gt_text);
    ASSERT_TRUE(gt.ok()) << gt.status();
    absl::StatusOr<std::vector<Detection>> dets = ParseCocoResults(results_text, *gt);
    ASSERT_TRUE(dets.ok()) << dets.status();
    ours.push_back(Evaluate(*gt, *dets));
  }
  const std::string out = dir + "/stats.json";
  const std::string command =
      absl::StrFormat("%s '%s' '%s' %d > '%s'", kPython, VERTEBRA_PYCOCOTOOLS_SCRIPT, dir, kNumRandomSets, out);
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream in(out);
  const json theirs = json::parse(in);
  ASSERT_EQ(theirs.size(), static_cast<size_t>(kNumRandomSets));
  int exact = 0;
  int nontrivial = 0;  // Sets whose AP is neither 0, 1 nor -1: the comparison has teeth.
  for (int i = 0; i < kNumRandomSets; ++i) {
    const std::array<double, kNumCocoStats> a = ours[i].AsArray();
    nontrivial += a[0] > 0 && a[0] < 0.999;
    bool same = true;
    for (int k = 0; k < kNumCocoStats; ++k) {
      const double b = theirs[i][k].get<double>();
      EXPECT_EQ(a[k], b) << "set " << i << " " << kCocoStatNames[k] << ": ours " << absl::StrFormat("%.17g", a[k])
                         << ", pycocotools " << absl::StrFormat("%.17g", b) << " (files in " << dir << ")";
      same = same && a[k] == b;
    }
    exact += same;
  }
  std::cout << exact << " of " << kNumRandomSets << " random sets agree with pycocotools in all 12 numbers; "
            << nontrivial << " have an AP strictly between 0 and 1\n";
  EXPECT_GT(nontrivial, kNumRandomSets / 2);
  if (exact == kNumRandomSets) std::system(absl::StrFormat("rm -rf '%s'", dir).c_str());
}

}  // namespace
}  // namespace vertebra::eval
