// The experiment file's reader, writer and defaults, driven by one table of fields (the error
// messages of the original reader are tested in scheduler_test.cc).
#include "controller/config.h"

#include <string>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vertebra::controller {
namespace {

using json = nlohmann::json;

std::string Error(const std::string& text) {
  return std::string(ParseExperimentConfig(text, "x.json").status().message());
}

TEST(ExperimentConfigTable, ErrorsOfEveryKindOfField) {
  EXPECT_EQ(Error(R"({"name": "a", "seed": -1})"), "x.json: seed: must be a non-negative integer, got -1");
  EXPECT_EQ(Error(R"({"name": "a", "allow_repeats": 1})"), "x.json: allow_repeats: must be true or false, got 1");
  EXPECT_EQ(Error(R"({"name": "a", "simulation": 3})"), "x.json: simulation: must be an object, got 3");
  EXPECT_EQ(Error(R"({"name": "a", "proxy": {"schedule": "linear"}})"),
            "x.json: proxy.schedule: must be one of wsd, ema, cosine_per_rung, cosine, got \"linear\"");
  EXPECT_EQ(Error(R"({"name": "a", "proxy": {"precision": "fp16"}})"),
            "x.json: proxy.precision: must be one of auto, fp32, bf16, got \"fp16\"");
  EXPECT_EQ(Error(R"({"name": "a", "algorithm": {"kind": "bayes"}})"),
            "x.json: algorithm.kind: must be one of ppo, reinforce, evolution, random, got \"bayes\"");
  EXPECT_EQ(Error(R"({"name": "a", "proxy": {"data": ""}})"), "x.json: proxy.data: must not be empty");
  EXPECT_EQ(Error(R"({"name": "a", "proxy": {"val": 3}})"), "x.json: proxy.val: must be a string, got 3");
  EXPECT_EQ(Error(R"({"name": "a", "search_space": {"intermediate_pool": [2, 9]}})"),
            "x.json: search_space.intermediate_pool[1]: must be in [2, 7], got 9");
  EXPECT_EQ(Error(R"({"name": "a", "simulation": {"objective": "real"}})"),
            "x.json: simulation.objective: must be one of toy, surrogate, got \"real\"");
  EXPECT_EQ(Error(R"({"name": "a", "simulation": {"nosie": 0.1}})"), "x.json: simulation.nosie: unknown key");
  EXPECT_EQ(Error(R"({"name": "a", "rungs": {"steps": [100]}, "simulation": {"full_steps": 50}})"),
            "x.json: simulation.full_steps: must be at least the highest rung (100), got 50");
  EXPECT_EQ(Error(R"({"name": "a", "algorithm": {"population": 4, "tournament": 5}})"),
            "x.json: algorithm.tournament: must not exceed population (4), got 5");
  EXPECT_EQ(Error(R"({"name": "a", "extra": {}})"), "x.json: extra: unknown key");
  EXPECT_EQ(Error("[]"), "x.json: the configuration must be a JSON object");
}

TEST(ExperimentConfigTable, SimulationDefaultsApplyOnlyWhenTheSectionIsThere) {
  absl::StatusOr<v1::ExperimentConfig> real = ParseExperimentConfig(R"({"name": "a"})", "x.json");
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_FALSE(real->simulated());
  EXPECT_FALSE(real->has_simulation());
  EXPECT_EQ(json::parse(ExperimentConfigToJson(*real)).count("simulation"), 0u);

  absl::StatusOr<v1::ExperimentConfig> simulated =
      ParseExperimentConfig(R"({"name": "a", "seed": 18446744073709551615, "simulation": {"noise": 0.2}})", "x.json");
  ASSERT_TRUE(simulated.ok()) << simulated.status();
  EXPECT_TRUE(simulated->simulated());
  EXPECT_EQ(simulated->seed(), 18446744073709551615ULL);
  EXPECT_DOUBLE_EQ(simulated->simulation().seconds(), 0.05);
  EXPECT_DOUBLE_EQ(simulated->simulation().noise(), 0.2);
  EXPECT_DOUBLE_EQ(simulated->simulation().low_rung_bias(), 0.5);
  EXPECT_EQ(simulated->simulation().objective(), "toy");
  EXPECT_EQ(simulated->simulation().full_steps(), 500);  // The top rung.
  const json written = json::parse(ExperimentConfigToJson(*simulated));
  EXPECT_EQ(written["simulation"]["objective"], "toy");
  EXPECT_EQ(written["seed"].get<uint64_t>(), 18446744073709551615ULL);
  absl::StatusOr<v1::ExperimentConfig> again = ParseExperimentConfig(written.dump(), "y.json");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), simulated->SerializeAsString());
}

// The writer writes every field of the file with the proto's number types.
TEST(ExperimentConfigTable, TheWriterWritesEveryFieldWithItsType) {
  absl::StatusOr<v1::ExperimentConfig> c = ParseExperimentConfig(R"({"name": "a", "simulation": {}})", "x.json");
  ASSERT_TRUE(c.ok()) << c.status();
  const json j = json::parse(ExperimentConfigToJson(*c));
  EXPECT_TRUE(j["seed"].is_number_unsigned());
  EXPECT_TRUE(j["algorithm"]["hidden"].is_number_integer());
  EXPECT_TRUE(j["lease"]["lease_seconds"].is_number_float());
  EXPECT_TRUE(j["allow_repeats"].is_boolean());
  EXPECT_EQ(j["rungs"]["steps"], json::array({500}));
  EXPECT_EQ(j["search_space"]["intermediate_pool"].size(), 10u);
  size_t fields = 0;
  for (const auto& [key, value] : j.items()) fields += value.is_object() ? value.size() : 1;
  // Every line of the reference is one field the writer wrote.
  const std::vector<std::string> lines = absl::StrSplit(ExperimentConfigReference(), '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), fields);
}

TEST(ExperimentConfigTable, TheReferenceListsRangesDefaultsAndMeanings) {
  const std::string reference = ExperimentConfigReference();
  EXPECT_NE(reference.find("proxy.size: integer in [32, 4096], default 128; input size in pixels\n"), std::string::npos)
      << reference;
  EXPECT_NE(reference.find("algorithm.kind: one of ppo, reinforce, evolution, random, default \"ppo\"; "),
            std::string::npos)
      << reference;
  EXPECT_NE(reference.find("name: string, default \"\"; required"), std::string::npos) << reference;
}

}  // namespace
}  // namespace vertebra::controller
