// The store contract (controller/store.h), run against both implementations: the in-memory twin
// and SQLite on a fresh file. Then what only a file can do: survive a reopen, serve readers while
// a controller writes, keep a second controller out, and refuse files that are not ours.
#include "controller/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "proto/kinds.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace vertebra::controller {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

#define ASSERT_OK(expr)                    \
  do {                                     \
    const ::absl::Status status_ = (expr); \
    ASSERT_TRUE(status_.ok()) << status_;  \
  } while (0)

#define ASSERT_OK_AND_ASSIGN(lhs, expr) ASSERT_OK_AND_ASSIGN_IMPL_(VERTEBRA_CONCAT_(statusor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  ASSERT_TRUE(statusor.ok()) << statusor.status();      \
  lhs = std::move(statusor).value()

// A fresh directory under the test's temporary directory, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = absl::StrFormat("%sstore_test_XXXXXX", ::testing::TempDir());
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool FileExists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Runs SQL on the database with a connection of the test's own (what an operator or another tool
// could do to the file).
void RunSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

void ExpectSameMessage(const google::protobuf::Message& actual, const google::protobuf::Message& expected) {
  EXPECT_TRUE(MessageDifferencer::Equals(actual, expected)) << "actual:\n"
                                                            << actual.DebugString() << "expected:\n"
                                                            << expected.DebugString();
}

std::vector<int64_t> Ids(const std::vector<v1::Trial>& trials) {
  std::vector<int64_t> ids;
  for (const v1::Trial& trial : trials) ids.push_back(trial.id());
  return ids;
}

v1::MetricPoint Point(int64_t trial, int32_t rung, int64_t step, double loss, std::optional<double> ap, double at) {
  v1::MetricPoint p;
  p.set_trial(trial);
  p.set_rung(rung);
  p.set_step(step);
  p.set_loss(loss);
  p.set_has_ap(ap.has_value());
  p.set_ap(ap.value_or(0));
  p.set_at(at);
  return p;
}

std::optional<double> ApOf(const v1::MetricPoint& p) { return p.has_ap() ? std::optional<double>(p.ap()) : std::nullopt; }

v1::ExperimentConfig Config(const std::string& name) {
  v1::ExperimentConfig config;
  config.set_name(name);
  config.mutable_algorithm()->set_kind("ppo");
  config.mutable_budget()->set_trials(100);
  config.mutable_rungs()->add_steps(100);
  config.mutable_rungs()->add_steps(400);
  config.mutable_proxy()->set_data("synthetic");
  config.mutable_proxy()->set_classes(3);
  config.set_seed(42);
  return config;
}

v1::RungResult Result(int32_t rung, std::vector<double> stats) {
  v1::RungResult result;
  result.set_rung(rung);
  result.set_steps(100 * (rung + 1));
  for (double s : stats) result.mutable_ap()->add_stats(s);
  return result;
}

v1::Trial MakeTrial(int64_t id, v1::TrialState state = v1::PENDING, std::optional<double> ap = std::nullopt) {
  v1::Trial trial;
  trial.set_id(id);
  trial.set_state(state);
  trial.set_hash(absl::StrFormat("hash%d", id));
  if (ap) *trial.add_results() = Result(0, {*ap, 0.5});
  return trial;
}

// A trial with every field set, so that a round trip that drops one shows.
v1::Trial FullTrial(int64_t id) {
  v1::Trial trial;
  trial.set_id(id);
  v1::ArchSpec& spec = *trial.mutable_spec();
  spec.set_name("spinenet-49");
  for (int i = 0; i < 3; ++i) {
    v1::Block& block = *spec.add_blocks();
    block.set_level(3 + i);
    block.set_type(i % 2 == 0 ? v1::BOTTLENECK : v1::RESIDUAL);
    block.add_parents(i);
    block.add_parents(i + 1);
    block.set_output(i == 2);
  }
  spec.mutable_scaling()->set_filter_scale(0.75);
  spec.mutable_scaling()->set_resample_alpha(0.5);
  spec.mutable_scaling()->set_block_repeats(2);
  spec.mutable_scaling()->set_endpoint_filters(128);
  trial.set_hash("0123456789abcdef");
  trial.add_decisions(3);
  trial.add_decisions(1);
  trial.add_log_probs(-0.25);
  trial.add_log_probs(-1.5);
  trial.set_params(1234567);
  trial.set_macs(9876543210);
  trial.set_state(v1::LEASED);
  trial.set_rung(1);
  trial.set_attempts(2);
  trial.set_worker("w-7");
  trial.set_lease(17);
  trial.set_lease_deadline(1700000100.5);
  trial.set_created_at(1700000000.25);
  trial.set_leased_at(1700000050.125);
  trial.set_finished_at(1700000099.0);
  v1::RungResult& result = *trial.add_results();
  result = Result(0, {0.31, 0.52, 0.3, 0.1, 0.35, 0.45, 0.28, 0.44, 0.46, 0.2, 0.5, 0.6});
  result.set_reward(0.29);
  result.set_train_seconds(321.5);
  result.set_images_per_s(88.25);
  result.set_worker("w-7");
  result.set_simulated(true);
  result.set_continued(true);
  result.set_reported_at(1700000060.5);
  trial.set_failure("none yet");
  trial.set_reused_from(3);
  trial.set_parent(2);
  trial.set_reward(0.29);
  return trial;
}

WorkerRecord Worker(const std::string& id, int64_t trials_done) {
  WorkerRecord worker;
  worker.id = id;
  worker.host = "host-" + id;
  worker.device = "NVIDIA H200";
  worker.memory_mb = 143771;
  worker.simulated = true;
  worker.registered_at = 1700000000.5;
  worker.last_seen = 1700000000.5 + static_cast<double>(trials_done);
  worker.trials_done = trials_done;
  worker.secret_hash = std::string(64, 'a' + static_cast<char>(trials_done % 6));
  return worker;
}

Event MakeEvent(const std::string& kind, int64_t trial) {
  Event event;
  event.id = 99;  // Ignored: the store assigns ids.
  event.at = 1700000000.0 + static_cast<double>(trial);
  event.kind = kind;
  event.trial = trial;
  event.detail = "detail of " + kind;
  return event;
}

void ExpectSameWorker(const WorkerRecord& actual, const WorkerRecord& expected) {
  EXPECT_EQ(actual.id, expected.id);
  EXPECT_EQ(actual.host, expected.host);
  EXPECT_EQ(actual.device, expected.device);
  EXPECT_EQ(actual.memory_mb, expected.memory_mb);
  EXPECT_EQ(actual.simulated, expected.simulated);
  EXPECT_EQ(actual.registered_at, expected.registered_at);
  EXPECT_EQ(actual.last_seen, expected.last_seen);
  EXPECT_EQ(actual.trials_done, expected.trials_done);
  EXPECT_EQ(actual.secret_hash, expected.secret_hash);
}

// ---------------------------------------------------------------------------------------------
// BestAp.

TEST(BestApTest, PicksTheHighestRungWhateverTheOrder) {
  v1::Trial trial;
  *trial.add_results() = Result(2, {0.4});
  *trial.add_results() = Result(0, {0.9});
  *trial.add_results() = Result(1, {0.6});
  EXPECT_EQ(BestAp(trial), 0.4);
}

TEST(BestApTest, NoneWithoutResultsOrStats) {
  v1::Trial trial;
  EXPECT_EQ(BestAp(trial), std::nullopt);
  *trial.add_results() = Result(0, {0.9});
  *trial.add_results() = Result(1, {});  // The highest rung has no AP: the lower one does not stand in.
  EXPECT_EQ(BestAp(trial), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// The contract, against both implementations.

struct StoreFactory {
  std::string name;
  // A fresh, empty store; files, if any, go under `dir`.
  std::function<absl::StatusOr<std::unique_ptr<Store>>(const std::string& dir)> open;
};

class StoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_OK_AND_ASSIGN(store_, GetParam().open(dir_.path()));
  }

  absl::Status Apply(Mutation mutation) { return store_->Apply(mutation); }

  absl::Status CreateExperiment() {
    Mutation mutation;
    mutation.create_experiment = Config("exp");
    mutation.experiment_state = v1::EXPERIMENT_RUNNING;
    return Apply(std::move(mutation));
  }

  absl::Status PutTrials(std::vector<v1::Trial> trials) {
    Mutation mutation;
    mutation.trials = std::move(trials);
    return Apply(std::move(mutation));
  }

  ScratchDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContractTest, EmptyStoreLoadsNothing) {
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  EXPECT_FALSE(snapshot.experiment.has_value());
  EXPECT_EQ(snapshot.experiment_state, v1::EXPERIMENT_STATE_UNSPECIFIED);
  EXPECT_THAT(snapshot.trials, IsEmpty());
  EXPECT_THAT(snapshot.workers, IsEmpty());
  EXPECT_FALSE(snapshot.policy.has_value());
  EXPECT_EQ(snapshot.last_event_id, 0);

  ASSERT_OK_AND_ASSIGN(const RoleCounts roles, store_->Counts());
  const TrialCounts& counts = roles.search;
  EXPECT_EQ(counts.total(), 0);
  ASSERT_OK_AND_ASSIGN(const auto top, store_->TopTrials(5));
  EXPECT_THAT(top, IsEmpty());
  ASSERT_OK_AND_ASSIGN(const auto listed, store_->ListTrials(0, 10));
  EXPECT_THAT(listed, IsEmpty());
  ASSERT_OK_AND_ASSIGN(const auto metrics, store_->Metrics(1));
  EXPECT_THAT(metrics, IsEmpty());
  ASSERT_OK_AND_ASSIGN(const auto events, store_->Events(0, 10));
  EXPECT_THAT(events, IsEmpty());
  ASSERT_OK(store_->Apply(Mutation{}));  // An empty mutation changes nothing and needs no experiment.
}

TEST_P(StoreContractTest, GetTrialNotFoundNamesTheId) {
  ASSERT_OK(CreateExperiment());
  ASSERT_OK(PutTrials({MakeTrial(1)}));
  const absl::StatusOr<v1::Trial> trial = store_->GetTrial(4242);
  EXPECT_TRUE(absl::IsNotFound(trial.status())) << trial.status();
  EXPECT_THAT(trial.status().message(), HasSubstr("4242"));
}

TEST_P(StoreContractTest, ExperimentIsCreatedOnce) {
  ASSERT_OK(CreateExperiment());
  Mutation again;
  again.create_experiment = Config("other");
  const absl::Status status = Apply(again);
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;

  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  ASSERT_TRUE(snapshot.experiment.has_value());
  ExpectSameMessage(*snapshot.experiment, Config("exp"));
  EXPECT_EQ(snapshot.experiment_state, v1::EXPERIMENT_RUNNING);
}

TEST_P(StoreContractTest, ExperimentStateChanges) {
  ASSERT_OK(CreateExperiment());
  Mutation mutation;
  mutation.experiment_state = v1::EXPERIMENT_STOPPED;
  ASSERT_OK(Apply(mutation));
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  EXPECT_EQ(snapshot.experiment_state, v1::EXPERIMENT_STOPPED);
  ExpectSameMessage(*snapshot.experiment, Config("exp"));
}

TEST_P(StoreContractTest, ChangeWithoutExperimentFails) {
  std::vector<Mutation> changes(6);
  changes[0].trials.push_back(MakeTrial(1));
  changes[1].experiment_state = v1::EXPERIMENT_RUNNING;
  changes[2].metrics.push_back(Point(1, 0, 10, 1.0, std::nullopt, 5.0));
  changes[3].workers.push_back(Worker("w", 0));
  changes[4].policy = PolicyCheckpoint{v1::ALGORITHM_RANDOM, 0, ""};
  changes[5].events.push_back(MakeEvent("leased", 1));
  for (const Mutation& change : changes) {
    const absl::Status status = Apply(change);
    EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  }
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  EXPECT_FALSE(snapshot.experiment.has_value());
  EXPECT_THAT(snapshot.trials, IsEmpty());
  EXPECT_THAT(snapshot.workers, IsEmpty());
  EXPECT_FALSE(snapshot.policy.has_value());
  EXPECT_EQ(snapshot.last_event_id, 0);
}

TEST_P(StoreContractTest, CreateWithEverythingInOneMutation) {
  Mutation mutation;
  mutation.create_experiment = Config("exp");
  mutation.experiment_state = v1::EXPERIMENT_RUNNING;
  mutation.trials.push_back(MakeTrial(1));
  mutation.events.push_back(MakeEvent("started", 0));
  ASSERT_OK(Apply(mutation));
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  EXPECT_TRUE(snapshot.experiment.has_value());
  EXPECT_THAT(Ids(snapshot.trials), ElementsAre(1));
  EXPECT_EQ(snapshot.last_event_id, 1);
}

TEST_P(StoreContractTest, TrialRoundTripKeepsEveryField) {
  ASSERT_OK(CreateExperiment());
  const v1::Trial trial = FullTrial(7);
  ASSERT_OK(PutTrials({trial}));

  ASSERT_OK_AND_ASSIGN(const v1::Trial got, store_->GetTrial(7));
  ExpectSameMessage(got, trial);
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  ASSERT_EQ(snapshot.trials.size(), 1u);
  ExpectSameMessage(snapshot.trials[0], trial);
}

TEST_P(StoreContractTest, TrialIsUpdatedInPlace) {
  ASSERT_OK(CreateExperiment());
  ASSERT_OK(PutTrials({MakeTrial(3, v1::PENDING), MakeTrial(4, v1::PENDING)}));
  v1::Trial done = FullTrial(3);
  done.set_state(v1::DONE);
  ASSERT_OK(PutTrials({done}));

  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  ASSERT_THAT(Ids(snapshot.trials), ElementsAre(3, 4));
  ExpectSameMessage(snapshot.trials[0], done);
  ASSERT_OK_AND_ASSIGN(const RoleCounts roles, store_->Counts());
  const TrialCounts& counts = roles.search;
  EXPECT_EQ(counts.pending, 1);
  EXPECT_EQ(counts.done, 1);
  EXPECT_EQ(counts.total(), 2);
  ASSERT_OK_AND_ASSIGN(const auto top, store_->TopTrials(10));
  EXPECT_THAT(Ids(top), ElementsAre(3));
}

TEST_P(StoreContractTest, BadTrialIdAppliesNothing) {
  // Even the experiment's creation goes when a trial of its mutation is bad.
  Mutation create;
  create.create_experiment = Config("exp");
  create.trials.push_back(MakeTrial(0));
  EXPECT_TRUE(absl::IsInvalidArgument(Apply(create)));
  ASSERT_OK_AND_ASSIGN(const Snapshot empty, store_->Load());
  EXPECT_FALSE(empty.experiment.has_value());

  ASSERT_OK(CreateExperiment());
  for (const int64_t bad_id : {0, -5}) {
    Mutation mutation;
    mutation.experiment_state = v1::EXPERIMENT_STOPPED;
    mutation.trials.push_back(MakeTrial(1));
    mutation.events.push_back(MakeEvent("leased", 1));
    mutation.metrics.push_back(Point(1, 0, 10, 1.0, 0.5, 5.0));
    mutation.workers.push_back(Worker("w", 1));
    mutation.policy = PolicyCheckpoint{v1::ALGORITHM_PPO, 1, "weights"};
    mutation.trials.push_back(MakeTrial(bad_id));
    const absl::Status status = Apply(mutation);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
    EXPECT_THAT(status.message(), HasSubstr(absl::StrFormat("%d", bad_id)));
  }

  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  EXPECT_EQ(snapshot.experiment_state, v1::EXPERIMENT_RUNNING);
  EXPECT_THAT(snapshot.trials, IsEmpty());
  EXPECT_THAT(snapshot.workers, IsEmpty());
  EXPECT_FALSE(snapshot.policy.has_value());
  EXPECT_EQ(snapshot.last_event_id, 0);
  ASSERT_OK_AND_ASSIGN(const auto metrics, store_->Metrics(1));
  EXPECT_THAT(metrics, IsEmpty());
}

TEST_P(StoreContractTest, CountsByState) {
  ASSERT_OK(CreateExperiment());
  ASSERT_OK(
      PutTrials({MakeTrial(1, v1::PENDING), MakeTrial(2, v1::PENDING), MakeTrial(3, v1::LEASED), MakeTrial(4, v1::DONE),
                 MakeTrial(5, v1::DONE), MakeTrial(6, v1::DONE), MakeTrial(7, v1::FAILED), MakeTrial(8, v1::REJECTED),
                 MakeTrial(9, v1::STOPPED), MakeTrial(10, v1::TRIAL_STATE_UNSPECIFIED)}));
  ASSERT_OK_AND_ASSIGN(const RoleCounts roles, store_->Counts());
  const TrialCounts& counts = roles.search;
  EXPECT_EQ(counts.pending, 2);
  EXPECT_EQ(counts.leased, 1);
  EXPECT_EQ(counts.done, 3);
  EXPECT_EQ(counts.failed, 1);
  EXPECT_EQ(counts.rejected, 1);
  EXPECT_EQ(counts.stopped, 1);
  EXPECT_EQ(counts.total(), 9);  // The unspecified one counts nowhere.
  EXPECT_EQ(roles.All().total(), 9);
}

TEST_P(StoreContractTest, CountsByRole) {
  ASSERT_OK(CreateExperiment());
  std::vector<v1::Trial> trials = {MakeTrial(1, v1::DONE), MakeTrial(2, v1::PENDING), MakeTrial(3, v1::DONE),
                                   MakeTrial(4, v1::LEASED), MakeTrial(5, v1::DONE), MakeTrial(6, v1::PENDING)};
  trials[1].set_role(v1::TRIAL_ROLE_SEARCH);  // Trial 1 is unspecified: stored before roles, a search trial.
  trials[2].set_role(v1::TRIAL_ROLE_CONTROL);
  trials[3].set_role(v1::TRIAL_ROLE_CONTROL);
  trials[4].set_role(v1::TRIAL_ROLE_FINAL);
  trials[5].set_role(v1::TRIAL_ROLE_FINAL);
  ASSERT_OK(PutTrials(trials));
  ASSERT_OK_AND_ASSIGN(const RoleCounts roles, store_->Counts());
  EXPECT_EQ(roles.search.done, 1);
  EXPECT_EQ(roles.search.pending, 1);
  EXPECT_EQ(roles.controls.done, 1);
  EXPECT_EQ(roles.controls.leased, 1);
  EXPECT_EQ(roles.final_runs.done, 1);
  EXPECT_EQ(roles.final_runs.pending, 1);
  EXPECT_EQ(roles.All().done, 3);
  EXPECT_EQ(roles.All().total(), 6);
}

TEST_P(StoreContractTest, TopTrialsBestFirstTiesByLowerId) {
  ASSERT_OK(CreateExperiment());
  v1::Trial promoted = MakeTrial(5, v1::DONE);
  *promoted.add_results() = Result(0, {0.9});
  *promoted.add_results() = Result(1, {0.1});  // Its highest rung decides: 0.1, not 0.9.
  v1::Trial no_stats = MakeTrial(6, v1::DONE);
  *no_stats.add_results() = Result(0, {});
  ASSERT_OK(PutTrials({MakeTrial(4, v1::DONE, 0.5), MakeTrial(1, v1::DONE, 0.3), MakeTrial(2, v1::DONE, 0.5),
                       MakeTrial(3, v1::PENDING), promoted, no_stats, MakeTrial(7, v1::DONE, 0.0)}));

  ASSERT_OK_AND_ASSIGN(const auto all, store_->TopTrials(100));
  EXPECT_THAT(Ids(all), ElementsAre(2, 4, 1, 5, 7));
  ASSERT_OK_AND_ASSIGN(const auto two, store_->TopTrials(2));
  EXPECT_THAT(Ids(two), ElementsAre(2, 4));
  ExpectSameMessage(two[0], MakeTrial(2, v1::DONE, 0.5));
  ASSERT_OK_AND_ASSIGN(const auto none, store_->TopTrials(0));
  EXPECT_THAT(none, IsEmpty());

  // A trial's rank follows its updates.
  ASSERT_OK(PutTrials({MakeTrial(1, v1::DONE, 0.95)}));
  ASSERT_OK_AND_ASSIGN(const auto top, store_->TopTrials(1));
  EXPECT_THAT(Ids(top), ElementsAre(1));
}

// Controls and final runs are kept like any trial but never ranked with the search's; the final
// stage's record is replaced whole.
TEST_P(StoreContractTest, RolesAreRankedApartAndTheFinalStageIsReplaced) {
  ASSERT_OK(CreateExperiment());
  v1::Trial control = MakeTrial(1, v1::DONE, 0.9);
  control.set_role(v1::TRIAL_ROLE_CONTROL);
  v1::Trial final_run = MakeTrial(3, v1::DONE, 0.8);
  final_run.set_role(v1::TRIAL_ROLE_FINAL);
  v1::Trial search = MakeTrial(4, v1::DONE, 0.5);
  search.set_role(v1::TRIAL_ROLE_SEARCH);
  ASSERT_OK(PutTrials({control, MakeTrial(2, v1::DONE, 0.3), final_run, search}));
  ASSERT_OK_AND_ASSIGN(const auto top, store_->TopTrials(10));
  EXPECT_THAT(Ids(top), ElementsAre(4, 2));
  ASSERT_OK_AND_ASSIGN(const auto listed, store_->ListTrials(0, 10));
  EXPECT_THAT(Ids(listed), ElementsAre(1, 2, 3, 4));
  ASSERT_OK_AND_ASSIGN(const std::optional<v1::FinalStage> none, store_->GetFinalStage());
  EXPECT_FALSE(none.has_value());
  v1::FinalStage stage;
  stage.mutable_config()->set_top_k(2);
  stage.add_finalists(4);
  stage.add_controls(1);
  Mutation m;
  m.final_stage = stage;
  ASSERT_OK(Apply(m));
  stage.set_note("extended");
  m.final_stage = stage;
  ASSERT_OK(Apply(m));
  ASSERT_OK_AND_ASSIGN(const std::optional<v1::FinalStage> read, store_->GetFinalStage());
  ASSERT_TRUE(read.has_value());
  ExpectSameMessage(*read, stage);
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  ASSERT_TRUE(snapshot.final_stage.has_value());
  ExpectSameMessage(*snapshot.final_stage, stage);
}

TEST_P(StoreContractTest, ListTrialsPagesById) {
  ASSERT_OK(CreateExperiment());
  ASSERT_OK(PutTrials({MakeTrial(5), MakeTrial(1)}));
  ASSERT_OK(PutTrials({MakeTrial(3), MakeTrial(2), MakeTrial(4)}));

  ASSERT_OK_AND_ASSIGN(const auto page1, store_->ListTrials(0, 2));
  EXPECT_THAT(Ids(page1), ElementsAre(1, 2));
  ASSERT_OK_AND_ASSIGN(const auto page2, store_->ListTrials(2, 2));
  EXPECT_THAT(Ids(page2), ElementsAre(3, 4));
  ASSERT_OK_AND_ASSIGN(const auto page3, store_->ListTrials(4, 2));
  EXPECT_THAT(Ids(page3), ElementsAre(5));
  ASSERT_OK_AND_ASSIGN(const auto past_end, store_->ListTrials(5, 2));
  EXPECT_THAT(past_end, IsEmpty());
  EXPECT_TRUE(absl::IsInvalidArgument(store_->ListTrials(-1, 2).status()));

  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  EXPECT_THAT(Ids(snapshot.trials), ElementsAre(1, 2, 3, 4, 5));
}

TEST_P(StoreContractTest, MetricsWithAndWithoutAp) {
  ASSERT_OK(CreateExperiment());
  Mutation first;
  first.metrics.push_back(Point(1, 0, 20, 1.5, std::nullopt, 100.5));
  first.metrics.push_back(Point(2, 0, 10, 2.5, 0.125, 101.0));
  ASSERT_OK(Apply(first));
  Mutation second;
  // Insertion order, not step order: a continued trial restarts its step count at a new rung.
  second.metrics.push_back(Point(1, 1, 5, 1.25, 0.25, 102.0));
  // A diverged run reports a NaN loss; it must not fail the write.
  second.metrics.push_back(Point(1, 1, 6, std::nan(""), std::nullopt, 103.0));
  // A NaN AP is no AP (SQLite stores NaN as NULL; the twin agrees).
  second.metrics.push_back(Point(1, 1, 7, 1.0, std::nan(""), 104.0));
  ASSERT_OK(Apply(second));

  ASSERT_OK_AND_ASSIGN(const std::vector<v1::MetricPoint> points, store_->Metrics(1));
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[0].trial(), 1);
  EXPECT_EQ(points[0].rung(), 0);
  EXPECT_EQ(points[0].step(), 20);
  EXPECT_EQ(points[0].loss(), 1.5);
  EXPECT_EQ(ApOf(points[0]), std::nullopt);
  EXPECT_EQ(points[0].at(), 100.5);
  EXPECT_EQ(points[1].rung(), 1);
  EXPECT_EQ(points[1].step(), 5);
  EXPECT_EQ(points[1].loss(), 1.25);
  EXPECT_EQ(ApOf(points[1]), 0.25);
  EXPECT_EQ(points[1].at(), 102.0);
  EXPECT_TRUE(std::isnan(points[2].loss()));
  EXPECT_EQ(ApOf(points[2]), std::nullopt);
  EXPECT_EQ(points[3].step(), 7);
  EXPECT_EQ(ApOf(points[3]), std::nullopt);

  ASSERT_OK_AND_ASSIGN(const std::vector<v1::MetricPoint> other, store_->Metrics(2));
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(ApOf(other[0]), 0.125);
  ASSERT_OK_AND_ASSIGN(const std::vector<v1::MetricPoint> none, store_->Metrics(3));
  EXPECT_THAT(none, IsEmpty());
}

TEST_P(StoreContractTest, WorkersAreUpsertedById) {
  ASSERT_OK(CreateExperiment());
  Mutation first;
  first.workers = {Worker("b", 0), Worker("a", 0)};
  ASSERT_OK(Apply(first));
  Mutation second;
  second.workers = {Worker("a", 3)};
  ASSERT_OK(Apply(second));

  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  ASSERT_EQ(snapshot.workers.size(), 2u);
  ExpectSameWorker(snapshot.workers[0], Worker("a", 3));
  ExpectSameWorker(snapshot.workers[1], Worker("b", 0));
}

TEST_P(StoreContractTest, PolicyCheckpointIsReplaced) {
  ASSERT_OK(CreateExperiment());
  Mutation first;
  first.policy = PolicyCheckpoint{v1::ALGORITHM_PPO, 1, std::string("\0binary\xff state", 14)};
  ASSERT_OK(Apply(first));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, store_->Load());
  ASSERT_TRUE(before.policy.has_value());
  EXPECT_EQ(before.policy->state, std::string("\0binary\xff state", 14));

  Mutation second;
  second.policy = PolicyCheckpoint{v1::ALGORITHM_EVOLUTION, 5, "population"};
  ASSERT_OK(Apply(second));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, store_->Load());
  ASSERT_TRUE(after.policy.has_value());
  EXPECT_EQ(after.policy->algorithm, v1::ALGORITHM_EVOLUTION);
  EXPECT_EQ(after.policy->observed, 5);
  EXPECT_EQ(after.policy->state, "population");
}

TEST_P(StoreContractTest, EventIdsIncreaseAndPage) {
  ASSERT_OK(CreateExperiment());
  Mutation first;
  first.events = {MakeEvent("started", 0), MakeEvent("leased", 1), MakeEvent("reported", 1)};
  ASSERT_OK(Apply(first));
  Mutation second;
  second.events = {MakeEvent("promoted", 1), MakeEvent("expired", 2)};
  ASSERT_OK(Apply(second));

  ASSERT_OK_AND_ASSIGN(const std::vector<Event> all, store_->Events(0, 100));
  ASSERT_EQ(all.size(), 5u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_GT(all[i].id, all[i - 1].id);
  EXPECT_EQ(all[0].kind, "started");
  EXPECT_EQ(all[0].trial, 0);
  EXPECT_EQ(all[4].kind, "expired");
  EXPECT_EQ(all[4].trial, 2);
  EXPECT_EQ(all[4].at, 1700000002.0);
  EXPECT_EQ(all[4].detail, "detail of expired");

  ASSERT_OK_AND_ASSIGN(const std::vector<Event> page, store_->Events(all[1].id, 2));
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, all[2].id);
  EXPECT_EQ(page[1].id, all[3].id);
  ASSERT_OK_AND_ASSIGN(const std::vector<Event> rest, store_->Events(all[3].id, 10));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].kind, "expired");
  ASSERT_OK_AND_ASSIGN(const std::vector<Event> none, store_->Events(all[4].id, 10));
  EXPECT_THAT(none, IsEmpty());

  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store_->Load());
  EXPECT_EQ(snapshot.last_event_id, all[4].id);
}

StoreFactory MemoryFactory() {
  return {"Memory", [](const std::string&) -> absl::StatusOr<std::unique_ptr<Store>> { return NewMemoryStore(); }};
}

StoreFactory SqliteFactory() {
  return {"Sqlite", [](const std::string& dir) { return OpenSqliteStore(dir + "/experiment.db"); }};
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest, ::testing::Values(MemoryFactory(), SqliteFactory()),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// What only the SQLite store does.

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }

  static Mutation CreateMutation() {
    Mutation mutation;
    mutation.create_experiment = Config("exp");
    mutation.experiment_state = v1::EXPERIMENT_RUNNING;
    return mutation;
  }

  static SqliteOptions ReadOnly() {
    SqliteOptions options;
    options.read_only = true;
    return options;
  }

  ScratchDir dir_;
  const std::string path_ = dir_.path() + "/experiment.db";
};

TEST_F(SqliteStoreTest, FreshFileIsAtTheCurrentSchemaVersion) {
  { ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_)); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// A database of schema version 1 (workers without secret hashes) is migrated by the controller;
// its workers come back with no hash, so that none of them can be impersonated by an empty secret.
TEST_F(SqliteStoreTest, VersionOneGainsTheWorkersSecretHashes) {
  {
    ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_));
    Mutation m;
    m.create_experiment = v1::ExperimentConfig();
    m.workers.push_back(Worker("w-1", 0));
    ASSERT_TRUE(store->Apply(m).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE workers DROP COLUMN certificate_subject; "
                         "ALTER TABLE workers DROP COLUMN secret_hash; ALTER TABLE trials DROP COLUMN role; "
                         "ALTER TABLE experiment DROP COLUMN final_stage; PRAGMA user_version = 1", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_));
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store->Load());
  ASSERT_EQ(snapshot.workers.size(), 1u);
  EXPECT_EQ(snapshot.workers[0].id, "w-1");
  EXPECT_EQ(snapshot.workers[0].secret_hash, "");
  EXPECT_EQ(snapshot.workers[0].certificate_subject, "");
}

// Version 3 (before mTLS bindings): its workers come back bound to no certificate, and a
// worker's certificate subject is kept from then on.
TEST_F(SqliteStoreTest, VersionThreeGainsTheWorkersCertificateSubjects) {
  {
    ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_));
    Mutation m;
    m.create_experiment = v1::ExperimentConfig();
    m.workers.push_back(Worker("w-1", 0));
    ASSERT_TRUE(store->Apply(m).ok());
  }
  RunSql(path_, "ALTER TABLE workers DROP COLUMN certificate_subject; PRAGMA user_version = 3");
  ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_));
  Mutation m;
  WorkerRecord bound = Worker("w-2", 0);
  bound.certificate_subject = "CN=worker-2";
  m.workers.push_back(bound);
  ASSERT_TRUE(store->Apply(m).ok());
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store->Load());
  ASSERT_EQ(snapshot.workers.size(), 2u);
  EXPECT_EQ(snapshot.workers[0].certificate_subject, "");
  EXPECT_EQ(snapshot.workers[1].certificate_subject, "CN=worker-2");
}

// A configuration stored before proxy.classes existed reads with the class count the search
// priced it with: the data's default.
TEST_F(SqliteStoreTest, ConfigurationWithoutClassesReadsWithTheDataDefault) {
  for (const auto& [data, classes] : std::vector<std::pair<std::string, int>>{
           {"synthetic", 3}, {"synthetic:classes=5", 5}, {"coco:a.json:images", 80}}) {
    const std::string path = path_ + "." + std::to_string(classes);
    Mutation mutation = CreateMutation();
    mutation.create_experiment->mutable_proxy()->set_data(data);
    mutation.create_experiment->mutable_proxy()->clear_classes();
    {
      ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path));
      ASSERT_OK(store->Apply(mutation));
    }
    ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path, ReadOnly()));
    ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store->Load());
    ASSERT_TRUE(snapshot.experiment.has_value());
    EXPECT_EQ(snapshot.experiment->proxy().classes(), classes) << data;
  }
}

TEST_F(SqliteStoreTest, DataSurvivesReopen) {
  const v1::Trial trial = FullTrial(9);
  {
    ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_));
    Mutation mutation = CreateMutation();
    mutation.trials = {trial, MakeTrial(2, v1::DONE, 0.2)};  // Below trial 9's 0.31.
    mutation.metrics = {Point(9, 0, 10, 0.5, 0.25, 1.0)};
    mutation.workers = {Worker("w", 1)};
    mutation.policy = PolicyCheckpoint{v1::ALGORITHM_REINFORCE, 2, "weights"};
    mutation.events = {MakeEvent("started", 0), MakeEvent("leased", 9)};
    ASSERT_OK(store->Apply(mutation));
  }
  for (const bool read_only : {false, true}) {
    SqliteOptions options;
    options.read_only = read_only;
    ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_, options));
    ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store->Load());
    ASSERT_TRUE(snapshot.experiment.has_value());
    ExpectSameMessage(*snapshot.experiment, Config("exp"));
    EXPECT_EQ(snapshot.experiment_state, v1::EXPERIMENT_RUNNING);
    ASSERT_THAT(Ids(snapshot.trials), ElementsAre(2, 9));
    ExpectSameMessage(snapshot.trials[1], trial);
    ASSERT_EQ(snapshot.workers.size(), 1u);
    ExpectSameWorker(snapshot.workers[0], Worker("w", 1));
    ASSERT_TRUE(snapshot.policy.has_value());
    EXPECT_EQ(snapshot.policy->state, "weights");
    EXPECT_EQ(snapshot.last_event_id, 2);
    ASSERT_OK_AND_ASSIGN(const auto points, store->Metrics(9));
    ASSERT_EQ(points.size(), 1u);
    EXPECT_EQ(ApOf(points[0]), 0.25);
    ASSERT_OK_AND_ASSIGN(const auto top, store->TopTrials(1));
    EXPECT_THAT(Ids(top), ElementsAre(9));
  }
}

TEST_F(SqliteStoreTest, ReadOnlyOpenOfMissingFileIsNotFound) {
  const absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(path_, ReadOnly());
  EXPECT_TRUE(absl::IsNotFound(store.status())) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(path_));
  EXPECT_FALSE(FileExists(path_));
}

TEST_F(SqliteStoreTest, ReaderSeesALiveWriterAndCannotWrite) {
  ASSERT_OK_AND_ASSIGN(const auto writer, OpenSqliteStore(path_));
  Mutation create = CreateMutation();
  create.trials = {MakeTrial(1, v1::DONE, 0.3)};
  ASSERT_OK(writer->Apply(create));

  ASSERT_OK_AND_ASSIGN(const auto reader, OpenSqliteStore(path_, ReadOnly()));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, reader->Load());
  EXPECT_THAT(Ids(before.trials), ElementsAre(1));

  Mutation more;
  more.trials = {MakeTrial(2, v1::PENDING)};
  ASSERT_OK(writer->Apply(more));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, reader->Load());
  EXPECT_THAT(Ids(after.trials), ElementsAre(1, 2));
  ASSERT_OK_AND_ASSIGN(const RoleCounts roles, reader->Counts());
  const TrialCounts& counts = roles.search;
  EXPECT_EQ(counts.pending, 1);
  EXPECT_EQ(counts.done, 1);

  const absl::Status status = reader->Apply(more);
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr(path_));
  // The writer is unaffected by the reader and its failed write.
  ASSERT_OK(writer->Apply(more));
}

TEST_F(SqliteStoreTest, ReaderOpensAfterTheWriterIsGone) {
  {
    ASSERT_OK_AND_ASSIGN(const auto writer, OpenSqliteStore(path_));
    Mutation create = CreateMutation();
    create.trials = {MakeTrial(1)};
    ASSERT_OK(writer->Apply(create));
  }
  ASSERT_OK_AND_ASSIGN(const auto reader, OpenSqliteStore(path_, ReadOnly()));
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, reader->Load());
  EXPECT_THAT(Ids(snapshot.trials), ElementsAre(1));
}

TEST_F(SqliteStoreTest, SecondWriterIsUnavailable) {
  {
    ASSERT_OK_AND_ASSIGN(const auto first, OpenSqliteStore(path_));
    const absl::StatusOr<std::unique_ptr<Store>> second = OpenSqliteStore(path_);
    EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
    EXPECT_THAT(second.status().message(), AllOf(HasSubstr(path_), HasSubstr("another controller")));
    // The refused open did not disturb the first.
    ASSERT_OK(first->Apply(CreateMutation()));
  }
  ASSERT_OK_AND_ASSIGN(const auto again, OpenSqliteStore(path_));
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, again->Load());
  EXPECT_TRUE(snapshot.experiment.has_value());
}

TEST_F(SqliteStoreTest, SecondWriterWaitsForTheLockWhenAsked) {
  auto first = OpenSqliteStore(path_);
  ASSERT_OK(first.status());
  SqliteOptions wait;
  wait.lock_wait_seconds = 0.3;
  // Still held after the wait: refused, saying it waited.
  const absl::StatusOr<std::unique_ptr<Store>> refused = OpenSqliteStore(path_, wait);
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("waited"));
  // Let go during the wait (a requeued controller still being killed): the open succeeds.
  wait.lock_wait_seconds = 30;
  std::thread release([&first] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    first->reset();
  });
  const absl::StatusOr<std::unique_ptr<Store>> second = OpenSqliteStore(path_, wait);
  release.join();
  ASSERT_OK(second.status());
}

// A database of schema version 1 (before trial roles and the final stage): readers ask for a
// migration, the controller's open migrates it in place, its trials read as search trials, and
// it then takes a final stage and controls like a new one.
TEST_F(SqliteStoreTest, AVersionOneDatabaseMigratesAndGetsTheFinalStage) {
  RunSql(path_, R"sql(
CREATE TABLE experiment (id INTEGER PRIMARY KEY CHECK (id = 1), config BLOB NOT NULL, state TEXT NOT NULL,
  created_at REAL NOT NULL);
CREATE TABLE trials (id INTEGER PRIMARY KEY, state INTEGER NOT NULL, hash TEXT NOT NULL, best_ap REAL,
  record BLOB NOT NULL);
CREATE INDEX trials_by_state ON trials (state);
CREATE INDEX trials_by_hash ON trials (hash);
CREATE INDEX trials_by_ap ON trials (best_ap DESC, id);
CREATE TABLE metrics (trial INTEGER NOT NULL, rung INTEGER NOT NULL, step INTEGER NOT NULL, loss REAL, ap REAL, at REAL);
CREATE INDEX metrics_by_trial ON metrics (trial);
CREATE TABLE workers (id TEXT PRIMARY KEY, host TEXT NOT NULL, device TEXT NOT NULL, memory_mb INTEGER NOT NULL,
  simulated INTEGER NOT NULL, registered_at REAL, last_seen REAL, trials_done INTEGER NOT NULL);
CREATE TABLE policy (id INTEGER PRIMARY KEY CHECK (id = 1), algorithm TEXT NOT NULL, observed INTEGER NOT NULL,
  state BLOB NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, kind TEXT NOT NULL, trial INTEGER NOT NULL,
  detail TEXT NOT NULL);
PRAGMA application_id = 1448236098;  -- "VRTB"
PRAGMA user_version = 1;
)sql");
  // The old rows, written as the version-1 store wrote them (records in hex).
  const v1::ExperimentConfig config = Config("old");
  const v1::Trial old = MakeTrial(1, v1::DONE, 0.4);
  auto hex = [](const std::string& bytes) {
    std::string out;
    for (unsigned char c : bytes) out += absl::StrFormat("%02x", c);
    return out;
  };
  RunSql(path_, absl::StrFormat("INSERT INTO experiment VALUES (1, x'%s', 'finished', 0); "
                                "INSERT INTO trials VALUES (1, %d, '%s', 0.4, x'%s');",
                                hex(config.SerializeAsString()), v1::DONE, old.hash(), hex(old.SerializeAsString())));
  const absl::Status reader = OpenSqliteStore(path_, ReadOnly()).status();
  EXPECT_EQ(reader.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(reader.message()), HasSubstr("schema version 1 is older"));
  {
    ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_));
    ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store->Load());
    ASSERT_EQ(snapshot.trials.size(), 1u);
    EXPECT_EQ(RoleOf(snapshot.trials[0]), v1::TRIAL_ROLE_SEARCH);
    EXPECT_EQ(snapshot.experiment_state, v1::EXPERIMENT_FINISHED);
    EXPECT_FALSE(snapshot.final_stage.has_value());
    Mutation m;
    m.final_stage.emplace().add_finalists(1);
    v1::Trial run = MakeTrial(2, v1::PENDING);
    run.set_role(v1::TRIAL_ROLE_FINAL);
    run.set_final_of(1);
    m.trials.push_back(run);
    ASSERT_OK(store->Apply(m));
  }
  ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_, ReadOnly()));
  ASSERT_OK_AND_ASSIGN(const std::optional<v1::FinalStage> stage, store->GetFinalStage());
  ASSERT_TRUE(stage.has_value());
  EXPECT_THAT(stage->finalists(), ElementsAre(1));
  ASSERT_OK_AND_ASSIGN(const auto top, store->TopTrials(10));
  EXPECT_THAT(Ids(top), ElementsAre(1));
  ASSERT_OK_AND_ASSIGN(const v1::Trial read, store->GetTrial(2));
  EXPECT_EQ(read.final_of(), 1);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  { ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_)); }
  RunSql(path_, "PRAGMA user_version = 99");
  for (const bool read_only : {false, true}) {
    SqliteOptions options;
    options.read_only = read_only;
    const absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(path_, options);
    EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
    EXPECT_THAT(store.status().message(),
                AllOf(HasSubstr(path_), HasSubstr("99"), HasSubstr(absl::StrFormat("%d", kSchemaVersion))));
  }
}

TEST_F(SqliteStoreTest, GarbageFileIsRefusedAndLeftAlone) {
  const std::string garbage = "this is not a database, just some text a user put here by mistake\n";
  WriteText(path_, garbage + garbage + garbage);
  for (const bool read_only : {false, true}) {
    SqliteOptions options;
    options.read_only = read_only;
    const absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(path_, options);
    EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
    EXPECT_THAT(store.status().message(), HasSubstr(path_));
  }
  std::ifstream in(path_, std::ios::binary);
  const std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, garbage + garbage + garbage);
}

// A reader without write access to the folder cannot make SQLite's WAL index there; it still
// reads a finished database, and is never told the file is not one. Run as an unprivileged user
// (root may write anywhere).
TEST_F(SqliteStoreTest, ReaderOfAFolderItCannotWriteReadsTheHistory) {
  {
    ASSERT_OK_AND_ASSIGN(const auto writer, OpenSqliteStore(path_));
    Mutation create = CreateMutation();
    create.trials = {MakeTrial(1), MakeTrial(2)};
    ASSERT_OK(writer->Apply(create));
  }
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0555), 0);
  ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
  EXPECT_EXIT(
      {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) std::_Exit(3);
        const absl::StatusOr<std::unique_ptr<Store>> reader = OpenSqliteStore(path_, ReadOnly());
        if (!reader.ok()) {
          std::fprintf(stderr, "%s\n", std::string(reader.status().message()).c_str());
          std::_Exit(1);
        }
        const absl::StatusOr<Snapshot> snapshot = (*reader)->Load();
        std::_Exit(snapshot.ok() && snapshot->trials.size() == 2 ? 0 : 2);
      },
      ::testing::ExitedWithCode(0), "");
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
}

// A FIFO would hang every reader, and /dev/null would grow lock and journal files beside it.
TEST_F(SqliteStoreTest, SomethingThatIsNotARegularFileIsRefused) {
  const std::string fifo = dir_.path() + "/fifo.db";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  for (const std::string& path : {fifo, std::string("/dev/null")}) {
    for (const bool read_only : {false, true}) {
      SqliteOptions options;
      options.read_only = read_only;
      const absl::Status s = OpenSqliteStore(path, options).status();
      EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
      EXPECT_THAT(s.message(), HasSubstr("not a regular file"));
    }
  }
  EXPECT_FALSE(std::filesystem::exists(fifo + ".lock"));
  EXPECT_FALSE(std::filesystem::exists("/dev/null.lock"));
}

TEST_F(SqliteStoreTest, ForeignDatabaseIsRefused) {
  RunSql(path_, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)");
  for (const bool read_only : {false, true}) {
    SqliteOptions options;
    options.read_only = read_only;
    const absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(path_, options);
    EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
    EXPECT_THAT(store.status().message(), HasSubstr(path_));
  }
}

TEST_F(SqliteStoreTest, FailedWriteRollsBackEverything) {
  ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_));
  ASSERT_OK(store->Apply(CreateMutation()));
  // A fault injected into the database: the last insert of the next mutation fails in SQLite.
  RunSql(path_,
         "CREATE TRIGGER fail_boom BEFORE INSERT ON events WHEN NEW.kind = 'boom' "
         "BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
  Mutation mutation;
  mutation.trials = {MakeTrial(1, v1::DONE, 0.5)};
  mutation.metrics = {Point(1, 0, 10, 1.0, 0.5, 5.0)};
  mutation.workers = {Worker("w", 1)};
  mutation.policy = PolicyCheckpoint{v1::ALGORITHM_PPO, 1, "weights"};
  mutation.events = {MakeEvent("reported", 1), MakeEvent("boom", 1)};
  const absl::Status status = store->Apply(mutation);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), AllOf(HasSubstr(path_), HasSubstr("injected fault")));

  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store->Load());
  EXPECT_THAT(snapshot.trials, IsEmpty());
  EXPECT_THAT(snapshot.workers, IsEmpty());
  EXPECT_FALSE(snapshot.policy.has_value());
  EXPECT_EQ(snapshot.last_event_id, 0);
  ASSERT_OK_AND_ASSIGN(const auto metrics, store->Metrics(1));
  EXPECT_THAT(metrics, IsEmpty());

  // The store carries on after the failure.
  mutation.events.pop_back();
  ASSERT_OK(store->Apply(mutation));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, store->Load());
  EXPECT_THAT(Ids(after.trials), ElementsAre(1));
  EXPECT_EQ(after.last_event_id, 1);
}

TEST_F(SqliteStoreTest, LoadsManyTrials) {
  constexpr int kTrials = 20000;
  SqliteOptions options;
  options.full_sync = false;
  ASSERT_OK_AND_ASSIGN(const auto store, OpenSqliteStore(path_, options));
  ASSERT_OK(store->Apply(CreateMutation()));
  Mutation mutation;
  for (int id = 1; id <= kTrials; ++id) {
    v1::Trial trial = FullTrial(id);
    trial.set_state(id % 2 == 0 ? v1::DONE : v1::PENDING);
    mutation.trials.push_back(std::move(trial));
  }
  ASSERT_OK(store->Apply(mutation));

  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, store->Load());
  ASSERT_EQ(snapshot.trials.size(), static_cast<size_t>(kTrials));
  for (int i = 0; i < kTrials; ++i) ASSERT_EQ(snapshot.trials[i].id(), i + 1);
  ExpectSameMessage(snapshot.trials.back(), mutation.trials.back());
  ASSERT_OK_AND_ASSIGN(const RoleCounts roles, store->Counts());
  const TrialCounts& counts = roles.search;
  EXPECT_EQ(counts.done, kTrials / 2);
  EXPECT_EQ(counts.pending, kTrials / 2);
}

}  // namespace
}  // namespace vertebra::controller
