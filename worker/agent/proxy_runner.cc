#include "worker/agent/proxy_runner.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/kinds.h"
#include "search_spaces/proxy.h"
#include "worker/agent/run_folder.h"
#include "worker/data/data_spec.h"
#include "worker/train/trainer.h"

namespace vertebra::worker {
namespace {

namespace fs = std::filesystem;

// A killed worker loses at most this much of a trial's training.
constexpr double kCheckpointMinutes = 2;
// The state a lease continues from, in the trial's run folder (worker/train/trainer.h).
constexpr char kCheckpointFile[] = "checkpoint.pt";

}  // namespace

struct ProxyRunner::Data {
  std::string key;  // data | val | held_out | seed: what the splits were opened from.
  data::DataSplits splits;
};

ProxyRunner::ProxyRunner(ProxyRunnerOptions options) : options_(std::move(options)) {}
ProxyRunner::~ProxyRunner() = default;

absl::StatusOr<v1::ReportRequest> ProxyRunner::Run(const v1::RegisterReply& experiment, const v1::LeaseReply& lease,
                                                   const ProgressFn& progress) {
  const v1::ProxyTask& proxy = experiment.proxy();
  const std::string key = absl::StrCat(proxy.data(), "|", proxy.val(), "|", proxy.held_out(), "|", experiment.seed());
  if (data_ == nullptr || data_->key != key) {
    data_.reset();
    absl::StatusOr<data::DataSplits> splits =
        data::OpenDataSplits(proxy.data(), proxy.val(), proxy.held_out(), experiment.seed());
    if (!splits.ok()) return absl::InvalidArgumentError(absl::StrCat("proxy.data: ", splits.status().message()));
    data_ = std::make_unique<Data>(Data{key, std::move(*splits)});
  }
  absl::StatusOr<search_spaces::ResolvedProxy> model = search_spaces::ResolveProxy(lease.spec(), proxy);
  if (!model.ok()) return absl::InvalidArgumentError(model.status().message());
  if (experiment.rungs().steps_size() == 0) return absl::InvalidArgumentError("the experiment has no rungs");

  TrainOptions o;
  o.spec = std::move(model->spec);
  o.head = model->head;
  o.size = proxy.size();
  o.anchor_scale = model->anchor_scale;
  o.batch = proxy.batch();
  if (proxy.learning_rate() > 0) o.lr = proxy.learning_rate();
  o.maxup = std::max(1, proxy.maxup());
  o.steps = experiment.rungs().steps(experiment.rungs().steps_size() - 1);
  o.rung_end = lease.steps();
  const v1::Schedule schedule = ScheduleOf(proxy);
  if (lease.role() == v1::TRIAL_ROLE_FINAL) {
    // A final run is a run of its own, annealed to its end: under wsd a warm-up, the constant lr
    // and the cool-down at the end; under every other schedule one cosine over its steps.
    o.steps = lease.steps();
    if (schedule == v1::SCHEDULE_WSD) {
      o.schedule = ScheduleKind::kWsd;
      o.reading = Reading::kCooldown;
      o.cooldown_fraction = proxy.cooldown_fraction() > 0 ? proxy.cooldown_fraction() : o.cooldown_fraction;
      o.rung_end = lease.steps();
    } else {
      o.rung_end = 0;
    }
  } else if (schedule == v1::SCHEDULE_WSD || schedule == v1::SCHEDULE_EMA) {
    // One constant-lr run; each rung reads it without changing it, and a promotion continues it.
    o.schedule = ScheduleKind::kWsd;
    o.reading = schedule == v1::SCHEDULE_WSD ? Reading::kCooldown : Reading::kEma;
    o.cooldown_fraction = proxy.cooldown_fraction() > 0 ? proxy.cooldown_fraction() : o.cooldown_fraction;
    if (schedule == v1::SCHEDULE_EMA) o.ema_decay = proxy.ema_decay();
  } else if (schedule == v1::SCHEDULE_COSINE_PER_RUNG) {
    // A run of the rung's own length: a promotion trains anew (the lower rung's checkpoint
    // belongs to another run and is replaced below).
    o.steps = lease.steps();
    o.rung_end = 0;
  } else if (schedule != v1::SCHEDULE_COSINE) {
    return absl::InvalidArgumentError(absl::StrCat("proxy.schedule: unknown schedule \"", proxy.schedule(), "\""));
  }
  o.warmup_steps = DefaultWarmupSteps(o.steps);
  o.eval_every = proxy.eval_every();
  if (proxy.eval_batch() > 0) o.eval_batch = proxy.eval_batch();
  // The lease's seed (a final run's is fresh); an older controller sends none, and the rule it
  // used is this one (controller/final_stage.h: TrainingSeed).
  o.seed = lease.seed() != 0 ? lease.seed() : experiment.seed() * 1000003ULL + static_cast<uint64_t>(lease.trial());
  o.data_seed = lease.data_seed();
  o.threads = options_.threads > 0 ? options_.threads : std::max(1, proxy.threads());
  o.loader_threads = options_.loader_threads;
  o.device = options_.device;
  o.precision = PrecisionOf(proxy);
  o.checkpoint_minutes = kCheckpointMinutes;
  const fs::path dir = RunFolder(options_.work_dir, experiment.experiment(), lease.trial());
  o.out_dir = dir.string();
  o.resume = fs::exists(dir / kCheckpointFile);
  std::atomic<bool> stop{false};
  o.stop = &stop;
  double last_loss = 0;  // An evaluation's progress carries no loss: send the last step's.
  auto on_progress = [&](const Progress& p) {
    if (!p.ap) last_loss = p.loss;
    if (!progress({p.resumed_from, p.step, p.ap ? last_loss : p.loss, p.ap})) stop.store(true);
  };

  absl::StatusOr<TrainResult> result = Train(*data_->splits.train, *data_->splits.val, o, on_progress);
  if (!result.ok() && o.resume && absl::IsInvalidArgument(result.status())) {
    // A checkpoint this lease cannot continue (another experiment of the same name, another
    // schedule): start the trial afresh.
    std::error_code ec;
    fs::remove_all(dir, ec);
    o.resume = false;
    result = Train(*data_->splits.train, *data_->splits.val, o, on_progress);
  }
  if (!result.ok()) {
    const absl::Status& s = result.status();
    if (absl::IsResourceExhausted(s)) {
      return absl::ResourceExhaustedError(absl::StrFormat("%s on %s", s.message(), options_.device));
    }
    if (absl::IsInvalidArgument(s)) return s;
    return absl::UnavailableError(s.message());
  }
  if (result->status == v1::TRAIN_STOPPED) return absl::CancelledError("stopped");
  if (result->status == v1::TRAIN_DIVERGED || !result->stats) {
    return absl::FailedPreconditionError(
        absl::StrFormat("training diverged at step %d (loss %g)", result->diverged_step, result->final_loss));
  }
  v1::ReportRequest out;
  const auto stats = result->stats->AsArray();
  out.mutable_ap()->mutable_stats()->Add(stats.begin(), stats.end());
  out.set_train_seconds(result->train_seconds);
  out.set_eval_seconds(result->eval_seconds);
  out.set_checkpoint_seconds(result->checkpoint_seconds);
  out.set_images_per_s(result->images_per_s);
  out.set_continued(result->resumed_from > 0);
  out.set_start_step(result->resumed_from);
  // The length of the fork that read this rung, however many of its steps this process ran (a
  // run resumed inside its cool-down ran only the rest).
  out.set_cooldown_steps(o.reading == Reading::kCooldown ? CooldownSteps(o, lease.steps()) : 0);
  if (lease.steps() >= o.steps) {
    // The top rung: nothing will continue this run.
    std::error_code ec;
    fs::remove(dir / kCheckpointFile, ec);
  }
  out.set_state_kept(fs::exists(dir / kCheckpointFile));
  return out;
}

std::vector<int64_t> ProxyRunner::HeldTrials(const v1::RegisterReply& experiment) const {
  return worker::HeldTrials(options_.work_dir, experiment.experiment(), kCheckpointFile);
}

}  // namespace vertebra::worker
