#include "worker/agent/simulated.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "proto/kinds.h"
#include "search_spaces/arch_spec.h"
#include "worker/agent/run_folder.h"
#include "worker/agent/surrogate.h"

namespace vertebra::worker {
namespace {

// Stem features 0 and 1 are at level 2 (arch.proto).
constexpr int kStemFeatures = 2;
constexpr int kStemLevel = 2;

uint64_t HashPrefix(const std::string& hex, size_t offset) {
  return std::stoull(hex.substr(offset, 12), nullptr, 16);
}

// The simulated run's state in its run folder: "RUN_LENGTH STEP".
constexpr char kStateFile[] = "state";

// The shares of a simulated lease's time reported as evaluation and as checkpoint I/O (when it
// continued or kept a run's state), the rest as training: of the order a real proxy trial
// measures (README, "Where a search's worker time goes"), so that throughput tools have
// figures to show. Simulated, never measured.
constexpr double kSimulatedEvalShare = 0.1;
constexpr double kSimulatedCheckpointShare = 0.02;

// The step the run of `length` steps in `folder` reached, 0 when there is no state of that run.
int64_t StateStep(const std::filesystem::path& folder, int64_t length) {
  absl::StatusOr<std::string> text = ReadFile((folder / kStateFile).string());
  if (!text.ok()) return 0;
  std::istringstream in(*text);
  int64_t run_length = 0, step = 0;
  if (!(in >> run_length >> step) || run_length != length || step < 0) return 0;
  return step;
}

}  // namespace

std::array<double, 12> DerivedCocoStats(double ap) {
  return {ap,
          std::min(1.0, 1.6 * ap),
          0.9 * ap,
          0.5 * ap,
          ap,
          std::min(1.0, 1.3 * ap),
          0.6 * std::min(1.0, ap + 0.1),
          std::min(1.0, ap + 0.1),
          std::min(1.0, ap + 0.15),
          std::min(1.0, 0.6 * ap + 0.1),
          std::min(1.0, ap + 0.15),
          std::min(1.0, 1.3 * ap + 0.15)};
}

absl::StatusOr<SimulatedScore> SimulatedAp(const v1::ArchSpec& spec, int64_t steps, int64_t full_steps,
                                           const v1::SimulationConfig& simulation, uint64_t seed, int32_t rung) {
  if (SimulatedObjectiveOf(simulation) == v1::SIMULATED_OBJECTIVE_SURROGATE) return SurrogateAp(spec, steps, full_steps, seed, rung);
  if (absl::Status s = search_spaces::ValidateArchSpec(spec); !s.ok()) return s;
  if (steps < 1 || full_steps < steps) return absl::InvalidArgumentError("steps must be in [1, full_steps]");
  const int n = spec.blocks_size();
  auto level_of = [&](int feature) { return feature < kStemFeatures ? kStemLevel : spec.blocks(feature - 2).level(); };
  int down = 0, bottlenecks = 0;
  double cross = 0;
  for (int k = 0; k < n; ++k) {
    const v1::Block& b = spec.blocks(k);
    if (k > 0 && b.level() < spec.blocks(k - 1).level()) ++down;
    if (b.type() == v1::BOTTLENECK) ++bottlenecks;
    for (int p : b.parents()) cross += std::abs(level_of(p) - b.level());
  }
  const double permuted = n > 1 ? static_cast<double>(down) / (n - 1) : 0;
  const double cross_score = std::min(1.0, cross / (2.0 * n) / 2.0);
  const double bottleneck = static_cast<double>(bottlenecks) / n;
  const std::string hash = search_spaces::ArchHash(spec);
  const double rugged = static_cast<double>(HashPrefix(hash, 0)) / 281474976710656.0;  // 16^12.
  const double rugged2 = static_cast<double>(HashPrefix(hash, 12)) / 281474976710656.0;
  const double quality = 0.3 * permuted + 0.25 * cross_score + 0.15 * bottleneck + 0.3 * rugged;
  const double final_ap = 0.1 + 0.5 * quality;
  const double fast = 0.1 + 0.5 * (0.6 * (1 - bottleneck) + 0.4 * rugged2);
  const double progress = static_cast<double>(steps) / static_cast<double>(full_steps);
  const double bias = simulation.low_rung_bias() * (1 - progress);
  std::mt19937_64 rng(seed ^ HashPrefix(hash, 24) ^ (static_cast<uint64_t>(rung) * 0x9e3779b97f4a7c15ULL));
  std::normal_distribution<double> normal(0.0, 1.0);
  const double sd = simulation.noise() + simulation.low_rung_noise() * (1 - progress);
  double ap = ((1 - bias) * final_ap + bias * fast) * (0.4 + 0.6 * std::sqrt(progress)) + sd * normal(rng);
  ap = std::clamp(ap, 0.0, 1.0);
  SimulatedScore score;
  score.final_ap = final_ap;
  score.stats = DerivedCocoStats(ap);
  return score;
}

absl::StatusOr<v1::ReportRequest> SimulatedRunner::Run(const v1::RegisterReply& experiment,
                                                       const v1::LeaseReply& lease, const ProgressFn& progress) {
  const auto& rungs = experiment.rungs().steps();
  const int64_t highest = rungs.empty() ? lease.steps() : *std::max_element(rungs.begin(), rungs.end());
  const int64_t top = experiment.simulation().full_steps() > 0 ? experiment.simulation().full_steps() : highest;
  // The run this lease trains: one over the rungs, or the lease's own (a final run, a rung under
  // "cosine_per_rung").
  const bool own_run = lease.role() == v1::TRIAL_ROLE_FINAL ||
                       ScheduleOf(experiment.proxy()) == v1::SCHEDULE_COSINE_PER_RUNG;
  const int64_t run_length = own_run ? lease.steps() : highest;
  const std::filesystem::path folder = RunFolder(work_dir_, experiment.experiment(), lease.trial());
  int64_t first = !work_dir_.empty() ? StateStep(folder, run_length) : own_run ? 0 : lease.previous_steps();
  first = std::min(first, lease.steps());
  const double seconds = (seconds_override_ >= 0 ? seconds_override_ : experiment.simulation().seconds()) *
                         static_cast<double>(lease.steps() - first) / static_cast<double>(std::max<int64_t>(1, top));
  const auto start = std::chrono::steady_clock::now();
  const int64_t span = std::max<int64_t>(1, lease.steps() - first);
  const int slices = std::max<int64_t>(1, std::min<int64_t>(span, static_cast<int64_t>(seconds / 0.02) + 1));
  for (int i = 1; i <= slices; ++i) {
    const auto until = start + std::chrono::duration<double>(seconds * i / slices);
    std::this_thread::sleep_until(until);
    const int64_t step = first + (lease.steps() - first) * i / slices;
    if (!progress({first, step, 1.1 * std::exp(-3.0 * step / static_cast<double>(top)), std::nullopt})) {
      return absl::CancelledError("stopped");
    }
  }
  absl::StatusOr<SimulatedScore> score =
      SimulatedAp(lease.spec(), lease.steps(), top, experiment.simulation(), experiment.seed(), lease.rung());
  if (!score.ok()) return absl::InvalidArgumentError(score.status().message());
  v1::ReportRequest out;
  out.set_simulated(true);
  out.mutable_ap()->mutable_stats()->Add(score->stats.begin(), score->stats.end());
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool keeps_state = !work_dir_.empty() && lease.steps() < run_length;
  const double checkpoint_share = first > 0 || keeps_state ? kSimulatedCheckpointShare : 0;
  out.set_eval_seconds(kSimulatedEvalShare * elapsed);
  out.set_checkpoint_seconds(checkpoint_share * elapsed);
  out.set_train_seconds((1 - kSimulatedEvalShare - checkpoint_share) * elapsed);
  out.set_continued(first > 0);
  out.set_start_step(first);
  if (!work_dir_.empty()) {
    std::error_code ec;
    if (lease.steps() >= run_length) {
      std::filesystem::remove(folder / kStateFile, ec);  // Nothing will continue this run.
    } else {
      std::filesystem::create_directories(folder, ec);
      const absl::Status kept =
          WriteFileAtomically((folder / kStateFile).string(), absl::StrFormat("%d %d\n", run_length, lease.steps()));
      if (!kept.ok()) return absl::UnavailableError(kept.message());
      out.set_state_kept(true);
    }
  }
  return out;
}

std::vector<int64_t> SimulatedRunner::HeldTrials(const v1::RegisterReply& experiment) const {
  if (work_dir_.empty()) return {};
  return worker::HeldTrials(work_dir_, experiment.experiment(), kStateFile);
}

}  // namespace vertebra::worker
