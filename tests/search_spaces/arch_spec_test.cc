#include "search_spaces/arch_spec.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search_spaces/arch_json.h"
#include "search_spaces/family.h"

namespace vertebra::search_spaces {
namespace {

using ::testing::HasSubstr;

// SpineNet-49 in the hand-written JSON form, with a hole where each test puts its change.
std::string SpecJson(const std::string& block0 = R"({"level": 2, "block": "bottleneck", "parents": [0, 1]})",
                     const std::string& tail = "") {
  return R"({"name": "t", "blocks": [)" + block0 + R"(,
    {"level": 4, "block": "residual", "parents": [0, 1]},
    {"level": 3, "block": "bottleneck", "parents": [2, 3]},
    {"level": 4, "block": "bottleneck", "parents": [2, 4]},
    {"level": 6, "block": "residual", "parents": [3, 5]},
    {"level": 4, "block": "bottleneck", "parents": [3, 5]},
    {"level": 5, "block": "residual", "parents": [6, 7]},
    {"level": 7, "block": "residual", "parents": [6, 8]},
    {"level": 5, "block": "bottleneck", "parents": [8, 9]},
    {"level": 5, "block": "bottleneck", "parents": [8, 10]},
    {"level": 4, "block": "bottleneck", "parents": [5, 10], "output": true},
    {"level": 3, "block": "bottleneck", "parents": [4, 10], "output": true},
    {"level": 5, "block": "bottleneck", "parents": [7, 12], "output": true},
    {"level": 7, "block": "bottleneck", "parents": [5, 14], "output": true},
    {"level": 6, "block": "bottleneck", "parents": [12, 14], "output": true}])" +
         tail + "}";
}

absl::Status ParseError(const std::string& text) { return ArchSpecFromJson(text).status(); }

TEST(ArchJsonTest, HandWrittenSpineNet49EqualsTheBuiltIn) {
  absl::StatusOr<v1::ArchSpec> spec = ArchSpecFromJson(SpecJson());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(ArchHash(*spec), ArchHash(SpineNet49()));
  EXPECT_EQ(spec->scaling().filter_scale(), 1.0);  // Defaults: SpineNet-49's scaling.
  EXPECT_EQ(spec->scaling().endpoint_filters(), 256);
}

TEST(ArchJsonTest, RoundTripsThroughTheJsonForm) {
  for (const std::string& name : ReferenceArchNames()) {
    const v1::ArchSpec spec = *ReferenceArch(name);
    for (int indent : {-1, 2}) {
      absl::StatusOr<v1::ArchSpec> back = ArchSpecFromJson(ArchSpecToJson(spec, indent));
      ASSERT_TRUE(back.ok()) << name << ": " << back.status();
      EXPECT_EQ(back->SerializeAsString(), spec.SerializeAsString()) << name;
    }
  }
}

TEST(ArchJsonTest, ErrorsNameTheBlockAndField) {
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parents": [0, 1e400]})")).message(),
              HasSubstr("blocks[0].parents[1]: number overflow parsing '1e400'"));
  EXPECT_THAT(ParseError(R"({"blocks": [], "scaling": {"filter_scale": 1e400}})").message(),
              HasSubstr("scaling.filter_scale: number overflow"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "level": 3, "block": "bottleneck", "parents": [0, 1]})")).message(),
              HasSubstr("blocks[0]: key \"level\" given twice"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parnets": [0, 1]})")).message(),
              HasSubstr("blocks[0].parnets: unknown key"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": "2", "block": "bottleneck", "parents": [0, 1]})")).message(),
              HasSubstr("blocks[0].level: must be an integer"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2.5, "block": "bottleneck", "parents": [0, 1]})")).message(),
              HasSubstr("blocks[0].level: must be an integer"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "mbconv", "parents": [0, 1]})")).message(),
              HasSubstr("blocks[0].block: must be \"bottleneck\" or \"residual\""));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck"})")).message(),
              HasSubstr("blocks[0].parents: missing"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parents": [0, 1], "output": 1})")).message(),
              HasSubstr("blocks[0].output: must be true or false"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parents": [0, 1]})", R"(, "scaling": {"filter_scale": "big"})")).message(),
              HasSubstr("scaling.filter_scale: must be a number"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parents": [0, 1]})", R"(, "scalling": {})")).message(),
              HasSubstr("scalling: unknown key"));
  EXPECT_THAT(ParseError(R"({"blocks": [)").message(), HasSubstr("malformed JSON"));
  EXPECT_THAT(ParseError(R"([1, 2])").message(), HasSubstr("must be a JSON object"));
  EXPECT_THAT(ParseError(R"({"name": "x"})").message(), HasSubstr("blocks: missing"));
}

TEST(ValidateTest, RejectsBadLevelsParentsAndOutputs) {
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 8, "block": "bottleneck", "parents": [0, 1]})")).message(),
              HasSubstr("blocks[0].level: must be in 2..7, got 8"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 1, "block": "bottleneck", "parents": [0, 1]})")).message(),
              HasSubstr("blocks[0].level"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parents": [0]})")).message(),
              HasSubstr("blocks[0].parents: must name exactly 2 features, got 1"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parents": [0, 1, 1]})")).message(),
              HasSubstr("exactly 2"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parents": [1, 1]})")).message(),
              HasSubstr("blocks[0].parents: the two parents must differ"));
  // Block 0 produces feature 2: it cannot read itself or later features.
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parents": [0, 2]})")).message(),
              HasSubstr("blocks[0].parents: 2 is not an earlier feature"));
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 2, "block": "bottleneck", "parents": [-1, 0]})")).message(),
              HasSubstr("not an earlier feature"));
  // A second level-4 output.
  EXPECT_THAT(ParseError(SpecJson(R"({"level": 4, "block": "bottleneck", "parents": [0, 1], "output": true})")).message(),
              HasSubstr("blocks[10].output: level 4 already has an output block (blocks[0])"));
}

TEST(ValidateTest, MissingOutputLevelAndEmptyOrHugeLists) {
  v1::ArchSpec spec = SpineNet49();
  spec.mutable_blocks(11)->set_output(false);  // The P3 block.
  EXPECT_THAT(ValidateArchSpec(spec).message(), HasSubstr("no output block at level 3"));
  spec.clear_blocks();
  EXPECT_THAT(ValidateArchSpec(spec).message(), HasSubstr("block list is empty"));
  std::string many = R"({"blocks": [)";
  for (int i = 0; i <= kMaxBlocks; ++i) many += std::string(i ? "," : "") + R"({"level": 2, "block": "residual", "parents": [0, 1]})";
  EXPECT_THAT(ParseError(many + "]}").message(), HasSubstr("more than the limit"));
}

TEST(ValidateTest, ExtraLevelTwoOutputIsAllowedOnce) {
  v1::ArchSpec spec = SpineNet49();
  v1::Block* extra = spec.add_blocks();  // The TF2 code's 16th row.
  extra->set_level(2);
  extra->set_type(v1::BOTTLENECK);
  extra->add_parents(2);
  extra->add_parents(13);
  extra->set_output(true);
  EXPECT_TRUE(ValidateArchSpec(spec).ok()) << ValidateArchSpec(spec);
  *spec.add_blocks() = *extra;
  EXPECT_THAT(ValidateArchSpec(spec).message(), HasSubstr("level 2 already has an output block"));
}

TEST(ValidateTest, ScalingMustBePositiveAndKeepWidths) {
  v1::ArchSpec spec = SpineNet49();
  spec.mutable_scaling()->set_filter_scale(0);
  EXPECT_THAT(ValidateArchSpec(spec).message(), HasSubstr("scaling.filter_scale"));
  spec.mutable_scaling()->set_filter_scale(0.01);  // int(64 x 0.01) = 0 channels.
  EXPECT_THAT(ValidateArchSpec(spec).message(), HasSubstr("level-2 width"));
  spec = SpineNet49();
  spec.mutable_scaling()->set_resample_alpha(-0.5);
  EXPECT_THAT(ValidateArchSpec(spec).message(), HasSubstr("scaling.resample_alpha"));
  spec = SpineNet49();
  spec.mutable_scaling()->set_block_repeats(0);
  EXPECT_THAT(ValidateArchSpec(spec).message(), HasSubstr("scaling.block_repeats"));
  spec = SpineNet49();
  spec.mutable_scaling()->set_endpoint_filters(-3);
  EXPECT_THAT(ValidateArchSpec(spec).message(), HasSubstr("scaling.endpoint_filters"));
}

TEST(HashTest, IgnoresNameAndParentOrder) {
  v1::ArchSpec a = SpineNet49();
  v1::ArchSpec b = a;
  b.set_name("renamed");
  b.mutable_blocks(4)->set_parents(0, 5);
  b.mutable_blocks(4)->set_parents(1, 3);
  EXPECT_EQ(ArchHash(a), ArchHash(b));
  EXPECT_EQ(CanonicalArchSpec(b).blocks(4).parents(0), 3);
  EXPECT_EQ(ArchHash(a).size(), 64u);
  EXPECT_EQ(ShortArchHash(a), ArchHash(a).substr(0, 12));
}

TEST(HashTest, ChangesWithAnythingThatChangesTheNetwork) {
  const v1::ArchSpec base = SpineNet49();
  const std::string h = ArchHash(base);
  v1::ArchSpec s = base;
  s.mutable_blocks(1)->set_type(v1::BOTTLENECK);
  EXPECT_NE(ArchHash(s), h);
  s = base;
  s.mutable_blocks(0)->set_level(3);
  EXPECT_NE(ArchHash(s), h);
  s = base;
  s.mutable_blocks(3)->set_parents(0, 1);
  EXPECT_NE(ArchHash(s), h);
  s = base;
  s.mutable_scaling()->set_resample_alpha(0.25);
  EXPECT_NE(ArchHash(s), h);
  s = base;
  s.mutable_scaling()->set_block_repeats(2);
  EXPECT_NE(ArchHash(s), h);
}

// The hash is a contract with every database that stores it: it must never change.
TEST(HashTest, IsStableAcrossReleases) {
  EXPECT_EQ(ArchHash(SpineNet49()), "008a44250c77563a7687c1e00753fe20f8dc820984d299f511df19227057b53f");
}

TEST(FamilyTest, AllReferenceModelsAreValidAndDistinct) {
  std::set<std::string> hashes;
  for (const std::string& name : ReferenceArchNames()) {
    absl::StatusOr<v1::ArchSpec> spec = ReferenceArch(name);
    ASSERT_TRUE(spec.ok()) << name;
    EXPECT_TRUE(ValidateArchSpec(*spec).ok()) << name << ": " << ValidateArchSpec(*spec);
    EXPECT_EQ(spec->name(), name);
    hashes.insert(ArchHash(*spec));
  }
  EXPECT_EQ(hashes.size(), ReferenceArchNames().size());
  EXPECT_THAT(ReferenceArch("spinenet-50").status().message(), HasSubstr("known: spinenet-49s"));
}

TEST(FamilyTest, ScaleDecreasedIsOrderedFineToCoarse) {
  const v1::ArchSpec spec = *ReferenceArch("scale-decreased-49");
  ASSERT_EQ(spec.blocks_size(), 15);
  for (int i = 1; i < spec.blocks_size(); ++i) {
    EXPECT_LE(spec.blocks(i - 1).level(), spec.blocks(i).level());
    EXPECT_EQ(spec.blocks(i).parents(1), i + 1);  // Fed by the feature just before it.
  }
}

}  // namespace
}  // namespace vertebra::search_spaces
