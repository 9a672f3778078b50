// `vertebra bench search-throughput` on a search with a known timeline: two workers, one lease
// lost, a trial that repeats the lost lease's steps.
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "bench/throughput_bench.h"
#include "controller/store.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"

namespace vertebra::bench {
namespace {

namespace ctl = ::vertebra::controller;
using json = nlohmann::json;

v1::RungResult Result(const std::string& worker, double reported_at, double train, double eval, double checkpoint) {
  v1::RungResult r;
  r.set_rung(0);
  r.set_steps(100);
  r.set_worker(worker);
  r.set_reported_at(reported_at);
  r.set_train_seconds(train);
  r.set_eval_seconds(eval);
  r.set_checkpoint_seconds(checkpoint);
  for (int i = 0; i < 12; ++i) r.mutable_ap()->add_stats(0.2);
  return r;
}

// The window is [1000, 1200]. w1 holds a lease all of it: trial 1, then trial 2 (which w2 had
// held from 1000 until it expired at 1050, after 25 steps that w1 trains again). w2 is idle from
// 1050 to 1120, then trains trial 3.
ctl::Mutation Timeline(bool simulated) {
  ctl::Mutation m;
  v1::ExperimentConfig config;
  config.set_name("timeline");
  config.set_simulated(simulated);
  m.create_experiment = config;
  m.experiment_state = v1::EXPERIMENT_FINISHED;
  for (const char* id : {"w1", "w2"}) {
    ctl::WorkerRecord w;
    w.id = id;
    w.host = "host";
    w.device = "cpu";
    w.registered_at = w.last_seen = 990;
    m.workers.push_back(w);
  }
  v1::Trial t1, t2, t3;
  t1.set_id(1);
  *t1.add_results() = Result("w1", 1100, 60, 20, 5);
  t2.set_id(2);
  t2.set_repeated_steps(25);
  *t2.add_results() = Result("w1", 1200, 80, 10, 2);  // 0.8 s per step: 20 s repeated.
  t3.set_id(3);
  *t3.add_results() = Result("w2", 1200, 50, 10, 0);
  for (v1::Trial* t : {&t1, &t2, &t3}) {
    t->set_state(v1::DONE);
    m.trials.push_back(*t);
  }
  m.events = {ctl::NewEvent(990, "registered", 0, "w1"),
              ctl::NewEvent(1000, "leased", 1, ctl::LeasedEventDetail(1, "w1", 0, 1)),
              ctl::NewEvent(1000, "leased", 2, ctl::LeasedEventDetail(2, "w2", 0, 1, "a note")),
              ctl::NewEvent(1050, "expired", 2, "lease 2 of w2"),
              ctl::NewEvent(1100, "reported", 1, "AP 0.2000 at rung 0 by w1"),
              ctl::NewEvent(1100, "leased", 2, ctl::LeasedEventDetail(3, "w1", 0, 2)),
              ctl::NewEvent(1120, "leased", 3, ctl::LeasedEventDetail(4, "w2", 0, 1)),
              ctl::NewEvent(1200, "reported", 2, "AP 0.2000 at rung 0 by w1"),
              ctl::NewEvent(1200, "reported", 3, "AP 0.2000 at rung 0 by w2")};
  return m;
}

TEST(LeasedEventDetail, ReadsBackWhatTheSchedulerWrites) {
  const std::optional<ctl::LeasedEvent> e =
      ctl::ParseLeasedEventDetail(ctl::LeasedEventDetail(12, "host-a-3", 2, 1, "held by host-b-1"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->lease, 12);
  EXPECT_EQ(e->worker, "host-a-3");
  EXPECT_EQ(e->rung, 2);
  EXPECT_FALSE(ctl::ParseLeasedEventDetail("lease 2 of w2").has_value());
  EXPECT_FALSE(ctl::ParseLeasedEventDetail("lease x to w at rung 1, attempt 1").has_value());
}

TEST(SearchThroughput, SplitsTheWorkersTimeOfAKnownTimeline) {
  std::unique_ptr<ctl::Store> store = ctl::NewMemoryStore();
  ASSERT_TRUE(store->Apply(Timeline(false)).ok());
  absl::StatusOr<SearchThroughput> s = MeasureSearchThroughput(*store);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->experiment, "timeline");
  EXPECT_FALSE(s->simulated);
  EXPECT_EQ(s->leases, 4);
  EXPECT_EQ(s->results, 3);
  EXPECT_DOUBLE_EQ(s->window_seconds(), 200);
  EXPECT_DOUBLE_EQ(s->results_per_hour(), 54);
  ASSERT_EQ(s->workers.size(), 2u);
  EXPECT_EQ(s->workers[0].id, "w1");
  EXPECT_EQ(s->workers[0].leases, 2);
  EXPECT_EQ(s->workers[0].results, 2);
  EXPECT_DOUBLE_EQ(s->workers[0].busy_fraction(), 1.0);
  EXPECT_DOUBLE_EQ(s->workers[1].busy_seconds, 130);  // 1000-1050 and 1120-1200.
  EXPECT_DOUBLE_EQ(s->workers[1].busy_fraction(), 0.65);
  EXPECT_DOUBLE_EQ(s->busy_fraction(), 330.0 / 400.0);
  const WorkerTimeSplit& split = s->split;
  EXPECT_DOUBLE_EQ(split.repeated, 20);
  EXPECT_DOUBLE_EQ(split.training, 190 - 20);
  EXPECT_DOUBLE_EQ(split.evaluation, 40);
  EXPECT_DOUBLE_EQ(split.checkpoint, 7);
  EXPECT_DOUBLE_EQ(split.other, 330 - 237);  // The lost lease, and setup around the measured parts.
  EXPECT_DOUBLE_EQ(split.idle, 70);
  EXPECT_DOUBLE_EQ(split.total(), 400);
}

TEST(SearchThroughput, ReadsADatabaseFileAndNamesTheSimulatedFigures) {
  test_util::TempDir dir("throughput_bench");
  const std::string db = (dir.path() / "search.db").string();
  {
    absl::StatusOr<std::unique_ptr<ctl::Store>> store = ctl::OpenSqliteStore(db);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Apply(Timeline(true)).ok());
  }
  std::ostringstream out;
  ASSERT_TRUE(RunSearchThroughput({.db = db, .json = true}, out).ok());
  const json j = json::parse(out.str());
  EXPECT_EQ(j["simulated"], true);
  EXPECT_EQ(j["results"], 3);
  EXPECT_DOUBLE_EQ(j["busy_fraction"].get<double>(), 0.825);
  EXPECT_DOUBLE_EQ(j["split_fractions"]["idle"].get<double>(), 70.0 / 400);
  EXPECT_DOUBLE_EQ(j["split_seconds"]["evaluation"].get<double>(), 40);
  EXPECT_EQ(j["workers"].size(), 2u);
  std::ostringstream text;
  ASSERT_TRUE(RunSearchThroughput({.db = db}, text).ok());
  EXPECT_NE(text.str().find("54.0 per hour"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("busy 82.5% of their time overall"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("the simulated trainer's shares"), std::string::npos) << text.str();
}

TEST(SearchThroughput, NamesAMissingOrForeignFile) {
  test_util::TempDir dir("throughput_bench");
  const std::string missing = (dir.path() / "nothing.db").string();
  std::ostringstream out;
  absl::Status s = RunSearchThroughput({.db = missing}, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find(missing), std::string::npos) << s;
  const std::string foreign = (dir.path() / "notes.txt").string();
  std::ofstream(foreign) << "not a database\n";
  s = RunSearchThroughput({.db = foreign}, out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(foreign), std::string::npos) << s;
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace vertebra::bench
