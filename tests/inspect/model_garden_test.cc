#include "inspect/model_garden.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "search_spaces/family.h"

namespace vertebra::inspect {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// SPINENET_BLOCK_SPECS as the Model Garden's builder spells it
// (official/vision/modeling/backbones/spinenet.py), written out here rather than derived from
// our own table so that the test compares two independent transcriptions.
const std::vector<ModelGardenBlock>& ModelGardenSpineNet49() {
  static const auto* const kRows = new std::vector<ModelGardenBlock>{
      {2, "bottleneck", {0, 1}, false},  {4, "residual", {0, 1}, false},   {3, "bottleneck", {2, 3}, false},
      {4, "bottleneck", {2, 4}, false},  {6, "residual", {3, 5}, false},   {4, "bottleneck", {3, 5}, false},
      {5, "residual", {6, 7}, false},    {7, "residual", {6, 8}, false},   {5, "bottleneck", {8, 9}, false},
      {5, "bottleneck", {8, 10}, false}, {4, "bottleneck", {5, 10}, true}, {3, "bottleneck", {4, 10}, true},
      {5, "bottleneck", {7, 12}, true},  {7, "bottleneck", {5, 14}, true}, {6, "bottleneck", {12, 14}, true},
  };
  return *kRows;
}

TEST(ModelGardenTest, SpineNet49IsTheBuildersOwnTable) {
  absl::StatusOr<std::vector<ModelGardenBlock>> rows = ToModelGardenBlocks(search_spaces::SpineNet49());
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(*rows, ElementsAreArray(ModelGardenSpineNet49()));
}

// The Keras builder appends a 16th row, a level-2 output block fed by features 2 and 13, for
// min_level 2. The same row in our spec converts to the Keras table row for row.
TEST(ModelGardenTest, TheKerasLevel2RowConvertsToo) {
  v1::ArchSpec spec = search_spaces::SpineNet49();
  v1::Block* b = spec.add_blocks();
  b->set_level(2);
  b->set_type(v1::BOTTLENECK);
  b->add_parents(2);
  b->add_parents(13);
  b->set_output(true);
  absl::StatusOr<std::vector<ModelGardenBlock>> rows = ToModelGardenBlocks(spec);
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::vector<ModelGardenBlock> want = ModelGardenSpineNet49();
  want.push_back({2, "bottleneck", {2, 13}, true});
  EXPECT_THAT(*rows, ElementsAreArray(want));
}

TEST(ModelGardenTest, ParentOrderIsKept) {
  v1::ArchSpec spec = search_spaces::SpineNet49();
  spec.mutable_blocks(4)->set_parents(0, 5);
  spec.mutable_blocks(4)->set_parents(1, 3);
  absl::StatusOr<std::vector<ModelGardenBlock>> rows = ToModelGardenBlocks(spec);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[4].input_offsets, (std::array<int, 2>{5, 3}));
}

TEST(ModelGardenTest, InvalidSpecIsRefusedNamingTheBlock) {
  v1::ArchSpec spec = search_spaces::SpineNet49();
  spec.mutable_blocks(3)->set_parents(1, 40);
  absl::StatusOr<std::vector<ModelGardenBlock>> rows = ToModelGardenBlocks(spec);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rows.status().message()), HasSubstr("blocks[3]"));
}

TEST(ModelGardenTest, JsonHasTheTableAndTheScalingArguments) {
  absl::StatusOr<v1::ArchSpec> spec = search_spaces::ReferenceArch("spinenet-96");
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<std::string> text = ModelGardenJson(*spec);
  ASSERT_TRUE(text.ok()) << text.status();
  const nlohmann::json j = nlohmann::json::parse(*text);
  ASSERT_EQ(j["block_specs"].size(), 15u);
  EXPECT_EQ(j["block_specs"][1], nlohmann::json::parse(R"([4, "residual", [0, 1], false])"));
  EXPECT_EQ(j["block_specs"][14], nlohmann::json::parse(R"([6, "bottleneck", [12, 14], true])"));
  // SCALING_MAP['96'] of the builder.
  EXPECT_EQ(j["endpoints_num_filters"], 256);
  EXPECT_EQ(j["filter_size_scale"], 1.0);
  EXPECT_EQ(j["resample_alpha"], 0.5);
  EXPECT_EQ(j["block_repeats"], 2);
  EXPECT_EQ(j["min_level"], 3);
  EXPECT_EQ(j["max_level"], 7);
  EXPECT_EQ(j["hash"].get<std::string>().size(), 64u);
}

TEST(ModelGardenTest, PythonReadsLikeTheBuildersTable) {
  absl::StatusOr<v1::ArchSpec> spec = search_spaces::ReferenceArch("spinenet-49s");
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<std::string> py = ModelGardenPython(*spec);
  ASSERT_TRUE(py.ok()) << py.status();
  EXPECT_THAT(
      *py, HasSubstr("BLOCK_SPECS = [\n    (2, 'bottleneck', (0, 1), False),\n    (4, 'residual', (0, 1), False),\n"));
  EXPECT_THAT(*py, HasSubstr("    (6, 'bottleneck', (12, 14), True),\n]\n"));
  EXPECT_THAT(*py, HasSubstr("'filter_size_scale': 0.65,"));
  EXPECT_THAT(*py, HasSubstr("'resample_alpha': 0.5,"));
  EXPECT_THAT(*py, HasSubstr("'endpoints_num_filters': 128,"));
}

}  // namespace
}  // namespace vertebra::inspect
