// `vertebra bench ...`: the benchmarks of bench/ (the speed figures in the docs). Flags become
// each benchmark's options; the benchmark writes its report to standard output.
#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "bench/arch_bench.h"
#include "bench/controller_bench.h"
#include "bench/report_bench.h"
#include "bench/search_bench.h"
#include "bench/throughput_bench.h"
#include "cli/commands.h"
#include "proto/kinds.h"
#if VERTEBRA_WITH_TORCH
#include "bench/train_bench.h"
#include "cli/spec_source.h"
#include "search_spaces/family.h"
#include "search_spaces/proxy.h"
#endif

namespace vertebra::cli {
namespace {

// Runs `benchmark` with `options` to standard output, failing the command on an error.
template <typename Options>
void RunBenchmark(absl::Status (*benchmark)(const Options&, std::ostream&), const Options& options) {
  if (absl::Status s = benchmark(options, std::cout); !s.ok()) Fail(s);
}

void RegisterArch(CLI::App& parent) {
  auto o = std::make_shared<bench::ArchBenchOptions>();
  CLI::App* arch =
      parent.add_subcommand("arch", "Time decode + validate + resolve + price + hash of sampled architectures");
  arch->add_option("--count", o->count, "Architectures to time")->check(CLI::Range(1, 10000000))->capture_default_str();
  arch->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  arch->add_option("--size", o->size, "Input size to resolve at")->check(CLI::Range(1, 16384))->capture_default_str();
  arch->add_flag("--json", o->json, "Print one JSON object");
  arch->callback([o] { RunBenchmark(bench::RunArchBench, *o); });
}

void RegisterSearch(CLI::App& parent) {
  auto f = std::make_shared<bench::SearchBenchOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "search", "Compare the policies (and rung layouts) on the simulated objective, in-process and deterministic");
  cmd->add_option("--config", f->config, "A simulated experiment")->capture_default_str();
  cmd->add_option("--objective", f->objective,
                  "The simulated objective: toy (a hand-written landscape) or surrogate (fitted on real proxy runs); "
                  "default: the config's")
      ->check(CLI::IsMember(KindNames<v1::SimulatedObjective>()));
  cmd->add_option("--algorithms", f->algorithms,
                  "ppo reinforce evolution random, each with modifiers: +seeds (start from --seed-architectures), "
                  "+clone (RL: also clone them, --clone-steps), +guided (--guided-candidates per proposal, the "
                  "predictor's best leased), +predicted (promotion by the predicted top-rung AP); e.g. evolution+seeds")
      ->capture_default_str();
  cmd->add_option("--rungs", f->rungs, "Rung layouts to compare, e.g. 500 500,2000 (default: the config's)");
  cmd->add_option("--seeds", f->seeds, "Seeds per algorithm")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--first-seed", f->first_seed, "The first seed; the others follow it")->capture_default_str();
  cmd->add_option("--seed-architectures", f->seed_architectures,
                  "For +seeds and +clone: family names or spec files")
      ->capture_default_str();
  cmd->add_option("--clone-steps", f->clone_steps, "For +clone: Adam steps of behaviour cloning")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--guided-candidates", f->guided_candidates, "For +guided: candidates per proposal")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  cmd->add_option("--bootstrap", f->bootstrap, "Bootstrap resamples of the seeds for the 90% intervals")
      ->capture_default_str()
      ->check(CLI::Range(10, 1000000));
  cmd->add_option("--svg", f->svg,
                  "Draw the mean best-so-far curves with their 90% bands, one panel per layout (needs random among "
                  "the algorithms)");
  cmd->add_option("--step-budget", f->step_budget, "Total training steps per search (default: the trial budget)");
  cmd->add_option("--parallel", f->parallel, "Leases outstanding at once")->capture_default_str();
  cmd->add_option("--csv", f->csv,
                  "Write the curves here: per report, the best-so-far and the proposal's final AP (CSV)");
  cmd->add_option("--learning-rates", f->learning_rates,
                  "RL policies: compare these learning rates (default: the config's)");
  cmd->add_option("--runs-csv", f->runs_csv,
                  "Write one row per search: its settings, best found and last quarter (CSV)");
  cmd->add_flag("--json", f->json, "Print JSON");
  cmd->callback([f] { RunBenchmark(bench::RunSearchBench, *f); });
}

void RegisterUntrained(CLI::App& parent) {
  auto u = std::make_shared<bench::UntrainedBenchOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "untrained", "How far an untrained policy's proposals are from uniform sampling (KL, marginals, simulated AP)");
  cmd->add_option("--config", u->config, "A simulated experiment")->capture_default_str();
  cmd->add_option("--algorithms", u->algorithms, "ppo reinforce evolution random")->capture_default_str();
  cmd->add_option("--samples", u->samples, "Samples from each")->capture_default_str()->check(CLI::Range(2, 10000000));
  cmd->add_option("--seed", u->seed, "The policies' and the uniform sampler's seed")->capture_default_str();
  cmd->add_flag("--json", u->json, "Print JSON");
  cmd->callback([u] { RunBenchmark(bench::RunUntrainedBench, *u); });
}

void RegisterReport(CLI::App& parent) {
  auto f = std::make_shared<bench::ReportBenchOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "report", "Time `vertebra report` on a generated (simulated) history of many trials; print the page's size");
  cmd->add_option("--trials", f->trials, "Trials in the generated history")
      ->check(CLI::Range(10, 1000000))
      ->capture_default_str();
  cmd->add_option("--workers", f->workers, "Workers in the generated history")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "Seed of the generated history")->capture_default_str();
  cmd->add_option("--repeat", f->repeat, "Renderings timed (the best counts)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->add_option("-o,--out", f->out, "Keep the report here (default: a temporary file, removed)");
  cmd->add_flag("--keep", f->keep, "Keep the temporary directory with the database");
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f] { RunBenchmark(bench::RunReportBench, *f); });
}

void RegisterController(CLI::App& parent) {
  auto f = std::make_shared<bench::ControllerBenchOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "controller",
      "Lease + report cycles/s and latency with W simulated workers over loopback, and Lease latency "
      "with H trials of history (SQLite, synchronous=FULL)");
  cmd->add_option("--workers", f->workers, "Concurrent workers")->capture_default_str();
  cmd->add_option("--history", f->history, "Trials of history (0: none)")->capture_default_str();
  cmd->add_option("--seconds", f->seconds, "Measured seconds per worker count")->capture_default_str();
  cmd->add_option("--lease-samples", f->lease_samples, "Leases timed per history size")->capture_default_str();
  cmd->add_option("--dir", f->dir, "Where the databases go (default: the temp folder)");
  cmd->add_option("--sample-seconds", f->sample_seconds,
                  "Load test: also a time series of resident memory, cycles/s, p99 and failed calls at this "
                  "interval")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--work-seconds", f->work_seconds,
                  "Each simulated worker holds its lease this long before reporting (0: at once)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "Print JSON");
  cmd->callback([f] { RunBenchmark(bench::RunControllerBench, *f); });
}

void RegisterSearchThroughput(CLI::App& parent) {
  auto f = std::make_shared<bench::SearchThroughputOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "search-throughput",
      "Where a search's worker time went, from its database (read-only): rung results per hour, each worker's "
      "busy fraction, and the split into training, evaluation, checkpoint I/O, repeated steps and idle");
  cmd->add_option("--db", f->db, "The search's database (a running search's too)")->required();
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f] { RunBenchmark(bench::RunSearchThroughput, *f); });
}

#if VERTEBRA_WITH_TORCH
void RegisterStep(CLI::App& parent) {
  struct StepFlags {
    SpecSource source;
    bench::StepBenchOptions options;
    std::string precision = "fp32";
    bool bf16 = false;
  };
  auto f = std::make_shared<StepFlags>();
  CLI::App* cmd = parent.add_subcommand(
      "step", "Time full proxy training steps (forward, loss with matching, backward, SGD) on random data");
  f->source.AddOptions(cmd);
  worker::StepBenchOptions& b = f->options.step;
  cmd->add_option("--head-width", b.head.width, "RetinaNet subnet width")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--head-convs", b.head.num_convs, "3x3 convs per subnet")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--classes", b.head.num_classes, "Object classes")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--size", b.size, "Square input size")->check(CLI::Range(8, 4096))->capture_default_str();
  cmd->add_option("--batch", b.batch, "Images per step")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--steps", b.steps, "Timed steps")->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_option("--warmup", b.warmup_steps, "Untimed steps first")->check(CLI::Range(0, 1000))->capture_default_str();
  cmd->add_option("--threads", b.threads, "LibTorch threads")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--device", b.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--channels-last", b.channels_last, "Channels-last memory format");
  CLI::Option* precision =
      cmd->add_option("--precision", f->precision,
                      "fp32; bf16 (autocast of the forward and the loss; fp32 with a notice on a CPU without "
                      "AVX512_BF16 or AMX); or auto (bf16 where the CPU has it)")
          ->check(CLI::IsMember(KindNames<v1::Precision>()))
          ->capture_default_str();
  cmd->add_flag("--bf16", f->bf16, "Same as --precision bf16")->excludes(precision);
  cmd->add_option("--seed", b.seed, "Seed of the weights and the random data")->capture_default_str();
  cmd->add_option("--probe-seconds", b.probe_seconds,
                  "Seconds of the probe of the machine's peak (a matrix product and a 3x3 convolution), per kernel "
                  "and data type (0: none)")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  cmd->add_flag("--json", f->options.json, "Print one JSON object");
  cmd->callback([f] {
    bench::StepBenchOptions o = f->options;
    o.step.precision = f->bf16 ? v1::PRECISION_BF16 : *ParseKind<v1::Precision>(f->precision);
    o.arch = f->source.name_or_path;
    o.step.spec = f->source.Load();
    RunBenchmark(bench::RunStepBench, o);
  });
}

// The flags `bench loader` and `bench maxup` share.
struct TrainBenchFlags {
  SpecSource arch;
  bench::TrainBenchOptions options;
};

void AddTrainBenchFlags(CLI::App* cmd, TrainBenchFlags& f) {
  bench::TrainBenchOptions& o = f.options;
  f.arch.name_or_path = o.arch;
  cmd->add_option("arch", f.arch.name_or_path, "A reference name or a JSON spec file (at proxy scaling)")
      ->capture_default_str();
  cmd->add_option("--data", o.data,
                  "synthetic[:key=value,...], fashion-mnist[:key=value,...] or coco:ANNOTATIONS.json:IMAGE_DIR")
      ->capture_default_str();
  cmd->add_option("--size", o.size, "Square input side")->check(CLI::Range(32, 4096))->capture_default_str();
  cmd->add_option("--batch", o.batch, "Images per step")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--threads", o.threads, "LibTorch threads of the training step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--steps", o.steps, "Training steps per measurement")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--rounds", o.rounds, "Alternating rounds (medians are reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", o.json, "Print one JSON object");
}

// The options with the architecture loaded at the proxy scaling.
bench::TrainBenchOptions LoadedTrainBenchOptions(const TrainBenchFlags& f) {
  bench::TrainBenchOptions o = f.options;
  v1::ProxyTask proxy;
  proxy.set_scaling("proxy");
  proxy.set_size(o.size);
  proxy.set_classes(search_spaces::DefaultProxyClasses(o.data).value_or(search_spaces::kDefaultClasses));
  absl::StatusOr<search_spaces::ResolvedProxy> model = search_spaces::ResolveProxy(f.arch.Load(), proxy);
  if (!model.ok()) Fail(model.status());
  o.arch = f.arch.name_or_path;
  o.spec = std::move(model->spec);
  f.arch.ApplyOverrides(o.spec);
  o.head = model->head;
  return o;
}

void RegisterTrainBenchmarks(CLI::App& parent) {
  auto loader = std::make_shared<TrainBenchFlags>();
  CLI::App* l = parent.add_subcommand(
      "loader", "The data loader alone (decode, augment, batch) against the training step, in images/s");
  AddTrainBenchFlags(l, *loader);
  l->add_option("--loader-threads", loader->options.values, "Loader thread counts to measure (default 1 2)")
      ->check(CLI::PositiveNumber);
  l->add_option("--batches", loader->options.batches, "Batches per loader measurement")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  l->callback([loader] { RunBenchmark(bench::RunLoaderBench, LoadedTrainBenchOptions(*loader)); });

  auto maxup = std::make_shared<TrainBenchFlags>();
  CLI::App* m = parent.add_subcommand("maxup", "MaxUp's training cost against plain training (time per image)");
  AddTrainBenchFlags(m, *maxup);
  m->add_option("--maxup", maxup->options.values, "Copies to measure (default 1 2 4; 1 is always included)")
      ->check(CLI::Range(1, 64));
  m->callback([maxup] { RunBenchmark(bench::RunMaxUpBench, LoadedTrainBenchOptions(*maxup)); });

  auto eval = std::make_shared<TrainBenchFlags>();
  CLI::App* e = parent.add_subcommand(
      "eval",
      "The held-out evaluation of one checkpoint: as it was (NoGradGuard, NMS over every candidate, 32 images per "
      "pass) against the current one (InferenceMode, NMS stopping at 100 detections) at each evaluation batch size, "
      "interleaved");
  AddTrainBenchFlags(e, *eval);
  e->add_option("--eval-batch", eval->options.values, "Evaluation batch sizes to measure (default 8 32 64)")
      ->check(CLI::Range(1, 4096));
  e->add_option("--held-out", eval->options.held_out, "Held-out images evaluated")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  e->callback([eval] { RunBenchmark(bench::RunEvalBench, LoadedTrainBenchOptions(*eval)); });
}
#endif

}  // namespace

void RegisterBenchCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("bench", "Benchmarks");
  cmd->require_subcommand(1);
  RegisterArch(*cmd);
  RegisterSearch(*cmd);
  RegisterUntrained(*cmd);
  RegisterReport(*cmd);
  RegisterController(*cmd);
  RegisterSearchThroughput(*cmd);
#if VERTEBRA_WITH_TORCH
  RegisterStep(*cmd);
  RegisterTrainBenchmarks(*cmd);
#endif
}

}  // namespace vertebra::cli
