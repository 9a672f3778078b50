#include "search_spaces/proxy.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search_spaces/family.h"

namespace vertebra::search_spaces {
namespace {

using ::testing::HasSubstr;

v1::ProxyTask Task(const std::string& scaling = "proxy", int size = 128, int classes = 3) {
  v1::ProxyTask p;
  p.set_data("synthetic");
  p.set_scaling(scaling);
  p.set_size(size);
  p.set_classes(classes);
  return p;
}

TEST(DefaultProxyClassesTest, SyntheticSaysItsClassesCocoHas80) {
  EXPECT_EQ(*DefaultProxyClasses("synthetic"), 3);
  EXPECT_EQ(*DefaultProxyClasses("synthetic:size=64,images=24"), 3);
  EXPECT_EQ(*DefaultProxyClasses("synthetic:clutter=4,classes=5,size=256"), 5);
  EXPECT_EQ(*DefaultProxyClasses("coco:/data/ann.json:/data/images"), 80);
}

// Fashion-MNIST has 10 classes; classes=K keeps the first K (worker/data/fashion_mnist.h).
TEST(DefaultProxyClassesTest, FashionMnistHas10UnlessItsSpecSaysFewer) {
  EXPECT_EQ(*DefaultProxyClasses("fashion-mnist"), 10);
  EXPECT_EQ(*DefaultProxyClasses("fashion-mnist:clutter=8,tint=0"), 10);
  EXPECT_EQ(*DefaultProxyClasses("fashion-mnist:classes=5"), 5);
  EXPECT_EQ(*DefaultProxyClasses("fashion-mnist:size=256,classes=10"), 10);
  EXPECT_EQ(*DefaultProxyClasses("fashion-mnistish"), 80);  // Another kind whose name starts alike.
}

TEST(DefaultProxyClassesTest, BadClassesNameTheField) {
  for (const char* data : {"synthetic:classes=0", "synthetic:classes=x", "synthetic:size=64,classes=-2",
                           "fashion-mnist:classes=0", "fashion-mnist:classes=11"}) {
    absl::StatusOr<int> classes = DefaultProxyClasses(data);
    ASSERT_FALSE(classes.ok()) << data;
    EXPECT_EQ(classes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(classes.status().message(), HasSubstr("proxy.data"));
  }
}

// The numbers the search has always priced SpineNet-49 at on the demo's proxy task (`vertebra arch
// stats spinenet-49 --filter-scale 0.25 --alpha 0.25 --endpoint-filters 64 --size 128 --head
// retinanet --head-width 64 --classes 3`), and with COCO's 80 classes.
TEST(ResolveProxyTest, PricesAsTheSearchAlwaysDid) {
  absl::StatusOr<ResolvedProxy> three = ResolveProxy(SpineNet49(), Task("proxy", 128, 3));
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->cost.total_params, 1506591);
  EXPECT_EQ(three->cost.total_macs, 209543616);
  absl::StatusOr<ResolvedProxy> eighty = ResolveProxy(SpineNet49(), Task("proxy", 128, 80));
  ASSERT_TRUE(eighty.ok()) << eighty.status();
  EXPECT_EQ(eighty->cost.total_params, 1906452);
  EXPECT_EQ(eighty->cost.total_macs, 345659904);
  EXPECT_EQ(eighty->cost.backbone_params, three->cost.backbone_params);
}

TEST(ResolveProxyTest, ScalesTheSpecAndTakesTheScalesHead) {
  const ModelScale scale = *NamedModelScale("49s");
  v1::ArchSpec spec = SpineNet49();  // SpineNet-49's own scaling: replaced.
  absl::StatusOr<ResolvedProxy> r = ResolveProxy(spec, Task("49s", 384, 7));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->spec.scaling().SerializeAsString(), scale.scaling.SerializeAsString());
  EXPECT_EQ(r->spec.blocks_size(), spec.blocks_size());
  EXPECT_EQ(r->head.width, scale.head.width);
  EXPECT_EQ(r->head.num_convs, scale.head.num_convs);
  EXPECT_EQ(r->head.num_classes, 7);
  // Above 256 pixels the scale's own anchors; the graph and the cost are those of the scaled spec.
  EXPECT_EQ(r->anchor_scale, scale.anchor_scale);
  const ResolvedGraph graph = *Resolve(r->spec, 384, 384);
  EXPECT_EQ(r->graph.blocks.size(), graph.blocks.size());
  const Cost cost = CountCost(graph, r->head);
  EXPECT_EQ(r->cost.total_params, cost.total_params);
  EXPECT_EQ(r->cost.total_macs, cost.total_macs);
}

TEST(ResolveProxyTest, AnchorScaleIsTheTasksOrTheSizes) {
  EXPECT_EQ(ResolveProxy(SpineNet49(), Task("proxy", 128))->anchor_scale, 2.0);  // Small inputs.
  EXPECT_EQ(ResolveProxy(SpineNet49(), Task("proxy", 512))->anchor_scale, 3.0);  // The scale's.
  v1::ProxyTask task = Task("proxy", 128);
  task.set_anchor_scale(2.5);
  EXPECT_EQ(ResolveProxy(SpineNet49(), task)->anchor_scale, 2.5);
}

TEST(ResolveProxyTest, BadFieldsAreNamed) {
  struct Case {
    v1::ProxyTask task;
    std::string field;
  };
  v1::ProxyTask negative_anchor = Task();
  negative_anchor.set_anchor_scale(-1);
  const Case cases[] = {{Task("huge"), "proxy.scaling"},
                        {Task("proxy", 16), "proxy.size"},
                        {Task("proxy", 128, 0), "proxy.classes: must be a positive integer, got 0"},
                        {Task("proxy", 128, -4), "proxy.classes"},
                        {negative_anchor, "proxy.anchor_scale"}};
  for (const Case& c : cases) {
    absl::StatusOr<ResolvedProxy> r = ResolveProxy(SpineNet49(), c.task);
    ASSERT_FALSE(r.ok()) << c.field;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(r.status().message(), HasSubstr(c.field));
  }
}

TEST(ResolveProxyTest, AnUnresolvableSpecIsAnError) {
  v1::ArchSpec spec = SpineNet49();
  spec.mutable_blocks(3)->set_level(12);
  absl::StatusOr<ResolvedProxy> r = ResolveProxy(spec, Task());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vertebra::search_spaces
