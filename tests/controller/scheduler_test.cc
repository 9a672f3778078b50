#include "controller/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "controller/config.h"
#include "controller/final_stage.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/fake_clock.h"
#include "tests/testing/list_policy.h"

namespace vertebra::controller {
namespace {

using ::vertebra::test_util::FakeClock;

// A small simulated experiment; `extra` (", \"key\": value, ...") replaces its top-level keys.
v1::ExperimentConfig Config(const std::string& extra = "") {
  nlohmann::json j = nlohmann::json::parse(R"({"name": "test", "seed": 5, "algorithm": {"kind": "evolution",
    "population": 4, "tournament": 2, "queue": 2}, "budget": {"trials": 6, "parallel": 2},
    "lease": {"lease_seconds": 60, "heartbeat_seconds": 10, "max_attempts": 2},
    "simulation": {"seconds": 0}, "rungs": {"steps": [100]}})");
  if (!extra.empty()) j.update(nlohmann::json::parse("{" + extra.substr(extra.find(',') + 1) + "}"));
  absl::StatusOr<v1::ExperimentConfig> c = ParseExperimentConfig(j.dump(), "test.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

// The 12 COCO numbers with AP = ap.
v1::CocoStats Ap(double ap) {
  v1::CocoStats stats;
  stats.add_stats(ap);
  for (int i = 1; i < 12; ++i) stats.add_stats(0.0);
  return stats;
}

v1::RegisterRequest Registration(bool simulated) {
  v1::RegisterRequest r;
  r.set_host("host");
  r.set_device("cpu");
  r.set_memory_mb(1024);
  r.set_simulated(simulated);
  return r;
}


// What a report was taken as.
enum class ReportOutcome { kAccepted, kDuplicate };

class SchedulerTest : public ::testing::Test {
 protected:
  void Open(const v1::ExperimentConfig& config) {
    SchedulerOptions options;
    options.policy_thread = false;
    absl::StatusOr<std::unique_ptr<Scheduler>> s = Scheduler::Open(store_.get(), config, &clock_, options);
    ASSERT_TRUE(s.ok()) << s.status();
    scheduler_ = std::move(*s);
  }

  // Opens with the policy `make` builds over the search space.
  template <typename MakePolicy>
  void OpenWith(const v1::ExperimentConfig& config, MakePolicy make) {
    SchedulerOptions options;
    options.policy_thread = false;
    options.policy_factory = [make](const search_spaces::SearchSpace& space) -> std::unique_ptr<Policy> {
      return make(space);
    };
    absl::StatusOr<std::unique_ptr<Scheduler>> s = Scheduler::Open(store_.get(), config, &clock_, options);
    ASSERT_TRUE(s.ok()) << s.status();
    scheduler_ = std::move(*s);
  }

  // Registers a worker; its secret goes into secrets_, from which the requests below take it.
  std::string Worker(bool simulated = true) {
    absl::StatusOr<v1::RegisterReply> w = scheduler_->Register(Registration(simulated));
    EXPECT_TRUE(w.ok()) << w.status();
    if (!w.ok()) return "";
    secrets_[w->worker_id()] = w->worker_secret();
    return w->worker_id();
  }

  v1::LeaseRequest Ask(const std::string& worker) {
    v1::LeaseRequest r;
    r.set_worker_id(worker);
    r.set_worker_secret(secrets_[worker]);
    return r;
  }

  v1::LeaseReply MustLease(const std::string& worker) {
    EXPECT_TRUE(scheduler_->RunPolicy().ok());
    absl::StatusOr<v1::LeaseReply> r = scheduler_->Lease(Ask(worker));
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status(), v1::LeaseReply::GRANTED) << r->reason();
    return r.value_or(v1::LeaseReply());
  }

  // A request of `worker` (with its secret) about lease `g`.
  template <typename Request>
  Request About(const std::string& worker, const v1::LeaseReply& g) {
    Request r;
    r.set_worker_id(worker);
    r.set_worker_secret(secrets_[worker]);
    r.set_trial(g.trial());
    r.set_lease(g.lease());
    return r;
  }

  v1::ReportRequest Result(const std::string& worker, const v1::LeaseReply& g, double ap) {
    v1::ReportRequest r = About<v1::ReportRequest>(worker, g);
    *r.mutable_ap() = Ap(ap);
    r.set_simulated(true);
    return r;
  }

  absl::StatusOr<ReportOutcome> Report(const std::string& worker, const v1::LeaseReply& g, double ap) {
    absl::StatusOr<v1::ReportReply> reply = scheduler_->Report(Result(worker, g, ap));
    if (!reply.ok()) return reply.status();
    return reply->duplicate() ? ReportOutcome::kDuplicate : ReportOutcome::kAccepted;
  }

  absl::StatusOr<v1::HeartbeatReply> Heartbeat(const std::string& worker, int64_t trial, int64_t lease, int64_t step,
                                               double loss, std::optional<double> ap) {
    v1::HeartbeatRequest r;
    r.set_worker_id(worker);
    r.set_worker_secret(secrets_[worker]);
    r.set_trial(trial);
    r.set_lease(lease);
    r.set_step(step);
    r.set_loss(loss);
    r.set_has_ap(ap.has_value());
    r.set_ap(ap.value_or(0));
    return scheduler_->Heartbeat(r);
  }

  absl::Status Release(const std::string& worker, const v1::LeaseReply& g) {
    return scheduler_->Release(About<v1::ReleaseRequest>(worker, g));
  }

  std::unique_ptr<Store> store_ = NewMemoryStore();
  std::map<std::string, std::string> secrets_;  // Worker id -> the secret its Register returned.
  FakeClock clock_;
  std::unique_ptr<Scheduler> scheduler_;
};

// A number out of range is refused whole and recorded: nothing is stored, the lease stands, and
// the worker's valid report under the same lease is then taken. (inf used to rank best.)
TEST_F(SchedulerTest, ReportedNumbersOutOfRangeAreRefusedAndTheLeaseStands) {
  Open(Config());
  const std::string w = Worker();
  const v1::LeaseReply g = MustLease(w);
  for (double ap : {std::numeric_limits<double>::infinity(), std::nan(""), -1.0, 2.5, 1e300}) {
    const absl::Status s = Report(w, g, ap).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << ap;
    EXPECT_NE(s.message().find("ap.stats[0]: must be in [0, 1]"), std::string::npos) << s;
  }
  EXPECT_EQ(Heartbeat(w, g.trial(), g.lease(), 10, std::nan(""), std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Trial t = *scheduler_->GetTrial(g.trial());
  EXPECT_EQ(t.state(), v1::LEASED);
  EXPECT_EQ(t.lease(), g.lease());
  EXPECT_TRUE(t.results().empty());
  int recorded = 0;
  const absl::StatusOr<std::vector<Event>> events = store_->Events(0, 1000);  // Held: a range-for over *temporary dangles.
  for (const Event& e : *events) recorded += e.kind == "invalid_request";
  EXPECT_EQ(recorded, 6);
  EXPECT_EQ(*Report(w, g, 0.3), ReportOutcome::kAccepted);
  v1::RegisterRequest huge;
  huge.set_host(std::string(1 << 20, 'h'));
  huge.set_simulated(true);
  EXPECT_EQ(scheduler_->Register(huge).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, LeaseHeartbeatReportAndIdempotentRepeats) {
  Open(Config());
  const std::string w = Worker();
  const v1::LeaseReply g = MustLease(w);
  EXPECT_EQ(g.steps(), 100);
  EXPECT_DOUBLE_EQ(g.deadline(), clock_.Now() + 60);
  EXPECT_DOUBLE_EQ(g.spec().scaling().filter_scale(), 0.25);  // The proxy scaling travels with it.
  clock_.Advance(30);
  absl::StatusOr<v1::HeartbeatReply> hb = Heartbeat(w, g.trial(), g.lease(), 50, 0.7, std::nullopt);
  ASSERT_TRUE(hb.ok()) << hb.status();
  EXPECT_FALSE(hb->stop());
  EXPECT_DOUBLE_EQ(hb->deadline(), clock_.Now() + 60);
  // Step 0 (no new progress) renews the lease and adds no point to the curve.
  clock_.Advance(30);
  hb = Heartbeat(w, g.trial(), g.lease(), 0, 0, std::nullopt);
  ASSERT_TRUE(hb.ok()) << hb.status();
  EXPECT_DOUBLE_EQ(hb->deadline(), clock_.Now() + 60);
  EXPECT_EQ(*Report(w, g, 0.3), ReportOutcome::kAccepted);
  EXPECT_EQ(*Report(w, g, 0.9), ReportOutcome::kDuplicate);  // The first valid report wins.
  const v1::Trial t = *scheduler_->GetTrial(g.trial());
  EXPECT_EQ(t.state(), v1::DONE);
  ASSERT_EQ(t.results_size(), 1);
  EXPECT_DOUBLE_EQ(t.results(0).ap().stats(0), 0.3);
  EXPECT_TRUE(t.results(0).simulated());
  // Stored before the call returned.
  EXPECT_EQ(store_->GetTrial(g.trial())->state(), v1::DONE);
  EXPECT_EQ(store_->Metrics(g.trial())->size(), 1u);
}

TEST_F(SchedulerTest, ExpiredLeasesRequeueAndStaleReportsAreRefused) {
  Open(Config());
  const std::string a = Worker(), b = Worker();
  const v1::LeaseReply first = MustLease(a);
  clock_.Advance(61);
  EXPECT_EQ(*scheduler_->ExpireLeases(), 1);
  EXPECT_EQ(scheduler_->GetTrial(first.trial())->state(), v1::PENDING);
  // The expired trial goes out first, to another worker, under a new lease.
  const v1::LeaseReply second = MustLease(b);
  EXPECT_EQ(second.trial(), first.trial());
  EXPECT_NE(second.lease(), first.lease());
  absl::StatusOr<ReportOutcome> stale = Report(a, first, 0.5);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("stale"), std::string::npos) << stale.status();
  absl::StatusOr<v1::HeartbeatReply> hb = Heartbeat(a, first.trial(), first.lease(), 1, 1, std::nullopt);
  EXPECT_EQ(hb.status().code(), absl::StatusCode::kFailedPrecondition);
  // The new holder's report is taken; its repeat is a duplicate; the old holder is still stale.
  ASSERT_EQ(*Report(b, second, 0.4), ReportOutcome::kAccepted);
  EXPECT_EQ(*Report(b, second, 0.4), ReportOutcome::kDuplicate);
  EXPECT_EQ(Report(a, first, 0.5).status().code(), absl::StatusCode::kFailedPrecondition);
  // Every refusal is on the record with its trial and the lease it carried.
  int refused = 0;
  const absl::StatusOr<std::vector<Event>> events = store_->Events(0, 1000);
  ASSERT_TRUE(events.ok()) << events.status();
  for (const Event& e : *events) {
    if (e.kind != "refused") continue;
    ++refused;
    EXPECT_EQ(e.trial, first.trial());
    EXPECT_NE(e.detail.find(absl::StrFormat("lease %d of %s", first.lease(), a)), std::string::npos) << e.detail;
  }
  EXPECT_EQ(refused, 3);
}

TEST_F(SchedulerTest, ALateReportAfterExpiryIsStaleNotADuplicate) {
  Open(Config());
  const std::string a = Worker();
  const v1::LeaseReply g = MustLease(a);
  clock_.Advance(61);
  EXPECT_EQ(*scheduler_->ExpireLeases(), 1);
  // Pending again, still carrying lease g.lease() and worker a: the report must not be taken as
  // "already recorded", since nothing was.
  absl::StatusOr<ReportOutcome> late = Report(a, g, 0.5);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition) << late.status();
  EXPECT_EQ(scheduler_->GetTrial(g.trial())->results_size(), 0);
}

TEST_F(SchedulerTest, ExpiredLeasesFailAfterTheLastAttempt) {
  Open(Config());
  const std::string a = Worker(), b = Worker();
  const v1::LeaseReply first = MustLease(a);
  clock_.Advance(61);
  EXPECT_EQ(*scheduler_->ExpireLeases(), 1);
  const v1::LeaseReply second = MustLease(b);
  ASSERT_EQ(second.trial(), first.trial());
  // Second expiry: out of attempts (max_attempts 2).
  clock_.Advance(61);
  EXPECT_EQ(*scheduler_->ExpireLeases(), 1);
  const v1::Trial t = *scheduler_->GetTrial(first.trial());
  EXPECT_EQ(t.state(), v1::FAILED);
  EXPECT_NE(t.failure().find("expired 2 times"), std::string::npos) << t.failure();
}

TEST_F(SchedulerTest, ReleaseGivesTheTrialBackWithoutCountingAnAttempt) {
  Open(Config());
  const std::string w = Worker();
  const v1::LeaseReply g = MustLease(w);
  ASSERT_TRUE(Release(w, g).ok());
  const v1::Trial t = *scheduler_->GetTrial(g.trial());
  EXPECT_EQ(t.state(), v1::PENDING);
  EXPECT_EQ(t.attempts(), 0);
  EXPECT_EQ(Release(w, g).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerTest, ProposalsOverTheLimitsNeverReachAWorker) {
  // Price a few proposals first, then set the limit between them.
  v1::ExperimentConfig config = Config(R"(, "objective": {"max_macs": 201000000, "penalty": -1})");
  config.mutable_budget()->set_trials(20);
  config.mutable_algorithm()->set_queue(20);
  config.mutable_search()->set_guided_candidates(0);  // Guided proposals pass over-limit candidates by.
  Open(config);
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  int rejected = 0, pending = 0;
  for (int64_t id = 1;; ++id) {
    absl::StatusOr<v1::Trial> t = scheduler_->GetTrial(id);
    if (!t.ok()) break;
    if (t->state() == v1::REJECTED) {
      ++rejected;
      EXPECT_GT(t->macs(), 201000000);
      EXPECT_NE(t->failure().find("objective.max_macs"), std::string::npos) << t->failure();
      EXPECT_DOUBLE_EQ(t->reward(), -1);
    } else {
      ++pending;
      EXPECT_LE(t->macs(), 201000000);
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(pending, 20);  // Rejections do not count against the budget.
  const std::string w = Worker();
  for (int i = 0; i < 5; ++i) EXPECT_LE(scheduler_->GetTrial(MustLease(w).trial())->macs(), 201000000);
}

// Proposes from a short list of architectures over and over; records what it observes.
std::unique_ptr<Policy> RepeatingPolicy(const search_spaces::SearchSpace& space,
                                        std::shared_ptr<std::vector<Observation>> observed) {
  std::mt19937_64 rng(1);
  std::vector<std::vector<int>> list;
  for (int i = 0; i < 3; ++i) list.push_back(space.Sample(rng));
  return std::make_unique<test_util::ListPolicy>(std::move(list), std::move(observed));
}

// A policy that fails every other proposal and refuses every observation.
class FailingPolicy : public Policy {
 public:
  explicit FailingPolicy(const search_spaces::SearchSpace& space) : space_(space) {}
  v1::Algorithm algorithm() const override { return v1::ALGORITHM_RANDOM; }
  absl::StatusOr<Proposal> Propose() override {
    if (++calls_ % 2 == 0) return absl::InternalError("no proposal today");
    return Proposal{space_.Sample(rng_), {}, 0};
  }
  absl::Status Observe(const Observation&) override { return absl::InvalidArgumentError("not listening"); }
  std::string Save() const override { return "x"; }
  absl::Status Restore(const std::string&) override { return absl::OkStatus(); }

 private:
  const search_spaces::SearchSpace& space_;
  std::mt19937_64 rng_{5};
  int calls_ = 0;
};

TEST_F(SchedulerTest, PolicyErrorsAreRecordedAndTheSearchGoesOn) {
  v1::ExperimentConfig config = Config();
  config.mutable_budget()->set_trials(4);
  SchedulerOptions options;
  options.policy_thread = false;
  options.policy_factory = [](const search_spaces::SearchSpace& space) {
    return std::make_unique<FailingPolicy>(space);
  };
  scheduler_ = *Scheduler::Open(store_.get(), config, &clock_, options);
  const std::string w = Worker();
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  absl::StatusOr<v1::LeaseReply> r = scheduler_->Lease(Ask(w));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status(), v1::LeaseReply::GRANTED);
  ASSERT_EQ(*Report(w, *r, 0.1), ReportOutcome::kAccepted);
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  int failed_proposals = 0, refused_observations = 0;
  const absl::StatusOr<std::vector<Event>> events = store_->Events(0, 1000);
  ASSERT_TRUE(events.ok()) << events.status();
  for (const Event& e : *events) {
    if (e.kind != "policy_error") continue;
    if (e.detail.find("no proposal today; a uniform sample instead") != std::string::npos) ++failed_proposals;
    if (e.detail == "not listening") ++refused_observations;
  }
  EXPECT_GE(failed_proposals, 1);
  EXPECT_EQ(refused_observations, 1);
  EXPECT_GE(scheduler_->Status().proposed(), 2);  // Failed proposals became uniform samples.
}

// A proposal that repeats a known architecture is proposed again, not trained again nor observed
// with the earlier reward: the budget buys new architectures.
TEST_F(SchedulerTest, ARepeatedProposalIsResampledNotReobserved) {
  v1::ExperimentConfig config = Config();
  config.mutable_budget()->set_trials(12);
  auto observed = std::make_shared<std::vector<Observation>>();
  OpenWith(config, [observed](const search_spaces::SearchSpace& space) {
    return RepeatingPolicy(space, observed);
  });
  const std::string w = Worker();
  std::set<std::string> trained;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(scheduler_->RunPolicy().ok());
    absl::StatusOr<v1::LeaseReply> r = scheduler_->Lease(Ask(w));
    ASSERT_TRUE(r.ok());
    if (r->status() != v1::LeaseReply::GRANTED) continue;
    EXPECT_TRUE(trained.insert(r->hash()).second) << "trained twice: " << r->hash();
    ASSERT_EQ(*Report(w, *r, 0.1), ReportOutcome::kAccepted);
  }
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  EXPECT_EQ(trained.size(), 12u);  // The three the policy knows, then uniform samples.
  EXPECT_EQ(scheduler_->Status().proposed(), 12);
  std::set<int64_t> seen;
  for (const Observation& o : *observed) EXPECT_TRUE(seen.insert(o.trial).second) << "observed twice: " << o.trial;
  EXPECT_EQ(seen.size(), 12u);
  int duplicates = 0;
  const absl::StatusOr<std::vector<Event>> events = store_->Events(0, 1000);  // Held: a range-for over *temporary dangles.
  for (const Event& e : *events) {
    EXPECT_NE(e.kind, "reused");
    if (e.kind == "duplicate") {
      ++duplicates;
      EXPECT_NE(e.detail.find("a uniform sample instead"), std::string::npos) << e.detail;
    }
  }
  EXPECT_EQ(duplicates, 9);
}

// Records what it observes; proposes uniform samples.
class RecordingPolicy : public Policy {
 public:
  RecordingPolicy(const search_spaces::SearchSpace& space, std::shared_ptr<std::vector<Observation>> observed)
      : space_(space), observed_(std::move(observed)) {}
  v1::Algorithm algorithm() const override { return v1::ALGORITHM_RANDOM; }
  absl::StatusOr<Proposal> Propose() override { return Proposal{space_.Sample(rng_), {}, 0}; }
  absl::Status Observe(const Observation& o) override {
    observed_->push_back(o);
    return absl::OkStatus();
  }
  std::string Save() const override { return "x"; }
  absl::Status Restore(const std::string&) override { return absl::OkStatus(); }

 private:
  const search_spaces::SearchSpace& space_;
  std::shared_ptr<std::vector<Observation>> observed_;
  std::mt19937_64 rng_{8};
};

// Each trial is observed once, when it settles, with the reward of the highest rung it reached;
// a failure with algorithm.failure_penalty.
TEST_F(SchedulerTest, EachTrialIsObservedOnceWhenItSettles) {
  v1::ExperimentConfig config =
      Config(R"(, "rungs": {"steps": [100, 400], "eta": 2}, "algorithm": {"kind": "random", "queue": 3,
                "failure_penalty": -0.5})");
  config.mutable_budget()->set_trials(5);
  auto observed = std::make_shared<std::vector<Observation>>();
  OpenWith(config, [observed](const search_spaces::SearchSpace& space) {
    return std::make_unique<RecordingPolicy>(space, observed);
  });
  const std::string w = Worker();
  auto observations_of = [&](int64_t trial) {
    std::vector<double> rewards;
    for (const Observation& o : *observed) {
      if (o.trial == trial) rewards.push_back(o.reward);
    }
    return rewards;
  };
  const v1::LeaseReply a = MustLease(w), b = MustLease(w), c = MustLease(w);
  ASSERT_EQ(*Report(w, a, 0.2), ReportOutcome::kAccepted);  // One result, no quota: a settles.
  ASSERT_EQ(*Report(w, b, 0.5), ReportOutcome::kAccepted);  // The quota of one: b waits.
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  EXPECT_EQ(observations_of(a.trial()), std::vector<double>{0.2});
  EXPECT_TRUE(observations_of(b.trial()).empty());
  ASSERT_EQ(*Report(w, c, 0.9), ReportOutcome::kAccepted);  // c takes the quota: b settles at 0.5.
  const v1::LeaseReply c1 = MustLease(w);
  EXPECT_EQ(c1.trial(), c.trial());
  EXPECT_EQ(c1.rung(), 1);
  EXPECT_EQ(observations_of(b.trial()), std::vector<double>{0.5});
  EXPECT_TRUE(observations_of(c.trial()).empty());  // Promoted: observed at its next rung.
  const v1::LeaseReply d = MustLease(w);
  ASSERT_EQ(*Report(w, d, 0.3), ReportOutcome::kAccepted);  // Four results, quota {c, b}: d settles.
  ASSERT_EQ(*Report(w, c1, 0.8), ReportOutcome::kAccepted);  // c at the top rung settles.
  // The quota grew back over b: ASHA promotes it late; it has settled, so its result is not observed.
  const v1::LeaseReply b1 = MustLease(w);
  EXPECT_EQ(b1.trial(), b.trial());
  EXPECT_EQ(b1.rung(), 1);
  ASSERT_EQ(*Report(w, b1, 0.7), ReportOutcome::kAccepted);
  const v1::LeaseReply e = MustLease(w);
  v1::ReportRequest failure;
  failure.set_worker_id(w);
  failure.set_worker_secret(secrets_[w]);
  failure.set_trial(e.trial());
  failure.set_lease(e.lease());
  failure.set_failed(true);
  failure.set_failure("out of memory");
  ASSERT_TRUE(scheduler_->Report(failure).ok());
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  EXPECT_EQ(observations_of(b.trial()), std::vector<double>{0.5});
  EXPECT_EQ(observations_of(c.trial()), std::vector<double>{0.8});
  EXPECT_EQ(observations_of(d.trial()), std::vector<double>{0.3});
  EXPECT_EQ(observations_of(e.trial()), std::vector<double>{-0.5});
  EXPECT_EQ(observed->size(), 5u);
  // Stored with the trial, so that a restart replays what the policy has not seen.
  EXPECT_DOUBLE_EQ(scheduler_->GetTrial(c.trial())->settled_reward(), 0.8);
  EXPECT_GT(scheduler_->GetTrial(c.trial())->settled_sequence(), scheduler_->GetTrial(b.trial())->settled_sequence());
}

// A lease that expires for the last time fails the trial: observed with the penalty too.
TEST_F(SchedulerTest, ATrialOutOfAttemptsIsObservedWithThePenalty) {
  v1::ExperimentConfig config = Config(R"(, "algorithm": {"kind": "random", "failure_penalty": -1})");
  auto observed = std::make_shared<std::vector<Observation>>();
  OpenWith(config, [observed](const search_spaces::SearchSpace& space) {
    return std::make_unique<RecordingPolicy>(space, observed);
  });
  const std::string w = Worker();
  const v1::LeaseReply g = MustLease(w);
  for (int attempt = 1; attempt < config.lease().max_attempts(); ++attempt) {
    clock_.Advance(61);
    ASSERT_EQ(*scheduler_->ExpireLeases(), 1);
    EXPECT_EQ(MustLease(w).trial(), g.trial());
  }
  clock_.Advance(61);
  ASSERT_EQ(*scheduler_->ExpireLeases(), 1);
  EXPECT_EQ(scheduler_->GetTrial(g.trial())->state(), v1::FAILED);
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  ASSERT_EQ(observed->size(), 1u);
  EXPECT_EQ(observed->front().trial, g.trial());
  EXPECT_EQ(observed->front().reward, -1);
}

TEST_F(SchedulerTest, SimulatedAndRealNeverMix) {
  Open(Config());
  EXPECT_EQ(scheduler_->Register(Registration(false)).status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string w = Worker();
  const v1::LeaseReply g = MustLease(w);
  v1::ReportRequest r = Result(w, g, 0.2);
  r.set_simulated(false);
  EXPECT_EQ(scheduler_->Report(r).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerTest, SuccessiveHalvingPromotesTheTopOfARung) {
  v1::ExperimentConfig config = Config(R"(, "rungs": {"steps": [100, 400], "eta": 2})");
  config.mutable_budget()->set_trials(4);
  Open(config);
  const std::string w = Worker();
  const v1::LeaseReply a = MustLease(w);
  ASSERT_EQ(*Report(w, a, 0.2), ReportOutcome::kAccepted);
  const v1::LeaseReply b = MustLease(w);
  EXPECT_EQ(b.rung(), 0);  // One result: floor(1 / 2) = 0 promotions.
  ASSERT_EQ(*Report(w, b, 0.5), ReportOutcome::kAccepted);
  // Two results: the better one (b) is promoted before any new trial starts.
  const v1::LeaseReply c = MustLease(w);
  EXPECT_EQ(c.trial(), b.trial());
  EXPECT_EQ(c.rung(), 1);
  EXPECT_EQ(c.steps(), 400);
  EXPECT_EQ(c.previous_steps(), 100);
  ASSERT_EQ(*Report(w, c, 0.6), ReportOutcome::kAccepted);
  const v1::Trial t = *scheduler_->GetTrial(b.trial());
  ASSERT_EQ(t.results_size(), 2);
  EXPECT_EQ(t.results(1).rung(), 1);
  EXPECT_EQ(t.results(1).steps(), 400);
  const v1::LeaseReply d = MustLease(w);
  EXPECT_EQ(d.rung(), 0);  // a is not in the top half.
}

TEST_F(SchedulerTest, ALowerRungIsPutOnTheTopRungsScaleByThePredictor) {
  v1::ExperimentConfig config = Config(R"(, "rungs": {"steps": [100, 400], "eta": 2})");
  config.mutable_budget()->set_trials(80);
  Open(config);
  const std::string w = Worker();
  std::map<int64_t, double> low;  // Trial -> its AP at rung 0.
  int pairs = 0;
  int proposals = 0;
  // The top rung reads top = 0.5 low + 0.3, whatever the architecture.
  while (pairs < 25) {
    const v1::LeaseReply g = MustLease(w);
    if (g.rung() == 0) {
      const double ap = 0.1 + 0.01 * proposals++;
      ASSERT_EQ(*Report(w, g, ap), ReportOutcome::kAccepted);
      low[g.trial()] = ap;
      const double at_top = scheduler_->GetTrial(g.trial())->results(0).ap_at_top();
      if (pairs == 0) EXPECT_DOUBLE_EQ(at_top, ap);  // No pairs: the rung's AP itself.
      if (pairs == 1) {
        // One pair: the rung's AP shifted by that pair's gap.
        const auto& [first, first_low] = *std::find_if(low.begin(), low.end(), [&](const auto& e) {
          const v1::Trial t = *scheduler_->GetTrial(e.first);
          return t.results_size() == 2;
        });
        EXPECT_NEAR(at_top, ap + (0.5 * first_low + 0.3 - first_low), 1e-9) << first;
      }
    } else {
      ASSERT_EQ(*Report(w, g, 0.5 * low.at(g.trial()) + 0.3), ReportOutcome::kAccepted);
      ++pairs;
    }
    ASSERT_LT(proposals, 80);
  }
  // 25 pairs on the line: a new rung-0 AP of 0.3 stands for 0.45 at the top, and that is the reward.
  v1::LeaseReply g = MustLease(w);
  while (g.rung() != 0) {
    ASSERT_EQ(*Report(w, g, 0.5 * low.at(g.trial()) + 0.3), ReportOutcome::kAccepted);
    g = MustLease(w);
  }
  ASSERT_EQ(*Report(w, g, 0.3), ReportOutcome::kAccepted);
  const v1::Trial t = *scheduler_->GetTrial(g.trial());
  EXPECT_NEAR(t.results(0).ap_at_top(), 0.45, 2e-3);
  EXPECT_DOUBLE_EQ(t.reward(), t.results(0).ap_at_top());
}

TEST_F(SchedulerTest, WithTheMacsObjectivePromotionGoesByParetoRank) {
  v1::ExperimentConfig config = Config(
      R"(, "rungs": {"steps": [100, 400], "eta": 2}, "objective": {"kind": "ap_macs", "target_macs": 2e8})");
  config.mutable_budget()->set_trials(4);
  Open(config);
  const std::string w = Worker();
  std::vector<v1::LeaseReply> g;
  for (int i = 0; i < 4; ++i) g.push_back(MustLease(w));
  std::sort(g.begin(), g.end(), [&](const v1::LeaseReply& x, const v1::LeaseReply& y) {
    return scheduler_->GetTrial(x.trial())->macs() < scheduler_->GetTrial(y.trial())->macs();
  });
  // By MACs m0 < m1 < m2 < m3. The front of AP against MACs is {g0 (0.10), g2 (0.50)}; g1 is
  // dominated by g0 and g3 by g2. The top two by AP alone would be g2 and g3.
  ASSERT_EQ(*Report(w, g[0], 0.10), ReportOutcome::kAccepted);
  ASSERT_EQ(*Report(w, g[1], 0.05), ReportOutcome::kAccepted);
  ASSERT_EQ(*Report(w, g[2], 0.50), ReportOutcome::kAccepted);
  ASSERT_EQ(*Report(w, g[3], 0.45), ReportOutcome::kAccepted);
  EXPECT_EQ(MustLease(w).trial(), g[2].trial());
  EXPECT_EQ(MustLease(w).trial(), g[0].trial());
}

TEST_F(SchedulerTest, TheExperimentFinishesWhenEveryTrialIsAccountedFor) {
  v1::ExperimentConfig config = Config();
  config.mutable_budget()->set_trials(3);
  Open(config);
  const std::string w = Worker();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(*Report(w, MustLease(w), 0.1 * i), ReportOutcome::kAccepted);
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  absl::StatusOr<v1::LeaseReply> r = scheduler_->Lease(Ask(w));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status(), v1::LeaseReply::FINISHED);
  const v1::StatusReply s = scheduler_->Status();
  EXPECT_EQ(s.state(), v1::EXPERIMENT_FINISHED);
  EXPECT_EQ(s.done(), 3);
  EXPECT_EQ(s.best_trial(), 3);
}

TEST_F(SchedulerTest, StopTellsWorkersThroughTheirHeartbeat) {
  Open(Config());
  const std::string w = Worker();
  const v1::LeaseReply g = MustLease(w);
  ASSERT_TRUE(scheduler_->Stop("user asked").ok());
  absl::StatusOr<v1::HeartbeatReply> hb = Heartbeat(w, g.trial(), g.lease(), 1, 1, std::nullopt);
  ASSERT_TRUE(hb.ok());
  EXPECT_TRUE(hb->stop());
  EXPECT_EQ(scheduler_->Lease(Ask(w))->status(), v1::LeaseReply::FINISHED);
  EXPECT_EQ(store_->Counts()->search.stopped, 1);  // The other queued proposal.
}

TEST_F(SchedulerTest, ARestartResumesLeasesAndProposesWhatTheUninterruptedRunWould) {
  v1::ExperimentConfig config = Config();
  config.mutable_budget()->set_trials(12);
  // The uninterrupted run.
  Open(config);
  std::string w = Worker();
  std::vector<std::string> uninterrupted;
  for (int i = 0; i < 12; ++i) {
    const v1::LeaseReply g = MustLease(w);
    uninterrupted.push_back(g.hash());
    ASSERT_EQ(*Report(w, g, 0.01 * ((i * 7) % 11)), ReportOutcome::kAccepted);
  }
  // The same experiment, restarted after 5 results and with one lease outstanding.
  scheduler_.reset();
  store_ = NewMemoryStore();
  Open(config);
  w = Worker();
  std::vector<std::string> restarted;
  v1::LeaseReply outstanding;
  for (int i = 0; i < 6; ++i) {
    const v1::LeaseReply g = MustLease(w);
    restarted.push_back(g.hash());
    if (i == 5) {
      outstanding = g;
      break;
    }
    ASSERT_EQ(*Report(w, g, 0.01 * ((i * 7) % 11)), ReportOutcome::kAccepted);
  }
  const std::string policy_before = scheduler_->PolicyState();
  scheduler_.reset();
  Open(config);
  EXPECT_EQ(scheduler_->PolicyState(), policy_before);
  // The live worker keeps its lease and its report is accepted.
  ASSERT_EQ(*Report(w, outstanding, 0.01 * ((5 * 7) % 11)), ReportOutcome::kAccepted);
  for (int i = 6; i < 12; ++i) {
    const v1::LeaseReply g = MustLease(w);
    restarted.push_back(g.hash());
    ASSERT_EQ(*Report(w, g, 0.01 * ((i * 7) % 11)), ReportOutcome::kAccepted);
  }
  EXPECT_EQ(restarted, uninterrupted);
}

// A controller that was down past a lease's deadline gives the lease a whole lease length from its
// restart: the worker that trained on meanwhile heartbeats and reports under it. Only a worker
// silent for that grace loses it. (The restored lease used to expire at once.)
TEST_F(SchedulerTest, LeasesRestoredByARestartGetAGracePeriod) {
  Open(Config());  // lease_seconds 60.
  const std::string a = Worker(), b = Worker();
  const v1::LeaseReply ga = MustLease(a);
  const v1::LeaseReply gb = MustLease(b);
  clock_.Advance(50);
  scheduler_.reset();  // Killed 10 s before the deadlines; down for 30 s.
  clock_.Advance(30);
  Open(Config());
  EXPECT_EQ(*scheduler_->ExpireLeases(), 0);
  EXPECT_DOUBLE_EQ(scheduler_->GetTrial(ga.trial())->lease_deadline(), clock_.Now() + 60);
  EXPECT_DOUBLE_EQ(store_->GetTrial(ga.trial())->lease_deadline(), clock_.Now() + 60);  // Stored too.
  clock_.Advance(59);
  EXPECT_EQ(*scheduler_->ExpireLeases(), 0);
  ASSERT_TRUE(Heartbeat(a, ga.trial(), ga.lease(), 0, 0, std::nullopt).ok());
  EXPECT_EQ(*Report(a, ga, 0.3), ReportOutcome::kAccepted);
  // b stayed silent for the whole grace: its lease expires.
  clock_.Advance(2);
  EXPECT_EQ(*scheduler_->ExpireLeases(), 1);
  EXPECT_EQ(scheduler_->GetTrial(gb.trial())->state(), v1::PENDING);
  EXPECT_EQ(scheduler_->GetTrial(ga.trial())->state(), v1::DONE);
}

// A worker's calls carry the secret its registration returned: another worker's secret, or none,
// is refused and recorded, and nothing changes. The store keeps only the secret's hash, and a
// restarted controller still knows its live workers by it.
TEST_F(SchedulerTest, ACallUnderAnotherWorkersIdentityIsRefusedAndRecorded) {
  Open(Config());
  const std::string a = Worker(), b = Worker();
  ASSERT_NE(secrets_[a], secrets_[b]);
  EXPECT_EQ(secrets_[a].size(), 48u);
  const v1::LeaseReply g = MustLease(a);
  // b pretends to be a, with its own secret, then with none.
  const std::string a_secret = secrets_[a];
  secrets_[a] = secrets_[b];
  EXPECT_EQ(Report(a, g, 0.9).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Heartbeat(a, g.trial(), g.lease(), 5, 1, std::nullopt).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Release(a, g).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(scheduler_->Lease(Ask(a)).status().code(), absl::StatusCode::kPermissionDenied);
  secrets_[a] = "";
  EXPECT_EQ(Report(a, g, 0.9).status().code(), absl::StatusCode::kUnauthenticated);
  secrets_[a] = std::string(1 << 20, 'x');  // Too long to be one: refused without hashing a megabyte.
  EXPECT_EQ(Report(a, g, 0.9).status().code(), absl::StatusCode::kPermissionDenied);
  int recorded = 0;
  const std::vector<Event> events = *store_->Events(0, 1000);
  for (const Event& e : events) {
    if (e.kind != "identity_refused") continue;
    ++recorded;
    EXPECT_NE(e.detail.find("as worker 'w-1'"), std::string::npos) << e.detail;
  }
  EXPECT_EQ(recorded, 6);
  v1::Trial t = *scheduler_->GetTrial(g.trial());
  EXPECT_EQ(t.state(), v1::LEASED);
  EXPECT_TRUE(t.results().empty());
  EXPECT_TRUE(store_->Metrics(g.trial())->empty());
  // Only the hash is stored; after a restart the real secret still works.
  const Snapshot stored = *store_->Load();
  for (const WorkerRecord& w : stored.workers) {
    EXPECT_EQ(w.secret_hash.size(), 64u);
    EXPECT_NE(w.secret_hash, secrets_[w.id]);
  }
  secrets_[a] = a_secret;
  scheduler_.reset();
  Open(Config());
  EXPECT_EQ(*Report(a, g, 0.4), ReportOutcome::kAccepted);
  EXPECT_EQ(scheduler_->Lease(Ask("w-99")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, AnotherConfigurationOnTheSameDatabaseIsRefused) {
  Open(Config());
  scheduler_.reset();
  v1::ExperimentConfig other = Config();
  other.mutable_budget()->set_trials(99);
  SchedulerOptions options;
  options.policy_thread = false;
  const absl::Status s = Scheduler::Open(store_.get(), other, &clock_, options).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("budget.trials"), std::string::npos) << s;
  // How long a promotion waits for its holder may change: it changes who trains, not what.
  v1::ExperimentConfig waits = Config();
  waits.mutable_lease()->set_promotion_wait_seconds(5);
  absl::StatusOr<std::unique_ptr<Scheduler>> reopened = Scheduler::Open(store_.get(), waits, &clock_, options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->config().lease().promotion_wait_seconds(), 5);
}

// Two rungs of 100 and 400 steps, halving (eta 2), four trials, and a promotion waits up to 300 s
// for the worker that holds the trial's state.
class HeldStateTest : public SchedulerTest {
 protected:
  void SetUp() override {
    v1::ExperimentConfig config = Config(
        R"(, "rungs": {"steps": [100, 400], "eta": 2},
             "lease": {"lease_seconds": 60, "heartbeat_seconds": 10, "max_attempts": 2,
                       "promotion_wait_seconds": 300})");
    config.mutable_budget()->set_trials(4);
    Open(config);
    a_ = Worker();
    b_ = Worker();
  }

  // A lease request of `worker` that says it holds `held`.
  absl::StatusOr<v1::LeaseReply> LeaseHolding(const std::string& worker, const std::vector<int64_t>& held) {
    EXPECT_TRUE(scheduler_->RunPolicy().ok());
    v1::LeaseRequest r = Ask(worker);
    r.mutable_held_trials()->Add(held.begin(), held.end());
    return scheduler_->Lease(r);
  }
  v1::LeaseReply MustLeaseHolding(const std::string& worker, const std::vector<int64_t>& held) {
    absl::StatusOr<v1::LeaseReply> r = LeaseHolding(worker, held);
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status(), v1::LeaseReply::GRANTED) << r->reason();
    return r.value_or(v1::LeaseReply());
  }
  // A result that trained from `start` in `seconds`, the worker keeping the state below the top.
  void MustReport(const std::string& worker, const v1::LeaseReply& g, double ap, int64_t start, double seconds) {
    v1::ReportRequest r = Result(worker, g, ap);
    r.set_start_step(start);
    r.set_continued(start > 0);
    r.set_train_seconds(seconds);
    r.set_state_kept(g.rung() == 0);
    absl::StatusOr<v1::ReportReply> reply = scheduler_->Report(r);
    ASSERT_TRUE(reply.ok()) << reply.status();
  }
  // A heartbeat of `worker` on lease `g` that says it holds `held`.
  void Beat(const std::string& worker, const v1::LeaseReply& g, int64_t start, int64_t step,
            const std::vector<int64_t>& held) {
    v1::HeartbeatRequest r = About<v1::HeartbeatRequest>(worker, g);
    r.set_start_step(start);
    r.set_step(step);
    r.set_loss(1);
    r.mutable_held_trials()->Add(held.begin(), held.end());
    ASSERT_TRUE(scheduler_->Heartbeat(r).ok());
  }
  // The leased event of `trial`'s last lease.
  std::string LeasedEvent(int64_t trial) {
    std::string detail;
    const absl::StatusOr<std::vector<Event>> events = store_->Events(0, 1000);
    for (const Event& e : *events) {
      if (e.kind == "leased" && e.trial == trial) detail = e.detail;
    }
    return detail;
  }

  // b trains trial `best_` (AP 0.5 at rung 0 in 200 s, keeping its state) and then trial `busy_`;
  // a trains a worse one, so that `best_` is due for promotion while b is busy; a then takes the
  // budget's last trial and finds nothing else to do.
  void PromotionWhileItsHolderIsBusy() {
    const v1::LeaseReply low = MustLeaseHolding(a_, {});
    const v1::LeaseReply best = MustLeaseHolding(b_, {});
    best_ = best.trial();
    MustReport(b_, best, 0.5, 0, 200);
    busy_lease_ = MustLeaseHolding(b_, {best_});
    ASSERT_EQ(busy_lease_.rung(), 0);  // One result: no promotion yet.
    MustReport(a_, low, 0.2, 0, 200);
    // best_ is due now, and b holds its state: a gets the budget's last trial instead.
    const v1::LeaseReply last = MustLeaseHolding(a_, {low.trial()});
    EXPECT_NE(last.trial(), best_);
    EXPECT_EQ(last.rung(), 0);
    MustReport(a_, last, 0.1, 0, 200);
    absl::StatusOr<v1::LeaseReply> idle = LeaseHolding(a_, {low.trial(), last.trial()});
    ASSERT_TRUE(idle.ok());
    EXPECT_EQ(idle->status(), v1::LeaseReply::WAIT);
  }

  std::string a_, b_;
  int64_t best_ = 0;
  v1::LeaseReply busy_lease_;
};

// A promotion goes to the worker that holds the trial's state, and continues it: no step twice.
TEST_F(HeldStateTest, TheWorkerThatHoldsTheStateGetsThePromotion) {
  const v1::LeaseReply first = MustLeaseHolding(a_, {});
  const v1::LeaseReply second = MustLeaseHolding(b_, {});
  MustReport(a_, first, 0.2, 0, 50);
  MustReport(b_, second, 0.5, 0, 50);  // second is due for promotion; b kept its state.
  // a asks first: it gets a new trial, not b's promotion.
  const v1::LeaseReply other = MustLeaseHolding(a_, {first.trial()});
  EXPECT_NE(other.trial(), second.trial());
  EXPECT_EQ(other.rung(), 0);
  const v1::LeaseReply promoted = MustLeaseHolding(b_, {second.trial()});
  EXPECT_EQ(promoted.trial(), second.trial());
  EXPECT_EQ(promoted.rung(), 1);
  EXPECT_NE(LeasedEvent(second.trial()).find("continues from the state this worker holds"), std::string::npos)
      << LeasedEvent(second.trial());
  MustReport(b_, promoted, 0.6, 100, 150);
  const v1::Trial t = *scheduler_->GetTrial(second.trial());
  EXPECT_EQ(t.trained_steps(), 400);
  EXPECT_EQ(t.repeated_steps(), 0);
  EXPECT_EQ(t.results(1).start_step(), 100);
  EXPECT_EQ(scheduler_->Status().repeated_steps(), 0);
}

// While its holder is busy, a promotion waits; after the wait (here capped at the 200 s the held
// 100 steps took, under the configured 300 s) another worker retrains it, and the repeated steps
// are counted.
TEST_F(HeldStateTest, AnotherWorkerRetrainsThePromotionAfterTheWait) {
  PromotionWhileItsHolderIsBusy();
  clock_.Advance(50);
  Beat(b_, busy_lease_, 0, 40, {best_});
  clock_.Advance(50);
  Beat(b_, busy_lease_, 0, 80, {best_});
  absl::StatusOr<v1::LeaseReply> still = LeaseHolding(a_, {});
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->status(), v1::LeaseReply::WAIT);  // 100 s of the 200.
  clock_.Advance(50);
  Beat(b_, busy_lease_, 0, 90, {best_});
  clock_.Advance(51);
  Beat(b_, busy_lease_, 0, 95, {best_});
  const v1::LeaseReply retrain = MustLeaseHolding(a_, {});
  EXPECT_EQ(retrain.trial(), best_);
  EXPECT_EQ(retrain.rung(), 1);
  EXPECT_NE(LeasedEvent(best_).find(absl::StrFormat("retrains the held steps: %s", b_)), std::string::npos)
      << LeasedEvent(best_);
  MustReport(a_, retrain, 0.6, 0, 800);
  const v1::Trial t = *scheduler_->GetTrial(best_);
  EXPECT_EQ(t.trained_steps(), 500);
  EXPECT_EQ(t.repeated_steps(), 100);
  EXPECT_EQ(scheduler_->Status().repeated_steps(), 100);
}

// A holder that stops being heard from (its lease expires with it) or that gives its lease back
// is gone: the promotion goes to another worker at once.
TEST_F(HeldStateTest, APromotionWhoseHolderIsGoneGoesAtOnce) {
  PromotionWhileItsHolderIsBusy();
  clock_.Advance(61);  // b silent for longer than a lease.
  const v1::LeaseReply retrain = MustLeaseHolding(a_, {});
  EXPECT_EQ(retrain.trial(), best_);
  EXPECT_EQ(retrain.rung(), 1);
}

TEST_F(HeldStateTest, APromotionWhoseHolderGaveItsLeaseBackGoesAtOnce) {
  PromotionWhileItsHolderIsBusy();
  ASSERT_TRUE(Release(b_, busy_lease_).ok());  // b is shutting down.
  const v1::LeaseReply retrain = MustLeaseHolding(a_, {});
  EXPECT_EQ(retrain.trial(), best_);
  EXPECT_EQ(retrain.rung(), 1);
}

// Workers that share their work folder all hold every state: whoever asks continues it.
TEST_F(HeldStateTest, WithASharedWorkFolderAnyWorkerContinuesAndNothingRepeats) {
  const v1::LeaseReply first = MustLeaseHolding(a_, {});
  const v1::LeaseReply second = MustLeaseHolding(b_, {});
  MustReport(a_, first, 0.5, 0, 50);
  MustReport(b_, second, 0.2, 0, 50);
  // a's state of the due promotion is in the shared folder: b finds it there and gets it at once.
  const v1::LeaseReply promoted = MustLeaseHolding(b_, {first.trial(), second.trial()});
  EXPECT_EQ(promoted.trial(), first.trial());
  EXPECT_EQ(promoted.rung(), 1);
  MustReport(b_, promoted, 0.6, 100, 150);
  EXPECT_EQ(scheduler_->GetTrial(first.trial())->repeated_steps(), 0);
  EXPECT_EQ(scheduler_->Status().trained_steps(), 500);
  EXPECT_EQ(scheduler_->Status().repeated_steps(), 0);
}

// A lease lost mid-rung counts what its heartbeats said it trained; the next lease repeats what it
// trains again of that. An older worker that says only `continued` began at the rung below.
TEST_F(HeldStateTest, RepeatedStepsCountWhatALostLeaseHadTrained) {
  const v1::LeaseReply lost = MustLeaseHolding(a_, {});
  Beat(a_, lost, 0, 60, {});
  clock_.Advance(61);
  ASSERT_EQ(*scheduler_->ExpireLeases(), 1);
  v1::Trial t = *scheduler_->GetTrial(lost.trial());
  EXPECT_EQ(t.trained_steps(), 60);
  EXPECT_EQ(t.reached_step(), 60);
  // b continues from a checkpoint at step 40: 20 steps again.
  const v1::LeaseReply again = MustLeaseHolding(b_, {});
  ASSERT_EQ(again.trial(), lost.trial());
  MustReport(b_, again, 0.4, 40, 60);
  t = *scheduler_->GetTrial(lost.trial());
  EXPECT_EQ(t.trained_steps(), 60 + 60);
  EXPECT_EQ(t.repeated_steps(), 20);
  // An older worker's report without start_step: continued means from the rung below.
  const v1::LeaseReply other = MustLeaseHolding(b_, {});
  MustReport(b_, other, 0.1, 0, 60);
  const v1::LeaseReply promoted = MustLeaseHolding(b_, {});
  ASSERT_EQ(promoted.trial(), lost.trial());
  v1::ReportRequest old = Result(b_, promoted, 0.5);
  old.set_continued(true);
  ASSERT_TRUE(scheduler_->Report(old).ok());
  t = *scheduler_->GetTrial(lost.trial());
  EXPECT_EQ(t.results(1).start_step(), 100);
  EXPECT_EQ(t.trained_steps(), 120 + 300);
  EXPECT_EQ(t.repeated_steps(), 20);
  EXPECT_EQ(scheduler_->Status().repeated_steps(), 20);
}

// A real (not simulated) experiment: the final stage needs one. `extra` as Config's.
v1::ExperimentConfig RealConfig(const std::string& extra = "") {
  nlohmann::json j = nlohmann::json::parse(R"({"name": "test", "seed": 5, "algorithm": {"kind": "random",
    "queue": 2}, "budget": {"trials": 3, "parallel": 2}, "controls": ["spinenet-49"],
    "lease": {"lease_seconds": 60, "heartbeat_seconds": 10, "max_attempts": 2}, "rungs": {"steps": [100]}})");
  if (!extra.empty()) j.update(nlohmann::json::parse("{" + extra.substr(extra.find(',') + 1) + "}"));
  absl::StatusOr<v1::ExperimentConfig> c = ParseExperimentConfig(j.dump(), "test.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

class WinnersTest : public SchedulerTest {
 protected:
  void OpenRecording(const v1::ExperimentConfig& config) {
    OpenWith(config, [observed = observed_](const search_spaces::SearchSpace& space) {
      return std::make_unique<RecordingPolicy>(space, observed);
    });
  }
  // A real result.
  void MustReport(const std::string& w, const v1::LeaseReply& g, double ap) {
    v1::ReportRequest r = Result(w, g, ap);
    r.set_simulated(false);
    absl::StatusOr<v1::ReportReply> reply = scheduler_->Report(r);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_FALSE(reply->duplicate());
  }
  v1::LeaseReply::Status NextStatus(const std::string& w) {
    EXPECT_TRUE(scheduler_->RunPolicy().ok());
    absl::StatusOr<v1::LeaseReply> r = scheduler_->Lease(Ask(w));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->status() : v1::LeaseReply::STATUS_UNSPECIFIED;
  }
  std::shared_ptr<std::vector<Observation>> observed_ = std::make_shared<std::vector<Observation>>();
};

// A control is leased at every rung, ahead of new trials and outside the promotion quota; the
// policy never observes it and the budget never counts it.
TEST_F(WinnersTest, ControlsRunEveryRungOutsideThePolicyAndTheBudget) {
  OpenRecording(RealConfig(R"(, "rungs": {"steps": [100, 400], "eta": 3})"));
  const std::string w = Worker(false);
  const v1::LeaseReply c0 = MustLease(w);
  const v1::Trial control = *scheduler_->GetTrial(c0.trial());
  EXPECT_EQ(control.role(), v1::TRIAL_ROLE_CONTROL);
  EXPECT_EQ(control.control(), "spinenet-49");
  EXPECT_EQ(c0.role(), v1::TRIAL_ROLE_CONTROL);
  EXPECT_EQ(c0.rung(), 0);
  EXPECT_EQ(c0.seed(), TrainingSeed(5, c0.trial()));
  EXPECT_EQ(c0.data_seed(), DataSeed(5));  // The images every architecture of the search sees.
  EXPECT_GT(control.macs(), 0);
  // The worst result of its rung, and still leased at the next rung at once, ahead of new trials.
  MustReport(w, c0, 0.01);
  const v1::LeaseReply c1 = MustLease(w);
  EXPECT_EQ(c1.trial(), c0.trial());
  EXPECT_EQ(c1.rung(), 1);
  EXPECT_EQ(c1.steps(), 400);
  EXPECT_EQ(c1.previous_steps(), 100);
  MustReport(w, c1, 0.02);
  EXPECT_EQ(scheduler_->GetTrial(c0.trial())->state(), v1::DONE);
  // Three search trials: the budget is all theirs; the best one of three is promoted (eta 3).
  std::vector<int64_t> search;
  for (double ap : {0.1, 0.3, 0.2}) {
    const v1::LeaseReply g = MustLease(w);
    EXPECT_EQ(g.role(), v1::TRIAL_ROLE_SEARCH);
    EXPECT_EQ(g.rung(), 0);
    EXPECT_EQ(g.data_seed(), c0.data_seed());  // Shared with the control: compared on the same images.
    EXPECT_NE(g.seed(), c0.seed());            // Initialized apart.
    search.push_back(g.trial());
    MustReport(w, g, ap);
  }
  EXPECT_EQ(scheduler_->Status().proposed(), 3);
  EXPECT_EQ(scheduler_->Status().controls().done(), 1);
  EXPECT_EQ(scheduler_->Status().final_runs().done(), 0);
  EXPECT_EQ(scheduler_->Status().done(), 4);  // Every role's.
  const v1::LeaseReply promoted = MustLease(w);
  EXPECT_EQ(promoted.trial(), search[1]);
  EXPECT_EQ(promoted.rung(), 1);
  MustReport(w, promoted, 0.4);
  EXPECT_EQ(NextStatus(w), v1::LeaseReply::FINISHED);
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  std::set<int64_t> observed;
  for (const Observation& o : *observed_) observed.insert(o.trial);
  EXPECT_EQ(observed, std::set<int64_t>(search.begin(), search.end()));
  // Ranked apart: the store's top lists search trials only.
  const absl::StatusOr<std::vector<v1::Trial>> top = store_->TopTrials(10);  // Held: a range-for over *temporary dangles.
  ASSERT_TRUE(top.ok()) << top.status();
  for (const v1::Trial& t : *top) EXPECT_NE(t.id(), c0.trial());
  EXPECT_EQ(scheduler_->Status().best_trial(), search[1]);
}

// When the budget is spent, the top k of the highest rung and every control are trained again,
// `seeds` times each, at the final budget, with seeds the search never used; a restart in the
// middle makes no run twice; a larger final section later trains only what is missing.
TEST_F(WinnersTest, TheFinalStageRetrainsTopKAndControlsWithFreshSeedsAndReusesRuns) {
  const v1::ExperimentConfig config = RealConfig(R"(, "final": {"top_k": 2, "seeds": 2, "steps": 300})");
  OpenRecording(config);
  std::string w = Worker(false);
  std::set<uint64_t> search_seeds;
  std::map<int64_t, double> ap_of;
  int64_t control = 0;
  for (int i = 0; i < 4; ++i) {  // The control and three trials.
    const v1::LeaseReply g = MustLease(w);
    search_seeds.insert(g.seed());
    if (g.role() == v1::TRIAL_ROLE_CONTROL) control = g.trial();
    EXPECT_NE(g.role(), v1::TRIAL_ROLE_FINAL);
    ap_of[g.trial()] = 0.1 * (i + 1);
    MustReport(w, g, ap_of[g.trial()]);
  }
  ASSERT_NE(control, 0);
  // Finalists: the two best search trials (0.4, 0.3), then the control.
  std::vector<int64_t> best;
  for (const auto& [id, ap] : ap_of) {
    if (id != control) best.push_back(id);
  }
  std::sort(best.begin(), best.end(), [&](int64_t a, int64_t b) { return ap_of[a] > ap_of[b]; });
  best.resize(2);
  std::map<int64_t, std::set<int32_t>> runs;  // Subject -> seed indices.
  std::set<uint64_t> final_seeds;
  std::set<int64_t> final_runs;
  auto take_final = [&](bool report) {
    const v1::LeaseReply g = MustLease(w);
    EXPECT_EQ(g.role(), v1::TRIAL_ROLE_FINAL);
    EXPECT_EQ(g.steps(), 300);
    EXPECT_EQ(g.previous_steps(), 0);
    EXPECT_EQ(search_seeds.count(g.seed()), 0u) << "a seed of the search";
    EXPECT_EQ(g.data_seed(), 0u) << "a final run draws its images with its own fresh seed";
    EXPECT_NE(g.seed(), DataSeed(5)) << "the search's data seed";
    EXPECT_TRUE(final_seeds.insert(g.seed()).second) << "a seed used twice";
    const v1::Trial t = *scheduler_->GetTrial(g.trial());
    EXPECT_TRUE(runs[t.final_of()].insert(t.final_seed()).second);
    final_runs.insert(t.id());
    if (report) MustReport(w, g, 0.5);
    return g;
  };
  for (int i = 0; i < 3; ++i) take_final(true);
  const v1::LeaseReply outstanding = take_final(false);
  // The controller restarts in the middle of the final stage.
  scheduler_.reset();
  OpenRecording(config);
  MustReport(w, outstanding, 0.5);
  w = Worker(false);
  for (int i = 0; i < 2; ++i) take_final(true);
  EXPECT_EQ(NextStatus(w), v1::LeaseReply::FINISHED);
  const std::map<int64_t, std::set<int32_t>> expected = {
      {best[0], {0, 1}}, {best[1], {0, 1}}, {control, {0, 1}}};
  EXPECT_EQ(runs, expected);
  const std::optional<v1::FinalStage> stage = *store_->GetFinalStage();
  ASSERT_TRUE(stage.has_value());
  EXPECT_EQ(std::vector<int64_t>(stage->finalists().begin(), stage->finalists().end()), best);
  EXPECT_EQ(std::vector<int64_t>(stage->controls().begin(), stage->controls().end()), std::vector<int64_t>{control});
  EXPECT_EQ(stage->note(), "");
  ASSERT_TRUE(scheduler_->RunPolicy().ok());
  EXPECT_EQ(observed_->size(), 3u);  // The search trials only.
  for (const Observation& o : *observed_) EXPECT_TRUE(final_runs.count(o.trial) == 0 && o.trial != control);
  EXPECT_EQ(scheduler_->Status().proposed(), 3);

  // Again with a third seed and a larger top_k than there are trials: only the missing runs.
  scheduler_.reset();
  v1::ExperimentConfig larger = config;
  larger.mutable_final()->set_top_k(5);
  larger.mutable_final()->set_seeds(3);
  OpenRecording(larger);
  EXPECT_EQ(scheduler_->Status().state(), v1::EXPERIMENT_RUNNING);
  w = Worker(false);
  for (int i = 0; i < 6; ++i) take_final(true);  // Seed 2 of the three subjects, seeds 0-2 of the third trial.
  EXPECT_EQ(NextStatus(w), v1::LeaseReply::FINISHED);
  EXPECT_EQ(runs.size(), 4u);
  for (const auto& [subject, seeds] : runs) EXPECT_EQ(seeds, (std::set<int32_t>{0, 1, 2})) << subject;
  EXPECT_NE(store_->GetFinalStage()->value().note().find("top_k 5 asked; 3 trials reached the highest rung"),
            std::string::npos)
      << store_->GetFinalStage()->value().note();
  // The same section once more: nothing to run, still finished.
  scheduler_.reset();
  OpenRecording(larger);
  EXPECT_EQ(scheduler_->Status().state(), v1::EXPERIMENT_FINISHED);
}

TEST(ExperimentConfig, ControlsAndTheFinalSectionAreCheckedAtStart) {
  auto error = [](const std::string& text) {
    return std::string(ParseExperimentConfig(text, "x.json").status().message());
  };
  EXPECT_EQ(error(R"({"name": "n", "controls": ["spinenet-49", "nope"]})").find("x.json: controls[1]: \"nope\""), 0u)
      << error(R"({"name": "n", "controls": ["nope"]})");
  EXPECT_EQ(error(R"({"name": "n", "controls": ["spinenet-49", "spinenet-49"]})"),
            "x.json: controls[1]: \"spinenet-49\" repeats controls[0]");
  EXPECT_EQ(error(R"({"name": "n", "controls": [3]})"), "x.json: controls[0]: must be a non-empty string, got 3");
  const std::string over = error(R"({"name": "n", "controls": ["spinenet-49"], "objective": {"max_macs": 1000}})");
  EXPECT_EQ(over.find("x.json: controls[0]: \"spinenet-49\" has "), 0u) << over;
  EXPECT_NE(over.find("over objective.max_macs 1000"), std::string::npos) << over;
  const std::string params = error(R"({"name": "n", "controls": ["spinenet-49"], "objective": {"max_params": 10}})");
  EXPECT_NE(params.find("over objective.max_params 10"), std::string::npos) << params;
  EXPECT_EQ(error(R"({"name": "n", "final": {"top_k": 2}, "simulation": {}})").find("x.json: final: a simulated"), 0u);
  EXPECT_EQ(error(R"({"name": "n", "final": {"top_k": 2, "seeds": 1}})"), "x.json: final.seeds: must be in [2, 100], got 1");
  // Defaults: no final stage; given top_k, the steps are the highest rung's.
  const absl::StatusOr<v1::ExperimentConfig> c =
      ParseExperimentConfig(R"({"name": "n", "rungs": {"steps": [10, 40]}, "final": {"top_k": 2}})", "x.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->final().seeds(), 3);
  EXPECT_EQ(c->final().steps(), 40);
  EXPECT_EQ(ParseExperimentConfig(R"({"name": "n"})", "x.json")->final().top_k(), 0);
}

TEST(ExperimentConfig, ErrorsNameTheFieldAndDefaultsRoundTrip) {
  auto error = [](const std::string& text) {
    return std::string(ParseExperimentConfig(text, "x.json").status().message());
  };
  EXPECT_EQ(error(R"({"name": "a", "budget": {"trails": 3}})"), "x.json: budget.trails: unknown key");
  EXPECT_EQ(error(R"({"name": "a", "budget": {"trials": "3"}})"), "x.json: budget.trials: must be an integer, got \"3\"");
  EXPECT_EQ(error(R"({"budget": {}})"), "x.json: name: required, a non-empty string");
  EXPECT_EQ(error(R"({"name": "../../x"})"),
            "x.json: name: must be up to 100 letters, digits, '.', '_' or '-', starting with a letter or digit (it "
            "names folders), got \"../../x\"");
  EXPECT_NE(error(R"({"name": "a/b"})").find("name: must be"), std::string::npos);
  EXPECT_NE(error(R"({"name": ".hidden"})").find("name: must be"), std::string::npos);
  // Values a JSON library would take silently or throw on.
  EXPECT_EQ(error(R"({"name": "a", "lease": {"lease_seconds": 1e400}})"),
            "x.json: not valid JSON: lease.lease_seconds: number overflow parsing '1e400'");
  EXPECT_EQ(error(R"({"name": "a", "budget": {"trials": 3, "trials": 4}})"),
            "x.json: not valid JSON: budget: key \"trials\" given twice");
  EXPECT_EQ(error(R"({"name": "a", "rungs": {"steps": []}})"),
            "x.json: rungs.steps: must list at least 1 integer, got []");
  EXPECT_EQ(error(R"({"name": "a", "rungs": {"steps": null}})"),
            "x.json: rungs.steps: must be a list of integers, got null");
  EXPECT_EQ(error(R"({"name": "a", "budget": {"trials": null}})"), "x.json: budget.trials: must be an integer, got null");
  EXPECT_EQ(error(R"({"name": "a", "rungs": {"steps": [500, 200]}})"),
            "x.json: rungs.steps[1]: must be larger than rungs.steps[0] (500), got 200");
  EXPECT_NE(error(R"({"name": "a", "algorithm": {"kind": "bayes"}})").find("algorithm.kind: must be one of"),
            std::string::npos);
  EXPECT_NE(error(R"({"name": "a", "lease": {"lease_seconds": 10, "heartbeat_seconds": 8}})")
                .find("lease.heartbeat_seconds"),
            std::string::npos);
  EXPECT_NE(error(R"({"name": "a", "objective": {"kind": "ap_macs"}})").find("objective.target_macs"),
            std::string::npos);
  EXPECT_NE(error("{\"name\": ").find("not valid JSON"), std::string::npos);
  EXPECT_EQ(error(R"({"name": "a", "algorithm": {"temperature": -1}})"),
            "x.json: algorithm.temperature: must be in [0, 1000], got -1");
  EXPECT_EQ(error(R"({"name": "a", "algorithm": {"tanh_constant": "big"}})"),
            "x.json: algorithm.tanh_constant: must be a number, got \"big\"");
  EXPECT_EQ(error(R"({"name": "a", "algorithm": {"failure_penalty": 1e9}})"),
            "x.json: algorithm.failure_penalty: must be in [-1e+06, 1e+06], got 1e+09");
  // update_every defaults to at least one result per trial running at once; given, it stays.
  EXPECT_EQ(ParseExperimentConfig(R"({"name": "a", "budget": {"parallel": 32}})", "x.json")->algorithm().update_every(),
            32);
  EXPECT_EQ(ParseExperimentConfig(R"({"name": "a", "budget": {"parallel": 2}})", "x.json")->algorithm().update_every(),
            8);
  EXPECT_EQ(ParseExperimentConfig(R"({"name": "a", "algorithm": {"update_every": 3}, "budget": {"parallel": 32}})",
                                  "x.json")
                ->algorithm()
                .update_every(),
            3);
  absl::StatusOr<v1::ExperimentConfig> c = ParseExperimentConfig(R"({"name": "a"})", "x.json");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->algorithm().kind(), "evolution");
  EXPECT_EQ(c->rungs().steps_size(), 1);
  absl::StatusOr<v1::ExperimentConfig> again = ParseExperimentConfig(ExperimentConfigToJson(*c), "y.json");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), c->SerializeAsString());
}

// The head's class count: given, else the data's (3 for the synthetic set or its classes=, else
// COCO's 80), and always written out.
TEST(ExperimentConfig, ProxyClassesAreValidatedAndDefaultToTheDatas) {
  auto classes = [](const std::string& proxy) {
    absl::StatusOr<v1::ExperimentConfig> c = ParseExperimentConfig(R"({"name": "a", "proxy": )" + proxy + "}", "x.json");
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->proxy().classes() : -1;
  };
  EXPECT_EQ(ParseExperimentConfig(R"({"name": "a"})", "x.json")->proxy().classes(), 3);
  EXPECT_EQ(classes(R"({"data": "synthetic"})"), 3);
  EXPECT_EQ(classes(R"({"data": "synthetic:classes=5,size=64"})"), 5);
  EXPECT_EQ(classes(R"({"data": "coco:a.json:images"})"), 80);
  EXPECT_EQ(classes(R"({"data": "coco:a.json:images", "classes": 12})"), 12);
  auto error = [](const std::string& text) {
    return std::string(ParseExperimentConfig(text, "x.json").status().message());
  };
  EXPECT_EQ(error(R"({"name": "a", "proxy": {"classes": 0}})"), "x.json: proxy.classes: must be in [1, 100000], got 0");
  EXPECT_EQ(error(R"({"name": "a", "proxy": {"classes": 2.5}})"),
            "x.json: proxy.classes: must be an integer, got 2.5");
  EXPECT_EQ(error(R"({"name": "a", "proxy": {"data": "synthetic:classes=none"}})"),
            "x.json: proxy.data: \"synthetic:classes=none\": classes must be a positive integer");
  EXPECT_NE(ExperimentConfigToJson(*ParseExperimentConfig(R"({"name": "a"})", "x.json")).find("\"classes\": 3"),
            std::string::npos);
}

}  // namespace
}  // namespace vertebra::controller
