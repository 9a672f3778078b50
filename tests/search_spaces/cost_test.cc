#include "search_spaces/cost.h"

#include <cmath>
#include <string>

#include "gtest/gtest.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"

namespace vertebra::search_spaces {
namespace {

Cost CostOf(const std::string& name, int size, std::optional<HeadOptions> head = std::nullopt) {
  absl::StatusOr<v1::ArchSpec> spec = ReferenceArch(name);
  EXPECT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<ResolvedGraph> graph = Resolve(*spec, size, size);
  EXPECT_TRUE(graph.ok()) << graph.status();
  return CountCost(*graph, head);
}

// spinenet.md §5.6: the exact backbone totals a faithful builder reproduces.
TEST(CostTest, ReferenceBackboneParametersToTheUnit) {
  EXPECT_EQ(CostOf("spinenet-49s", 640).backbone_params, 9089215);
  EXPECT_EQ(CostOf("spinenet-49", 640).backbone_params, 21831488);
  EXPECT_EQ(CostOf("spinenet-96", 1024).backbone_params, 36262976);
  EXPECT_EQ(CostOf("spinenet-143", 1280).backbone_params, 60247616);
  EXPECT_EQ(CostOf("spinenet-190", 1280).backbone_params, 126587664);
}

TEST(CostTest, ComponentsAddUp) {
  const Cost c = CostOf("spinenet-49", 640, HeadOptions{});
  EXPECT_EQ(c.backbone_params, c.stem_params + c.resample_params + c.block_params + c.endpoint_params);
  EXPECT_EQ(c.backbone_macs, c.stem_macs + c.resample_macs + c.block_macs + c.endpoint_macs);
  EXPECT_EQ(c.total_params, c.backbone_params + c.head_params);
  EXPECT_EQ(c.total_macs, c.backbone_macs + c.head_macs);
}

// The RetinaNet head of the reference (91 classes x 9 anchors, 4 x 256, per-level BN): 6.71 M,
// giving the published 28.5 M total for SpineNet-49.
TEST(CostTest, RetinaNetHeadParameters) {
  const Cost c = CostOf("spinenet-49", 640, HeadOptions{});
  // 8 convs 3x3 256->256 with bias, class conv 256 -> 819, box conv 256 -> 36, 5 x 8 BNs.
  const int64_t expected = 8 * (9 * 256 * 256 + 256) + (9 * 256 * 819 + 819) + (9 * 256 * 36 + 36) +
                           5 * 8 * 2 * 256;
  EXPECT_EQ(c.head_params, expected);
  EXPECT_NEAR(c.total_params / 1e6, 28.5, 0.05);
}

// Paper Table 2: 85.4 B multiply-adds for SpineNet-49 + RetinaNet at 640, within 0.5 %.
TEST(CostTest, SpineNet49MultiplyAddsMatchThePaper) {
  const Cost c = CostOf("spinenet-49", 640, HeadOptions{});
  EXPECT_NEAR(c.total_macs / 85.4e9, 1.0, 0.005) << c.total_macs;
}

TEST(CostTest, LargerModelsMultiplyAddsNearPublished) {
  // Published: 265.4 B (96 @1024), 524.4 B (143 @1280); 190 uses a 7 x 512 head: 1885 B.
  EXPECT_NEAR(CostOf("spinenet-96", 1024, HeadOptions{}).total_macs / 265.4e9, 1.0, 0.01);
  EXPECT_NEAR(CostOf("spinenet-143", 1280, HeadOptions{}).total_macs / 524.4e9, 1.0, 0.01);
  HeadOptions big;
  big.width = 512;
  big.num_convs = 7;
  EXPECT_NEAR(CostOf("spinenet-190", 1280, big).total_macs / 1885e9, 1.0, 0.01);
  EXPECT_NEAR(CostOf("spinenet-190", 1280, big).total_params / 163.6e6, 1.0, 0.005);
}

// The ablation baseline must cost about what SpineNet-49 costs, or the comparison is unfair.
TEST(CostTest, ScaleDecreasedWithinFifteenPercentOfSpineNet49) {
  const double ratio = static_cast<double>(CostOf("scale-decreased-49", 640).backbone_macs) /
                       CostOf("spinenet-49", 640).backbone_macs;
  EXPECT_NEAR(ratio, 1.0, 0.15) << ratio;
}

TEST(CostTest, ParametersDoNotDependOnInputSizeAndMacsScaleWithArea) {
  const Cost small = CostOf("spinenet-49", 256, HeadOptions{});
  const Cost large = CostOf("spinenet-49", 512, HeadOptions{});
  EXPECT_EQ(small.total_params, large.total_params);
  // 256 and 512 are multiples of 128: every level's area grows exactly 4x.
  EXPECT_EQ(4 * small.total_macs, large.total_macs);
}

TEST(CostTest, HeadFirstConvReadsTheEndpointWidth) {
  absl::StatusOr<v1::ArchSpec> spec = ReferenceArch("spinenet-49");
  spec->mutable_scaling()->set_endpoint_filters(64);
  absl::StatusOr<ResolvedGraph> graph = Resolve(*spec, 128, 128);
  ASSERT_TRUE(graph.ok());
  HeadOptions head;
  head.width = 32;
  head.num_convs = 2;
  head.num_classes = 3;
  head.norm = HeadNorm::kNone;
  const Cost c = CountCost(*graph, head);
  const int64_t per_subnet = (9 * 64 * 32 + 32) + (9 * 32 * 32 + 32);
  EXPECT_EQ(c.head_params, 2 * per_subnet + (9 * 32 * 27 + 27) + (9 * 32 * 36 + 36));
  head.norm = HeadNorm::kGroupNorm;  // One GN per conv, shared by the levels.
  EXPECT_EQ(CountCost(*graph, head).head_params - c.head_params, 2 * 2 * 2 * 32);
}

}  // namespace
}  // namespace vertebra::search_spaces
