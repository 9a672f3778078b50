// The experiment configuration: a JSON file validated at start-up, with errors that name the file
// and the field ("demo.json: rungs.steps[1]: must be larger than rungs.steps[0] (500), got 200").
// The parsed form is v1::ExperimentConfig with every default filled in, so the stored copy says
// exactly what ran.
//
// {
//   "name": "demo",                      required
//   "seed": 1,
//   "search_space": {"intermediate_pool": [2, 4, 3, 4, 6, 4, 5, 7, 5, 5], "parent_window": 5},
//   "algorithm": {"kind": "reinforce" | "ppo" | "evolution" | "random", "learning_rate": 0.003,
//                 "hidden": 64, "entropy_weight": 0.01, "baseline_decay": 0.9, "ppo_clip": 0.2,
//                 "ppo_epochs": 4, "update_every": max(8, budget.parallel),
//                 "temperature": 5, "tanh_constant": 2.5,      RL logits: c tanh(l / T); 0 leaves out
//                 "failure_penalty": 0,                        the reward a failed trial is observed with
//                 "population": 32, "tournament": 8, "queue": 4},
//   "budget": {"trials": 100, "parallel": 4, "wall_hours": 0},
//   "proxy": {"data": "synthetic", "val": "", "held_out": 0, "size": 128, "scaling": "proxy",
//             "batch": 16, "learning_rate": 0.002, "maxup": 1, "threads": 1, "eval_every": 0,
//             "anchor_scale": 0, "classes": 3, "schedule": "wsd" | "ema" | "cosine_per_rung" | "cosine",
//             "cooldown_fraction": 0.15, "ema_decay": 0.99},   classes: the data's object classes,
//                                                                 default 3 for "synthetic" (its
//                                                                 classes= option), else 80
//   "rungs": {"steps": [150, 600], "eta": 3},
//   "objective": {"kind": "ap" | "ap_macs", "target_macs": 0, "macs_weight": -0.07,
//                 "max_macs": 0, "max_params": 0, "penalty": 0},
//   "lease": {"lease_seconds": 900, "heartbeat_seconds": 15, "max_attempts": 3},
//   "simulation": {"seconds": 0.05, "noise": 0.01, "low_rung_bias": 0.5, "low_rung_noise": 0.02,
//                  "full_steps": 0},                                         simulated experiments
//   "allow_repeats": false
// }
#ifndef VERTEBRA_CONTROLLER_CONFIG_H_
#define VERTEBRA_CONTROLLER_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::controller {

// Parses and validates `text`; `source` (a file name) prefixes every error. InvalidArgument for
// malformed JSON, an unknown key, a value of the wrong type or out of range, naming the field.
absl::StatusOr<v1::ExperimentConfig> ParseExperimentConfig(const std::string& text, const std::string& source);

// Reads and parses a file; NotFound naming it when it cannot be read.
absl::StatusOr<v1::ExperimentConfig> ReadExperimentConfig(const std::string& path);

// The configuration as JSON in the format above (every field, defaults included).
std::string ExperimentConfigToJson(const v1::ExperimentConfig& config);

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_CONFIG_H_
