// The built module has exactly the parameters the cost model predicts, and produces P3..P7 with
// the shapes Resolve predicts, for the reference family and for sampled architectures.
#include <torch/torch.h>

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "search_spaces/cost.h"
#include "search_spaces/decisions.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"
#include "tests/testing/proxy_model.h"
#include "worker/model/retinanet.h"

namespace vertebra::worker {
namespace {

namespace ss = search_spaces;
using ::vertebra::test_util::ProxyHead;
using ::vertebra::test_util::ProxyScaling;

TEST(ParityTest, ReferenceFamilyBackboneAndHead) {
  torch::manual_seed(0);
  for (const std::string& name : ss::ReferenceArchNames()) {
    const v1::ArchSpec spec = *ss::ReferenceArch(name);
    const ss::ResolvedGraph graph = *ss::Resolve(spec, 640, 640);
    DetectorOptions options;  // The reference head: 4 x 256, 91 classes, 9 anchors, per-level BN.
    options.backbone.reference_init = false;
    Detector detector(graph, options);
    const ss::Cost cost = ss::CountCost(graph, options.head);
    int64_t backbone_params = 0;
    for (const auto& p : detector->named_parameters()) {
      if (p.key().rfind("backbone.", 0) == 0) backbone_params += p.value().numel();
    }
    EXPECT_EQ(backbone_params, cost.backbone_params) << name;
    EXPECT_EQ(CountParameters(*detector), cost.total_params) << name;
  }
}

TEST(ParityTest, HeadNormsMatchTheCostModel) {
  const ss::ResolvedGraph graph = *ss::Resolve(ss::SpineNet49(), 128, 128);
  for (ss::HeadNorm norm : {ss::HeadNorm::kNone, ss::HeadNorm::kBatchNormPerLevel, ss::HeadNorm::kGroupNorm}) {
    DetectorOptions options;
    options.head = ProxyHead(norm);
    options.head.num_convs = 3;
    options.backbone.reference_init = false;
    Detector detector(graph, options);
    EXPECT_EQ(CountParameters(*detector), ss::CountCost(graph, options.head).total_params);
  }
}

// Thousands of sampled architectures at proxy scaling: built parameters equal predicted ones.
TEST(ParityTest, SampledArchitecturesAtProxyScaling) {
  constexpr int kArchitectures = 2000;
  ss::SearchSpaceOptions space_options;
  space_options.scaling = ProxyScaling();
  const ss::SearchSpace space = *ss::SearchSpace::Create(space_options);
  std::mt19937_64 rng(42);
  DetectorOptions options;
  options.head = ProxyHead();
  options.backbone.reference_init = false;  // Counting only: skip the costlier initialization.
  for (int i = 0; i < kArchitectures; ++i) {
    const v1::ArchSpec spec = *space.Decode(space.Sample(rng));
    const ss::ResolvedGraph graph = *ss::Resolve(spec, 128, 128);
    Detector detector(graph, options);
    ASSERT_EQ(CountParameters(*detector), ss::CountCost(graph, options.head).total_params) << "sample " << i;
  }
}

// A forward pass gives P3..P7 with the shapes Resolve predicts, at sizes that divide by 128 and
// sizes that do not.
TEST(ParityTest, ForwardShapesMatchResolve) {
  constexpr int kArchitectures = 60;
  ss::SearchSpaceOptions space_options;
  space_options.scaling = ProxyScaling();
  const ss::SearchSpace space = *ss::SearchSpace::Create(space_options);
  std::mt19937_64 rng(7);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  DetectorOptions options;
  options.head = ProxyHead();
  for (int i = 0; i < kArchitectures; ++i) {
    const v1::ArchSpec spec = *space.Decode(space.Sample(rng));
    Detector detector(*ss::Resolve(spec, 128, 128), options);
    detector->eval();
    for (auto [h, w] : std::vector<std::pair<int, int>>{{128, 128}, {100, 100}, {96, 161}}) {
      const ss::ResolvedGraph graph = *ss::Resolve(spec, h, w);
      const DetectorOutput out = detector->forward(torch::randn({2, 3, h, w}));
      ASSERT_EQ(out.pyramid.size(), graph.endpoints.size());
      int64_t anchors = 0;
      for (size_t l = 0; l < graph.endpoints.size(); ++l) {
        const ss::Endpoint& e = graph.endpoints[l];
        EXPECT_EQ(out.pyramid[l].sizes(), (std::vector<int64_t>{2, e.filters, e.size.height, e.size.width}))
            << "sample " << i << " at " << h << "x" << w << " P" << e.level;
        anchors += static_cast<int64_t>(e.size.height) * e.size.width * options.head.anchors_per_location;
      }
      EXPECT_EQ(out.head.class_logits.sizes(), (std::vector<int64_t>{2, anchors, 3}));
      EXPECT_EQ(out.head.box_deltas.sizes(), (std::vector<int64_t>{2, anchors, 4}));
    }
  }
}

}  // namespace
}  // namespace vertebra::worker
