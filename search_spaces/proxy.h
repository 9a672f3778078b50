// The proxy task as a model: what the search prices a proposal at and what a worker builds for
// it. One function turns an architecture and the experiment's proxy task into the scaled spec,
// the RetinaNet head, the anchor size, the resolved graph and its cost; the controller, the
// worker and the inspection commands all call it, so that what was priced is what is trained.
// No LibTorch. Thread-safe: pure.
#ifndef VERTEBRA_SEARCH_SPACES_PROXY_H_
#define VERTEBRA_SEARCH_SPACES_PROXY_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "search_spaces/cost.h"
#include "search_spaces/resolve.h"
#include "vertebra/v1/arch.pb.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::search_spaces {

// The class count of the RetinaNet head when an experiment file does not give proxy.classes,
// and of experiments stored before the field existed: what the data set hands the trainer. The
// `classes=K` option of the built-in "synthetic" data (3 when absent) and of "fashion-mnist" (its
// first K classes; all 10 when absent, worker/data/fashion_mnist.h), else 80 (COCO's).
// InvalidArgument naming proxy.data for a classes= that is not a positive integer, or above 10
// for fashion-mnist.
inline constexpr int kDefaultSyntheticClasses = 3;
inline constexpr int kFashionMnistClasses = 10;  // worker::data::kFashionMnistClasses.
inline constexpr int kDefaultClasses = 80;
absl::StatusOr<int> DefaultProxyClasses(std::string_view data);

// Checks the fields of `proxy` that shape the model: scaling (a search_spaces::NamedModelScale
// name), size (>= 32), classes (>= 1), anchor_scale (>= 0). InvalidArgument naming the field
// ("proxy.classes: must be a positive integer, got 0").
absl::Status ValidateProxyModel(const v1::ProxyTask& proxy);

struct ResolvedProxy {
  v1::ArchSpec spec;     // The architecture with the proxy's scaling.
  HeadOptions head;      // The scaling's head with proxy.classes classes.
  double anchor_scale;   // proxy.anchor_scale, else AnchorScaleFor(the scaling, proxy.size).
  ResolvedGraph graph;   // At proxy.size x proxy.size.
  Cost cost;             // Of the graph with the head.
};

// The architecture `spec` (any scaling: it is replaced) as the proxy task builds it. Errors:
// ValidateProxyModel's, and Resolve's for a spec that does not resolve.
absl::StatusOr<ResolvedProxy> ResolveProxy(const v1::ArchSpec& spec, const v1::ProxyTask& proxy);

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_PROXY_H_
