#include "search_spaces/decisions.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/family.h"

namespace vertebra::search_spaces {
namespace {

using ::testing::HasSubstr;

// SpineNet-49's shape: 10 intermediate + 5 output blocks.
constexpr int kSpineNetIntermediate = 10;
constexpr int kSpineNetBlocks = 15;
// Enough seeds to hit every decision kind many times while keeping the binary fast.
constexpr int kRoundTripSeeds = 2000;
constexpr int kMutationSeeds = 300;

SearchSpace DefaultSpace() {
  absl::StatusOr<SearchSpace> space = SearchSpace::Create(SearchSpaceOptions{});
  EXPECT_TRUE(space.ok()) << space.status();
  return *std::move(space);
}

SearchSpace SpaceWithPool(std::vector<int> pool) {
  SearchSpaceOptions options;
  options.intermediate_pool = std::move(pool);
  absl::StatusOr<SearchSpace> space = SearchSpace::Create(options);
  EXPECT_TRUE(space.ok()) << space.status();
  return *std::move(space);
}

// Where each part of the sequence starts, restated from the layout in decisions.h.
int ParentStep(const SearchSpace& s, int block, int slot) { return s.num_intermediate() + 5 + 2 * block + slot; }
int AdjustmentStep(const SearchSpace& s, int block) { return s.num_intermediate() + 5 + 2 * s.num_blocks() + block; }
int TypeStep(const SearchSpace& s, int block) { return AdjustmentStep(s, 0) + s.num_intermediate() + block; }

v1::ArchSpec DecodeOk(const SearchSpace& space, const std::vector<int>& decisions) {
  absl::StatusOr<v1::ArchSpec> spec = space.Decode(decisions);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : v1::ArchSpec();
}

// Pearson's statistic of observed counts against expected probabilities.
double ChiSquare(const std::map<std::string, int>& observed, const std::map<std::string, double>& probability,
                 int samples) {
  double chi2 = 0;
  for (const auto& [key, p] : probability) {
    const auto it = observed.find(key);
    const double o = it == observed.end() ? 0 : it->second;
    const double e = p * samples;
    chi2 += (o - e) * (o - e) / e;
  }
  return chi2;
}

// A bound that a uniform sampler exceeds with negligible probability (mean + 6 standard
// deviations of a chi-square with `dof` degrees of freedom), while a sampler that ignores
// completion counts exceeds it by an order of magnitude at the sample sizes below.
double ChiSquareBound(int dof) { return dof + 6 * std::sqrt(2.0 * dof); }

std::map<std::string, double> Uniform(int count, const std::vector<std::string>& keys) {
  std::map<std::string, double> p;
  for (const std::string& k : keys) p[k] = 1.0 / count;
  return p;
}

TEST(DecisionsTest, LayoutAndNames) {
  const SearchSpace space = DefaultSpace();
  EXPECT_EQ(space.num_intermediate(), kSpineNetIntermediate);
  EXPECT_EQ(space.num_blocks(), kSpineNetBlocks);
  // 10 pool levels, 5 output levels, 30 parents, 10 adjustments, 15 types.
  ASSERT_EQ(space.num_decisions(), 70);
  EXPECT_EQ(space.decision(2).name, "intermediate[2].level");
  EXPECT_EQ(space.decision(2).num_options, 6);
  EXPECT_EQ(space.decision(11).name, "output[1].level");
  EXPECT_EQ(space.decision(11).kind, DecisionKind::kOutputLevel);
  EXPECT_EQ(space.decision(11).block, 11);
  EXPECT_EQ(space.decision(11).num_options, 5);
  EXPECT_EQ(space.decision(ParentStep(space, 3, 1)).name, "block[3].parent[1]");
  EXPECT_EQ(space.decision(ParentStep(space, 3, 1)).num_options, 16);
  EXPECT_EQ(space.decision(AdjustmentStep(space, 3)).name, "block[3].level_adjustment");
  EXPECT_EQ(space.decision(AdjustmentStep(space, 3)).num_options, 4);
  EXPECT_EQ(space.decision(TypeStep(space, 14)).name, "block[14].type");
  EXPECT_EQ(space.decision(TypeStep(space, 14)).num_options, 2);
}

TEST(DecisionsTest, SpineNet49RoundTrips) {
  const SearchSpace space = DefaultSpace();
  const v1::ArchSpec spinenet = SpineNet49();
  absl::StatusOr<std::vector<int>> decisions = space.Encode(spinenet);
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  // The default pool is SpineNet-49's intermediate levels in order: no adjustment needed.
  for (int b = 0; b < kSpineNetIntermediate; ++b) {
    EXPECT_EQ((*decisions)[b] + 2, spinenet.blocks(b).level()) << b;
    EXPECT_EQ((*decisions)[AdjustmentStep(space, b)], 1) << "block " << b << " adjusted";
  }
  const v1::ArchSpec decoded = DecodeOk(space, *decisions);
  EXPECT_EQ(decoded.DebugString(), CanonicalArchSpec(spinenet).DebugString());
  EXPECT_EQ(ArchHash(decoded), ArchHash(spinenet));
  EXPECT_EQ(decoded.name(), "");
}

TEST(DecisionsTest, EncodeCanonicalizesAndUsesTheSpaceScaling) {
  const SearchSpace space = DefaultSpace();
  absl::StatusOr<v1::ArchSpec> spec = ReferenceArch("spinenet-96");  // Other scaling.
  ASSERT_TRUE(spec.ok()) << spec.status();
  spec->mutable_blocks(5)->mutable_parents()->SwapElements(0, 1);
  absl::StatusOr<std::vector<int>> decisions = space.Encode(*spec);
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  v1::ArchSpec expected = CanonicalArchSpec(*spec);
  *expected.mutable_scaling() = DefaultScaling();
  EXPECT_EQ(DecodeOk(space, *decisions).DebugString(), expected.DebugString());

  SearchSpaceOptions options;
  options.scaling = spec->scaling();
  absl::StatusOr<SearchSpace> scaled = SearchSpace::Create(options);
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_EQ(DecodeOk(*scaled, *decisions).scaling().block_repeats(), 2);
}

TEST(DecisionsTest, SampledSequencesDecodeValidAndRoundTrip) {
  const SearchSpace space = DefaultSpace();
  for (int seed = 0; seed < kRoundTripSeeds; ++seed) {
    std::mt19937_64 rng(seed);
    const std::vector<int> decisions = space.Sample(rng);
    ASSERT_EQ(static_cast<int>(decisions.size()), space.num_decisions());
    const v1::ArchSpec spec = DecodeOk(space, decisions);
    ASSERT_TRUE(ValidateArchSpec(spec).ok()) << "seed " << seed << ": " << ValidateArchSpec(spec);
    for (int b = 0; b < space.num_blocks(); ++b) {
      EXPECT_EQ(spec.blocks(b).output(), b >= space.num_intermediate());
      EXPECT_LT(spec.blocks(b).parents(0), spec.blocks(b).parents(1));
    }
    absl::StatusOr<std::vector<int>> encoded = space.Encode(spec);
    ASSERT_TRUE(encoded.ok()) << "seed " << seed << ": " << encoded.status();
    EXPECT_EQ(ArchHash(DecodeOk(space, *encoded)), ArchHash(spec)) << "seed " << seed;
  }
}

TEST(DecisionsTest, SampleIsDeterministicGivenTheSeed) {
  const SearchSpace space = DefaultSpace();
  std::mt19937_64 a(42), b(42), c(43);
  const std::vector<int> first = space.Sample(a);
  EXPECT_EQ(first, space.Sample(b));
  EXPECT_NE(first, space.Sample(c));
}

// Walks sampled sequences and checks every mask along the way.
TEST(DecisionsTest, MasksKeepWindowOrderAndLevels) {
  const SearchSpace space = DefaultSpace();
  constexpr int kWindow = 5;
  for (int seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    const std::vector<int> decisions = space.Sample(rng);
    DecisionCursor cursor(space);
    std::vector<int> pool_level(space.num_blocks(), 0);
    while (!cursor.Done()) {
      const int step = cursor.step();
      const Decision& d = space.decision(step);
      const std::vector<bool> mask = cursor.Mask();
      ASSERT_EQ(static_cast<int>(mask.size()), d.num_options) << d.name;
      ASSERT_TRUE(mask[decisions[step]]) << d.name;
      const int feature = d.block + 2;
      for (int o = 0; o < d.num_options; ++o) {
        if (!mask[o]) continue;
        if (d.kind == DecisionKind::kParent) {
          const bool intermediate = d.block < space.num_intermediate();
          const int lowest = intermediate ? std::max(0, feature - kWindow) : 0;
          EXPECT_GE(o, lowest) << d.name;
          EXPECT_LT(o, feature) << d.name;
          if (step == ParentStep(space, d.block, 0)) {
            EXPECT_LT(o, feature - 1) << d.name << ": no room for a second parent";
          } else {
            EXPECT_GT(o, cursor.chosen().back()) << d.name;
          }
        } else if (d.kind == DecisionKind::kLevelAdjustment) {
          const int level = pool_level[d.block] + o - 1;
          EXPECT_GE(level, 2) << d.name;
          EXPECT_LE(level, 7) << d.name;
        }
      }
      if (d.kind == DecisionKind::kLevelAdjustment) {
        const int valid = static_cast<int>(std::count(mask.begin(), mask.end(), true));
        const int p = pool_level[d.block];
        EXPECT_EQ(valid, p == 7 ? 2 : (p == 2 || p == 6) ? 3 : 4) << d.name;
      }
      if (d.kind == DecisionKind::kIntermediateLevel) pool_level[d.block] = decisions[step] + 2;
      ASSERT_TRUE(cursor.Choose(decisions[step]).ok());
    }
    EXPECT_TRUE(cursor.Mask().empty());
  }
}

TEST(DecisionsTest, CursorRefusesBadChoices) {
  const SearchSpace space = SpaceWithPool({2, 3, 3});
  DecisionCursor cursor(space);
  absl::Status status = cursor.Choose(6);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("intermediate[0].level"));
  status = cursor.Choose(5);  // Level 7 is not in the pool.
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("masked out"));
  EXPECT_EQ(cursor.step(), 0);
  std::mt19937_64 rng(7);
  for (int option : space.Sample(rng)) ASSERT_TRUE(cursor.Choose(option).ok());
  EXPECT_TRUE(cursor.Done());
  EXPECT_EQ(cursor.Choose(0).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DecisionsTest, DecodeRejectsMaskedOutChoicesNamingTheDecision) {
  const SearchSpace space = DefaultSpace();
  std::mt19937_64 rng(3);
  const std::vector<int> good = space.Sample(rng);

  std::vector<int> bad = good;
  bad[ParentStep(space, 8, 0)] = 0;  // Block 8 builds feature 10: window is 5..9.
  absl::StatusOr<v1::ArchSpec> spec = space.Decode(bad);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("block[8].parent[0]"));

  bad = good;
  bad[ParentStep(space, 12, 1)] = bad[ParentStep(space, 12, 0)];  // Second not above first.
  spec = space.Decode(bad);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("block[12].parent[1]"));

  bad = good;
  bad[11] = bad[10];  // An output level used twice.
  spec = space.Decode(bad);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("output[1].level"));

  bad = good;
  bad.pop_back();
  spec = space.Decode(bad);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("70"));
}

TEST(DecisionsTest, DecodeRejectsAnAdjustmentLeavingTheLevels) {
  const SearchSpace space = DefaultSpace();
  absl::StatusOr<std::vector<int>> decisions = space.Encode(SpineNet49());
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  // Block 7 has pool level 7: +1 would make it level 8.
  (*decisions)[AdjustmentStep(space, 7)] = 2;
  absl::StatusOr<v1::ArchSpec> spec = space.Decode(*decisions);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("block[7].level_adjustment"));
}

TEST(DecisionsTest, EncodeRejectsOutputsNotLast) {
  absl::StatusOr<v1::ArchSpec> spec = ReferenceArch("scale-decreased-49");
  ASSERT_TRUE(spec.ok()) << spec.status();
  // Sorted by level: blocks[2] is the level-3 output.
  absl::StatusOr<std::vector<int>> decisions = DefaultSpace().Encode(*spec);
  EXPECT_EQ(decisions.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decisions.status().message(), HasSubstr("blocks[2]"));
}

TEST(DecisionsTest, EncodeRejectsAParentOutsideTheWindow) {
  v1::ArchSpec spec = SpineNet49();
  spec.mutable_blocks(9)->set_parents(0, 5);  // Feature 11 may only use 6..10.
  absl::StatusOr<std::vector<int>> decisions = DefaultSpace().Encode(spec);
  EXPECT_EQ(decisions.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decisions.status().message(), HasSubstr("blocks[9]"));

  // Output blocks may reach back to the stem.
  spec = SpineNet49();
  spec.mutable_blocks(14)->set_parents(0, 0);
  EXPECT_TRUE(DefaultSpace().Encode(spec).ok());
}

TEST(DecisionsTest, EncodeRejectsLevelsThePoolCannotCover) {
  // Pool level 2 reaches at most level 4: SpineNet-49's first block above that is blocks[4] (L6).
  const SearchSpace low = SpaceWithPool(std::vector<int>(kSpineNetIntermediate, 2));
  absl::StatusOr<std::vector<int>> decisions = low.Encode(SpineNet49());
  EXPECT_EQ(decisions.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decisions.status().message(), HasSubstr("blocks[4]"));

  // Every level is in reach of some pool level, but {2, 7, 7} has a single item that reaches
  // levels below 5, and blocks 0 (L2) and 1 (L3) both need one.
  const SearchSpace scarce = SpaceWithPool({2, 7, 7});
  v1::ArchSpec spec = DecodeOk(scarce, [&] {
    std::mt19937_64 rng(1);
    return scarce.Sample(rng);
  }());
  spec.mutable_blocks(0)->set_level(2);
  spec.mutable_blocks(1)->set_level(3);
  spec.mutable_blocks(2)->set_level(7);
  decisions = scarce.Encode(spec);
  EXPECT_EQ(decisions.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decisions.status().message(), HasSubstr("blocks[1]"));
}

TEST(DecisionsTest, EncodeRejectsAWrongBlockCount) {
  v1::ArchSpec spec = SpineNet49();
  absl::StatusOr<std::vector<int>> decisions = SpaceWithPool({2, 3, 3}).Encode(spec);
  EXPECT_EQ(decisions.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decisions.status().message(), HasSubstr("blocks"));
}

// Encode's deterministic choice among equivalent sequences: adjustment 0 first, then +1, -1, +2,
// block by block.
TEST(DecisionsTest, EncodePrefersNoAdjustmentThenUpThenDown) {
  const SearchSpace space = SpaceWithPool({2, 3, 3});
  std::mt19937_64 rng(5);
  v1::ArchSpec spec = DecodeOk(space, space.Sample(rng));
  // Levels 3, 3, 4: block 0 keeps pool 3 (adj 0), block 1 the other 3, block 2 must come from
  // pool 2 (+2).
  spec.mutable_blocks(0)->set_level(3);
  spec.mutable_blocks(1)->set_level(3);
  spec.mutable_blocks(2)->set_level(4);
  absl::StatusOr<std::vector<int>> decisions = space.Encode(spec);
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  EXPECT_EQ((*decisions)[0], 1);  // Pool level 3.
  EXPECT_EQ((*decisions)[1], 1);
  EXPECT_EQ((*decisions)[2], 0);                         // Pool level 2.
  EXPECT_EQ((*decisions)[AdjustmentStep(space, 0)], 1);  // 0
  EXPECT_EQ((*decisions)[AdjustmentStep(space, 2)], 3);  // +2
  // Levels 2, 2, 4: block 0 takes pool 2 (adj 0); block 1 then needs pool 3 (-1).
  spec.mutable_blocks(1)->set_level(2);
  spec.mutable_blocks(0)->set_level(2);
  decisions = space.Encode(spec);
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  EXPECT_EQ(std::vector<int>(decisions->begin(), decisions->begin() + 3), (std::vector<int>{0, 1, 1}));
  EXPECT_EQ(DecodeOk(space, *decisions).DebugString(), CanonicalArchSpec(spec).DebugString());
}

// On a tiny space, projections of Sample's output whose exact distribution is known: every
// valid decision sequence is equally likely, so each projection is distributed like the number
// of sequences behind each of its values.
TEST(DecisionsTest, SampleIsUniformOverSequences) {
  const SearchSpace space = SpaceWithPool({2, 3, 3});
  constexpr int kSamples = 24000;  // About 160 draws per cell of the largest table below.

  // The oracle, from the definition rather than the implementation: (pool order, adjustments)
  // pairs, and the intermediate levels each pair decodes to.
  std::vector<std::string> pairs;
  std::map<std::string, double> levels_probability;
  const std::vector<std::vector<int>> orders = {{2, 3, 3}, {3, 2, 3}, {3, 3, 2}};
  for (const std::vector<int>& order : orders) {
    for (int a0 = -1; a0 <= 2; ++a0) {
      for (int a1 = -1; a1 <= 2; ++a1) {
        for (int a2 = -1; a2 <= 2; ++a2) {
          const std::vector<int> levels = {order[0] + a0, order[1] + a1, order[2] + a2};
          if (*std::min_element(levels.begin(), levels.end()) < 2) continue;
          pairs.push_back(absl::StrJoin(order, ",") + "|" + absl::StrJoin({a0, a1, a2}, ","));
          levels_probability[absl::StrJoin(levels, ",")] += 1;
        }
      }
    }
  }
  ASSERT_EQ(pairs.size(), 3u * 3 * 4 * 4);
  for (auto& [key, p] : levels_probability) p /= pairs.size();

  std::vector<std::string> last_parents;  // Block 7 builds feature 9: C(9, 2) pairs.
  for (int a = 0; a < 9; ++a) {
    for (int b = a + 1; b < 9; ++b) last_parents.push_back(absl::StrJoin({a, b}, ","));
  }
  std::vector<std::string> early_parents;  // Blocks 1 and 2: C(3, 2) x C(4, 2) pairs.
  for (int a = 0; a < 3; ++a) {
    for (int b = a + 1; b < 3; ++b) {
      for (int c = 0; c < 4; ++c) {
        for (int d = c + 1; d < 4; ++d) {
          early_parents.push_back(absl::StrJoin({a, b, c, d}, ","));
        }
      }
    }
  }
  std::vector<int> outputs = {3, 4, 5, 6, 7};
  std::vector<std::string> output_orders;
  do {
    output_orders.push_back(absl::StrJoin(outputs, ","));
  } while (std::next_permutation(outputs.begin(), outputs.end()));

  std::map<std::string, int> pair_counts, levels_counts, last_counts, early_counts, output_counts;
  std::mt19937_64 rng(20240601);
  for (int i = 0; i < kSamples; ++i) {
    const std::vector<int> d = space.Sample(rng);
    const v1::ArchSpec spec = DecodeOk(space, d);
    const std::vector<int> order = {d[0] + 2, d[1] + 2, d[2] + 2};
    const std::vector<int> adjustments = {d[AdjustmentStep(space, 0)] - 1, d[AdjustmentStep(space, 1)] - 1,
                                          d[AdjustmentStep(space, 2)] - 1};
    ++pair_counts[absl::StrJoin(order, ",") + "|" + absl::StrJoin(adjustments, ",")];
    std::vector<int> levels, output_levels;
    for (int b = 0; b < 3; ++b) levels.push_back(spec.blocks(b).level());
    for (int b = 3; b < 8; ++b) output_levels.push_back(spec.blocks(b).level());
    ++levels_counts[absl::StrJoin(levels, ",")];
    ++output_counts[absl::StrJoin(output_levels, ",")];
    ++last_counts[absl::StrJoin(spec.blocks(7).parents(), ",")];
    ++early_counts[absl::StrJoin(spec.blocks(1).parents(), ",") + "," + absl::StrJoin(spec.blocks(2).parents(), ",")];
  }

  auto check = [&](const char* what, const std::map<std::string, int>& counts,
                   const std::map<std::string, double>& probability) {
    EXPECT_EQ(counts.size(), probability.size()) << what << ": values outside the space";
    const double chi2 = ChiSquare(counts, probability, kSamples);
    const int dof = static_cast<int>(probability.size()) - 1;
    EXPECT_LT(chi2, ChiSquareBound(dof)) << what << ": chi-square " << chi2 << " on " << dof << " degrees of freedom";
  };
  check("pool order and adjustments", pair_counts, Uniform(pairs.size(), pairs));
  check("decoded intermediate levels", levels_counts, levels_probability);
  check("last output's parents", last_counts, Uniform(last_parents.size(), last_parents));
  check("early parents", early_counts, Uniform(early_parents.size(), early_parents));
  check("output order", output_counts, Uniform(output_orders.size(), output_orders));
}

TEST(DecisionsTest, MutateChangesTheSpecAndStaysValid) {
  const SearchSpace space = DefaultSpace();
  for (int seed = 0; seed < kMutationSeeds; ++seed) {
    std::mt19937_64 rng(seed);
    const std::vector<int> parent = space.Sample(rng);
    const std::vector<int> child = space.Mutate(parent, rng);
    absl::StatusOr<v1::ArchSpec> spec = space.Decode(child);
    ASSERT_TRUE(spec.ok()) << "seed " << seed << ": " << spec.status();
    EXPECT_TRUE(ValidateArchSpec(*spec).ok());
    EXPECT_NE(ArchHash(*spec), ArchHash(DecodeOk(space, parent))) << "seed " << seed;
  }
}

TEST(DecisionsTest, MutateIsDeterministicGivenTheSeed) {
  const SearchSpace space = DefaultSpace();
  std::mt19937_64 sample_rng(11);
  const std::vector<int> parent = space.Sample(sample_rng);
  std::mt19937_64 a(99), b(99);
  const std::vector<int> child = space.Mutate(parent, a);
  EXPECT_EQ(child, space.Mutate(parent, b));
  EXPECT_NE(child, parent);
}

// A single-block space: few decisions, and still every mutation lands on another spec.
TEST(DecisionsTest, MutateWorksOnATinySpace) {
  const SearchSpace tiny = SpaceWithPool({7});
  for (int seed = 0; seed < 50; ++seed) {
    std::mt19937_64 rng(seed);
    const std::vector<int> d = tiny.Sample(rng);
    EXPECT_NE(ArchHash(DecodeOk(tiny, tiny.Mutate(d, rng))), ArchHash(DecodeOk(tiny, d)));
  }
}

TEST(DecisionsTest, SizeAddsUpAndMatchesThePaper) {
  const SpaceSize size = DefaultSpace().Size();
  EXPECT_NEAR(size.log10_total,
              size.log10_intermediate_permutations + size.log10_output_permutations + size.log10_connections +
                  size.log10_adjustments + size.log10_block_types,
              1e-9);
  // 10! / (1! 1! 3! 3! 1! 1!) orders of {2, 3, 4, 4, 4, 5, 5, 5, 6, 7}.
  EXPECT_NEAR(size.log10_intermediate_permutations, std::log10(100800.0), 1e-9);
  EXPECT_NEAR(size.log10_output_permutations, std::log10(120.0), 1e-9);
  // Intermediate: C(2,2) C(3,2) C(4,2) C(5,2)^7; outputs: C(12,2) .. C(16,2).
  EXPECT_NEAR(size.log10_connections, std::log10(1062485424e9), 1e-9);
  // L2: 3, L3..L5: 4 each (7 items), L6: 3, L7: 2.
  EXPECT_NEAR(size.log10_adjustments, std::log10(294912.0), 1e-9);
  EXPECT_NEAR(size.log10_block_types, 15 * std::log10(2.0), 1e-9);
  EXPECT_NEAR(size.log10_total, 35.0941, 1e-3);
  // spinenet.md §1.2: about 1.25e40 without the parent window.
  EXPECT_NEAR(size.log10_paper_formula, std::log10(1.2492903838757739e40), 1e-9);
  EXPECT_NEAR(std::pow(10.0, size.log10_paper_formula - 40), 1.25, 0.01);
}

TEST(DecisionsTest, SizeOfATinySpace) {
  const SpaceSize size = SpaceWithPool({2, 3, 3}).Size();
  EXPECT_NEAR(size.log10_intermediate_permutations, std::log10(3.0), 1e-9);
  // Intermediate: C(2,2) C(3,2) C(4,2); outputs: C(5,2) .. C(9,2).
  EXPECT_NEAR(size.log10_connections, std::log10(18.0 * 10 * 15 * 21 * 28 * 36), 1e-9);
  EXPECT_NEAR(size.log10_adjustments, std::log10(3.0 * 4 * 4), 1e-9);
  EXPECT_NEAR(size.log10_block_types, 8 * std::log10(2.0), 1e-9);
}

TEST(DecisionsTest, CreateRejectsBadOptions) {
  auto create = [](std::vector<int> pool, int window) {
    SearchSpaceOptions options;
    options.intermediate_pool = std::move(pool);
    options.intermediate_parent_window = window;
    return SearchSpace::Create(options).status();
  };
  EXPECT_TRUE(create({2, 3}, 5).ok());
  EXPECT_TRUE(create({7}, 2).ok());
  absl::Status status = create({}, 5);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("intermediate_pool"));
  status = create({2, 1}, 5);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("intermediate_pool[1]"));
  EXPECT_EQ(create({8}, 5).code(), absl::StatusCode::kInvalidArgument);
  status = create({2, 3}, 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("intermediate_parent_window"));

  SearchSpaceOptions options;
  options.scaling.set_filter_scale(1.0);  // The rest left at zero: not a valid scaling.
  status = SearchSpace::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("scaling"));
}

TEST(DecisionsTest, AWindowOfTwoChainsIntermediateBlocks) {
  SearchSpaceOptions options;
  options.intermediate_parent_window = 2;
  absl::StatusOr<SearchSpace> space = SearchSpace::Create(options);
  ASSERT_TRUE(space.ok()) << space.status();
  std::mt19937_64 rng(8);
  const v1::ArchSpec spec = DecodeOk(*space, space->Sample(rng));
  for (int b = 0; b < space->num_intermediate(); ++b) {
    EXPECT_EQ(spec.blocks(b).parents(0), b) << b;
    EXPECT_EQ(spec.blocks(b).parents(1), b + 1) << b;
  }
}

}  // namespace
}  // namespace vertebra::search_spaces
