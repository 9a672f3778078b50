// The lineage of a re-training: which search, experiment and trial the weights in a run folder
// came from. `vertebra retrain` writes it before training; `vertebra export --weights` reads the
// spec.json it leaves.
//
//   spec.json     the trial's architecture at its search scaling (search_spaces/arch_json.h)
//   lineage.json  the database, the experiment's name and configuration, the trial's id and hash,
//                 its proxy results per rung, and the scaling and data of the re-training
#ifndef VERTEBRA_INSPECT_LINEAGE_H_
#define VERTEBRA_INSPECT_LINEAGE_H_

#include <string>

#include "absl/status/statusor.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::inspect {

// Error messages name the `vertebra retrain` flags that set these fields.
struct RetrainLineageOptions {
  std::string db;              // The search's SQLite database; opened read-only.
  std::string trial = "best";  // "best" or an id, as FindTrial takes it (--trial).
  std::string out_dir;         // The re-training's run folder; created if missing (--out).
  bool resume = false;         // The run in out_dir is to be continued (--resume).
  std::string scaling;         // Recorded in lineage.json: the scaling the trial is re-trained at.
  std::string data;            // Recorded in lineage.json: the training data.
};

struct RetrainLineage {
  v1::Trial trial;
  std::string experiment;  // The experiment's name.
  std::string spec_path;   // out_dir/spec.json, as written.
};

// Checks that the trial may be re-trained into out_dir, then writes spec.json and lineage.json
// there (each atomically). Errors: the store's for an unreadable database; the trial's from
// FindTrial prefixed "--trial: "; InvalidArgument for a database without an experiment, for a
// simulated experiment (its results come from no training), for a resume of a run whose
// lineage.json names another architecture, and for an out_dir that cannot be created;
// AlreadyExists for a checkpoint in out_dir without `resume`. Thread-compatible.
absl::StatusOr<RetrainLineage> WriteRetrainLineage(const RetrainLineageOptions& options);

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_LINEAGE_H_
