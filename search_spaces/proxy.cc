#include "search_spaces/proxy.h"

#include <limits>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "search_spaces/family.h"

namespace vertebra::search_spaces {
namespace {

// The smallest input side the configuration accepts (controller/config.h).
constexpr int kMinSize = 32;

}  // namespace

absl::StatusOr<int> DefaultProxyClasses(std::string_view data) {
  struct Kind {
    std::string_view name;
    int default_classes;
    int max_classes;
  };
  constexpr Kind kKinds[] = {{"synthetic", kDefaultSyntheticClasses, std::numeric_limits<int>::max()},
                             {"fashion-mnist", kFashionMnistClasses, kFashionMnistClasses}};
  for (const Kind& kind : kKinds) {
    if (data.substr(0, kind.name.size()) != kind.name) continue;
    std::string_view options = data.substr(kind.name.size());
    if (options.empty()) return kind.default_classes;
    if (options.front() != ':') continue;  // Another kind whose name starts alike.
    options.remove_prefix(1);
    for (absl::string_view option : absl::StrSplit(absl::string_view(options.data(), options.size()), ',')) {
      constexpr absl::string_view kKey = "classes=";
      if (option.substr(0, kKey.size()) != kKey) continue;
      int classes = 0;
      if (!absl::SimpleAtoi(option.substr(kKey.size()), &classes) || classes < 1 || classes > kind.max_classes) {
        const std::string range = kind.max_classes == std::numeric_limits<int>::max()
                                      ? std::string("a positive integer")
                                      : absl::StrFormat("an integer in [1, %d]", kind.max_classes);
        return absl::InvalidArgumentError(
            absl::StrFormat("proxy.data: \"%s\": classes must be %s", std::string(data), range));
      }
      return classes;
    }
    return kind.default_classes;
  }
  return kDefaultClasses;
}

absl::Status ValidateProxyModel(const v1::ProxyTask& proxy) {
  if (absl::StatusOr<ModelScale> scale = NamedModelScale(proxy.scaling()); !scale.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("proxy.scaling: %s", scale.status().message()));
  }
  if (proxy.size() < kMinSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("proxy.size: must be at least %d pixels, got %d", kMinSize, proxy.size()));
  }
  if (proxy.classes() < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("proxy.classes: must be a positive integer, got %d", proxy.classes()));
  }
  if (!(proxy.anchor_scale() >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("proxy.anchor_scale: must be 0 (the scaling's) or positive, got %g", proxy.anchor_scale()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ResolvedProxy> ResolveProxy(const v1::ArchSpec& spec, const v1::ProxyTask& proxy) {
  RETURN_IF_ERROR(ValidateProxyModel(proxy));
  ASSIGN_OR_RETURN(const ModelScale scale, NamedModelScale(proxy.scaling()));
  ResolvedProxy out;
  out.spec = spec;
  *out.spec.mutable_scaling() = scale.scaling;
  out.head = scale.head;
  out.head.num_classes = proxy.classes();
  out.anchor_scale = proxy.anchor_scale() > 0 ? proxy.anchor_scale() : AnchorScaleFor(scale, proxy.size());
  ASSIGN_OR_RETURN(out.graph, Resolve(out.spec, proxy.size(), proxy.size()));
  out.cost = CountCost(out.graph, out.head);
  return out;
}

}  // namespace vertebra::search_spaces
