// The reference family: SpineNet-49S/49/96/143/190 (spinenet.md §2) and the scale-decreased
// baseline of the paper's ablation. Thread-safe.
#ifndef VERTEBRA_SEARCH_SPACES_FAMILY_H_
#define VERTEBRA_SEARCH_SPACES_FAMILY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "search_spaces/cost.h"
#include "vertebra/v1/arch.pb.h"

namespace vertebra::search_spaces {

// "spinenet-49s", "spinenet-49", "spinenet-96", "spinenet-143", "spinenet-190",
// "scale-decreased-49".
std::vector<std::string> ReferenceArchNames();

// The spec and scaling of a reference model. NotFound (listing the names) for anything else.
absl::StatusOr<v1::ArchSpec> ReferenceArch(std::string_view name);

// SpineNet-49's 15 block rows with SpineNet-49's scaling.
v1::ArchSpec SpineNet49();

// A model size for training any block order: the backbone scaling, the RetinaNet head and the
// anchor size that go with it (spinenet.md §2.2, §4 and §6.2).
struct ModelScale {
  v1::Scaling scaling;
  HeadOptions head;      // num_classes is the dataset's.
  double anchor_scale;   // The reference's base anchor size (3 up to 96, 4 for 143 and 190).
};

// "proxy" (the search's proxy task: filter scale 0.25, alpha 0.25, 64 endpoint filters, a 4 x 64
// head), "49s", "49", "96", "143", "190". NotFound listing the names for anything else.
std::vector<std::string> ModelScaleNames();
absl::StatusOr<ModelScale> NamedModelScale(std::string_view name);

// The anchor base size (x stride) to train `scale` at `size` pixels: 2 up to 256 pixels, where the
// reference's anchors are too large for the objects (proxy-pilot.md), else the scale's own.
double AnchorScaleFor(const ModelScale& scale, int size);

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_FAMILY_H_
