// `vertebra show`, `vertebra export` and `vertebra arch export-blocks`: one trial of a search in
// full, and one architecture as a folder to take away. Read-only on the search.
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/search_source.h"
#include "cli/spec_source.h"
#include "inspect/export.h"
#include "inspect/model_garden.h"
#include "inspect/show.h"
#include "inspect/source.h"
#include "inspect/verdict.h"
#include "search_spaces/arch_json.h"
#include "search_spaces/family.h"

namespace vertebra::cli {
namespace {

struct ShowFlags {
  SearchSourceFlags source;
  std::string trial;
  bool json = false;
};

void RunShow(const ShowFlags& f) {
  const std::unique_ptr<inspect::SearchSource> source = f.source.Open();
  absl::StatusOr<inspect::TrialDetail> detail = inspect::LoadTrialDetail(*source, f.trial);
  if (!detail.ok()) Fail(detail.status());
  if (f.json) {
    absl::StatusOr<nlohmann::json> j = inspect::ShowJson(*detail);
    if (!j.ok()) Fail(j.status());
    std::cout << j->dump() << "\n";
    return;
  }
  absl::StatusOr<std::string> text = inspect::ShowText(*detail);
  if (!text.ok()) Fail(text.status());
  std::cout << *text;
}

void RegisterShow(CLI::App& app) {
  auto f = std::make_shared<ShowFlags>();
  CLI::App* cmd = app.add_subcommand(
      "show",
      "One trial in full: spec, drawing, cost, results at every rung, training curve, worker, timings, lineage");
  cmd->add_option("trial", f->trial, "\"best\" (as `top` ranks) or a trial id")->required();
  f->source.AddOptions(cmd);
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f] { RunShow(*f); });
}

struct ExportFlags {
  SearchSourceFlags source;
  std::string trial;
  std::string arch;
  inspect::ExportOptions options;
};

void RunExport(const ExportFlags& f) {
  inspect::ExportSubject subject;
  if (!f.arch.empty()) {
    if (f.source.given() || !f.trial.empty()) {
      Fail(absl::InvalidArgumentError("--arch exports a spec by itself: leave out --db, --controller and --trial"));
    }
    absl::StatusOr<v1::ArchSpec> spec = search_spaces::LoadArchSpec(f.arch);
    if (!spec.ok()) Fail(spec.status());
    subject.spec = *std::move(spec);
  } else {
    if (!f.source.given()) {
      Fail(absl::InvalidArgumentError(
          "say what to export: --db FILE (or --controller HOST:PORT) with --trial, or --arch"));
    }
    if (f.trial.empty()) Fail(absl::InvalidArgumentError("--trial: required with --db (\"best\" or a trial id)"));
    const std::unique_ptr<inspect::SearchSource> source = f.source.Open();
    absl::StatusOr<v1::Trial> trial = inspect::FindTrial(*source, f.trial);
    if (!trial.ok()) Fail(trial.status());
    absl::StatusOr<inspect::SearchSummary> summary = source->Summary();
    if (!summary.ok()) Fail(summary.status());
    absl::StatusOr<std::vector<v1::Trial>> all = source->Trials();
    if (!all.ok()) Fail(all.status());
    if (const std::optional<inspect::Verdict> verdict = inspect::ComputeVerdict(summary->config, *all)) {
      subject.verdict = inspect::VerdictJson(*verdict);
    }
    subject.spec = trial->spec();
    subject.trial = *std::move(trial);
    subject.experiment = summary->config;
  }
  absl::StatusOr<inspect::ExportReport> report = inspect::ExportArchitecture(subject, f.options);
  if (!report.ok()) Fail(report.status());
  for (const std::string& w : report->warnings) std::cerr << "vertebra: warning: " << w << "\n";
  std::cout << absl::StrFormat("exported %s at the %s scaling (%d px, hash %s) to %s: %s\n",
                               subject.trial ? absl::StrFormat("trial %d", subject.trial->id()) : f.arch,
                               f.options.scaling, report->input_size, report->hash.substr(0, 12), f.options.out_dir,
                               absl::StrJoin(report->files, ", "));
}

void RegisterExport(CLI::App& app) {
  auto f = std::make_shared<ExportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Write one architecture to a folder: spec.json, cost.json, results.json, drawing.svg, model_garden.json/.py "
      "and, with --weights, the re-trained weights");
  f->source.AddOptions(cmd);
  cmd->add_option("--trial", f->trial, "With --db or --controller: \"best\" or a trial id");
  cmd->add_option("--arch", f->arch, "Instead of a trial: a reference name or a JSON spec file");
  cmd->add_option("--out", f->options.out_dir, "Folder to write (created; refused when not empty)")->required();
  cmd->add_option("--scaling", f->options.scaling, "Scaling of spec.json, cost.json and the drawing")
      ->check(CLI::IsMember(search_spaces::ModelScaleNames()))
      ->capture_default_str();
  cmd->add_option("--size", f->options.input_size,
                  "Input size cost.json is priced at (default: 640 for 49s/49, 1024 for 96, 1280 for 143/190, the "
                  "experiment's for proxy)")
      ->check(CLI::Range(1, 16384));
  cmd->add_option("--classes", f->options.num_classes, "Classes of the RetinaNet head in cost.json")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--weights", f->options.weights_dir, "A re-training's folder: copy its *.safetensors weights");
  cmd->add_flag("--force", f->options.force,
                "Write into a folder that is not empty (files of the same names are replaced)");
  cmd->callback([f] { RunExport(*f); });
}

void RegisterExportBlocks(CLI::App& app) {
  CLI::App* arch = app.get_subcommand("arch");
  struct Options {
    SpecSource source;
    bool python = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = arch->add_subcommand(
      "export-blocks",
      "An architecture as the TensorFlow Model Garden SpineNet builder's block_specs (JSON or Python)");
  o->source.AddOptions(cmd);
  cmd->add_flag("--python", o->python, "Print Python (BLOCK_SPECS = [...]) instead of JSON");
  cmd->callback([o] {
    const v1::ArchSpec spec = o->source.Load();
    absl::StatusOr<std::string> text = o->python ? inspect::ModelGardenPython(spec) : inspect::ModelGardenJson(spec);
    if (!text.ok()) Fail(text.status());
    std::cout << *text;
  });
}

}  // namespace

void RegisterInspectCommands(CLI::App& app) {
  RegisterShow(app);
  RegisterExport(app);
  RegisterExportBlocks(app);
}

}  // namespace vertebra::cli
