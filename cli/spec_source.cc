#include "cli/spec_source.h"

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "search_spaces/arch_json.h"
#include "search_spaces/arch_spec.h"

namespace vertebra::cli {

void SpecSource::AddOptions(CLI::App* cmd, const std::string& name) {
  cmd->add_option(name, name_or_path, "A reference name (see 'vertebra arch list') or a JSON spec file")
      ->required();
  cmd->add_option("--filter-scale", filter_scale, "Override scaling.filter_scale");
  cmd->add_option("--alpha", resample_alpha, "Override scaling.resample_alpha");
  cmd->add_option("--block-repeats", block_repeats, "Override scaling.block_repeats");
  cmd->add_option("--endpoint-filters", endpoint_filters, "Override scaling.endpoint_filters");
}

v1::ArchSpec SpecSource::Load(const v1::Scaling* base) const {
  absl::StatusOr<v1::ArchSpec> spec = search_spaces::LoadArchSpec(name_or_path);
  if (!spec.ok()) Fail(spec.status());
  if (base != nullptr) *spec->mutable_scaling() = *base;
  ApplyOverrides(*spec);
  return *std::move(spec);
}

void SpecSource::ApplyOverrides(v1::ArchSpec& spec) const {
  v1::Scaling* s = spec.mutable_scaling();
  if (filter_scale) s->set_filter_scale(*filter_scale);
  if (resample_alpha) s->set_resample_alpha(*resample_alpha);
  if (block_repeats) s->set_block_repeats(*block_repeats);
  if (endpoint_filters) s->set_endpoint_filters(*endpoint_filters);
  if (absl::Status st = search_spaces::ValidateArchSpec(spec); !st.ok()) {
    Fail(absl::InvalidArgumentError(absl::StrFormat("%s: %s", name_or_path, st.message())));
  }
}

}  // namespace vertebra::cli
