#include "search_spaces/features.h"

#include <string>

#include "gtest/gtest.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"

namespace vertebra::search_spaces {
namespace {

ArchFeatureVector FeaturesOf(const v1::ArchSpec& spec) {
  absl::StatusOr<ResolvedGraph> graph = Resolve(spec, 256, 256);
  EXPECT_TRUE(graph.ok()) << graph.status();
  return ArchFeatures(*graph, CountCost(*graph));
}

double Named(const ArchFeatureVector& f, std::string_view name) {
  for (int i = 0; i < kNumArchFeatures; ++i) {
    if (ArchFeatureNames()[i] == name) return f[i];
  }
  ADD_FAILURE() << "no feature " << name;
  return 0;
}

TEST(FeaturesTest, ScalePermutedAgainstScaleDecreased) {
  const ArchFeatureVector permuted = FeaturesOf(*ReferenceArch("spinenet-49"));
  const ArchFeatureVector decreased = FeaturesOf(*ReferenceArch("scale-decreased-49"));
  EXPECT_GT(Named(permuted, "permuted"), 0.2);
  EXPECT_EQ(Named(decreased, "permuted"), 0);
  EXPECT_EQ(Named(permuted, "dead"), 0);
  EXPECT_EQ(Named(decreased, "dead"), 0);
  // The same blocks at the same levels: the level mix and block types agree.
  EXPECT_DOUBLE_EQ(Named(permuted, "mean_level"), Named(decreased, "mean_level"));
  EXPECT_DOUBLE_EQ(Named(permuted, "bottleneck"), Named(decreased, "bottleneck"));
}

// A P3 output whose parents are the first two blocks (L7 and L6), with no unread L3 map before it
// to take as an extra parent, is upsampled 3 levels: 3 / 5 outputs on average.
TEST(FeaturesTest, UpsampledOutput) {
  v1::ArchSpec spec = *ReferenceArch("spinenet-49");
  spec.clear_blocks();
  const int levels[] = {7, 6, 4, 4, 5, 3, 4, 5, 6, 7};
  for (int k = 0; k < 10; ++k) {
    v1::Block* b = spec.add_blocks();
    b->set_level(levels[k]);
    b->set_type(v1::RESIDUAL);
    b->add_parents(k == 0 ? 0 : k);  // The previous feature.
    b->add_parents(k == 0 ? 1 : 0);
    b->set_output(k >= 5);
  }
  // P3 (row 5) reads rows 0 and 1 (features 2 and 3: L7 and L6).
  spec.mutable_blocks(5)->set_parents(0, 2);
  spec.mutable_blocks(5)->set_parents(1, 3);
  const ArchFeatureVector f = FeaturesOf(spec);
  EXPECT_DOUBLE_EQ(Named(f, "output_upsample"), 3.0 / 5);
  EXPECT_GT(Named(f, "log_macs"), 6);
  EXPECT_EQ(ArchFeatureNames().size(), static_cast<size_t>(kNumArchFeatures));
}

}  // namespace
}  // namespace vertebra::search_spaces
