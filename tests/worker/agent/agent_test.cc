#include "worker/agent/agent.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "controller/config.h"
#include "controller/scheduler.h"
#include "controller/service.h"
#include "gtest/gtest.h"
#include "worker/agent/run_folder.h"
#include "worker/agent/simulated.h"

namespace vertebra::worker {
namespace {

namespace ctl = ::vertebra::controller;
namespace fs = std::filesystem;

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vertebra_agent_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    // 0.1 s a trial at rung 0: long enough for heartbeats every 0.01 s to carry its progress.
    absl::StatusOr<v1::ExperimentConfig> config = ctl::ParseExperimentConfig(
        R"({"name": "agent", "algorithm": {"kind": "random", "queue": 2}, "budget": {"trials": 5},
            "rungs": {"steps": [100, 300], "eta": 2},
            "lease": {"lease_seconds": 30, "heartbeat_seconds": 0.01},
            "simulation": {"seconds": 0.3, "noise": 0.01}})",
        "agent.json");
    ASSERT_TRUE(config.ok()) << config.status();
    StartController(*config);
  }
  // A controller for `config` over a new store, in place of the one running.
  void StartController(const v1::ExperimentConfig& config) {
    server_.reset();
    scheduler_.reset();
    store_ = ctl::NewMemoryStore();
    scheduler_ = *ctl::Scheduler::Open(store_.get(), config, ctl::RealClock());
    ctl::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.token = "tok";
    server_ = *ctl::ControllerServer::Start(scheduler_.get(), store_.get(), options);
  }
  void TearDown() override {
    server_.reset();
    scheduler_.reset();
    fs::remove_all(dir_);
  }

  AgentOptions Options() const {
    AgentOptions o;
    o.controller = "127.0.0.1:" + std::to_string(server_->port());
    o.token = "tok";
    o.work_dir = dir_.string();
    o.simulated = true;
    o.give_up_seconds = 5;
    return o;
  }

  fs::path dir_;
  std::unique_ptr<ctl::Store> store_ = ctl::NewMemoryStore();
  std::unique_ptr<ctl::Scheduler> scheduler_;
  std::unique_ptr<ctl::ControllerServer> server_;
};

TEST_F(AgentTest, RunsTheExperimentToItsEnd) {
  SimulatedRunner runner;
  absl::StatusOr<AgentSummary> s = RunAgent(Options(), runner);
  ASSERT_TRUE(s.ok()) << s.status();
  // 5 trials at rung 0, and floor(5 / 2) = 2 promotions at rung 1.
  EXPECT_EQ(s->reported, 7);
  EXPECT_NE(s->exit_reason.find("finished"), std::string::npos) << s->exit_reason;
  const v1::StatusReply status = scheduler_->Status();
  EXPECT_EQ(status.state(), v1::EXPERIMENT_FINISHED);
  EXPECT_EQ(status.done(), 5);
  EXPECT_EQ(std::vector<int64_t>(status.rung_results().begin(), status.rung_results().end()),
            (std::vector<int64_t>{5, 2}));
  // Heartbeats carried progress into the store.
  EXPECT_FALSE(store_->Metrics(1)->empty());
  // Every result splits its simulated time: a tenth evaluation, a fiftieth checkpoint I/O when
  // the lease continued a run or kept its state (without a work folder: the promotions).
  const absl::StatusOr<ctl::Snapshot> snapshot = store_->Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  for (const v1::Trial& t : snapshot->trials) {
    for (const v1::RungResult& r : t.results()) {
      const double all = r.train_seconds() + r.eval_seconds() + r.checkpoint_seconds();
      EXPECT_NEAR(r.eval_seconds(), 0.1 * all, 1e-9);
      EXPECT_NEAR(r.checkpoint_seconds(), r.continued() ? 0.02 * all : 0, 1e-9);
      EXPECT_EQ(r.continued(), r.rung() == 1);
    }
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "spool"));
}

TEST_F(AgentTest, AWrongTokenIsAnErrorNotARetryLoop) {
  AgentOptions o = Options();
  o.token = "nope";
  SimulatedRunner runner;
  EXPECT_EQ(RunAgent(o, runner).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AgentTest, ASpooledReportFromAnEarlierRunIsDeliveredFirst) {
  // A worker that trained trial 1 and died before its report got through.
  v1::RegisterRequest registration;
  registration.set_host("old");
  registration.set_device("cpu");
  registration.set_simulated(true);
  absl::StatusOr<v1::RegisterReply> dead = scheduler_->Register(registration);
  ASSERT_TRUE(dead.ok());
  v1::LeaseRequest ask;
  ask.set_worker_id(dead->worker_id());
  ask.set_worker_secret(dead->worker_secret());
  absl::StatusOr<v1::LeaseReply> lease;
  for (int i = 0; i < 200; ++i) {
    lease = scheduler_->Lease(ask);
    ASSERT_TRUE(lease.ok());
    if (lease->status() == v1::LeaseReply::GRANTED) break;
    usleep(10000);  // The policy thread fills the queue.
  }
  ASSERT_EQ(lease->status(), v1::LeaseReply::GRANTED);
  v1::ReportRequest report;
  report.set_worker_id(dead->worker_id());
  report.set_worker_secret(dead->worker_secret());  // Spooled with the report.
  report.set_trial(lease->trial());
  report.set_lease(lease->lease());
  report.set_simulated(true);
  for (int i = 0; i < 12; ++i) report.mutable_ap()->add_stats(0.25);
  fs::create_directories(dir_ / "spool");
  ASSERT_TRUE(WriteFileAtomically((dir_ / "spool" / "trial-1.pb").string(), report.SerializeAsString()).ok());

  AgentOptions o = Options();
  o.max_trials = 1;
  SimulatedRunner runner;
  absl::StatusOr<AgentSummary> s = RunAgent(o, runner);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->spooled_resent, 1);
  const v1::Trial t = *scheduler_->GetTrial(lease->trial());
  EXPECT_EQ(t.state(), v1::DONE);
  EXPECT_DOUBLE_EQ(t.results(0).ap().stats(0), 0.25);
  EXPECT_FALSE(fs::exists(dir_ / "spool" / "trial-1.pb"));
}

TEST_F(AgentTest, AStopRequestGivesTheLeaseBack) {
  AgentOptions o = Options();
  std::atomic<bool> stop{false};
  o.stop = &stop;
  SimulatedRunner runner(/*seconds_override=*/30);  // Long enough to be stopped mid-trial.
  std::thread stopper([&] {
    while (scheduler_->Status().leased() == 0) usleep(5000);
    stop = true;
  });
  absl::StatusOr<AgentSummary> s = RunAgent(o, runner);
  stopper.join();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->released, 1);
  EXPECT_EQ(scheduler_->Status().leased(), 0);
  EXPECT_GE(scheduler_->Status().pending(), 1);
}

// A controller that restarts while a worker trains: the worker gets through again within moments
// and its report is taken under the lease it had. (It used to reach the restarted controller only
// after gRPC's 5-second backup poll, after the lease had expired, and its result was refused.)
TEST_F(AgentTest, AControllerRestartMidTrialKeepsTheLease) {
  server_.reset();
  scheduler_.reset();
  store_ = ctl::NewMemoryStore();
  absl::StatusOr<v1::ExperimentConfig> config = ctl::ParseExperimentConfig(
      R"({"name": "restart", "algorithm": {"kind": "random", "queue": 2}, "budget": {"trials": 3},
          "rungs": {"steps": [100]}, "lease": {"lease_seconds": 3, "heartbeat_seconds": 0.2},
          "simulation": {"seconds": 2, "noise": 0.01}})",
      "restart.json");
  ASSERT_TRUE(config.ok()) << config.status();
  ctl::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.token = "tok";
  auto start = [&] {
    scheduler_ = *ctl::Scheduler::Open(store_.get(), *config, ctl::RealClock());
    server_ = *ctl::ControllerServer::Start(scheduler_.get(), store_.get(), options);
  };
  start();
  options.listen = "127.0.0.1:" + std::to_string(server_->port());  // The restart takes the same port.
  AgentOptions o = Options();
  o.max_trials = 1;
  SimulatedRunner runner;  // 2 s per trial.
  absl::StatusOr<AgentSummary> summary;
  std::thread agent([&] { summary = RunAgent(o, runner); });
  while (scheduler_->Status().leased() == 0) usleep(5000);
  usleep(500000);  // A few heartbeats in.
  server_.reset();
  scheduler_.reset();
  usleep(300000);
  start();
  agent.join();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->reported, 1);
  const v1::Trial t = *scheduler_->GetTrial(1);
  EXPECT_EQ(t.state(), v1::DONE);
  ASSERT_EQ(t.results_size(), 1);
  EXPECT_EQ(t.results(0).lease(), 1);
  const std::vector<ctl::Event> events = *store_->Events(0, 1000);
  for (const ctl::Event& e : events) EXPECT_NE(e.kind, "expired") << e.detail;
}


// The trials whose run folder holds the state file, whatever else the experiment's folder holds.
TEST_F(AgentTest, HeldTrialsAreTheRunFoldersWithState) {
  EXPECT_TRUE(HeldTrials(dir_.string(), "a b", "state").empty());  // No folder yet.
  for (int64_t trial : {3, 12, 7}) {
    fs::create_directories(RunFolder(dir_.string(), "a b", trial));
    if (trial != 7) ASSERT_TRUE(WriteFileAtomically((RunFolder(dir_.string(), "a b", trial) / "state").string(), "x").ok());
  }
  EXPECT_EQ(RunFolder(dir_.string(), "a b", 3), dir_ / "runs" / "a_b" / "trial-3");
  fs::create_directories(dir_ / "runs" / "a_b" / "trial-x");
  fs::create_directories(dir_ / "runs" / "a_b" / "notes");
  EXPECT_EQ(HeldTrials(dir_.string(), "a b", "state"), (std::vector<int64_t>{3, 12}));
  EXPECT_TRUE(HeldTrials(dir_.string(), "other", "state").empty());
}

// Two workers that share their work folder: every promotion continues the state the rung below
// left there, whichever worker trained it, even with no wait for the holder; no step is trained
// twice.
TEST_F(AgentTest, WorkersSharingAWorkFolderRepeatNoStep) {
  absl::StatusOr<v1::ExperimentConfig> config = ctl::ParseExperimentConfig(
      R"({"name": "shared", "algorithm": {"kind": "random", "queue": 2}, "budget": {"trials": 8},
          "rungs": {"steps": [100, 300], "eta": 2},
          "lease": {"lease_seconds": 30, "heartbeat_seconds": 0.01, "promotion_wait_seconds": 0},
          "simulation": {"seconds": 0.3, "noise": 0.01}})",
      "shared.json");
  ASSERT_TRUE(config.ok()) << config.status();
  StartController(*config);
  const AgentOptions o = Options();
  SimulatedRunner first(-1, o.work_dir), second(-1, o.work_dir);
  absl::StatusOr<AgentSummary> one, two;
  std::thread a([&] { one = RunAgent(o, first); });
  std::thread b([&] { two = RunAgent(o, second); });
  a.join();
  b.join();
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(two.ok()) << two.status();
  const v1::StatusReply status = scheduler_->Status();
  ASSERT_EQ(std::vector<int64_t>(status.rung_results().begin(), status.rung_results().end()),
            (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(status.trained_steps(), 8 * 100 + 4 * 200);
  EXPECT_EQ(status.repeated_steps(), 0);
  for (int64_t id = 1; id <= 8; ++id) {
    const v1::Trial t = *scheduler_->GetTrial(id);
    if (t.results_size() < 2) continue;
    EXPECT_TRUE(t.results(1).continued()) << id;
    EXPECT_EQ(t.results(1).start_step(), 100) << id;
  }
  EXPECT_EQ(HeldTrials(o.work_dir, "shared", "state").size(), 4u);  // The trials not promoted.
}

}  // namespace
}  // namespace vertebra::worker
