#include "proto/checks.h"

#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace vertebra {
namespace {

v1::ReportRequest GoodReport() {
  v1::ReportRequest r;
  r.set_worker_id("w1");
  r.set_trial(3);
  r.set_lease(7);
  for (int i = 0; i < 12; ++i) r.mutable_ap()->add_stats(i == 3 ? -1 : 0.25);
  r.set_train_seconds(12.5);
  r.set_eval_seconds(2);
  r.set_checkpoint_seconds(0.25);
  r.set_images_per_s(40);
  return r;
}

TEST(CheckReportRequest, AcceptsAnOrdinaryReportAndAFailure) {
  EXPECT_TRUE(CheckReportRequest(GoodReport()).ok());
  v1::ReportRequest failed;
  failed.set_worker_id("w1");
  failed.set_failed(true);
  failed.set_failure("out of memory");
  EXPECT_TRUE(CheckReportRequest(failed).ok());
}

// Each of these was stored before, and inf ranked best everywhere.
TEST(CheckReportRequest, RefusesNumbersOutOfRange) {
  const double inf = std::numeric_limits<double>::infinity();
  for (double ap : {std::nan(""), inf, -inf, -1.0, 2.5, 1e300}) {
    v1::ReportRequest r = GoodReport();
    r.mutable_ap()->set_stats(0, ap);
    const absl::Status s = CheckReportRequest(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << ap;
    EXPECT_EQ(s.message().rfind("ap.stats[0]: must be in [0, 1], got ", 0), 0u) << s;
  }
  v1::ReportRequest r = GoodReport();
  r.mutable_ap()->set_stats(5, std::nan(""));
  EXPECT_EQ(CheckReportRequest(r).message(), "ap.stats[5]: must be in [0, 1], got nan");
  r = GoodReport();
  r.set_train_seconds(-3);
  EXPECT_EQ(CheckReportRequest(r).message(), "train_seconds: must be in [0, 1e+08], got -3");
  r = GoodReport();
  r.set_eval_seconds(std::nan(""));
  EXPECT_EQ(CheckReportRequest(r).message(), "eval_seconds: must be in [0, 1e+08], got nan");
  r = GoodReport();
  r.set_checkpoint_seconds(inf);
  EXPECT_EQ(CheckReportRequest(r).message(), "checkpoint_seconds: must be in [0, 1e+08], got inf");
  r = GoodReport();
  r.set_images_per_s(inf);
  EXPECT_FALSE(CheckReportRequest(r).ok());
  r = GoodReport();
  r.mutable_ap()->add_stats(0.5);
  EXPECT_EQ(CheckReportRequest(r).message(), "ap.stats: must hold 12 numbers, got 13");
  r = GoodReport();
  r.clear_ap();
  EXPECT_FALSE(CheckReportRequest(r).ok());
  r = GoodReport();
  r.set_cooldown_steps(-1);
  EXPECT_FALSE(CheckReportRequest(r).ok());
  r = GoodReport();
  r.set_failure(std::string(kMaxFailureChars + 1, 'x'));
  EXPECT_EQ(CheckReportRequest(r).message(), "failure: 4097 bytes is more than the limit of 4096");
}

TEST(CheckHeartbeatRequest, RefusesNumbersOutOfRange) {
  v1::HeartbeatRequest h;
  h.set_worker_id("w1");
  h.set_step(10);
  h.set_loss(1.2);
  EXPECT_TRUE(CheckHeartbeatRequest(h).ok());
  h.set_loss(std::nan(""));
  EXPECT_EQ(CheckHeartbeatRequest(h).message(), "loss: must be in [0, 1e+06], got nan");
  h.set_loss(1);
  h.set_step(-5);
  EXPECT_FALSE(CheckHeartbeatRequest(h).ok());
  h.set_step(5);
  h.set_has_ap(true);
  h.set_ap(1.5);
  EXPECT_FALSE(CheckHeartbeatRequest(h).ok());
  h.set_ap(0.5);
  h.set_start_step(-1);
  EXPECT_EQ(CheckHeartbeatRequest(h).message(), "start_step: must be in [0, 1099511627776], got -1");
  h.set_start_step(4);
  h.add_held_trials(3);
  EXPECT_TRUE(CheckHeartbeatRequest(h).ok());
  h.add_held_trials(0);
  EXPECT_EQ(CheckHeartbeatRequest(h).message(), "held_trials[1]: must be positive, got 0");
}

TEST(CheckLeaseRequest, CapsTheHeldTrials) {
  v1::LeaseRequest r;
  r.set_worker_id("w1");
  for (size_t i = 1; i <= kMaxHeldTrials; ++i) r.add_held_trials(static_cast<int64_t>(i));
  EXPECT_TRUE(CheckLeaseRequest(r).ok());
  r.add_held_trials(1);
  EXPECT_EQ(CheckLeaseRequest(r).message(), "held_trials: 100001 trials is more than the limit of 100000");
}

TEST(CheckRegisterRequest, CapsFreeText) {
  v1::RegisterRequest r;
  r.set_host("node-1");
  r.set_device("cpu");
  EXPECT_TRUE(CheckRegisterRequest(r).ok());
  r.set_host(std::string(4 << 20, 'h'));
  EXPECT_EQ(CheckRegisterRequest(r).message(), "host: 4194304 bytes is more than the limit of 255");
  r.set_host("node-1");
  r.set_device(std::string(256, 'd'));
  EXPECT_FALSE(CheckRegisterRequest(r).ok());
  r.set_device("cpu");
  r.set_memory_mb(-1);
  EXPECT_FALSE(CheckRegisterRequest(r).ok());
}

TEST(TruncateText, CutsAtACharacterBoundary) {
  EXPECT_EQ(TruncateText("short", 100), "short");
  const std::string cut = TruncateText(std::string(5000, 'x'));
  EXPECT_EQ(cut.size(), kMaxFailureChars);
  EXPECT_EQ(cut.substr(cut.size() - 6), " [...]");
  // "é" is two bytes; a cut inside it steps back before it.
  const std::string accents = TruncateText("ab\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 9);
  EXPECT_EQ(accents, "ab [...]");
}

}  // namespace
}  // namespace vertebra
