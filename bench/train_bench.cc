#include "bench/train_bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "proto/kinds.h"
#include "search_spaces/family.h"
#include "worker/data/data_spec.h"
#include "worker/data/loader.h"
#include "worker/train/trainer.h"

namespace vertebra::bench {
namespace {

namespace fs = std::filesystem;
namespace ss = ::vertebra::search_spaces;
namespace wd = ::vertebra::worker::data;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Training images per second over `steps` steps of the real training loop (the loader included),
// stopped before evaluation.
// The benchmark's architecture, input, batch and threads, run in a fresh folder named `name` in
// the temporary directory, without time-driven checkpoints.
worker::TrainOptions BenchTrainOptions(const TrainBenchOptions& f, const std::string& name) {
  worker::TrainOptions o;
  o.spec = f.spec;
  o.head = f.head;
  o.size = f.size;
  o.batch = f.batch;
  o.threads = f.threads;
  o.checkpoint_minutes = 0;
  const fs::path dir = fs::temp_directory_path() / absl::StrFormat("%s_%d", name, getpid());
  fs::remove_all(dir);
  o.out_dir = dir.string();
  return o;
}

absl::StatusOr<double> TrainImagesPerSecond(const TrainBenchOptions& f, const wd::DataSplits& data, int maxup) {
  worker::TrainOptions o = BenchTrainOptions(f, "vertebra_bench");
  o.steps = 10 * f.steps;  // The schedule is irrelevant: the run stops after `steps`.
  o.stop_after = f.steps;
  o.warmup_steps = 0;
  o.maxup = maxup;
  o.augment.min_scale = 0.75;
  o.augment.max_scale = 1.33;
  const fs::path dir = o.out_dir;
  absl::StatusOr<worker::TrainResult> r = worker::Train(*data.train, *data.val, o);
  fs::remove_all(dir);
  if (!r.ok()) return r.status();
  return r->images_per_s;
}

absl::StatusOr<double> LoaderImagesPerSecond(const TrainBenchOptions& f, const wd::Dataset& train, int threads,
                                             int copies) {
  wd::LoaderOptions o;
  o.batch = f.batch;
  o.augment.size = f.size;
  o.augment.min_scale = 0.75;
  o.augment.max_scale = 1.33;
  o.threads = threads;
  o.copies = copies;
  o.seed = 1;
  ASSIGN_OR_RETURN(const std::unique_ptr<wd::Loader> loader, wd::Loader::Create(train, o));
  RETURN_IF_ERROR(loader->Next().status());  // Threads started and warm.
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < f.batches; ++i) RETURN_IF_ERROR(loader->Next().status());
  return f.batches * f.batch / std::chrono::duration<double>(Clock::now() - start).count();
}

// Images held out of the data for the (unused) evaluation.
constexpr int kHeldOut = 16;
// The evaluation batch evaluation ran with before it had a setting: the baseline of `bench eval`.
constexpr int kFormerEvalBatch = 32;

}  // namespace

absl::Status RunStepBench(const StepBenchOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(const worker::StepBenchResult r, worker::RunStepBench(o.step));
  const worker::StepBenchOptions& options = o.step;
  if (!r.precision_notice.empty()) std::cerr << "vertebra: " << r.precision_notice << "\n";
  const bool bf16 = r.precision == v1::PRECISION_BF16;
  // JSON numbers: 0 (not measured) as null.
  auto measured = [](double v) { return v > 0 ? json(v) : json(nullptr); };
  if (o.json) {
    out << json{{"arch", o.arch},
                {"size", options.size},
                {"batch", options.batch},
                {"steps", options.steps},
                {"threads", r.threads},
                {"device", r.device},
                {"channels_last", options.channels_last},
                {"precision", std::string(KindName(r.precision))},
                {"precision_requested", std::string(KindName(options.precision))},
                {"bf16", bf16},
                {"parameters", r.parameters},
                {"images_per_s", r.images_per_s},
                {"ms_per_step", r.ms_per_step},
                {"peak_rss_mb", r.peak_rss_mb},
                {"first_loss", r.first_loss},
                {"last_loss", r.last_loss},
                {"macs_per_image", r.macs_per_image},
                {"achieved_flops", r.achieved_flops},
                {"peak_fp32_flops", measured(r.peak.fp32())},
                {"peak_bf16_flops", measured(r.peak.bf16())},
                {"probe",
                 {{"fp32", {{"matmul", measured(r.peak.fp32_matmul)}, {"conv3x3", measured(r.peak.fp32_conv)}}},
                  {"bf16", {{"matmul", measured(r.peak.bf16_matmul)}, {"conv3x3", measured(r.peak.bf16_conv)}}}}},
                {"fraction_of_peak", measured(r.fraction_of_peak)},
                {"torch", r.torch_version}}
               .dump()
        << "\n";
    return absl::OkStatus();
  }
  out << absl::StrFormat(
      "%s at %d px, batch %d, %d threads on %s%s%s: %.1f images/s, %.1f ms/step, peak RSS %.0f MB "
      "(loss %.3f -> %.3f, %d parameters, LibTorch %s)\n",
      o.arch, options.size, options.batch, r.threads, r.device, options.channels_last ? ", channels-last" : "",
      bf16 ? ", bf16" : "", r.images_per_s, r.ms_per_step, r.peak_rss_mb, r.first_loss, r.last_loss,
      r.parameters, r.torch_version);
  out << absl::StrFormat("  %.2f GFLOP/s achieved (6 x %.1f M multiply-adds per image)", r.achieved_flops / 1e9,
                         static_cast<double>(r.macs_per_image) / 1e6);
  if (r.fraction_of_peak > 0) {
    out << absl::StrFormat(" = %.1f%% of the %s peak (probe: fp32 %.1f GFLOP/s", 100 * r.fraction_of_peak,
                           bf16 ? "bf16" : "fp32", r.peak.fp32() / 1e9);
    if (r.peak.bf16() > 0) out << absl::StrFormat(", bf16 %.1f", r.peak.bf16() / 1e9);
    out << ")";
  }
  out << "\n";
  return absl::OkStatus();
}

absl::Status RunLoaderBench(const TrainBenchOptions& f, std::ostream& out) {
  ASSIGN_OR_RETURN(const wd::DataSplits data, wd::OpenDataSplits(f.data, "", kHeldOut, 0));
  std::vector<int> threads = f.values.empty() ? std::vector<int>{1, 2} : f.values;
  std::vector<double> step_rates;
  std::vector<std::vector<double>> loader_rates(threads.size());
  for (int round = 0; round < f.rounds; ++round) {
    for (size_t t = 0; t < threads.size(); ++t) {
      ASSIGN_OR_RETURN(const double rate, LoaderImagesPerSecond(f, *data.train, threads[t], 1));
      loader_rates[t].push_back(rate);
    }
    ASSIGN_OR_RETURN(const double train_rate, TrainImagesPerSecond(f, data, 1));
    step_rates.push_back(train_rate);
  }
  const double step = Median(step_rates);
  json rows = json::array();
  if (!f.json) {
    out << absl::StrFormat("%s at %d px, batch %d, %s; medians of %d rounds\n", f.arch, f.size, f.batch, f.data,
                           f.rounds);
    out << absl::StrFormat("  training step (%d LibTorch threads, loader included): %.1f images/s\n", f.threads, step);
  }
  for (size_t t = 0; t < threads.size(); ++t) {
    const double rate = Median(loader_rates[t]);
    rows.push_back({{"loader_threads", threads[t]}, {"images_per_s", rate}, {"ratio_to_step", rate / step}});
    if (!f.json) {
      out << absl::StrFormat("  loader alone, %d thread%s: %.1f images/s = %.1f x the step\n", threads[t],
                             threads[t] == 1 ? "" : "s", rate, rate / step);
    }
  }
  if (f.json) {
    out << json{{"arch", f.arch}, {"size", f.size},     {"batch", f.batch},
                {"data", f.data}, {"rounds", f.rounds}, {"step_images_per_s", step},
                {"loader", rows}}
               .dump()
        << "\n";
  }
  return absl::OkStatus();
}

absl::Status RunEvalBench(const TrainBenchOptions& f, std::ostream& out) {
  ASSIGN_OR_RETURN(const wd::DataSplits data, wd::OpenDataSplits(f.data, "", f.held_out, 0));
  worker::TrainOptions o = BenchTrainOptions(f, "vertebra_bench_eval");
  o.steps = f.steps;
  o.warmup_steps = worker::DefaultWarmupSteps(f.steps);
  const fs::path dir = o.out_dir;
  // The checkpoint every variant evaluates: a resumed run at its end only reads it again.
  absl::StatusOr<worker::TrainResult> trained = worker::Train(*data.train, *data.val, o);
  if (!trained.ok()) {
    fs::remove_all(dir);
    return trained.status();
  }
  struct Variant {
    bool former;
    int eval_batch;
    std::vector<double> seconds, scoring;
    double ap = 0;
    int64_t detections = 0;
  };
  std::vector<Variant> variants = {{true, kFormerEvalBatch, {}}};
  for (int b : f.values.empty() ? std::vector<int>{8, 32, 64} : f.values) variants.push_back({false, b, {}});
  o.resume = true;
  absl::Status status;
  for (int round = 0; round < f.rounds && status.ok(); ++round) {
    for (Variant& v : variants) {
      o.former_evaluation = v.former;
      o.eval_batch = v.eval_batch;
      absl::StatusOr<worker::TrainResult> r = worker::Train(*data.train, *data.val, o);
      if (!r.ok() || !r->stats) {
        status = r.ok() ? absl::InternalError("the evaluation gave no AP") : r.status();
        break;
      }
      v.seconds.push_back(r->eval_seconds);
      v.scoring.push_back(r->eval_scoring_seconds);
      v.ap = r->stats->ap;
      v.detections = r->eval_detections;
    }
  }
  fs::remove_all(dir);
  RETURN_IF_ERROR(status);
  const double before = Median(variants.front().seconds);
  bool same_ap = true;
  for (const Variant& v : variants) same_ap = same_ap && v.ap == variants.front().ap;
  json rows = json::array();
  if (!f.json) {
    out << absl::StrFormat("%s at %d px after %d steps, %d held-out images, %d threads; medians of %d rounds\n", f.arch,
                           f.size, f.steps, f.held_out, f.threads, f.rounds);
  }
  for (const Variant& v : variants) {
    const double seconds = Median(v.seconds);
    const char* mode = v.former ? "former" : "current";
    const double scoring = Median(v.scoring);
    rows.push_back({{"mode", mode},
                    {"eval_batch", v.eval_batch},
                    {"seconds", seconds},
                    {"scoring_seconds", scoring},
                    {"images_per_s", f.held_out / seconds},
                    {"speedup", before / seconds},
                    {"ap", v.ap},
                    {"detections", v.detections}});
    if (!f.json) {
      out << absl::StrFormat(
          "  %-14s eval_batch %3d: %.3f s per evaluation (COCO scoring %.3f s of it), %.1f images/s, %.2f x the "
          "former\n",
          mode, v.eval_batch, seconds, scoring, f.held_out / seconds, before / seconds);
    }
  }
  if (f.json) {
    out << json{{"arch", f.arch},     {"size", f.size},     {"steps", f.steps},     {"held_out", f.held_out},
                {"threads", f.threads}, {"rounds", f.rounds}, {"same_ap", same_ap}, {"variants", rows}}
               .dump()
        << "\n";
  } else {
    out << absl::StrFormat("  %s; %d detections scored\n",
                           same_ap ? "every variant gave the same AP" : "the variants' APs differ",
                           variants.front().detections);
  }
  return absl::OkStatus();
}

absl::Status RunMaxUpBench(const TrainBenchOptions& f, std::ostream& out) {
  ASSIGN_OR_RETURN(const wd::DataSplits data, wd::OpenDataSplits(f.data, "", kHeldOut, 0));
  std::vector<int> copies = f.values.empty() ? std::vector<int>{1, 2, 4} : f.values;
  if (copies.front() != 1) copies.insert(copies.begin(), 1);
  std::vector<std::vector<double>> ratios(copies.size()), rates(copies.size());
  for (int round = 0; round < f.rounds; ++round) {
    std::vector<double> r;
    for (int m : copies) {
      ASSIGN_OR_RETURN(const double rate, TrainImagesPerSecond(f, data, m));
      r.push_back(rate);
    }
    for (size_t i = 0; i < copies.size(); ++i) {
      rates[i].push_back(r[i]);
      ratios[i].push_back(r[0] / r[i]);  // Time per image relative to plain training.
    }
  }
  json rows = json::array();
  if (!f.json) {
    out << absl::StrFormat("%s at %d px, batch %d, %d threads, %d steps per run; medians of %d rounds\n", f.arch,
                           f.size, f.batch, f.threads, f.steps, f.rounds);
  }
  for (size_t i = 0; i < copies.size(); ++i) {
    const double rate = Median(rates[i]), cost = Median(ratios[i]);
    rows.push_back({{"maxup", copies[i]}, {"images_per_s", rate}, {"time_ratio_to_plain", cost}});
    if (!f.json) {
      out << absl::StrFormat("  maxup %d: %.1f images/s, %.2f x the time of plain training\n", copies[i], rate, cost);
    }
  }
  if (f.json) {
    out << json{{"arch", f.arch},   {"size", f.size},     {"batch", f.batch}, {"threads", f.threads},
                {"steps", f.steps}, {"rounds", f.rounds}, {"maxup", rows}}
               .dump()
        << "\n";
  }
  return absl::OkStatus();
}

}  // namespace vertebra::bench
