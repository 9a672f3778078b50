// `vertebra train`: train a detector with any backbone on the built-in or a COCO-format dataset,
// evaluate it on the held-out split, and leave a run folder (worker/train/trainer.h).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "cli/commands.h"
#include "cli/spec_source.h"
#include "inspect/lineage.h"
#include "proto/kinds.h"
#include "search_spaces/family.h"
#include "search_spaces/proxy.h"
#include "worker/data/data_spec.h"
#include "worker/train/trainer.h"

namespace vertebra::cli {
namespace {

namespace ss = ::vertebra::search_spaces;
namespace wd = ::vertebra::worker::data;
using worker::TrainOptions;

// Exit status of a run that diverged (a result, written to result.json, not a crash).
constexpr int kExitDiverged = 3;

std::atomic<bool> g_stop{false};

void OnSignal(int) {
  // First Ctrl-C or SIGTERM: finish the step, checkpoint, exit. A second one kills at once.
  if (g_stop.exchange(true)) std::_Exit(130);
}

struct TrainFlags {
  SpecSource arch;
  std::string scale = "proxy";
  std::string data = "synthetic";
  std::string val;
  int held_out = 0;
  uint64_t split_seed = 0;
  int64_t steps = 0;
  double epochs = 0;
  int batch = 16;
  int size = 128;
  std::string optimizer = "adamw";
  double lr = 0;
  double momentum = 0.9;
  double weight_decay = -1;
  int64_t warmup = -1;
  std::string schedule = "cosine";
  std::string reading;
  std::vector<int64_t> readings;
  double cooldown_fraction = 0.15;
  double ema = 0;
  bool read_all = false;
  double clip = 10;
  int maxup = 1;
  bool no_flip = false;
  std::vector<double> jitter;
  bool swish = false;
  double stochastic_depth = 0;
  double anchor_scale = 0;
  int head_width = 0;
  int head_convs = 0;
  uint64_t seed = 0;
  uint64_t data_seed = 0;
  std::string device = "cpu";
  std::string precision = "auto";
  int threads = 1;
  int loader_threads = 2;
  std::string out;
  bool resume = false;
  int64_t checkpoint_every = 0;
  double checkpoint_minutes = 10;
  int64_t eval_every = 0;
  int64_t stop_after = 0;
  bool json = false;
  bool quiet = false;
};

std::string Duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

// One live line on a terminal; a plain line every 10% of the run (or minute) otherwise.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0) {}
  ~ProgressPrinter() {
    if (tty_ && live_) std::cerr << "\n";
  }

  void operator()(const worker::Progress& p) {
    if (quiet_) return;
    if (p.ap) {
      Line(absl::StrFormat("step %d/%d: held-out AP %.4f", p.step, p.steps, *p.ap));
      return;
    }
    // In a cool-down fork the step stays the reading's: the fork's own steps count instead.
    const bool fork = p.cooldown_steps > 0;
    const std::string text =
        fork ? absl::StrFormat("step %d/%d  cool-down %d/%d  loss %.4f  elapsed %s", p.step, p.steps, p.cooldown_step,
                               p.cooldown_steps, p.loss, Duration(p.elapsed_s))
             : absl::StrFormat("step %d/%d  loss %.4f  %.1f img/s  elapsed %s  ETA %s", p.step, p.steps, p.loss,
                               p.images_per_s, Duration(p.elapsed_s), Duration(p.eta_s));
    const int64_t done = fork ? p.cooldown_step : p.step;
    const int64_t total = fork ? p.cooldown_steps : p.steps;
    const auto now = std::chrono::steady_clock::now();
    if (tty_) {
      if (now - last_ < std::chrono::milliseconds(250) && done != total) return;
      std::cerr << "\r\033[K" << text << std::flush;
      live_ = true;
    } else {
      const int64_t tenth = std::max<int64_t>(1, total / 10);
      if (done % tenth != 0 && now - last_ < std::chrono::seconds(60) && done != total) return;
      std::cerr << text << "\n";
    }
    last_ = now;
  }

 private:
  // A line of its own, ending the live line first.
  void Line(const std::string& text) {
    if (tty_ && live_) std::cerr << "\r\033[K";
    std::cerr << text << "\n";
    live_ = false;
  }
  bool quiet_;
  bool tty_;
  bool live_ = false;
  std::chrono::steady_clock::time_point last_{};
};

void RunTrain(const TrainFlags& f, bool write_safetensors = false) {
  TrainOptions o;
  o.write_safetensors = write_safetensors;
  // The model as the search resolves its proxy task (search_spaces/proxy.h): the named scale's
  // backbone scaling, head and anchors at --size; then the explicit overrides (--filter-scale,
  // --head-width, ...). The head's class count is the data's: the trainer takes it from the data
  // it opens (a data spec whose classes= is bad is reported when it is opened).
  v1::ProxyTask proxy;
  proxy.set_scaling(f.scale);
  proxy.set_size(f.size);
  proxy.set_anchor_scale(f.anchor_scale);
  proxy.set_classes(ss::DefaultProxyClasses(f.data).value_or(ss::kDefaultClasses));
  absl::StatusOr<ss::ResolvedProxy> model = ss::ResolveProxy(f.arch.Load(), proxy);
  if (!model.ok()) {
    // The proxy task's fields came from flags: name the flag (size and anchors are checked as
    // they are parsed).
    absl::string_view message = model.status().message();
    if (absl::ConsumePrefix(&message, "proxy.scaling: ")) {
      Fail(absl::Status(model.status().code(), absl::StrCat("--scaling: ", message)));
    }
    Fail(model.status());
  }
  o.spec = std::move(model->spec);
  f.arch.ApplyOverrides(o.spec);
  o.head = model->head;
  if (f.head_width > 0) o.head.width = f.head_width;
  if (f.head_convs > 0) o.head.num_convs = f.head_convs;
  o.anchor_scale = model->anchor_scale;
  o.swish = f.swish;
  o.stochastic_depth = f.stochastic_depth;

  absl::StatusOr<wd::DataSplits> data = wd::OpenDataSplits(f.data, f.val, f.held_out, f.split_seed);
  if (!data.ok()) Fail(data.status());

  if ((f.steps > 0) == (f.epochs > 0)) Fail(absl::InvalidArgumentError("give exactly one of --steps and --epochs"));
  o.batch = f.batch;
  o.steps = f.steps > 0 ? f.steps
                        : static_cast<int64_t>(std::ceil(f.epochs * data->train->size() / static_cast<double>(f.batch)));
  o.size = f.size;
  o.optimizer = f.optimizer == "sgd" ? worker::OptimizerKind::kSgd : worker::OptimizerKind::kAdamW;
  o.lr = f.lr > 0 ? f.lr : worker::DefaultLearningRate(o.optimizer, f.batch);
  o.weight_decay = f.weight_decay >= 0 ? f.weight_decay : worker::DefaultWeightDecay(o.optimizer);
  o.momentum = f.momentum;
  o.warmup_steps = f.warmup >= 0 ? f.warmup : worker::DefaultWarmupSteps(o.steps);
  o.schedule = f.schedule == "step"  ? worker::ScheduleKind::kStep
               : f.schedule == "wsd" ? worker::ScheduleKind::kWsd
                                     : worker::ScheduleKind::kCosine;
  const std::string reading = !f.reading.empty() ? f.reading : f.schedule == "wsd" ? "cooldown" : "weights";
  o.reading = reading == "cooldown" ? worker::Reading::kCooldown
              : reading == "ema"    ? worker::Reading::kEma
                                    : worker::Reading::kWeights;
  o.readings = f.readings;
  o.cooldown_fraction = f.cooldown_fraction;
  o.ema_decay = f.ema;
  o.read_all = f.read_all;
  o.clip_norm = f.clip;
  o.maxup = f.maxup;
  o.augment.horizontal_flip = !f.no_flip;
  if (!f.jitter.empty()) {
    o.augment.min_scale = f.jitter[0];
    o.augment.max_scale = f.jitter[1];
  }
  o.seed = f.seed;
  o.data_seed = f.data_seed;
  o.device = f.device;
  o.precision = *ParseKind<v1::Precision>(f.precision);
  o.threads = f.threads;
  o.loader_threads = f.loader_threads;
  o.out_dir = f.out;
  o.resume = f.resume;
  o.checkpoint_every = f.checkpoint_every;
  o.checkpoint_minutes = f.checkpoint_minutes;
  o.eval_every = f.eval_every;
  o.stop_after = f.stop_after;
  o.stop = &g_stop;

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  absl::StatusOr<worker::TrainResult> result;
  {
    ProgressPrinter printer(f.quiet);
    result = worker::Train(*data->train, *data->val, o, [&printer](const worker::Progress& p) { printer(p); });
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (!result.ok()) Fail(result.status());
  if (f.json) {
    std::cout << worker::TrainResultJson(*result, o);
  } else if (result->status == v1::TRAIN_COMPLETED) {
    const eval::CocoStats& st = *result->stats;
    const std::string forks =
        result->cooldown_steps > 0 ? absl::StrFormat(" (+%d cool-down)", result->cooldown_steps) : "";
    std::cout << absl::StrFormat(
        "completed %d steps%s in %s (%.1f img/s, %s): AP %.4f  AP50 %.4f  AP75 %.4f  APs %.4f  APm %.4f  APl %.4f\n"
        "wrote %s/{result.json,metrics.jsonl,checkpoint.pt,detections.json}\n",
        result->steps_done, forks, Duration(result->train_seconds), result->images_per_s,
        KindName(result->precision), st.ap, st.ap50, st.ap75,
        st.ap_small, st.ap_medium, st.ap_large, f.out);
  } else if (result->status == v1::TRAIN_STOPPED) {
    std::cout << absl::StrFormat("stopped after step %d of %d; continue with the same command and --resume\n",
                                 result->steps_done, o.steps);
  } else {
    std::cout << absl::StrFormat("diverged: the loss at step %d was not finite; see %s/result.json\n",
                                 result->diverged_step, f.out);
  }
  if (result->status == v1::TRAIN_DIVERGED) throw CLI::RuntimeError(kExitDiverged);
}

struct RetrainFlags {
  std::string db;
  std::string trial = "best";
  TrainFlags train;
};

// `retrain`: the discovered spec, at a full-scale scaling, trained by RunTrain. The run folder
// also gets the lineage (inspect/lineage.h), so that the weights can be traced to the search that
// found them; a resume must name the same trial.
void RunRetrain(RetrainFlags r) {
  inspect::RetrainLineageOptions o;
  o.db = r.db;
  o.trial = r.trial;
  o.out_dir = r.train.out;
  o.resume = r.train.resume;
  o.scaling = r.train.scale;
  o.data = r.train.data;
  absl::StatusOr<inspect::RetrainLineage> lineage = inspect::WriteRetrainLineage(o);
  if (!lineage.ok()) Fail(lineage.status());
  std::cerr << absl::StrFormat("re-training trial %d (%s) of '%s' at scaling %s\n", lineage->trial.id(),
                               lineage->trial.hash().substr(0, 12), lineage->experiment, r.train.scale);
  r.train.arch.name_or_path = lineage->spec_path;
  RunTrain(r.train, /*write_safetensors=*/true);
}

// Every training flag but the architecture and its scaling: `train` and `retrain` share them.
void AddTrainingFlags(CLI::App* cmd, TrainFlags* f) {
  cmd->add_option("--data", f->data,
                  "synthetic[:key=value,...] (built in), fashion-mnist[:key=value,...] (canvases composed from "
                  "Debian's dataset-fashion-mnist) or coco:ANNOTATIONS.json:IMAGE_DIR")
      ->capture_default_str();
  cmd->add_option("--val", f->val,
                  "Held-out data (same forms as --data). Default: the synthetic or fashion-mnist generator with "
                  "another seed (500 images; fashion-mnist from its test items), or --held-out images of a COCO "
                  "--data");
  cmd->add_option("--held-out", f->held_out, "Images held out of the training data for evaluation")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--split-seed", f->split_seed, "Seed of the held-out split");
  cmd->add_option("--steps", f->steps, "Training steps")->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", f->epochs, "Training epochs (instead of --steps)")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", f->batch, "Images per step")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--size", f->size, "Square input side in pixels")->capture_default_str()->check(CLI::Range(32, 4096));
  cmd->add_option("--optimizer", f->optimizer, "adamw (short proxies) or sgd (momentum; the paper's full-scale recipe)")
      ->capture_default_str()
      ->check(CLI::IsMember({"adamw", "sgd"}));
  cmd->add_option("--lr", f->lr, "Peak learning rate (default: 2e-3 for adamw, 0.28 x batch / 256 for sgd)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--momentum", f->momentum, "SGD momentum")->capture_default_str();
  cmd->add_option("--weight-decay", f->weight_decay,
                  "Weight decay, not on biases and norms (default: 1e-4 for adamw, 4e-5 for sgd)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--warmup", f->warmup, "Linear warm-up steps (default: min(50, steps / 10))")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--schedule", f->schedule,
                  "cosine; step (x0.1 at 320/350 and 340/350 of the run, as the paper's protocol); or wsd "
                  "(warm-up, then a constant lr; each reading forks a cool-down, and --resume may extend --steps)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cosine", "step", "wsd"}));
  cmd->add_option("--reading", f->reading,
                  "What a reading evaluates: weights, cooldown (wsd: a fork whose lr decays to zero), or ema "
                  "(default: cooldown under wsd, else weights)")
      ->check(CLI::IsMember({"weights", "cooldown", "ema"}));
  cmd->add_option("--readings", f->readings, "Also read the run at these steps, e.g. 300 (the end is always read)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_option("--cooldown-fraction", f->cooldown_fraction,
                  "A cool-down's length as a fraction of its reading's step count")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1.0));
  cmd->add_option("--ema", f->ema, "Keep a moving average of the weights with this decay, e.g. 0.99 (0: none)")
      ->check(CLI::Range(0.0, 0.9999));
  cmd->add_flag("--read-all", f->read_all, "Evaluate every reading (weights, ema, cooldown) at each point");
  cmd->add_option("--clip", f->clip, "Gradient-norm clip (0: none)")->capture_default_str()->check(
      CLI::NonNegativeNumber);
  cmd->add_option("--maxup", f->maxup, "MaxUp: train on the worst of M augmented copies of each image (1: off)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_flag("--no-flip", f->no_flip, "No random horizontal flip");
  cmd->add_option("--jitter", f->jitter, "Scale jitter MIN MAX, e.g. 0.5 2.0 (protocol B); default none")
      ->expected(2)
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--swish", f->swish, "Swish instead of ReLU (protocol C)");
  cmd->add_option("--stochastic-depth", f->stochastic_depth, "Stochastic depth rate (protocol C: 0.2)")
      ->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--anchor-scale", f->anchor_scale,
                  "Anchor size / stride (default: 2 up to 256 px inputs, else the scale's 3 or 4)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--head-width", f->head_width, "Override the head's width")->check(CLI::PositiveNumber);
  cmd->add_option("--head-convs", f->head_convs, "Override the head's conv count")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", f->seed, "Seed of initialization, data order and augmentation")->capture_default_str();
  cmd->add_option("--data-seed", f->data_seed,
                  "Seed of the data order and augmentation instead of --seed (a search's trials share one: "
                  "LeaseReply.data_seed)");
  cmd->add_option("--device", f->device, "cpu, cuda, cuda:N or auto")->capture_default_str();
  cmd->add_option("--precision", f->precision,
                  "auto (bf16 on a CPU with AVX512_BF16 or AMX, else fp32), fp32, or bf16 (autocast; fp32 with a "
                  "notice on a CPU without native bf16). result.json records what the run computed in")
      ->capture_default_str()
      ->check(CLI::IsMember(KindNames<v1::Precision>()));
  cmd->add_option("--threads", f->threads, "LibTorch threads")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--loader-threads", f->loader_threads, "Data loader threads")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--out", f->out, "Run folder")->required();
  cmd->add_flag("--resume", f->resume, "Continue the run in --out from its checkpoint");
  cmd->add_option("--checkpoint-every", f->checkpoint_every, "Also checkpoint every N steps")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--checkpoint-minutes", f->checkpoint_minutes, "Checkpoint at least this often")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--eval-every", f->eval_every, "Also evaluate every N steps (the AP curve in metrics.jsonl)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--stop-after", f->stop_after, "Stop (resumably) after step N of the schedule")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", f->json, "Print result.json instead of a summary");
  cmd->add_flag("--quiet", f->quiet, "No progress on stderr");
}

}  // namespace

void RegisterTrainCommand(CLI::App& app) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Train a RetinaNet detector with a given backbone, evaluate it on the held-out split, and write a run folder "
      "(metrics.jsonl, checkpoint.pt, detections.json, result.json). Ctrl-C checkpoints and stops; --resume "
      "continues. Exit status 3 when the loss diverged.");
  f->arch.AddOptions(cmd, "--arch");
  const std::vector<std::string> scales = ss::ModelScaleNames();
  cmd->add_option("--scaling", f->scale,
                  "Model size, replacing the spec's scaling: proxy (filter scale 0.25, alpha 0.25, 64 endpoint "
                  "filters, 4x64 head) or " +
                      absl::StrJoin(scales.begin() + 1, scales.end(), "|") +
                      " (SpineNet's scaling map with the reference head)")
      ->capture_default_str();
  AddTrainingFlags(cmd, f.get());
  cmd->callback([f] { RunTrain(*f); });
}

void RegisterRetrainCommand(CLI::App& app) {
  auto r = std::make_shared<RetrainFlags>();
  r->train.scale = "49";
  CLI::App* cmd = app.add_subcommand(
      "retrain",
      "Re-train a discovered backbone at full scale: the trial's spec from the search database, a SpineNet "
      "scaling, the training options of `train`; writes spec.json, lineage.json and model.safetensors beside the "
      "run folder's usual files");
  cmd->add_option("--db", r->db, "The search's SQLite database (read-only)")->required();
  cmd->add_option("--trial", r->trial, "best, or a trial id")->capture_default_str();
  const std::vector<std::string> scales = ss::ModelScaleNames();
  CLI::Option* model = cmd->add_option("--model", r->train.scale, "SpineNet size: 49s|49|96|143|190 (default 49)")
                           ->check(CLI::IsMember({"49s", "49", "96", "143", "190"}));
  CLI::Option* scaling =
      cmd->add_option("--scaling", r->train.scale, "Any scaling, the proxy's included: " + absl::StrJoin(scales, "|"));
  model->excludes(scaling);
  scaling->excludes(model);
  AddTrainingFlags(cmd, &r->train);
  cmd->callback([r] { RunRetrain(*r); });
}

}  // namespace vertebra::cli
