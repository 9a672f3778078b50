#include "cli/commands.h"

#include <iostream>

namespace vertebra::cli {

void Fail(const absl::Status& status) {
  std::cerr << "vertebra: " << status.message() << "\n";
  const bool bad_input = absl::IsInvalidArgument(status) || absl::IsNotFound(status) || absl::IsOutOfRange(status) ||
                         absl::IsAlreadyExists(status);
  throw CLI::RuntimeError(bad_input ? kExitBadInput : kExitFailure);
}

}  // namespace vertebra::cli
