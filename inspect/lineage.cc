#include "inspect/lineage.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "controller/config.h"
#include "controller/store.h"
#include "inspect/trials.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_json.h"

namespace vertebra::inspect {
namespace {

namespace ctl = ::vertebra::controller;
namespace fs = std::filesystem;
using json = nlohmann::json;

// A resume must continue the same architecture: the hash in the earlier lineage.json.
absl::Status CheckResumedLineage(const fs::path& lineage_path, const v1::Trial& trial) {
  std::ifstream in(lineage_path);
  const json earlier = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (earlier.is_object() && earlier.value("hash", "") == trial.hash()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "--resume: %s re-trains architecture %s, not trial %d's (%s)", lineage_path.string(),
      earlier.is_object() ? earlier.value("hash", "?").substr(0, 12) : "?", trial.id(), trial.hash().substr(0, 12)));
}

json LineageJson(const RetrainLineageOptions& options, const v1::ExperimentConfig& experiment, const v1::Trial& trial) {
  json results = json::array();
  for (const v1::RungResult& x : trial.results()) {
    results.push_back({{"rung", x.rung()},
                       {"steps", x.steps()},
                       {"ap", x.ap().stats_size() ? x.ap().stats(0) : 0.0},
                       {"reward", x.reward()},
                       {"worker", x.worker()}});
  }
  return {{"database", fs::absolute(options.db).string()},
          {"experiment", experiment.name()},
          {"configuration", json::parse(ctl::ExperimentConfigToJson(experiment))},
          {"trial", trial.id()},
          {"hash", trial.hash()},
          {"proxy_results", results},
          {"scaling", options.scaling},
          {"data", options.data}};
}

}  // namespace

absl::StatusOr<RetrainLineage> WriteRetrainLineage(const RetrainLineageOptions& options) {
  ASSIGN_OR_RETURN(const std::unique_ptr<ctl::Store> store, ctl::OpenSqliteStore(options.db, {.read_only = true}));
  absl::StatusOr<v1::Trial> trial = FindTrial(*store, options.trial);
  if (!trial.ok()) return absl::Status(trial.status().code(), absl::StrCat("--trial: ", trial.status().message()));
  ASSIGN_OR_RETURN(const ctl::Snapshot snapshot, store->Load());
  if (!snapshot.experiment) return absl::InvalidArgumentError(options.db + ": holds no experiment");
  if (snapshot.experiment->simulated()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: a simulated experiment: its results come from the simulated trainer, not from training trial %d",
        options.db, trial->id()));
  }
  const fs::path out(options.out_dir);
  const fs::path lineage_path = out / "lineage.json";
  if (options.resume && fs::exists(lineage_path)) RETURN_IF_ERROR(CheckResumedLineage(lineage_path, *trial));
  if (!options.resume && fs::exists(out / "checkpoint.pt")) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "%s exists: pass --resume to continue that run, or choose another --out", (out / "checkpoint.pt").string()));
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrFormat("--out: cannot create %s: %s", out.string(), ec.message()));
  }
  RetrainLineage lineage{*trial, snapshot.experiment->name(), (out / "spec.json").string()};
  RETURN_IF_ERROR(WriteFileAtomically(lineage.spec_path, search_spaces::ArchSpecToJson(trial->spec())));
  RETURN_IF_ERROR(
      WriteFileAtomically(lineage_path.string(), LineageJson(options, *snapshot.experiment, *trial).dump(2) + "\n"));
  return lineage;
}

}  // namespace vertebra::inspect
