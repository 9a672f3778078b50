#include "cli/commands.h"

#include <iostream>

#include "absl/strings/str_format.h"
#include "common/file_util.h"

namespace vertebra::cli {

void Fail(const absl::Status& status) {
  std::cerr << "vertebra: " << status.message() << "\n";
  const bool bad_input = absl::IsInvalidArgument(status) || absl::IsNotFound(status) || absl::IsOutOfRange(status) ||
                         absl::IsAlreadyExists(status);
  throw CLI::RuntimeError(bad_input ? kExitBadInput : kExitFailure);
}

absl::Status WritePortFile(const std::string& path, int port) {
  if (path.empty()) return absl::OkStatus();
  if (absl::Status s = WriteFileAtomically(path, absl::StrFormat("%d\n", port)); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("--port-file %s: %s", path, s.message()));
  }
  return absl::OkStatus();
}

}  // namespace vertebra::cli
