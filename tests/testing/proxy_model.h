// The small proxy-scale model the LibTorch tests build: SpineNet scaled as in the paper's search
// (spinenet.md §4: filter scale 0.25, alpha 0.25) with 64 endpoint filters and a small head.
#ifndef VERTEBRA_TESTS_TESTING_PROXY_MODEL_H_
#define VERTEBRA_TESTS_TESTING_PROXY_MODEL_H_

#include "search_spaces/cost.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"
#include "vertebra/v1/arch.pb.h"

namespace vertebra::test_util {

inline v1::Scaling ProxyScaling() {
  v1::Scaling s;
  s.set_filter_scale(0.25);
  s.set_resample_alpha(0.25);
  s.set_block_repeats(1);
  s.set_endpoint_filters(64);
  return s;
}

// 2 convs of 64 channels, 3 classes, 9 anchors.
inline search_spaces::HeadOptions ProxyHead(
    search_spaces::HeadNorm norm = search_spaces::HeadNorm::kBatchNormPerLevel) {
  search_spaces::HeadOptions h;
  h.width = 64;
  h.num_convs = 2;
  h.num_classes = 3;
  h.anchors_per_location = 9;
  h.norm = norm;
  return h;
}

// SpineNet-49 at proxy scaling, resolved for a square input.
inline search_spaces::ResolvedGraph ProxySpineNet49(int size) {
  v1::ArchSpec spec = search_spaces::SpineNet49();
  *spec.mutable_scaling() = ProxyScaling();
  return *search_spaces::Resolve(spec, size, size);
}

}  // namespace vertebra::test_util

#endif  // VERTEBRA_TESTS_TESTING_PROXY_MODEL_H_
