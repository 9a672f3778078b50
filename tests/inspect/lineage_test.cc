#include "inspect/lineage.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/file_util.h"
#include "controller/config.h"
#include "controller/store.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_json.h"
#include "search_spaces/arch_spec.h"
#include "tests/testing/temp_dir.h"

namespace vertebra::inspect {
namespace {

namespace ctl = ::vertebra::controller;
namespace fs = std::filesystem;
using json = nlohmann::json;

class LineageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.db = (dir_ / "search.db").string();
    options_.out_dir = (dir_ / "retrain").string();
    options_.scaling = "49";
    options_.data = "synthetic";
  }

  // A search with one trained trial (id 4) in `experiment`.
  void MakeSearch(const std::string& experiment) {
    absl::StatusOr<v1::ExperimentConfig> config = ctl::ParseExperimentConfig(experiment, "test.json");
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<ctl::Store>> store = ctl::OpenSqliteStore(options_.db);
    ASSERT_TRUE(store.ok()) << store.status();
    ctl::Mutation m;
    m.create_experiment = *config;
    m.experiment_state = v1::EXPERIMENT_RUNNING;
    v1::Trial t;
    t.set_id(4);
    *t.mutable_spec() = *search_spaces::LoadArchSpec("spinenet-49");
    t.set_hash(search_spaces::ArchHash(t.spec()));
    t.set_state(v1::DONE);
    v1::RungResult* r = t.add_results();
    r->set_steps(200);
    r->set_reward(0.25);
    r->set_worker("w-1");
    for (int i = 0; i < 12; ++i) r->mutable_ap()->add_stats(0.25);
    m.trials.push_back(t);
    ASSERT_TRUE((*store)->Apply(m).ok());
    trial_ = t;
  }

  test_util::TempDir temp_{"lineage"};
  const fs::path& dir_ = temp_.path();
  RetrainLineageOptions options_;
  v1::Trial trial_;
};

TEST_F(LineageTest, WritesTheSpecAndTheLineageOfTheBestTrial) {
  MakeSearch(R"({"name": "demo"})");
  absl::StatusOr<RetrainLineage> lineage = WriteRetrainLineage(options_);
  ASSERT_TRUE(lineage.ok()) << lineage.status();
  EXPECT_EQ(lineage->trial.id(), 4);
  EXPECT_EQ(lineage->experiment, "demo");
  EXPECT_EQ(lineage->spec_path, (dir_ / "retrain" / "spec.json").string());
  absl::StatusOr<v1::ArchSpec> spec = search_spaces::ReadArchSpecFile(lineage->spec_path);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(search_spaces::ArchHash(*spec), trial_.hash());
  std::ifstream in(dir_ / "retrain" / "lineage.json");
  const json j = json::parse(in);
  EXPECT_EQ(j["database"], fs::absolute(options_.db).string());
  EXPECT_EQ(j["experiment"], "demo");
  EXPECT_EQ(j["configuration"]["name"], "demo");
  EXPECT_EQ(j["trial"], 4);
  EXPECT_EQ(j["hash"], trial_.hash());
  ASSERT_EQ(j["proxy_results"].size(), 1u);
  EXPECT_EQ(j["proxy_results"][0]["steps"], 200);
  EXPECT_DOUBLE_EQ(j["proxy_results"][0]["ap"].get<double>(), 0.25);
  EXPECT_EQ(j["proxy_results"][0]["worker"], "w-1");
  EXPECT_EQ(j["scaling"], "49");
  EXPECT_EQ(j["data"], "synthetic");
}

TEST_F(LineageTest, RefusesASimulatedSearch) {
  MakeSearch(R"({"name": "sim", "simulation": {"seconds": 0}})");
  absl::StatusOr<RetrainLineage> lineage = WriteRetrainLineage(options_);
  EXPECT_TRUE(absl::IsInvalidArgument(lineage.status())) << lineage.status();
  EXPECT_NE(lineage.status().message().find("a simulated experiment"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "retrain"));
}

TEST_F(LineageTest, AnUnknownTrialNamesTheFlag) {
  MakeSearch(R"({"name": "demo"})");
  options_.trial = "99";
  absl::StatusOr<RetrainLineage> lineage = WriteRetrainLineage(options_);
  EXPECT_TRUE(absl::IsNotFound(lineage.status())) << lineage.status();
  EXPECT_EQ(lineage.status().message().rfind("--trial: ", 0), 0u) << lineage.status();
}

TEST_F(LineageTest, RefusesToOverwriteACheckpointWithoutResume) {
  MakeSearch(R"({"name": "demo"})");
  fs::create_directories(options_.out_dir);
  ASSERT_TRUE(WriteFileAtomically(options_.out_dir + "/checkpoint.pt", "x").ok());
  absl::StatusOr<RetrainLineage> lineage = WriteRetrainLineage(options_);
  EXPECT_TRUE(absl::IsAlreadyExists(lineage.status())) << lineage.status();
  options_.resume = true;
  EXPECT_TRUE(WriteRetrainLineage(options_).ok());
}

TEST_F(LineageTest, AResumeOfAnotherArchitecturesRunIsRefused) {
  MakeSearch(R"({"name": "demo"})");
  fs::create_directories(options_.out_dir);
  ASSERT_TRUE(WriteFileAtomically(options_.out_dir + "/lineage.json", R"({"hash": "0123456789abcdef"})").ok());
  options_.resume = true;
  absl::StatusOr<RetrainLineage> lineage = WriteRetrainLineage(options_);
  EXPECT_TRUE(absl::IsInvalidArgument(lineage.status())) << lineage.status();
  EXPECT_NE(lineage.status().message().find("re-trains architecture 0123456789ab, not trial 4's"), std::string::npos)
      << lineage.status();
}

TEST_F(LineageTest, AMissingDatabaseIsAnError) {
  EXPECT_FALSE(WriteRetrainLineage(options_).ok());
  EXPECT_FALSE(fs::exists(dir_ / "retrain"));
}

}  // namespace
}  // namespace vertebra::inspect
