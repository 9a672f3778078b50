// The reference family: SpineNet-49S/49/96/143/190 (spinenet.md §2) and the scale-decreased
// baseline of the paper's ablation. Thread-safe.
#ifndef VERTEBRA_SEARCH_SPACES_FAMILY_H_
#define VERTEBRA_SEARCH_SPACES_FAMILY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "vertebra/v1/arch.pb.h"

namespace vertebra::search_spaces {

// "spinenet-49s", "spinenet-49", "spinenet-96", "spinenet-143", "spinenet-190",
// "scale-decreased-49".
std::vector<std::string> ReferenceArchNames();

// The spec and scaling of a reference model. NotFound (listing the names) for anything else.
absl::StatusOr<v1::ArchSpec> ReferenceArch(std::string_view name);

// SpineNet-49's 15 block rows with SpineNet-49's scaling.
v1::ArchSpec SpineNet49();

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_FAMILY_H_
