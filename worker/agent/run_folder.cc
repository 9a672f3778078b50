#include "worker/agent/run_folder.h"

#include <algorithm>
#include <cctype>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "proto/checks.h"

namespace vertebra::worker {
namespace {

namespace fs = std::filesystem;

constexpr char kTrialPrefix[] = "trial-";

// A file-name-safe form of the experiment's name.
std::string SafeName(const std::string& name) {
  std::string out;
  for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out.empty() ? "experiment" : out;
}

fs::path ExperimentFolder(const std::string& work_dir, const std::string& experiment) {
  return fs::path(work_dir) / "runs" / SafeName(experiment);
}

}  // namespace

fs::path RunFolder(const std::string& work_dir, const std::string& experiment, int64_t trial) {
  return ExperimentFolder(work_dir, experiment) / absl::StrFormat("%s%d", kTrialPrefix, trial);
}

std::vector<int64_t> HeldTrials(const std::string& work_dir, const std::string& experiment,
                                const std::string& state_file) {
  std::vector<int64_t> out;
  std::error_code ec;
  for (fs::directory_iterator it(ExperimentFolder(work_dir, experiment), ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    int64_t id = 0;
    if (!absl::StartsWith(name, kTrialPrefix) || !absl::SimpleAtoi(name.substr(sizeof(kTrialPrefix) - 1), &id) ||
        id < 1) {
      continue;
    }
    std::error_code exists_ec;
    if (fs::exists(it->path() / state_file, exists_ec)) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  if (out.size() > kMaxHeldTrials) out.erase(out.begin(), out.end() - kMaxHeldTrials);
  return out;
}

}  // namespace vertebra::worker
