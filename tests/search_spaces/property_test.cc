// Properties over thousands of architectures drawn from the search space: every sample is a
// valid spec, survives the JSON form and the decision encoding with its hash, resolves at any
// input size, and prices consistently with what Resolve says is built.
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "search_spaces/arch_json.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/cost.h"
#include "search_spaces/decisions.h"
#include "search_spaces/resolve.h"

namespace vertebra::search_spaces {
namespace {

// Enough samples to meet every level, parent and type choice many times over, in well under a
// second.
constexpr int kSamples = 3000;

class PropertyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<SearchSpace> space = SearchSpace::Create(SearchSpaceOptions{});
    ASSERT_TRUE(space.ok()) << space.status();
    space_.emplace(*std::move(space));
    std::mt19937_64 rng(20200613);
    for (int i = 0; i < kSamples; ++i) {
      std::vector<int> d = space_->Sample(rng);
      absl::StatusOr<v1::ArchSpec> spec = space_->Decode(d);
      ASSERT_TRUE(spec.ok()) << "sample " << i << ": " << spec.status();
      decisions_.push_back(std::move(d));
      specs_.push_back(*std::move(spec));
    }
  }

  std::optional<SearchSpace> space_;
  std::vector<std::vector<int>> decisions_;
  std::vector<v1::ArchSpec> specs_;
};

TEST_F(PropertyTest, SamplesAreValidAndMostlyDistinct) {
  std::set<std::string> hashes;
  for (const v1::ArchSpec& spec : specs_) {
    ASSERT_TRUE(ValidateArchSpec(spec).ok()) << ValidateArchSpec(spec);
    hashes.insert(ArchHash(spec));
  }
  // The space holds ~1e30 sequences: repeats among a few thousand draws mean a broken sampler.
  EXPECT_EQ(hashes.size(), specs_.size());
}

TEST_F(PropertyTest, HashSurvivesJsonAndEncodingAndIgnoresParentOrder) {
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < specs_.size(); ++i) {
    const v1::ArchSpec& spec = specs_[i];
    const std::string hash = ArchHash(spec);
    absl::StatusOr<v1::ArchSpec> parsed = ArchSpecFromJson(ArchSpecToJson(spec, -1));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(ArchHash(*parsed), hash);

    absl::StatusOr<std::vector<int>> encoded = space_->Encode(spec);
    ASSERT_TRUE(encoded.ok()) << "sample " << i << ": " << encoded.status();
    absl::StatusOr<v1::ArchSpec> decoded = space_->Decode(*encoded);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(ArchHash(*decoded), hash) << "sample " << i;

    v1::ArchSpec shuffled = spec;
    shuffled.set_name("x");
    for (v1::Block& b : *shuffled.mutable_blocks()) {
      if (rng() % 2) std::swap(*b.mutable_parents()->Mutable(0), *b.mutable_parents()->Mutable(1));
    }
    EXPECT_EQ(ArchHash(shuffled), hash);
  }
}

TEST_F(PropertyTest, ResolvesAtAnySizeWithCeilingLevels) {
  std::mt19937_64 rng(11);
  for (size_t i = 0; i < specs_.size(); i += 10) {
    const int h = 33 + static_cast<int>(rng() % 700);
    const int w = 33 + static_cast<int>(rng() % 700);
    absl::StatusOr<ResolvedGraph> g = Resolve(specs_[i], h, w);
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_EQ(g->endpoints.size(), 5u);
    for (const Endpoint& e : g->endpoints) {
      EXPECT_EQ(e.size.height, (h + (1 << e.level) - 1) >> e.level);
      EXPECT_EQ(e.size.width, (w + (1 << e.level) - 1) >> e.level);
    }
    for (const ResolvedBlock& b : g->blocks) {
      for (const ResampleEdge& e : b.edges) {
        EXPECT_GE(e.squeeze_channels, 1);
        EXPECT_EQ(e.out_channels, b.feature.channels);
        EXPECT_EQ(e.out_size, b.feature.size);
        EXPECT_EQ(e.in_size, g->features[e.parent].size);
      }
      for (int extra : b.extra_parents) {
        EXPECT_TRUE(b.feature.is_output);
        EXPECT_EQ(g->features[extra].channels, b.feature.channels);
        EXPECT_EQ(g->features[extra].size, b.feature.size);
      }
    }
  }
}

TEST_F(PropertyTest, CostIsConsistentWithResolve) {
  for (size_t i = 0; i < specs_.size(); i += 3) {
    v1::ArchSpec spec = specs_[i];
    const Cost at256 = CountCost(*Resolve(spec, 256, 256), HeadOptions{});
    const Cost at512 = CountCost(*Resolve(spec, 512, 512), HeadOptions{});
    // Parameters do not depend on the input; multiply-adds grow exactly with the area when every
    // level divides evenly.
    EXPECT_EQ(at256.total_params, at512.total_params);
    EXPECT_EQ(4 * at256.total_macs, at512.total_macs);
    EXPECT_EQ(at256.backbone_params,
              at256.stem_params + at256.resample_params + at256.block_params + at256.endpoint_params);

    // Repeating every block twice doubles the blocks and nothing else in the permuted part.
    spec.mutable_scaling()->set_block_repeats(2);
    const Cost twice = CountCost(*Resolve(spec, 256, 256), HeadOptions{});
    EXPECT_EQ(twice.block_params, 2 * at256.block_params);
    EXPECT_EQ(twice.block_macs, 2 * at256.block_macs);
    EXPECT_EQ(twice.resample_params, at256.resample_params);
    EXPECT_EQ(twice.endpoint_params, at256.endpoint_params);

    // Wider is strictly bigger.
    spec.mutable_scaling()->set_block_repeats(1);
    spec.mutable_scaling()->set_filter_scale(1.5);
    EXPECT_GT(CountCost(*Resolve(spec, 256, 256)).backbone_params, at256.backbone_params);
  }
}

TEST_F(PropertyTest, MutationsStayValidAndChangeTheNetwork) {
  std::mt19937_64 rng(3);
  for (size_t i = 0; i < decisions_.size(); i += 5) {
    const std::vector<int> mutated = space_->Mutate(decisions_[i], rng);
    absl::StatusOr<v1::ArchSpec> spec = space_->Decode(mutated);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_NE(ArchHash(*spec), ArchHash(specs_[i]));
  }
}

}  // namespace
}  // namespace vertebra::search_spaces
