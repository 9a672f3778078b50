// `vertebra data ...`: datasets. `data synth` writes a generated set (the built-in synthetic set,
// or canvases composed from Fashion-MNIST) as a COCO folder.
#include <array>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "worker/data/fashion_mnist.h"
#include "worker/data/spec_keys.h"
#include "worker/data/synthetic.h"

namespace vertebra::cli {
namespace {

namespace wd = ::vertebra::worker::data;

constexpr const char* kSyntheticKind = "synthetic";
constexpr const char* kFashionMnistKind = "fashion-mnist";

struct SynthFlags {
  std::string out;
  std::string kind = kSyntheticKind;
  // Empty: the kind's defaults.
  std::string spec;
  bool kind_set = false;
  // Flags left unset keep the spec's values; set ones are added to the spec as keys (a flag and
  // the spec's key for one option are refused together).
  int images = 0;
  int size = 0;
  uint64_t seed = 0;
  bool images_set = false, size_set = false, seed_set = false;
};

// What the summary line reports of a set's options.
struct SetSummary {
  int images = 0, size = 0, classes = 0;
  uint64_t seed = 0;
};

template <typename Options>
SetSummary Summarize(const Options& o) {
  return SetSummary{o.images, o.size, o.classes, o.seed};
}

// The set a spec names, or exits with its error.
std::unique_ptr<wd::Dataset> OpenSet(const std::string& spec, SetSummary& summary) {
  const auto opened = [&summary](const auto& options, auto created) -> std::unique_ptr<wd::Dataset> {
    if (!options.ok()) Fail(options.status());
    if (!created.ok()) Fail(created.status());
    summary = Summarize(*options);
    return *std::move(created);
  };
  if (spec.rfind(kFashionMnistKind, 0) == 0) {
    absl::StatusOr<wd::FashionMnistOptions> o = wd::ParseFashionMnistSpec(spec);
    return opened(o, o.ok() ? wd::FashionMnistDataset::Create(*o) : o.status());
  }
  absl::StatusOr<wd::SyntheticOptions> o = wd::ParseSyntheticSpec(spec);
  return opened(o, o.ok() ? wd::SyntheticDataset::Create(*o) : o.status());
}

void RunSynth(const SynthFlags& f) {
  std::string spec = f.spec.empty() ? f.kind : f.spec;
  const std::string spec_kind = spec.substr(0, spec.find(':'));
  if (f.kind_set && spec_kind != f.kind) {
    Fail(absl::InvalidArgumentError(absl::StrFormat("--spec '%s' is not of --kind %s", spec, f.kind)));
  }
  // A flag and the spec's key for one option would leave it ambiguous: say which two collide. (A
  // malformed spec has no entries here; opening it below reports what is wrong.)
  const absl::StatusOr<std::vector<wd::spec_keys::Entry>> entries = wd::spec_keys::SplitSpec(spec, spec_kind);
  std::string extra;
  const auto add = [&](bool set, const char* key, uint64_t value) {
    if (!set) return;
    if (entries.ok() && absl::c_any_of(*entries, [key](const wd::spec_keys::Entry& e) { return e.key == key; })) {
      Fail(absl::InvalidArgumentError(
          absl::StrFormat("--%s and --spec's key '%s' are both given; give one of them", key, key)));
    }
    absl::StrAppend(&extra, ",", key, "=", value);
  };
  add(f.images_set, "images", f.images);
  add(f.size_set, "size", f.size);
  add(f.seed_set, "seed", f.seed);
  if (!extra.empty()) spec += (spec == spec_kind ? ":" + extra.substr(1) : extra);
  SetSummary o;
  const std::unique_ptr<wd::Dataset> ds = OpenSet(spec, o);

  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<wd::WrittenDataset> written = wd::WriteCocoDataset(*ds, f.out);
  if (!written.ok()) Fail(written.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::array<int64_t, 3>& per_size = written->objects_by_size;
  const int64_t objects = written->objects;
  std::cout << absl::StrFormat(
      "wrote %d images (%dx%d, %d classes, seed %d), %d objects (small %d, medium %d, large %d) to %s in %.1f s\n",
      o.images, o.size, o.size, o.classes, o.seed, objects, per_size[0], per_size[1], per_size[2], f.out, seconds);
}

}  // namespace

void RegisterDataCommand(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Datasets");
  data->require_subcommand(1);
  auto f = std::make_shared<SynthFlags>();
  CLI::App* synth = data->add_subcommand(
      "synth",
      "Write a generated detection set (the built-in synthetic set, or Fashion-MNIST canvases) as a COCO folder "
      "(DIR/images/*.png, DIR/instances.json)");
  synth->add_option("--out", f->out, "Output folder (created if missing)")->required();
  synth->add_option("--images", f->images, "Number of images (default: the spec's)")->check(CLI::PositiveNumber);
  synth->add_option("--size", f->size, "Square image side in pixels (default: the spec's)")
      ->check(CLI::Range(16, 4096));
  synth->add_option("--seed", f->seed, "Seed (default: the spec's)");
  synth
      ->add_option("--kind", f->kind,
                   "synthetic (shapes, built in) or fashion-mnist (Fashion-MNIST items composed into canvases; "
                   "needs Debian's dataset-fashion-mnist); default: the --spec's kind, else synthetic")
      ->check(CLI::IsMember({kSyntheticKind, kFashionMnistKind}));
  synth->add_option("--spec", f->spec,
                    "KIND[:key=value,...] with the keys of worker/data/synthetic.h or worker/data/fashion_mnist.h "
                    "(default: the kind's defaults)");
  synth->callback([f, synth] {
    SynthFlags flags = *f;
    flags.images_set = synth->count("--images") > 0;
    flags.size_set = synth->count("--size") > 0;
    flags.seed_set = synth->count("--seed") > 0;
    flags.kind_set = synth->count("--kind") > 0;
    RunSynth(flags);
  });
}

}  // namespace vertebra::cli
