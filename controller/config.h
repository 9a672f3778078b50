// The experiment configuration: a JSON file validated at start-up, with errors that name the file
// and the field ("demo.json: rungs.steps[1]: must be larger than rungs.steps[0] (500), got 200").
// The parsed form is v1::ExperimentConfig with every default filled in, so the stored copy says
// exactly what ran. The file's sections and keys are the proto's field names:
//
// {
//   "name": "demo",                      required
//   "seed": 1,
//   "search_space": {"intermediate_pool": [2, 4, 3, 4, 6, 4, 5, 7, 5, 5], "parent_window": 5},
//   "algorithm": {"kind": "reinforce", "learning_rate": 0.003, ...},
//   "budget": {"trials": 100, "parallel": 4, "wall_hours": 0},
//   "proxy": {"data": "synthetic", "size": 128, "scaling": "proxy", "schedule": "wsd", ...},
//   "rungs": {"steps": [150, 600], "eta": 3},
//   "objective": {"kind": "ap", ...},
//   "lease": {"lease_seconds": 900, "heartbeat_seconds": 15, "max_attempts": 3},
//   "simulation": {"seconds": 0.05, ...},          present: the experiment is simulated
//   "allow_repeats": false,
//   "controls": ["spinenet-49", "scale-decreased-49", "mine.json"],
//   "seed_architectures": ["spinenet-49", "mine.json"],
//   "search": {"promotion": "predicted", "guided_candidates": 8},
//   "final": {"top_k": 3, "seeds": 3, "steps": 600}     top_k 0 (the default): no final stage
// }
//
// Controls are reference architectures trained beside the trials at every rung (a family name or
// a spec file, read relative to the working directory); each must resolve at the proxy task and
// keep the objective's hard limits. Seed architectures are read the same way and must also be
// architectures of the search space. A final section is refused on a simulated experiment.
//
// One table in config.cc lists every field with its range or words, its default and its meaning;
// it drives the reader, the defaults and the writer, and ExperimentConfigReference() prints it.
#ifndef VERTEBRA_CONTROLLER_CONFIG_H_
#define VERTEBRA_CONTROLLER_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "vertebra/v1/arch.pb.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::controller {

// Parses and validates `text`; `source` (a file name) prefixes every error. InvalidArgument for
// malformed JSON, an unknown key, a value of the wrong type or out of range, naming the field.
absl::StatusOr<v1::ExperimentConfig> ParseExperimentConfig(const std::string& text, const std::string& source);

// Reads and parses a file; NotFound naming it when it cannot be read.
absl::StatusOr<v1::ExperimentConfig> ReadExperimentConfig(const std::string& path);

// The configuration as JSON in the format above (every field, defaults included; the simulation
// section only for a simulated experiment).
std::string ExperimentConfigToJson(const v1::ExperimentConfig& config);

// Control `index` of `config` (ExperimentConfig.controls) as the proxy task builds it: its spec
// (named as the entry), parameters and multiply-adds priced at the proxy's size with the head.
// InvalidArgument naming "controls[i]" when it is neither a family name nor a valid spec file, or
// does not resolve. The hard limits are checked by the parser, not here.
struct ControlArchitecture {
  v1::ArchSpec spec;
  int64_t params = 0;
  int64_t macs = 0;
};
absl::StatusOr<ControlArchitecture> LoadControl(const v1::ExperimentConfig& config, int index);

// Entry `index` of ExperimentConfig.seed_architectures, loaded and priced as LoadControl does, with
// errors naming "seed_architectures[i]". The parser also checks that each is in the search space.
absl::StatusOr<ControlArchitecture> LoadSeedArchitecture(const v1::ExperimentConfig& config, int index);

// Every field of the file, one a line: "proxy.size: integer in [32, 4096], default 128; input
// size in pixels".
std::string ExperimentConfigReference();

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_CONFIG_H_
