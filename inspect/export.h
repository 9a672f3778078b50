// `vertebra export`: one architecture, as a folder another tool or person can take away.
//
//   spec.json          the spec at the chosen scaling, canonical form (parents sorted), loadable by
//                      every command that takes --arch; its hash is in every other file
//   cost.json          exact parameters and multiply-adds at that scaling (search_spaces/cost.h),
//                      backbone alone and with the scaling's RetinaNet head (its structure too)
//   resolved.json      the resolved graph at that scaling and input size (`vertebra arch resolve`),
//                      from which python/vertebra builds the network in PyTorch
//   results.json       the proxy results of every rung and the experiment (name and full
//                      configuration) they came from, and the search's final validation
//                      ("final": inspect/verdict.h) when it has one; only when exported from a
//                      search
//   drawing.svg        search_spaces/draw.h's picture
//   model_garden.json  the block list and scaling in the TensorFlow Model Garden's form
//   model_garden.py    the same as Python (model_garden.h)
//   *.safetensors      with weights_dir: the weights a re-training wrote there
#ifndef VERTEBRA_INSPECT_EXPORT_H_
#define VERTEBRA_INSPECT_EXPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "vertebra/v1/arch.pb.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::inspect {

// What is exported: an architecture, and the search trial it was when it comes from one.
struct ExportSubject {
  v1::ArchSpec spec;               // Its scaling is replaced by the chosen one.
  std::optional<v1::Trial> trial;  // With `experiment`: writes results.json.
  std::optional<v1::ExperimentConfig> experiment;
  std::optional<nlohmann::json> verdict;  // VerdictJson of the search's final validation, if any.
};

struct ExportOptions {
  std::string out_dir;
  std::string scaling = "49";  // A search_spaces::NamedModelScale name.
  int input_size = 0;          // 0: the scaling's reference input (ReferenceInputSize).
  int num_classes = 80;        // Of the RetinaNet head in cost.json (COCO's 80).
  std::string weights_dir;     // Empty: no weights.
  bool force = false;          // Write into a folder that is not empty.
};

struct ExportReport {
  std::string hash;  // Of spec.json's architecture (scaling included).
  int input_size = 0;
  std::vector<std::string> files;     // Written, by name.
  std::vector<std::string> warnings;  // For the user, e.g. weights that could not be checked.
};

// The input size a scaling is priced at by default: the experiment's proxy size for "proxy"
// (512, the paper's proxy, without an experiment), 640 for 49S and 49, 1024 for 96, 1280 for 143
// and 190 (spinenet.md §2.2).
int ReferenceInputSize(const std::string& scaling, const v1::ExperimentConfig* experiment);

// Writes the folder, creating it when missing. Everything is checked before the first file is
// written: NotFound naming the scaling; InvalidArgument for a spec that does not resolve;
// AlreadyExists naming a folder that is not empty (without `force`); NotFound when weights_dir
// holds no *.safetensors file; InvalidArgument when weights_dir has a spec.json of another
// architecture or scaling. Files are written atomically; with `force`, files of the same names
// are replaced and others are left alone.
absl::StatusOr<ExportReport> ExportArchitecture(const ExportSubject& subject, const ExportOptions& options);

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_EXPORT_H_
