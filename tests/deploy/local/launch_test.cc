// The local launcher's pieces: child processes, the progress line and its display, and the
// launch's own checks. The whole launch, with real children, is tests/journey_test.sh's.
#include "deploy/local/launch.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_format.h"
#include "controller/config.h"
#include "controller/store.h"
#include "deploy/local/child_process.h"
#include "deploy/local/progress.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace vertebra::deploy {
namespace {

namespace ctl = ::vertebra::controller;
namespace fs = std::filesystem;

TEST(ChildProcess, ReportsTheExitStatusOnceAndZeroWhenNotRunning) {
  ChildProcess child("exit3", {"/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(child.Reap(), 0);  // Not started.
  ASSERT_TRUE(child.Start().ok());
  EXPECT_TRUE(child.running());
  std::optional<int> status;
  for (int i = 0; i < 200 && !status; ++i) {
    status = child.Reap();
    if (!status) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status, 3);
  EXPECT_FALSE(child.running());
  EXPECT_EQ(child.RunToEnd(), 3);
}

TEST(ChildProcess, StopEndsAChildThatIgnoresSigterm) {
  ChildProcess child("stubborn", {"/bin/sh", "-c", "trap '' TERM; sleep 30"});
  ASSERT_TRUE(child.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // Let it set its trap.
  EXPECT_FALSE(child.Reap().has_value());
  const auto t0 = std::chrono::steady_clock::now();
  child.Stop(0.3);
  EXPECT_FALSE(child.running());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(ChildProcess, WritesToItsLogAndExits127WhenItCannotRun) {
  const std::string log = (fs::temp_directory_path() / absl::StrFormat("vertebra_child_%d.log", getpid())).string();
  fs::remove(log);
  ChildProcess echo("echo", {"/bin/sh", "-c", "echo hello; echo oops >&2"}, log);
  EXPECT_EQ(echo.RunToEnd(), 0);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "hello\noops\n");
  fs::remove(log);
  ChildProcess missing("missing", {"/nonexistent/program"});
  EXPECT_EQ(missing.RunToEnd(), 127);
}

TEST(FormatDuration, SecondsMinutesHours) {
  EXPECT_EQ(FormatDuration(-3), "0s");
  EXPECT_EQ(FormatDuration(42.9), "42s");
  EXPECT_EQ(FormatDuration(187), "3m07s");
  EXPECT_EQ(FormatDuration(7500), "2h05m");
}

TEST(ProgressLine, CountsTheBestTrialAndTheRate) {
  absl::StatusOr<v1::ExperimentConfig> config =
      ctl::ParseExperimentConfig(R"({"name": "a", "budget": {"trials": 16}})", "a.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(ProgressLine(nullptr, *config, 10, 0), "waiting for the controller");
  std::unique_ptr<ctl::Store> store = ctl::NewMemoryStore();
  ctl::Mutation m;
  m.create_experiment = *config;
  m.experiment_state = v1::EXPERIMENT_RUNNING;
  for (int id = 1; id <= 3; ++id) {
    v1::Trial t;
    t.set_id(id);
    t.set_state(id == 3 ? v1::LEASED : v1::DONE);
    if (id < 3) {
      v1::RungResult* r = t.add_results();
      r->set_steps(200);
      for (int i = 0; i < 12; ++i) r->mutable_ap()->add_stats(0.1 * id);
    }
    m.trials.push_back(t);
  }
  ASSERT_TRUE(store->Apply(m).ok());
  EXPECT_EQ(ProgressLine(store.get(), *config, 0, 0),
            "trials 2/16 done, 1 running, 0 failed, 0 rejected | best AP 0.2000 (trial 2, rung 0, 200 steps)");
  // Two trials in an hour: 14 left take seven hours.
  EXPECT_EQ(ProgressLine(store.get(), *config, 3600, 0),
            "trials 2/16 done, 1 running, 0 failed, 0 rejected | best AP 0.2000 (trial 2, rung 0, 200 steps) | "
            "2.0 trials/h | about 7h00m left");
  // Trials done before this launch do not count towards the rate.
  EXPECT_EQ(ProgressLine(store.get(), *config, 3600, 2).find("trials/h"), std::string::npos);
}

// Controls and final runs are counted apart from the search's budget: the final runs against as
// many as the final section asks for until its stage begins, then against those it made.
TEST(ProgressLine, CountsControlsAndFinalRunsApart) {
  absl::StatusOr<v1::ExperimentConfig> config = ctl::ParseExperimentConfig(
      R"({"name": "a", "budget": {"trials": 3}, "controls": ["spinenet-49"], "final": {"top_k": 2, "seeds": 2}})",
      "a.json");
  ASSERT_TRUE(config.ok()) << config.status();
  std::unique_ptr<ctl::Store> store = ctl::NewMemoryStore();
  ctl::Mutation m;
  m.create_experiment = *config;
  m.experiment_state = v1::EXPERIMENT_RUNNING;
  auto trial = [&m](int64_t id, v1::TrialRole role, v1::TrialState state) {
    v1::Trial& t = m.trials.emplace_back();
    t.set_id(id);
    t.set_role(role);
    t.set_state(state);
  };
  trial(1, v1::TRIAL_ROLE_CONTROL, v1::LEASED);
  trial(2, v1::TRIAL_ROLE_SEARCH, v1::DONE);
  trial(3, v1::TRIAL_ROLE_SEARCH, v1::DONE);
  ASSERT_TRUE(store->Apply(m).ok());
  // (2 + 1) x 2 final runs to come; three finished in an hour, 1 + 1 + 6 left.
  EXPECT_EQ(ProgressLine(store.get(), *config, 3600, 0),
            "trials 2/3 done, 0 running, 0 failed, 0 rejected | controls 0/1 done, 1 running | final 0/6 done | "
            "2.0 trials/h | about 4h00m left");
  // The final stage began with one finalist: two runs of it and two of the control.
  m = {};
  trial(1, v1::TRIAL_ROLE_CONTROL, v1::DONE);
  trial(3, v1::TRIAL_ROLE_SEARCH, v1::DONE);
  for (int64_t id = 4; id <= 7; ++id) trial(id, v1::TRIAL_ROLE_FINAL, id == 4 ? v1::DONE : id == 5 ? v1::LEASED : v1::PENDING);
  ASSERT_TRUE(store->Apply(m).ok());
  EXPECT_EQ(ProgressLine(store.get(), *config, 0, 0),
            "trials 2/3 done, 0 running, 0 failed, 0 rejected | controls 1/1 done | final 1/4 done, 1 running");
}

TEST(ProgressDisplay, RewritesALiveLineAndWritesLinesToALog) {
  std::ostringstream live_out, log_out;
  ProgressDisplay live(live_out, /*live=*/true), log(log_out, /*live=*/false);
  EXPECT_TRUE(live.Due());
  EXPECT_TRUE(log.Due());
  live.Show("one");
  log.Show("one");
  EXPECT_FALSE(live.Due());  // Not before kLiveInterval.
  EXPECT_FALSE(log.Due());
  live.EndLine();
  log.EndLine();
  EXPECT_EQ(live_out.str(), "\r\033[Kone\n");
  EXPECT_EQ(log_out.str(), "one\n");
}

TEST(DefaultMaxRestarts, GrowsWithTheWorkers) {
  EXPECT_EQ(DefaultMaxRestarts(1), 13);
  EXPECT_EQ(DefaultMaxRestarts(8), 34);
}

class RunLocalSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.dir = (dir_ / "run").string();
    options_.binary = "/nonexistent/vertebra";  // Any child it starts would fail.
  }

  std::string WriteConfig(const std::string& text) {
    const std::string path = (dir_ / "experiment.json").string();
    std::ofstream(path) << text;
    return path;
  }

  test_util::TempDir temp_{"launch"};
  const fs::path& dir_ = temp_.path();
  LocalSearchOptions options_;
};

TEST_F(RunLocalSearchTest, SimulateMustMatchTheExperiment) {
  options_.config = WriteConfig(R"({"name": "sim", "simulation": {"seconds": 0}})");
  absl::Status s = RunLocalSearch(options_);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(), options_.config + ": a simulated experiment: pass --simulate to run simulated workers");

  options_.config = WriteConfig(R"({"name": "real"})");
  options_.simulate = true;
  s = RunLocalSearch(options_);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(), options_.config + ": --simulate needs an experiment with a \"simulation\" section");
  EXPECT_FALSE(fs::exists(options_.dir));  // Nothing made before the checks pass.
}

TEST_F(RunLocalSearchTest, AFolderThatCannotBeMadeIsNamed) {
  options_.config = WriteConfig(R"({"name": "real"})");
  std::ofstream(dir_ / "file") << "x";
  options_.dir = (dir_ / "file" / "run").string();
  const absl::Status s = RunLocalSearch(options_);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message().rfind("--dir: cannot create " + options_.dir + ": ", 0), 0u) << s;
}

TEST_F(RunLocalSearchTest, AControllerThatCannotStartIsReportedWithItsLog) {
  options_.config = WriteConfig(R"({"name": "real"})");
  const absl::Status s = RunLocalSearch(options_);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_EQ(s.message(), "the controller exited (status 127): see " + options_.dir + "/logs/controller.log");
}

// Loopback is not trust: a token per launch there too (and beyond), readable by its owner only;
// none with no_auth.
TEST_F(RunLocalSearchTest, ItWritesATokenOnLoopbackToo) {
  options_.config = WriteConfig(R"({"name": "real"})");
  for (const std::string listen : {"127.0.0.1:0", "0.0.0.0:0"}) {
    options_.listen = listen;
    EXPECT_TRUE(absl::IsFailedPrecondition(RunLocalSearch(options_)));
    const fs::path token = fs::path(options_.dir) / "token";
    ASSERT_TRUE(fs::exists(token)) << listen;
    EXPECT_EQ(fs::file_size(token), 48u);
    EXPECT_EQ(fs::status(token).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    fs::remove(token);
  }
  options_.listen = "127.0.0.1:0";
  options_.no_auth = true;
  EXPECT_TRUE(absl::IsFailedPrecondition(RunLocalSearch(options_)));
  EXPECT_FALSE(fs::exists(fs::path(options_.dir) / "token"));
}

TEST_F(RunLocalSearchTest, AFinishedSearchIsReportedNotRunAgain) {
  options_.config = WriteConfig(R"({"name": "real"})");
  fs::create_directories(options_.dir);
  {
    absl::StatusOr<std::unique_ptr<ctl::Store>> store = ctl::OpenSqliteStore(options_.dir + "/search.db");
    ASSERT_TRUE(store.ok()) << store.status();
    ctl::Mutation m;
    m.create_experiment = *ctl::ReadExperimentConfig(options_.config);
    m.experiment_state = v1::EXPERIMENT_FINISHED;
    ASSERT_TRUE((*store)->Apply(m).ok());
  }
  std::ofstream(options_.dir + "/report.html") << "<html>";
  ::testing::internal::CaptureStdout();
  const absl::Status s = RunLocalSearch(options_);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_NE(out.find("is finished (0 trials done, 0 failed): nothing to run"), std::string::npos) << out;
  EXPECT_NE(out.find("report: " + options_.dir + "/report.html"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(fs::path(options_.dir) / "logs" / "controller.log"));  // No controller started.
}

}  // namespace
}  // namespace vertebra::deploy
