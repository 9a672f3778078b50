// `vertebra bench loader` and `vertebra bench maxup`: the data loader against the training step,
// and MaxUp's cost against plain training. Both measure their rivals side by side in one process,
// alternating in rounds, and report ratios: this machine is shared and noisy.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/spec_source.h"
#include "nlohmann/json.hpp"
#include "search_spaces/family.h"
#include "worker/data/data_spec.h"
#include "worker/data/loader.h"
#include "worker/train/trainer.h"

namespace vertebra::cli {
namespace {

namespace fs = std::filesystem;
namespace ss = ::vertebra::search_spaces;
namespace wd = ::vertebra::worker::data;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct TrainBenchFlags {
  SpecSource arch;
  std::string data = "synthetic";
  int size = 128;
  int batch = 16;
  int threads = 1;
  int steps = 20;
  int rounds = 2;
  std::vector<int> values;  // Loader threads or MaxUp copies.
  int batches = 100;
  bool json = false;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Training images per second over `steps` steps of the real training loop (the loader included),
// stopped before evaluation.
double TrainImagesPerSecond(const TrainBenchFlags& f, const wd::DataSplits& data, int maxup) {
  worker::TrainOptions o;
  absl::StatusOr<ss::ModelScale> scale = ss::NamedModelScale("proxy");
  o.spec = f.arch.Load(&scale->scaling);
  o.head = scale->head;
  o.size = f.size;
  o.batch = f.batch;
  o.steps = 10 * f.steps;  // The schedule is irrelevant: the run stops after `steps`.
  o.stop_after = f.steps;
  o.warmup_steps = 0;
  o.maxup = maxup;
  o.augment.min_scale = 0.75;
  o.augment.max_scale = 1.33;
  o.threads = f.threads;
  o.checkpoint_minutes = 0;
  const fs::path dir = fs::temp_directory_path() / absl::StrFormat("vertebra_bench_%d", getpid());
  fs::remove_all(dir);
  o.out_dir = dir.string();
  absl::StatusOr<worker::TrainResult> r = worker::Train(*data.train, *data.val, o);
  fs::remove_all(dir);
  if (!r.ok()) Fail(r.status());
  return r->images_per_s;
}

double LoaderImagesPerSecond(const TrainBenchFlags& f, const wd::Dataset& train, int threads, int copies) {
  wd::LoaderOptions o;
  o.batch = f.batch;
  o.augment.size = f.size;
  o.augment.min_scale = 0.75;
  o.augment.max_scale = 1.33;
  o.threads = threads;
  o.copies = copies;
  o.seed = 1;
  absl::StatusOr<std::unique_ptr<wd::Loader>> loader = wd::Loader::Create(train, o);
  if (!loader.ok()) Fail(loader.status());
  if (absl::Status s = (*loader)->Next().status(); !s.ok()) Fail(s);  // Threads started and warm.
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < f.batches; ++i) {
    if (absl::Status s = (*loader)->Next().status(); !s.ok()) Fail(s);
  }
  return f.batches * f.batch / std::chrono::duration<double>(Clock::now() - start).count();
}

wd::DataSplits OpenData(const TrainBenchFlags& f) {
  absl::StatusOr<wd::DataSplits> data = wd::OpenDataSplits(f.data, "", 16, 0);
  if (!data.ok()) Fail(data.status());
  return *std::move(data);
}

void RunLoaderBench(const TrainBenchFlags& f) {
  const wd::DataSplits data = OpenData(f);
  std::vector<int> threads = f.values.empty() ? std::vector<int>{1, 2} : f.values;
  std::vector<double> step_rates;
  std::vector<std::vector<double>> loader_rates(threads.size());
  for (int round = 0; round < f.rounds; ++round) {
    for (size_t t = 0; t < threads.size(); ++t) loader_rates[t].push_back(LoaderImagesPerSecond(f, *data.train, threads[t], 1));
    step_rates.push_back(TrainImagesPerSecond(f, data, 1));
  }
  const double step = Median(step_rates);
  json rows = json::array();
  if (!f.json) {
    std::cout << absl::StrFormat("%s at %d px, batch %d, %s; medians of %d rounds\n", f.arch.name_or_path, f.size,
                                 f.batch, f.data, f.rounds);
    std::cout << absl::StrFormat("  training step (%d LibTorch threads, loader included): %.1f images/s\n",
                                 f.threads, step);
  }
  for (size_t t = 0; t < threads.size(); ++t) {
    const double rate = Median(loader_rates[t]);
    rows.push_back({{"loader_threads", threads[t]}, {"images_per_s", rate}, {"ratio_to_step", rate / step}});
    if (!f.json) {
      std::cout << absl::StrFormat("  loader alone, %d thread%s: %.1f images/s = %.1f x the step\n", threads[t],
                                   threads[t] == 1 ? "" : "s", rate, rate / step);
    }
  }
  if (f.json) {
    std::cout << json{{"arch", f.arch.name_or_path}, {"size", f.size}, {"batch", f.batch}, {"data", f.data},
                      {"rounds", f.rounds}, {"step_images_per_s", step}, {"loader", rows}}
                     .dump()
              << "\n";
  }
}

void RunMaxUpBench(const TrainBenchFlags& f) {
  const wd::DataSplits data = OpenData(f);
  std::vector<int> copies = f.values.empty() ? std::vector<int>{1, 2, 4} : f.values;
  if (copies.front() != 1) copies.insert(copies.begin(), 1);
  std::vector<std::vector<double>> ratios(copies.size()), rates(copies.size());
  for (int round = 0; round < f.rounds; ++round) {
    std::vector<double> r;
    for (int m : copies) r.push_back(TrainImagesPerSecond(f, data, m));
    for (size_t i = 0; i < copies.size(); ++i) {
      rates[i].push_back(r[i]);
      ratios[i].push_back(r[0] / r[i]);  // Time per image relative to plain training.
    }
  }
  json rows = json::array();
  if (!f.json) {
    std::cout << absl::StrFormat("%s at %d px, batch %d, %d threads, %d steps per run; medians of %d rounds\n",
                                 f.arch.name_or_path, f.size, f.batch, f.threads, f.steps, f.rounds);
  }
  for (size_t i = 0; i < copies.size(); ++i) {
    const double rate = Median(rates[i]), cost = Median(ratios[i]);
    rows.push_back({{"maxup", copies[i]}, {"images_per_s", rate}, {"time_ratio_to_plain", cost}});
    if (!f.json) {
      std::cout << absl::StrFormat("  maxup %d: %.1f images/s, %.2f x the time of plain training\n", copies[i], rate,
                                   cost);
    }
  }
  if (f.json) {
    std::cout << json{{"arch", f.arch.name_or_path}, {"size", f.size}, {"batch", f.batch}, {"threads", f.threads},
                      {"steps", f.steps}, {"rounds", f.rounds}, {"maxup", rows}}
                     .dump()
              << "\n";
  }
}

void AddCommon(CLI::App* cmd, TrainBenchFlags& f) {
  f.arch.name_or_path = "spinenet-49";
  cmd->add_option("arch", f.arch.name_or_path, "A reference name or a JSON spec file (at proxy scaling)")
      ->capture_default_str();
  cmd->add_option("--data", f.data,
                  "synthetic[:key=value,...], fashion-mnist[:key=value,...] or coco:ANNOTATIONS.json:IMAGE_DIR")
      ->capture_default_str();
  cmd->add_option("--size", f.size, "Square input side")->check(CLI::Range(32, 4096))->capture_default_str();
  cmd->add_option("--batch", f.batch, "Images per step")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--threads", f.threads, "LibTorch threads of the training step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--steps", f.steps, "Training steps per measurement")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--rounds", f.rounds, "Alternating rounds (medians are reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", f.json, "Print one JSON object");
}

}  // namespace

void RegisterTrainBenchmarks(CLI::App& bench) {
  auto loader = std::make_shared<TrainBenchFlags>();
  CLI::App* l = bench.add_subcommand(
      "loader", "The data loader alone (decode, augment, batch) against the training step, in images/s");
  AddCommon(l, *loader);
  l->add_option("--loader-threads", loader->values, "Loader thread counts to measure (default 1 2)")
      ->check(CLI::PositiveNumber);
  l->add_option("--batches", loader->batches, "Batches per loader measurement")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  l->callback([loader] { RunLoaderBench(*loader); });

  auto maxup = std::make_shared<TrainBenchFlags>();
  CLI::App* m = bench.add_subcommand("maxup", "MaxUp's training cost against plain training (time per image)");
  AddCommon(m, *maxup);
  m->add_option("--maxup", maxup->values, "Copies to measure (default 1 2 4; 1 is always included)")
      ->check(CLI::Range(1, 64));
  m->callback([maxup] { RunMaxUpBench(*maxup); });
}

}  // namespace vertebra::cli
