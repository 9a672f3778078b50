// `vertebra data ...`: datasets. `data synth` writes the built-in synthetic set as a COCO folder.
#include <array>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "worker/data/synthetic.h"

namespace vertebra::cli {
namespace {

namespace wd = ::vertebra::worker::data;

struct SynthFlags {
  std::string out;
  std::string spec = "synthetic";
  // Flags left unset keep the spec's values; set ones are added to the spec as keys, so giving
  // one both ways is the spec's "given twice" error.
  int images = 0;
  int size = 0;
  uint64_t seed = 0;
  bool images_set = false, size_set = false, seed_set = false;
};

void RunSynth(const SynthFlags& f) {
  std::string spec = f.spec;
  std::string extra;
  if (f.images_set) absl::StrAppend(&extra, ",images=", f.images);
  if (f.size_set) absl::StrAppend(&extra, ",size=", f.size);
  if (f.seed_set) absl::StrAppend(&extra, ",seed=", f.seed);
  if (!extra.empty()) spec += (spec == "synthetic" ? ":" + extra.substr(1) : extra);
  absl::StatusOr<wd::SyntheticOptions> options = wd::ParseSyntheticSpec(spec);
  if (!options.ok()) Fail(options.status());
  absl::StatusOr<std::unique_ptr<wd::SyntheticDataset>> ds = wd::SyntheticDataset::Create(*options);
  if (!ds.ok()) Fail(ds.status());

  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<wd::WrittenDataset> written = wd::WriteCocoDataset(**ds, f.out);
  if (!written.ok()) Fail(written.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::array<int64_t, 3>& per_size = written->objects_by_size;
  const int64_t objects = written->objects;
  std::cout << absl::StrFormat(
      "wrote %d images (%dx%d, %d classes, seed %d), %d objects (small %d, medium %d, large %d) to %s in %.1f s\n",
      options->images, options->size, options->size, options->classes, options->seed, objects, per_size[0], per_size[1],
      per_size[2], f.out, seconds);
}

}  // namespace

void RegisterDataCommand(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Datasets");
  data->require_subcommand(1);
  auto f = std::make_shared<SynthFlags>();
  CLI::App* synth = data->add_subcommand(
      "synth", "Write the built-in synthetic detection set as a COCO folder (DIR/images/*.png, DIR/instances.json)");
  synth->add_option("--out", f->out, "Output folder (created if missing)")->required();
  synth->add_option("--images", f->images, "Number of images (default: the spec's)")->check(CLI::PositiveNumber);
  synth->add_option("--size", f->size, "Square image side in pixels (default: the spec's)")
      ->check(CLI::Range(16, 4096));
  synth->add_option("--seed", f->seed, "Seed (default: the spec's)");
  synth->add_option("--spec", f->spec, "synthetic[:key=value,...] with the keys of worker/data/synthetic.h")
      ->capture_default_str();
  synth->callback([f, synth] {
    SynthFlags flags = *f;
    flags.images_set = synth->count("--images") > 0;
    flags.size_set = synth->count("--size") > 0;
    flags.seed_set = synth->count("--seed") > 0;
    RunSynth(flags);
  });
}

}  // namespace vertebra::cli
