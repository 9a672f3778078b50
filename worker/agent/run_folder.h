// Where a worker keeps a trial's training state: WORK_DIR/runs/EXPERIMENT/trial-ID/. The path
// depends on the work folder, the experiment and the trial only, so that workers sharing a work
// folder (storage every host sees, as on Slurm or a Kubernetes volume) find each other's state
// and any of them continues a trial where another left it. No LibTorch here.
#ifndef VERTEBRA_WORKER_AGENT_RUN_FOLDER_H_
#define VERTEBRA_WORKER_AGENT_RUN_FOLDER_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace vertebra::worker {

// WORK_DIR/runs/EXPERIMENT/trial-ID, with the experiment's name made safe for a file name.
std::filesystem::path RunFolder(const std::string& work_dir, const std::string& experiment, int64_t trial);

// The trials of `experiment` whose run folder under `work_dir` holds `state_file` (a file name,
// e.g. "checkpoint.pt"), in increasing order; at most kMaxHeldTrials of them (proto/checks.h),
// the highest ids when there are more. Empty when the folder does not exist or cannot be read.
std::vector<int64_t> HeldTrials(const std::string& work_dir, const std::string& experiment,
                                const std::string& state_file);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_AGENT_RUN_FOLDER_H_
