#include "worker/agent/proxy_runner.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <unistd.h>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "search_spaces/family.h"
#include "tests/testing/proxy_model.h"
#include "worker/precision.h"

namespace vertebra::worker {
namespace {

namespace fs = std::filesystem;

// A two-rung experiment on tiny synthetic images, read as `schedule` says.
v1::RegisterReply Experiment(const std::string& schedule) {
  v1::RegisterReply e;
  e.set_experiment("runner-" + schedule);
  e.set_seed(5);
  v1::ProxyTask* p = e.mutable_proxy();
  p->set_data("synthetic:size=64,images=24,min_side=12,max_side=40");
  p->set_val("synthetic:size=64,images=4,seed=9,min_side=12,max_side=40");
  p->set_size(64);
  p->set_scaling("proxy");
  p->set_classes(3);
  p->set_batch(2);
  p->set_threads(1);
  p->set_schedule(schedule);
  p->set_cooldown_fraction(0.5);
  p->set_ema_decay(0.9);
  e.mutable_rungs()->add_steps(4);
  e.mutable_rungs()->add_steps(8);
  return e;
}

v1::LeaseReply Lease(int rung) {
  v1::LeaseReply l;
  l.set_status(v1::LeaseReply::GRANTED);
  l.set_trial(1);
  l.set_lease(rung + 1);
  l.set_rung(rung);
  l.set_steps(rung == 0 ? 4 : 8);
  l.set_previous_steps(rung == 0 ? 0 : 4);
  *l.mutable_spec() = search_spaces::SpineNet49();
  *l.mutable_spec()->mutable_scaling() = test_util::ProxyScaling();
  return l;
}

class ProxyRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vertebra_runner_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Rung 0 then rung 1 of one trial on one worker.
  std::pair<v1::ReportRequest, v1::ReportRequest> TwoRungs(const std::string& schedule) {
    ProxyRunnerOptions o;
    o.work_dir = dir_.string();
    o.loader_threads = 1;
    ProxyRunner runner(o);
    const v1::RegisterReply e = Experiment(schedule);
    auto progress = [](const TrialProgress&) { return true; };
    absl::StatusOr<v1::ReportRequest> low = runner.Run(e, Lease(0), progress);
    EXPECT_TRUE(low.ok()) << schedule << ": " << low.status();
    absl::StatusOr<v1::ReportRequest> high = runner.Run(e, Lease(1), progress);
    EXPECT_TRUE(high.ok()) << schedule << ": " << high.status();
    return {low.value_or(v1::ReportRequest()), high.value_or(v1::ReportRequest())};
  }

  fs::path dir_;
};

TEST_F(ProxyRunnerTest, WsdReadsEachRungAfterACooldownAndAPromotionContinues) {
  auto [low, high] = TwoRungs("wsd");
  EXPECT_EQ(low.ap().stats_size(), 12);
  EXPECT_EQ(low.cooldown_steps(), 2);   // Half of 4 steps.
  EXPECT_FALSE(low.continued());
  EXPECT_EQ(high.cooldown_steps(), 4);  // Half of 8; no step of rung 0 again.
  EXPECT_TRUE(high.continued());
  // Each lease evaluated and wrote its checkpoint (rung 1 also read rung 0's back), apart from
  // its training.
  for (const v1::ReportRequest* r : {&low, &high}) {
    EXPECT_GT(r->eval_seconds(), 0);
    EXPECT_GT(r->checkpoint_seconds(), 0);
    EXPECT_GT(r->train_seconds(), 0);
  }
}

TEST_F(ProxyRunnerTest, EmaAndCosineReadWithoutExtraSteps) {
  for (const std::string schedule : {"ema", "cosine"}) {
    auto [low, high] = TwoRungs(schedule);
    EXPECT_EQ(low.cooldown_steps() + high.cooldown_steps(), 0) << schedule;
    EXPECT_TRUE(high.continued()) << schedule;
  }
}

TEST_F(ProxyRunnerTest, CosinePerRungTrainsEveryRungAnew) {
  auto [low, high] = TwoRungs("cosine_per_rung");
  EXPECT_FALSE(high.continued());
}

// Two workers sharing a work folder: the one that did not train rung 0 finds its checkpoint,
// says it holds it, and continues it from step 4; at the top rung the checkpoint goes.
TEST_F(ProxyRunnerTest, AWorkerSharingTheWorkFolderContinuesAnothersRun) {
  ProxyRunnerOptions o;
  o.work_dir = dir_.string();
  o.loader_threads = 1;
  ProxyRunner first(o), second(o);
  const v1::RegisterReply e = Experiment("wsd");
  int64_t started = -1;
  auto progress = [&](const TrialProgress& p) {
    started = p.start_step;
    return true;
  };
  const absl::StatusOr<v1::ReportRequest> low = first.Run(e, Lease(0), progress);
  ASSERT_TRUE(low.ok()) << low.status();
  EXPECT_TRUE(low->state_kept());
  EXPECT_EQ(started, 0);
  EXPECT_EQ(second.HeldTrials(e), std::vector<int64_t>{1});
  const absl::StatusOr<v1::ReportRequest> high = second.Run(e, Lease(1), progress);
  ASSERT_TRUE(high.ok()) << high.status();
  EXPECT_TRUE(high->continued());
  EXPECT_EQ(high->start_step(), 4);
  EXPECT_EQ(started, 4);
  EXPECT_FALSE(high->state_kept());
  EXPECT_TRUE(first.HeldTrials(e).empty());
}

TEST_F(ProxyRunnerTest, AnUnknownScheduleFailsTheTrialForGood) {
  ProxyRunnerOptions o;
  o.work_dir = dir_.string();
  ProxyRunner runner(o);
  const absl::StatusOr<v1::ReportRequest> out =
      runner.Run(Experiment("linear"), Lease(0), [](const TrialProgress&) { return true; });
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);  // Not Unavailable: not retried.
  EXPECT_NE(out.status().message().find("proxy.schedule"), std::string::npos) << out.status();
}

// The experiment's proxy.precision reaches the trainer; a record from before the field trains in
// fp32, as it did then.
TEST_F(ProxyRunnerTest, TrialsComputeInTheExperimentsPrecision) {
  ProxyRunnerOptions o;
  o.work_dir = dir_.string();
  o.loader_threads = 1;
  ProxyRunner runner(o);
  auto progress = [](const TrialProgress&) { return true; };
  for (const std::string precision : {"bf16", ""}) {
    v1::RegisterReply e = Experiment("cosine_per_rung");
    e.set_experiment("runner-precision-" + std::string(precision.empty() ? "unset" : precision));
    e.mutable_proxy()->set_precision(precision);
    ASSERT_TRUE(runner.Run(e, Lease(0), progress).ok()) << precision;
    std::ifstream in(dir_ / "runs" / e.experiment() / "trial-1" / "result.json");
    const nlohmann::json result = nlohmann::json::parse(in);
    const bool bf16 = precision == "bf16" && CpuHasBf16();
    EXPECT_EQ(result["precision_requested"], precision.empty() ? "fp32" : precision);
    EXPECT_EQ(result["precision"], bf16 ? "bf16" : "fp32") << precision;
  }
}

}  // namespace
}  // namespace vertebra::worker
