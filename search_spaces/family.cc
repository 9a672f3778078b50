#include "search_spaces/family.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "search_spaces/arch_spec.h"

namespace vertebra::search_spaces {
namespace {

struct Row {
  int level;
  v1::BlockType type;
  int parent0, parent1;
  bool output;
};

// SpineNet-49's block specification (spinenet.md §2.1; tensorflow/tpu SPINENET_BLOCK_SPECS).
constexpr v1::BlockType B = v1::BOTTLENECK;
constexpr v1::BlockType R = v1::RESIDUAL;
constexpr Row kSpineNet49Rows[] = {
    {2, B, 0, 1, false},  {4, R, 0, 1, false},  {3, B, 2, 3, false},  {4, B, 2, 4, false},
    {6, R, 3, 5, false},  {4, B, 3, 5, false},  {5, R, 6, 7, false},  {7, R, 6, 8, false},
    {5, B, 8, 9, false},  {5, B, 8, 10, false}, {4, B, 5, 10, true},  {3, B, 4, 10, true},
    {5, B, 7, 12, true},  {7, B, 5, 14, true},  {6, B, 12, 14, true},
};

v1::Scaling MakeScaling(double filter_scale, double alpha, int repeats, int endpoints) {
  v1::Scaling s;
  s.set_filter_scale(filter_scale);
  s.set_resample_alpha(alpha);
  s.set_block_repeats(repeats);
  s.set_endpoint_filters(endpoints);
  return s;
}

v1::ArchSpec WithScaling(std::string name, v1::Scaling scaling) {
  v1::ArchSpec spec = SpineNet49();
  spec.set_name(std::move(name));
  *spec.mutable_scaling() = std::move(scaling);
  return spec;
}

// SpineNet-49's blocks ordered by level from fine to coarse (ties keep their order, the output
// block of a level last), each fed by the two features built just before it: the scale-decreased
// baseline of the paper's ablation, a ResNet-like stack with SpineNet-49's blocks.
v1::ArchSpec ScaleDecreased49() {
  std::vector<Row> rows(std::begin(kSpineNet49Rows), std::end(kSpineNet49Rows));
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.level != b.level ? a.level < b.level : (!a.output && b.output);
  });
  v1::ArchSpec spec;
  spec.set_name("scale-decreased-49");
  for (size_t k = 0; k < rows.size(); ++k) {
    v1::Block* b = spec.add_blocks();
    const int feature = static_cast<int>(k) + kNumStemFeatures;
    b->set_level(rows[k].level);
    b->set_type(rows[k].type);
    b->add_parents(feature - 2);
    b->add_parents(feature - 1);
    b->set_output(rows[k].output);
  }
  *spec.mutable_scaling() = DefaultScaling();
  return spec;
}

}  // namespace

v1::ArchSpec SpineNet49() {
  v1::ArchSpec spec;
  spec.set_name("spinenet-49");
  for (const Row& r : kSpineNet49Rows) {
    v1::Block* b = spec.add_blocks();
    b->set_level(r.level);
    b->set_type(r.type);
    b->add_parents(r.parent0);
    b->add_parents(r.parent1);
    b->set_output(r.output);
  }
  *spec.mutable_scaling() = DefaultScaling();
  return spec;
}

std::vector<std::string> ReferenceArchNames() {
  return {"spinenet-49s", "spinenet-49", "spinenet-96", "spinenet-143", "spinenet-190",
          "scale-decreased-49"};
}

absl::StatusOr<v1::ArchSpec> ReferenceArch(std::string_view name) {
  // The scaling map of spinenet.md §2.2. 49S keeps the official map's 128 endpoint filters; the
  // released 49S weights and the paper's figures use 256 (§7.1), which --endpoint-filters gives.
  if (name == "spinenet-49s") return WithScaling("spinenet-49s", MakeScaling(0.65, 0.5, 1, 128));
  if (name == "spinenet-49") return SpineNet49();
  if (name == "spinenet-96") return WithScaling("spinenet-96", MakeScaling(1.0, 0.5, 2, 256));
  if (name == "spinenet-143") return WithScaling("spinenet-143", MakeScaling(1.0, 1.0, 3, 256));
  if (name == "spinenet-190") return WithScaling("spinenet-190", MakeScaling(1.3, 1.0, 4, 512));
  if (name == "scale-decreased-49") return ScaleDecreased49();
  return absl::NotFoundError(absl::StrFormat("no reference architecture named '%s' (known: %s)", name,
                                             absl::StrJoin(ReferenceArchNames(), ", ")));
}

std::vector<std::string> ModelScaleNames() { return {"proxy", "49s", "49", "96", "143", "190"}; }

absl::StatusOr<ModelScale> NamedModelScale(std::string_view name) {
  auto make = [](v1::Scaling scaling, int head_width, int head_convs, double anchor) {
    ModelScale m;
    m.scaling = std::move(scaling);
    m.head.width = head_width;
    m.head.num_convs = head_convs;
    m.anchor_scale = anchor;
    return m;
  };
  // Head widths: 256 with 4 convs, except 49S (128) and 190 (512 x 7) (spinenet.md §6.2).
  if (name == "proxy") return make(MakeScaling(0.25, 0.25, 1, 64), 64, 4, 3.0);
  if (name == "49s") return make(MakeScaling(0.65, 0.5, 1, 128), 128, 4, 3.0);
  if (name == "49") return make(MakeScaling(1.0, 0.5, 1, 256), 256, 4, 3.0);
  if (name == "96") return make(MakeScaling(1.0, 0.5, 2, 256), 256, 4, 3.0);
  if (name == "143") return make(MakeScaling(1.0, 1.0, 3, 256), 256, 4, 4.0);
  if (name == "190") return make(MakeScaling(1.3, 1.0, 4, 512), 512, 7, 4.0);
  return absl::NotFoundError(absl::StrFormat("no model scale named '%s' (known: %s)", name,
                                             absl::StrJoin(ModelScaleNames(), ", ")));
}

double AnchorScaleFor(const ModelScale& scale, int size) {
  constexpr int kSmallInputSide = 256;
  constexpr double kSmallInputAnchorScale = 2.0;
  return size <= kSmallInputSide ? kSmallInputAnchorScale : scale.anchor_scale;
}

}  // namespace vertebra::search_spaces
