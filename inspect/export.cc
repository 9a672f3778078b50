#include "inspect/export.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "controller/config.h"
#include "eval/coco_eval.h"
#include "inspect/model_garden.h"
#include "nlohmann/json.hpp"
#include "proto/kinds.h"
#include "search_spaces/arch_json.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/cost.h"
#include "search_spaces/draw.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"

namespace vertebra::inspect {
namespace {

namespace fs = std::filesystem;
namespace ss = ::vertebra::search_spaces;
using json = nlohmann::ordered_json;

// The search's proxy input in the paper (spinenet.md §4), for a proxy export without an experiment.
constexpr int kPaperProxySize = 512;

const char* NormName(ss::HeadNorm n) {
  switch (n) {
    case ss::HeadNorm::kBatchNormPerLevel:
      return "bn";
    case ss::HeadNorm::kGroupNorm:
      return "gn";
    case ss::HeadNorm::kNone:
      return "none";
  }
  return "none";
}

json ScalingJson(const v1::Scaling& s) {
  return {{"filter_scale", s.filter_scale()},
          {"resample_alpha", s.resample_alpha()},
          {"block_repeats", s.block_repeats()},
          {"endpoint_filters", s.endpoint_filters()}};
}

std::string CostJson(const std::string& hash, const std::string& scaling, const v1::Scaling& values, int size,
                     const ss::HeadOptions& head, const ss::Cost& c) {
  json head_json = {{"kind", "retinanet"},
                    {"width", head.width},
                    {"num_convs", head.num_convs},
                    {"num_classes", head.num_classes},
                    {"anchors_per_location", head.anchors_per_location},
                    {"norm", NormName(head.norm)},
                    {"params", c.head_params},
                    {"macs", c.head_macs}};
  // A builder of the head outside this code base needs the groups, which no other file states.
  if (head.norm == ss::HeadNorm::kGroupNorm) head_json["groups"] = ss::HeadGroupNormGroups(head.width);
  json j = {
      {"hash", hash},
      {"scaling", scaling},
      {"scaling_values", ScalingJson(values)},
      {"input_size", size},
      {"backbone",
       {{"stem_params", c.stem_params},
        {"resample_params", c.resample_params},
        {"block_params", c.block_params},
        {"endpoint_params", c.endpoint_params},
        {"params", c.backbone_params},
        {"stem_macs", c.stem_macs},
        {"resample_macs", c.resample_macs},
        {"block_macs", c.block_macs},
        {"endpoint_macs", c.endpoint_macs},
        {"macs", c.backbone_macs}}},
      {"head", head_json},
      {"total_params", c.total_params},
      {"total_macs", c.total_macs},
      {"note", "parameters: conv weights and BN gamma/beta; multiply-adds: convolutions only"},
  };
  return j.dump(1) + "\n";
}

std::string ResultsJson(const v1::Trial& t, const v1::ExperimentConfig& experiment, const std::string& export_hash,
                        const std::optional<json>& verdict) {
  json results = json::array();
  bool simulated = false;
  for (const v1::RungResult& r : t.results()) {
    json ap = json::object();
    for (int i = 0; i < r.ap().stats_size() && i < static_cast<int>(eval::kCocoStatNames.size()); ++i) {
      ap[std::string(eval::kCocoStatNames[i])] = r.ap().stats(i);
    }
    const int32_t rung = r.rung();
    const int64_t budget = rung < experiment.rungs().steps_size() ? experiment.rungs().steps(rung) : r.steps();
    results.push_back({{"rung", rung},
                       {"steps", r.steps()},
                       {"rung_budget", budget},
                       {"ap", ap},
                       {"reward", r.reward()},
                       {"train_seconds", r.train_seconds()},
                       {"images_per_s", r.images_per_s()},
                       {"worker", r.worker()},
                       {"continued", r.continued()},
                       {"cooldown_steps", r.cooldown_steps()},
                       {"simulated", r.simulated()},
                       {"reported_at", r.reported_at()}});
    simulated = simulated || r.simulated();
  }
  json j = {
      {"experiment", experiment.name()},
      {"trial", t.id()},
      {"state", std::string(KindName(t.state()))},
      {"trial_hash", t.hash()},
      {"hash", export_hash},
      {"simulated", simulated},
      {"proxy",
       {{"scaling", experiment.proxy().scaling()},
        {"input_size", experiment.proxy().size()},
        {"params", t.params()},
        {"macs", t.macs()}}},
      {"results", results},
      {"reward", t.reward()},
      {"parent", t.parent()},
      {"reused_from", t.reused_from()},
      {"config", json::parse(controller::ExperimentConfigToJson(experiment))},
  };
  if (verdict) j["final"] = *verdict;
  return j.dump(1) + "\n";
}

// The *.safetensors files directly in `dir`, sorted.
absl::StatusOr<std::vector<fs::path>> FindWeights(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrFormat("--weights %s: not a directory", dir));
  }
  std::vector<fs::path> found;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec) && e.path().extension() == ".safetensors") found.push_back(e.path());
  }
  if (ec) return absl::NotFoundError(absl::StrFormat("--weights %s: cannot list: %s", dir, ec.message()));
  if (found.empty()) {
    return absl::NotFoundError(absl::StrFormat(
        "--weights %s: no *.safetensors file there (a finished re-training writes model.safetensors)", dir));
  }
  std::sort(found.begin(), found.end());
  return found;
}

// A re-training folder that says which architecture it trained (spec.json) must name this one,
// at this scaling: weights of another shape would load into nothing.
absl::Status CheckWeightsMatch(const std::string& dir, const v1::ArchSpec& spec, std::vector<std::string>* warnings) {
  const fs::path path = fs::path(dir) / "spec.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    warnings->push_back(absl::StrFormat("%s has no spec.json: the weights' architecture was not checked", dir));
    return absl::OkStatus();
  }
  absl::StatusOr<v1::ArchSpec> trained = ss::ReadArchSpecFile(path.string());
  if (!trained.ok()) {
    warnings->push_back(absl::StrFormat("%s: unreadable (%s): the weights' architecture was not checked", path.string(),
                                        trained.status().message()));
    return absl::OkStatus();
  }
  if (ss::ArchHash(*trained) != ss::ArchHash(spec)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--weights %s: trained architecture %s (%s) is not the exported one %s at this scaling (%s); pick the "
        "matching --scaling or re-training",
        dir, ss::ShortArchHash(*trained), trained->name(), ss::ShortArchHash(spec), spec.name()));
  }
  return absl::OkStatus();
}

bool NonEmptyDir(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::directory_iterator(dir, ec) != fs::directory_iterator();
}

absl::Status CopyAtomically(const fs::path& from, const fs::path& to) {
  const fs::path tmp = to.parent_path() / ("." + to.filename().string() + ".tmp");
  std::error_code ec;
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, to, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return absl::InternalError(absl::StrFormat("%s: cannot copy to %s: %s", from.string(), to.string(), ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

int ReferenceInputSize(const std::string& scaling, const v1::ExperimentConfig* experiment) {
  if (scaling == "proxy")
    return experiment != nullptr && experiment->proxy().size() > 0 ? experiment->proxy().size() : kPaperProxySize;
  if (scaling == "96") return 1024;
  if (scaling == "143" || scaling == "190") return 1280;
  return 640;  // 49S and 49.
}

absl::StatusOr<ExportReport> ExportArchitecture(const ExportSubject& subject, const ExportOptions& o) {
  ExportReport report;
  const v1::ExperimentConfig* experiment = subject.experiment ? &*subject.experiment : nullptr;
  ASSIGN_OR_RETURN(const ss::ModelScale scale, ss::NamedModelScale(o.scaling));
  if (o.input_size < 0) return absl::InvalidArgumentError(absl::StrFormat("--size %d: must be positive", o.input_size));
  if (o.num_classes < 1)
    return absl::InvalidArgumentError(absl::StrFormat("--classes %d: must be positive", o.num_classes));
  report.input_size = o.input_size > 0 ? o.input_size : ReferenceInputSize(o.scaling, experiment);

  // The spec as written: canonical, at the chosen scaling, under its own name.
  v1::ArchSpec spec = subject.spec;
  *spec.mutable_scaling() = scale.scaling;
  RETURN_IF_ERROR(ss::ValidateArchSpec(spec));
  const std::string name = spec.name();
  spec = ss::CanonicalArchSpec(spec);
  spec.set_name(name);
  report.hash = ss::ArchHash(spec);
  ASSIGN_OR_RETURN(const ss::ResolvedGraph graph, ss::Resolve(spec, report.input_size, report.input_size));
  ss::HeadOptions head = scale.head;
  head.num_classes = o.num_classes;
  const ss::Cost cost = ss::CountCost(graph, head);
  ASSIGN_OR_RETURN(const std::string garden_json, ModelGardenJson(spec));
  ASSIGN_OR_RETURN(const std::string garden_py, ModelGardenPython(spec));

  std::vector<fs::path> weights;
  if (!o.weights_dir.empty()) {
    ASSIGN_OR_RETURN(weights, FindWeights(o.weights_dir));
    RETURN_IF_ERROR(CheckWeightsMatch(o.weights_dir, spec, &report.warnings));
  }
  if (o.out_dir.empty()) return absl::InvalidArgumentError("--out: a folder is required");
  if (NonEmptyDir(o.out_dir) && !o.force) {
    return absl::AlreadyExistsError(absl::StrFormat("--out %s: not empty (pass --force to write into it)", o.out_dir));
  }
  std::error_code ec;
  if (fs::exists(o.out_dir, ec) && !fs::is_directory(o.out_dir, ec)) {
    return absl::AlreadyExistsError(absl::StrFormat("--out %s: exists and is not a folder", o.out_dir));
  }
  fs::create_directories(o.out_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrFormat("--out %s: cannot create: %s", o.out_dir, ec.message()));

  std::vector<std::pair<std::string, std::string>> files = {
      {"spec.json", ss::ArchSpecToJson(spec, 1)},
      {"cost.json", CostJson(report.hash, o.scaling, spec.scaling(), report.input_size, head, cost)},
      {"resolved.json", ss::ResolvedGraphToJson(graph)},
  };
  if (subject.trial && experiment != nullptr) {
    files.emplace_back("results.json", ResultsJson(*subject.trial, *experiment, report.hash, subject.verdict));
  }
  const std::string title = absl::StrFormat("%s at the %s scaling, %d px  (hash %s)", name.empty() ? "unnamed" : name,
                                            o.scaling, report.input_size, ss::ShortArchHash(spec));
  files.emplace_back("drawing.svg", ss::DrawSvg(graph, title));
  files.emplace_back("model_garden.json", garden_json);
  files.emplace_back("model_garden.py", garden_py);
  for (auto& [file, contents] : files) {
    if (!contents.empty() && contents.back() != '\n') contents += "\n";
    RETURN_IF_ERROR(WriteFileAtomically((fs::path(o.out_dir) / file).string(), contents));
    report.files.push_back(file);
  }
  for (const fs::path& w : weights) {
    RETURN_IF_ERROR(CopyAtomically(w, fs::path(o.out_dir) / w.filename()));
    report.files.push_back(w.filename().string());
  }
  for (const std::string& warning : graph.warnings) report.warnings.push_back(warning);
  return report;
}

}  // namespace vertebra::inspect
