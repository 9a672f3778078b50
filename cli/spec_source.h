// Where a command's architecture comes from: a reference name or a JSON file, with optional
// scaling overrides (e.g. the proxy task's --filter-scale 0.25 --alpha 0.25).
#ifndef VERTEBRA_CLI_SPEC_SOURCE_H_
#define VERTEBRA_CLI_SPEC_SOURCE_H_

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "vertebra/v1/arch.pb.h"

namespace vertebra::cli {

struct SpecSource {
  std::string name_or_path;
  std::optional<double> filter_scale;
  std::optional<double> resample_alpha;
  std::optional<int> block_repeats;
  std::optional<int> endpoint_filters;

  // Adds the architecture (`name`: "arch" for a positional argument, "--arch" for a flag) and
  // the override flags to `cmd`.
  void AddOptions(CLI::App* cmd, const std::string& name = "arch");

  // The spec with the overrides applied and validated; on error prints one line naming the file
  // and field and exits through Fail(). With `base`, the spec's own scaling is replaced by it
  // before the overrides (e.g. `vertebra train --scaling 96 --filter-scale 0.8`).
  v1::ArchSpec Load(const v1::Scaling* base = nullptr) const;

  // Applies the overrides to `spec`'s scaling and validates it; on error exits as Load does.
  void ApplyOverrides(v1::ArchSpec& spec) const;
};

}  // namespace vertebra::cli

#endif  // VERTEBRA_CLI_SPEC_SOURCE_H_
