#include "search_spaces/resolve.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search_spaces/family.h"

namespace vertebra::search_spaces {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ResolvedGraph ResolveOk(const v1::ArchSpec& spec, int h, int w) {
  absl::StatusOr<ResolvedGraph> g = Resolve(spec, h, w);
  EXPECT_TRUE(g.ok()) << g.status();
  return *std::move(g);
}

// spinenet.md §2.1: levels, channels and sizes of every feature of SpineNet-49 at 640.
TEST(ResolveTest, SpineNet49FeaturesMatchTheReferenceTable) {
  const ResolvedGraph g = ResolveOk(SpineNet49(), 640, 640);
  ASSERT_EQ(g.features.size(), 17u);
  const int channels[] = {256, 256, 256, 256, 512, 1024, 256, 1024, 256, 256, 1024, 1024, 1024, 512, 1024, 1024, 1024};
  const int sizes[] = {160, 160, 160, 40, 80, 40, 10, 40, 20, 5, 20, 20, 40, 80, 20, 5, 10};
  for (int i = 0; i < 17; ++i) {
    EXPECT_EQ(g.features[i].channels, channels[i]) << "feature " << i;
    EXPECT_EQ(g.features[i].size.height, sizes[i]) << "feature " << i;
    EXPECT_EQ(g.features[i].size.width, sizes[i]) << "feature " << i;
  }
  ASSERT_EQ(g.endpoints.size(), 5u);
  EXPECT_EQ(g.endpoints[0].level, 3);
  EXPECT_EQ(g.endpoints[0].feature, 13);
  EXPECT_EQ(g.endpoints[2].feature, 14);
  EXPECT_TRUE(g.warnings.empty());
}

// spinenet.md §3.3: exactly one extra merge, feature 11 into the P5 block (feature 14).
TEST(ResolveTest, SpineNet49HasExactlyOneExtraParent) {
  const ResolvedGraph g = ResolveOk(SpineNet49(), 640, 640);
  int merges = 0;
  for (const ResolvedBlock& b : g.blocks) {
    merges += static_cast<int>(b.extra_parents.size());
    if (b.feature.index == 14) EXPECT_THAT(b.extra_parents, ElementsAre(11));
  }
  EXPECT_EQ(merges, 1);
}

TEST(ResolveTest, ResamplingOfEachEdge) {
  const ResolvedGraph g = ResolveOk(SpineNet49(), 640, 640);
  // Block 7 (feature 9, L7 residual) reads feature 6 (L6 residual) and feature 8 (L5 residual).
  const ResolvedBlock& b = g.blocks[7];
  const ResampleEdge& from6 = b.edges[0];
  EXPECT_EQ(from6.parent, 6);
  EXPECT_EQ(from6.squeeze_channels, 128);  // int(256 x 0.5): a residual parent's own width.
  EXPECT_TRUE(from6.strided_conv);
  EXPECT_EQ(from6.max_pools, 0);
  const ResampleEdge& from8 = b.edges[1];
  EXPECT_TRUE(from8.strided_conv);
  EXPECT_EQ(from8.max_pools, 1);  // Two levels down: one 3x3/2 conv, then one max-pool.
  EXPECT_EQ(from8.out_channels, 256);
  // Block 2 (feature 4, L3 bottleneck) reads feature 3 (L4 residual): upsampling.
  const ResampleEdge& up = g.blocks[2].edges[1];
  EXPECT_TRUE(up.upsample);
  EXPECT_FALSE(up.strided_conv);
  EXPECT_EQ(up.squeeze_channels, 128);
  EXPECT_EQ(up.out_channels, 512);
  // A bottleneck parent squeezes from its inner width: feature 5 is 1024 channels, inner 256.
  EXPECT_EQ(g.blocks[3].edges[1].squeeze_channels, 64);  // Feature 4: inner 128 x 0.5.
}

// Sizes that do not divide by 128 work: every level is ceil(input / 2^level).
TEST(ResolveTest, AnyInputSizeUsesCeilingPerLevel) {
  const ResolvedGraph g = ResolveOk(SpineNet49(), 100, 333);
  EXPECT_EQ(g.stem.conv_size.height, 50);
  EXPECT_EQ(g.stem.conv_size.width, 167);
  EXPECT_EQ(g.stem.pool_size.width, 84);
  for (const Endpoint& e : g.endpoints) {
    EXPECT_EQ(e.size.height, (100 + (1 << e.level) - 1) >> e.level);
    EXPECT_EQ(e.size.width, (333 + (1 << e.level) - 1) >> e.level);
  }
  // Upsampling targets the exact size of the block, not parent x 2^k.
  for (const ResolvedBlock& b : g.blocks) {
    for (const ResampleEdge& e : b.edges) EXPECT_EQ(e.out_size, b.feature.size);
  }
  EXPECT_THAT(Resolve(SpineNet49(), 0, 10).status().message(), HasSubstr("input size must be positive"));
}

TEST(ResolveTest, InvalidSpecIsRejected) {
  v1::ArchSpec spec = SpineNet49();
  spec.mutable_blocks(3)->set_level(9);
  EXPECT_THAT(Resolve(spec, 640, 640).status().message(), HasSubstr("blocks[3].level"));
}

TEST(ResolveTest, DeadBlocksAreWarnedNotRejected) {
  v1::ArchSpec spec = SpineNet49();
  // Re-point the only consumer of feature 6 (block 6 reads 6 and 7; block 7 reads 6 and 8) away
  // from it: feature 6 then feeds nothing that reaches an output.
  spec.mutable_blocks(6)->set_parents(0, 5);
  spec.mutable_blocks(7)->set_parents(0, 5);
  const ResolvedGraph g = ResolveOk(spec, 256, 256);
  ASSERT_EQ(g.warnings.size(), 1u);
  EXPECT_THAT(g.warnings[0], HasSubstr("blocks[4] (feature 6, L6 residual) reaches no output"));
  EXPECT_FALSE(g.blocks[4].reaches_endpoint);
}

TEST(ResolveTest, RepeatsAndWidthsFollowTheScaling) {
  const ResolvedGraph g = ResolveOk(*ReferenceArch("spinenet-49s"), 640, 640);
  EXPECT_EQ(g.stem.inner_width, 41);  // int(64 x 0.65)
  EXPECT_EQ(g.features[4].inner_width, 83);
  EXPECT_EQ(g.features[5].inner_width, 166);
  EXPECT_EQ(g.endpoints[0].filters, 128);
  EXPECT_EQ(ResolveOk(*ReferenceArch("spinenet-143"), 1280, 1280).blocks[0].repeats, 3);
}

}  // namespace
}  // namespace vertebra::search_spaces
