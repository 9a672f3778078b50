// `vertebra arch ...`: validate, price, draw, sample, encode and decode architectures.
#include <cstdint>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/spec_source.h"
#include "common/file_util.h"
#include "common/text_util.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_json.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/cost.h"
#include "search_spaces/decisions.h"
#include "search_spaces/draw.h"
#include "search_spaces/family.h"
#include "search_spaces/features.h"
#include "search_spaces/resolve.h"
#if VERTEBRA_WITH_TORCH
#include "worker/step_bench.h"
#endif

namespace vertebra::cli {
namespace {

using nlohmann::json;
namespace ss = ::vertebra::search_spaces;

// Input size of the paper's SpineNet-49 RetinaNet (spinenet.md §2.2).
constexpr int kDefaultInputSize = 640;

ss::ResolvedGraph ResolveOrFail(const v1::ArchSpec& spec, int size) {
  absl::StatusOr<ss::ResolvedGraph> graph = ss::Resolve(spec, size, size);
  if (!graph.ok()) Fail(graph.status());
  return *std::move(graph);
}

ss::SearchSpace DefaultSpaceOrFail() {
  absl::StatusOr<ss::SearchSpace> space = ss::SearchSpace::Create(ss::SearchSpaceOptions{});
  if (!space.ok()) Fail(space.status());
  return *std::move(space);
}

void PrintWarnings(const ss::ResolvedGraph& graph) {
  for (const std::string& w : graph.warnings) std::cerr << "vertebra: warning: " << w << "\n";
}

// ---- validate ----------------------------------------------------------------------------

void RegisterValidate(CLI::App& arch) {
  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = arch.add_subcommand("validate", "Check spec files; print each one's hash and warnings");
  cmd->add_option("files", *files, "JSON spec files")->required();
  cmd->callback([files] {
    for (const std::string& path : *files) {
      absl::StatusOr<v1::ArchSpec> spec = ss::ReadArchSpecFile(path);
      if (!spec.ok()) Fail(spec.status());
      const ss::ResolvedGraph graph = ResolveOrFail(*spec, kDefaultInputSize);
      for (const std::string& w : graph.warnings) std::cerr << "vertebra: warning: " << path << ": " << w << "\n";
      std::cout << absl::StrFormat("%s: ok: '%s', %d blocks, hash %s\n", path, spec->name(), spec->blocks_size(),
                                   ss::ArchHash(*spec));
    }
  });
}

// ---- stats -------------------------------------------------------------------------------

// Instantiates the LibTorch module and counts its parameters.
int64_t BuiltParams(const v1::ArchSpec& spec, int size, const std::optional<ss::HeadOptions>& head) {
#if VERTEBRA_WITH_TORCH
  absl::StatusOr<int64_t> n = worker::BuiltParameterCount(spec, size, head ? &*head : nullptr);
  if (!n.ok()) Fail(n.status());
  return *n;
#else
  Fail(absl::FailedPreconditionError("--built needs a build with LibTorch (VERTEBRA_WITH_TORCH=ON)"));
#endif
}

struct StatsOptions {
  SpecSource source;
  int size = kDefaultInputSize;
  std::string head = "none";
  ss::HeadOptions head_options;
  bool json = false;
  bool built = false;
};

void RunStats(const StatsOptions& o) {
  const v1::ArchSpec spec = o.source.Load();
  const ss::ResolvedGraph graph = ResolveOrFail(spec, o.size);
  std::optional<ss::HeadOptions> head;
  if (o.head == "retinanet") head = o.head_options;
  const ss::Cost c = ss::CountCost(graph, head);
  PrintWarnings(graph);
  if (o.json) {
    json j = {{"name", spec.name()},
              {"hash", ss::ArchHash(spec)},
              {"input_size", o.size},
              {"num_blocks", spec.blocks_size()},
              {"head", o.head},
              {"stem_params", c.stem_params},
              {"resample_params", c.resample_params},
              {"block_params", c.block_params},
              {"endpoint_params", c.endpoint_params},
              {"backbone_params", c.backbone_params},
              {"head_params", c.head_params},
              {"total_params", c.total_params},
              {"stem_macs", c.stem_macs},
              {"resample_macs", c.resample_macs},
              {"block_macs", c.block_macs},
              {"endpoint_macs", c.endpoint_macs},
              {"backbone_macs", c.backbone_macs},
              {"head_macs", c.head_macs},
              {"total_macs", c.total_macs},
              {"warnings", graph.warnings}};
    const ss::ArchFeatureVector features = ss::ArchFeatures(graph, c);
    for (int i = 0; i < ss::kNumArchFeatures; ++i) j["features"][std::string(ss::ArchFeatureNames()[i])] = features[i];
    if (o.built) j["built_params"] = BuiltParams(spec, o.size, head);
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << absl::StrFormat("%s  hash %s  %d blocks  input %dx%d\n", spec.name().empty() ? "(unnamed)" : spec.name(),
                               ss::ShortArchHash(spec), spec.blocks_size(), o.size, o.size);
  const v1::Scaling& s = spec.scaling();
  std::cout << absl::StrFormat("scaling: filter_scale %g, resample_alpha %g, block_repeats %d, endpoint_filters %d\n",
                               s.filter_scale(), s.resample_alpha(), s.block_repeats(), s.endpoint_filters());
  auto row = [](const char* what, int64_t params, int64_t macs) {
    std::cout << absl::StrFormat("  %-12s %14s params %14s multiply-adds (%.2f B)\n", what, WithThousands(params),
                                 WithThousands(macs), macs / 1e9);
  };
  row("stem", c.stem_params, c.stem_macs);
  row("resampling", c.resample_params, c.resample_macs);
  row("blocks", c.block_params, c.block_macs);
  row("endpoints", c.endpoint_params, c.endpoint_macs);
  row("backbone", c.backbone_params, c.backbone_macs);
  if (head) {
    row("head", c.head_params, c.head_macs);
    row("total", c.total_params, c.total_macs);
  }
  if (o.built) {
    std::cout << absl::StrFormat("  built module: %s parameters\n", WithThousands(BuiltParams(spec, o.size, head)));
  }
}

void RegisterStats(CLI::App& arch) {
  auto o = std::make_shared<StatsOptions>();
  CLI::App* cmd = arch.add_subcommand("stats", "Exact parameters and multiply-adds of an architecture");
  o->source.AddOptions(cmd);
  cmd->add_option("--size", o->size, "Square input size in pixels (any positive size)")
      ->check(CLI::Range(1, 16384))
      ->capture_default_str();
  cmd->add_option("--head", o->head, "Detection head to include")
      ->check(CLI::IsMember({"none", "retinanet"}))
      ->capture_default_str();
  cmd->add_option("--head-width", o->head_options.width, "RetinaNet subnet width")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--head-convs", o->head_options.num_convs, "3x3 convs per RetinaNet subnet")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--classes", o->head_options.num_classes, "Object classes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--anchors", o->head_options.anchors_per_location, "Anchors per location")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--head-norm", o->head_options.norm, "Head normalization: bn (per level), gn or none")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, ss::HeadNorm>{
              {"bn", ss::HeadNorm::kBatchNormPerLevel}, {"gn", ss::HeadNorm::kGroupNorm}, {"none", ss::HeadNorm::kNone}},
          CLI::ignore_case));
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->add_flag("--built", o->built, "Also build the LibTorch module and count its parameters (built_params)");
  cmd->callback([o] { RunStats(*o); });
}

// ---- draw --------------------------------------------------------------------------------

void RegisterDraw(CLI::App& arch) {
  struct Options {
    SpecSource source;
    std::string out;
    int size = kDefaultInputSize;
    bool text = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = arch.add_subcommand("draw", "Draw an architecture: an SVG file (-o) or text for the terminal");
  o->source.AddOptions(cmd);
  cmd->add_option("-o,--out", o->out, "SVG file to write");
  cmd->add_option("--size", o->size, "Input size shown in the drawing")->check(CLI::Range(1, 16384));
  cmd->add_flag("--text", o->text, "Print the text rendering (the default without -o)");
  cmd->callback([o] {
    const v1::ArchSpec spec = o->source.Load();
    const ss::ResolvedGraph graph = ResolveOrFail(spec, o->size);
    PrintWarnings(graph);
    const std::string title = absl::StrFormat("%s  (hash %s)", spec.name().empty() ? "unnamed" : spec.name(),
                                              ss::ShortArchHash(spec));
    if (!o->out.empty()) {
      if (absl::Status st = WriteFileAtomically(o->out, ss::DrawSvg(graph, title)); !st.ok()) Fail(st);
      std::cerr << "vertebra: wrote " << o->out << "\n";
    }
    if (o->text || o->out.empty()) std::cout << ss::DrawText(graph, title);
  });
}

// ---- sample / encode / decode / space / list --------------------------------------------

void RegisterSample(CLI::App& arch) {
  struct Options {
    uint64_t seed = 0;
    int count = 1;
    bool decisions = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = arch.add_subcommand(
      "sample", "Draw architectures uniformly from the SpineNet search space (one JSON spec per line)");
  cmd->add_option("--seed", o->seed, "Random seed")->required();
  cmd->add_option("--count", o->count, "How many")->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_flag("--decisions", o->decisions, "Print the decision sequences instead of specs");
  cmd->callback([o] {
    const ss::SearchSpace space = DefaultSpaceOrFail();
    std::mt19937_64 rng(o->seed);
    for (int i = 0; i < o->count; ++i) {
      const std::vector<int> d = space.Sample(rng);
      if (o->decisions) {
        std::cout << json(d).dump() << "\n";
        continue;
      }
      absl::StatusOr<v1::ArchSpec> spec = space.Decode(d);
      if (!spec.ok()) Fail(spec.status());
      spec->set_name(absl::StrFormat("sample-%d-%d", o->seed, i));
      std::cout << ss::ArchSpecToJson(*spec, -1) << "\n";
    }
  });
}

void RegisterEncode(CLI::App& arch) {
  auto source = std::make_shared<SpecSource>();
  CLI::App* cmd = arch.add_subcommand("encode", "Print the search-space decisions of an architecture (JSON array)");
  source->AddOptions(cmd);
  cmd->callback([source] {
    const v1::ArchSpec spec = source->Load();
    absl::StatusOr<std::vector<int>> d = DefaultSpaceOrFail().Encode(spec);
    if (!d.ok()) Fail(absl::InvalidArgumentError(absl::StrFormat("%s: %s", source->name_or_path, d.status().message())));
    std::cout << json(*d).dump() << "\n";
  });
}

void RegisterDecode(CLI::App& arch) {
  auto input = std::make_shared<std::string>();
  CLI::App* cmd = arch.add_subcommand("decode", "Turn a decision sequence (JSON array) into a spec");
  cmd->add_option("decisions", *input, "A file holding a JSON array of decisions, '-' for stdin, or the array itself")
      ->required();
  cmd->callback([input] {
    std::string text = *input;
    if (text.empty() || text[0] != '[') {
      absl::StatusOr<std::string> read = ReadFile(text);
      if (!read.ok()) Fail(read.status());
      text = *read;
    }
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_array()) {
      Fail(absl::InvalidArgumentError(absl::StrFormat("%s: expected a JSON array of integers", *input)));
    }
    std::vector<int> d;
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_number_integer()) {
        Fail(absl::InvalidArgumentError(absl::StrFormat("%s: element %d is not an integer", *input, i)));
      }
      d.push_back(j[i].get<int>());
    }
    absl::StatusOr<v1::ArchSpec> spec = DefaultSpaceOrFail().Decode(d);
    if (!spec.ok()) Fail(spec.status());
    spec->set_name("decoded-" + ss::ShortArchHash(*spec));
    std::cout << ss::ArchSpecToJson(*spec);
  });
}

void RegisterSpace(CLI::App& arch) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd = arch.add_subcommand("space", "The size of the SpineNet search space and how it is counted");
  cmd->add_flag("--json", *as_json, "Print one JSON object");
  cmd->callback([as_json] {
    const ss::SearchSpace space = DefaultSpaceOrFail();
    const ss::SpaceSize s = space.Size();
    if (*as_json) {
      std::cout << json{{"num_blocks", space.num_blocks()},
                        {"num_decisions", space.num_decisions()},
                        {"log10_intermediate_permutations", s.log10_intermediate_permutations},
                        {"log10_output_permutations", s.log10_output_permutations},
                        {"log10_connections", s.log10_connections},
                        {"log10_adjustments", s.log10_adjustments},
                        {"log10_block_types", s.log10_block_types},
                        {"log10_total", s.log10_total},
                        {"log10_paper_formula", s.log10_paper_formula}}
                       .dump()
                << "\n";
      return;
    }
    std::cout << absl::StrFormat(
        "SpineNet search space: %d blocks (%d intermediate from SpineNet-49's pool, 5 outputs), %d decisions\n"
        "  intermediate order   10^%.2f  distinct level orders of the pool (multinomial)\n"
        "  output order         10^%.2f  5!\n"
        "  connections          10^%.2f  prod C(candidates, 2); intermediate blocks see the last 5 features\n"
        "  level adjustments    10^%.2f  {-1, 0, +1, +2} per intermediate block, kept within L2..L7\n"
        "  block types          10^%.2f  2^%d\n"
        "  total                10^%.2f  valid decision sequences\n"
        "  (the paper's formula without the parent window: 10^%.2f)\n",
        space.num_blocks(), space.num_intermediate(), space.num_decisions(), s.log10_intermediate_permutations,
        s.log10_output_permutations, s.log10_connections, s.log10_adjustments, s.log10_block_types,
        space.num_blocks(), s.log10_total, s.log10_paper_formula);
  });
}

void RegisterResolve(CLI::App& arch) {
  struct Options {
    SpecSource source;
    int size = kDefaultInputSize;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = arch.add_subcommand(
      "resolve", "Print the resolved graph (levels, channels, sizes, resampling, extra parents) as JSON");
  o->source.AddOptions(cmd);
  cmd->add_option("--size", o->size, "Square input size in pixels")->check(CLI::Range(1, 16384))->capture_default_str();
  cmd->callback([o] {
    const ss::ResolvedGraph graph = ResolveOrFail(o->source.Load(), o->size);
    std::cout << ss::ResolvedGraphToJson(graph) << "\n";
  });
}

void RegisterList(CLI::App& arch) {
  CLI::App* cmd = arch.add_subcommand("list", "The reference architectures");
  cmd->callback([] {
    std::cout << absl::StrFormat("%-20s %14s %12s  %s\n", "name", "backbone params", "MACs@640", "hash");
    for (const std::string& name : ss::ReferenceArchNames()) {
      absl::StatusOr<v1::ArchSpec> spec = ss::ReferenceArch(name);
      if (!spec.ok()) Fail(spec.status());
      const ss::Cost c = ss::CountCost(ResolveOrFail(*spec, kDefaultInputSize));
      std::cout << absl::StrFormat("%-20s %14s %11.2fB  %s\n", name, WithThousands(c.backbone_params),
                                   c.backbone_macs / 1e9, ss::ShortArchHash(*spec));
    }
  });
}

}  // namespace

void RegisterArchCommand(CLI::App& app) {
  CLI::App* arch = app.add_subcommand("arch", "Architecture tools: validate, stats, draw, sample, encode, decode");
  arch->require_subcommand(1);
  RegisterList(*arch);
  RegisterValidate(*arch);
  RegisterStats(*arch);
  RegisterResolve(*arch);
  RegisterDraw(*arch);
  RegisterSample(*arch);
  RegisterEncode(*arch);
  RegisterDecode(*arch);
  RegisterSpace(*arch);
}

}  // namespace vertebra::cli
