// Small file helpers shared by the command-line tools.
#ifndef VERTEBRA_COMMON_FILE_UTIL_H_
#define VERTEBRA_COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vertebra {

// Writes `contents` to a temporary file beside `path` (named for this host and process, so that
// writers on hosts sharing the folder never share one), flushes it to disk, then renames it over
// `path`: readers see the old file or the new one, never a torn one. Errors name the path.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

// The whole file; NotFound naming the path when it cannot be read. "-" reads standard input.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_FILE_UTIL_H_
