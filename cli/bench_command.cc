// `vertebra bench ...`: benchmarks that back the speed figures in the docs.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <random>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_spec.h"
#include "search_spaces/cost.h"
#include "search_spaces/decisions.h"
#include "search_spaces/resolve.h"
#include "cli/spec_source.h"
#if VERTEBRA_WITH_TORCH
#include "worker/step_bench.h"
#endif

namespace vertebra::cli {
namespace {

namespace ss = ::vertebra::search_spaces;
using Clock = std::chrono::steady_clock;

// The proxy task's input size (spinenet.md §4): what the controller prices proposals at.
constexpr int kProxyInputSize = 512;

struct ArchBenchOptions {
  int count = 20000;
  uint64_t seed = 1;
  int size = kProxyInputSize;
  bool json = false;
};

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Times what the controller does for every proposal: decode the decisions, validate the spec,
// resolve it, count its cost with a RetinaNet head, hash it. Sampling is done beforehand and
// not timed.
void RunArchBench(const ArchBenchOptions& o) {
  absl::StatusOr<ss::SearchSpace> space = ss::SearchSpace::Create(ss::SearchSpaceOptions{});
  if (!space.ok()) Fail(space.status());
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int>> sequences;
  sequences.reserve(o.count);
  for (int i = 0; i < o.count; ++i) sequences.push_back(space->Sample(rng));

  Clock::duration decode{}, validate{}, resolve{}, cost{}, hash{};
  int64_t checksum = 0;  // Keeps the optimizer from dropping the work.
  const Clock::time_point start = Clock::now();
  for (const std::vector<int>& d : sequences) {
    Clock::time_point t0 = Clock::now();
    absl::StatusOr<v1::ArchSpec> spec = space->Decode(d);
    Clock::time_point t1 = Clock::now();
    if (!spec.ok()) Fail(spec.status());
    const absl::Status valid = ss::ValidateArchSpec(*spec);
    Clock::time_point t2 = Clock::now();
    if (!valid.ok()) Fail(valid);
    absl::StatusOr<ss::ResolvedGraph> graph = ss::Resolve(*spec, o.size, o.size);
    Clock::time_point t3 = Clock::now();
    if (!graph.ok()) Fail(graph.status());
    const ss::Cost c = ss::CountCost(*graph, ss::HeadOptions{});
    Clock::time_point t4 = Clock::now();
    const std::string h = ss::ArchHash(*spec);
    Clock::time_point t5 = Clock::now();
    checksum += c.total_params + h[0];
    decode += t1 - t0;
    validate += t2 - t1;
    resolve += t3 - t2;
    cost += t4 - t3;
    hash += t5 - t4;
  }
  const double total_us = Micros(Clock::now() - start) / o.count;
  const double n = o.count;
  if (o.json) {
    std::cout << nlohmann::json{{"count", o.count},
                                {"input_size", o.size},
                                {"us_per_arch", total_us},
                                {"decode_us", Micros(decode) / n},
                                {"validate_us", Micros(validate) / n},
                                {"resolve_us", Micros(resolve) / n},
                                {"cost_us", Micros(cost) / n},
                                {"hash_us", Micros(hash) / n},
                                {"checksum", checksum}}
                     .dump()
              << "\n";
    return;
  }
  std::cout << absl::StrFormat(
      "%d sampled architectures, input %d: %.2f us per architecture end to end\n"
      "  decode %.2f us, validate %.2f us, resolve %.2f us (validates again), cost %.2f us, hash %.2f us\n",
      o.count, o.size, total_us, Micros(decode) / n, Micros(validate) / n, Micros(resolve) / n, Micros(cost) / n,
      Micros(hash) / n);
}

#if VERTEBRA_WITH_TORCH
struct StepOptions {
  SpecSource source;
  worker::StepBenchOptions bench;
  bool json = false;
};

void RunStep(const StepOptions& o) {
  worker::StepBenchOptions options = o.bench;
  options.spec = o.source.Load();
  absl::StatusOr<worker::StepBenchResult> r = worker::RunStepBench(options);
  if (!r.ok()) Fail(r.status());
  if (o.json) {
    std::cout << nlohmann::json{{"arch", o.source.name_or_path},
                                {"size", options.size},
                                {"batch", options.batch},
                                {"steps", options.steps},
                                {"threads", r->threads},
                                {"device", r->device},
                                {"channels_last", options.channels_last},
                                {"bf16", options.bf16},
                                {"parameters", r->parameters},
                                {"images_per_s", r->images_per_s},
                                {"ms_per_step", r->ms_per_step},
                                {"peak_rss_mb", r->peak_rss_mb},
                                {"first_loss", r->first_loss},
                                {"last_loss", r->last_loss},
                                {"torch", r->torch_version}}
                     .dump()
              << "\n";
    return;
  }
  std::cout << absl::StrFormat(
      "%s at %d px, batch %d, %d threads on %s%s%s: %.1f images/s, %.1f ms/step, peak RSS %.0f MB "
      "(loss %.3f -> %.3f, %d parameters, LibTorch %s)\n",
      o.source.name_or_path, options.size, options.batch, r->threads, r->device,
      options.channels_last ? ", channels-last" : "", options.bf16 ? ", bf16" : "", r->images_per_s, r->ms_per_step,
      r->peak_rss_mb, r->first_loss, r->last_loss, r->parameters, r->torch_version);
}

void RegisterStep(CLI::App& bench) {
  auto o = std::make_shared<StepOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "step", "Time full proxy training steps (forward, loss with matching, backward, SGD) on random data");
  o->source.AddOptions(cmd);
  worker::StepBenchOptions& b = o->bench;
  cmd->add_option("--head-width", b.head.width, "RetinaNet subnet width")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--head-convs", b.head.num_convs, "3x3 convs per subnet")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--classes", b.head.num_classes, "Object classes")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--size", b.size, "Square input size")->check(CLI::Range(8, 4096))->capture_default_str();
  cmd->add_option("--batch", b.batch, "Images per step")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--steps", b.steps, "Timed steps")->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_option("--warmup", b.warmup_steps, "Untimed steps first")->check(CLI::Range(0, 1000))->capture_default_str();
  cmd->add_option("--threads", b.threads, "LibTorch threads")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--device", b.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--channels-last", b.channels_last, "Channels-last memory format");
  cmd->add_flag("--bf16", b.bf16, "bf16 autocast (CUDA only)");
  cmd->add_option("--seed", b.seed, "Seed of the weights and the random data")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o] { RunStep(*o); });
}
#endif

}  // namespace

void RegisterBenchCommand(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  auto o = std::make_shared<ArchBenchOptions>();
  CLI::App* arch = bench->add_subcommand(
      "arch", "Time decode + validate + resolve + price + hash of sampled architectures");
  arch->add_option("--count", o->count, "Architectures to time")->check(CLI::Range(1, 10000000))->capture_default_str();
  arch->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  arch->add_option("--size", o->size, "Input size to resolve at")->check(CLI::Range(1, 16384))->capture_default_str();
  arch->add_flag("--json", o->json, "Print one JSON object");
  arch->callback([o] { RunArchBench(*o); });
  RegisterSearchBenchmark(*bench);
  RegisterReportBenchmark(*bench);
  RegisterControllerBenchmark(*bench);
#if VERTEBRA_WITH_TORCH
  RegisterStep(*bench);
  RegisterTrainBenchmarks(*bench);
#endif
}

}  // namespace vertebra::cli
