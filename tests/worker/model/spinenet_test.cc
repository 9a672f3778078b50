// Behaviour of the built backbone beyond parameter counts: stable names, initialization,
// stochastic depth, activations, memory formats.
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"
#include "tests/testing/proxy_model.h"
#include "worker/model/retinanet.h"
#include "worker/model/torch_util.h"

namespace vertebra::worker {
namespace {

namespace ss = search_spaces;

DetectorOptions ProxyOptions() {
  DetectorOptions o;
  o.head = ::vertebra::test_util::ProxyHead();
  return o;
}

TEST(SpineNetTest, SubmoduleNamesAreStable) {
  Detector model(::vertebra::test_util::ProxySpineNet49(128), ProxyOptions());
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  for (const char* expected : {"backbone.stem_conv.conv.weight", "backbone.stem_group_1.0.conv_0.conv.weight",
                               "backbone.block_00.resample_0.squeeze.conv.weight",
                               "backbone.block_07.resample_1.strided.bn.weight",
                               "backbone.block_14.units.0.conv_2.conv.weight", "backbone.endpoint_p3.conv.weight",
                               "head.class_conv_0.weight", "head.class_bn_l4_1.weight", "head.box_predict.bias"}) {
    EXPECT_TRUE(names.count(expected)) << expected;
  }
  // The same spec built twice has the same names in the same order.
  Detector again(::vertebra::test_util::ProxySpineNet49(256), ProxyOptions());
  std::vector<std::string> a, b;
  for (const auto& p : model->named_parameters()) a.push_back(p.key());
  for (const auto& p : again->named_parameters()) b.push_back(p.key());
  EXPECT_EQ(a, b);
}

TEST(SpineNetTest, ReferenceInitialization) {
  torch::manual_seed(0);
  Detector model(ss::Resolve(ss::SpineNet49(), 128, 128).value(), DetectorOptions{});
  for (const auto& p : model->named_parameters()) {
    const std::string& name = p.key();
    const at::Tensor& w = p.value();
    if (name.rfind("backbone.", 0) == 0 && w.dim() == 4 && w.numel() >= 4096) {
      // Variance 1 / fan_in, truncated at 2 sigma of the untruncated normal.
      const double fan_in = static_cast<double>(w.size(1) * w.size(2) * w.size(3));
      EXPECT_NEAR(w.std().item<double>() * std::sqrt(fan_in), 1.0, 0.08) << name;
      EXPECT_LE(w.abs().max().item<double>() * std::sqrt(fan_in), 2.0 / 0.8796 + 1e-4) << name;
    }
    if (name.find(".bn.weight") != std::string::npos) EXPECT_TRUE(torch::all(w == 1).item<bool>()) << name;
  }
  // The class prior: sigmoid(bias) = 0.01.
  for (const auto& p : model->named_parameters()) {
    if (p.key() == "head.class_predict.bias") {
      EXPECT_NEAR(torch::sigmoid(p.value()).mean().item<double>(), 0.01, 1e-6);
    }
  }
}

TEST(SpineNetTest, StochasticDepthOnlyInTraining) {
  torch::manual_seed(0);
  DetectorOptions options = ProxyOptions();
  options.backbone.stochastic_depth_rate = 0.5;
  SpineNet net(::vertebra::test_util::ProxySpineNet49(64), options.backbone);
  const at::Tensor x = torch::randn({4, 3, 64, 64});
  net->eval();
  const at::Tensor a = net->forward(x)[0];
  const at::Tensor b = net->forward(x)[0];
  EXPECT_TRUE(torch::equal(a, b));  // Deterministic in eval mode.
  net->train();
  torch::manual_seed(1);
  const at::Tensor c = net->forward(x)[0];
  torch::manual_seed(2);
  const at::Tensor d = net->forward(x)[0];
  EXPECT_FALSE(torch::allclose(c, d));  // Different branches dropped.
}

TEST(SpineNetTest, SwishAndChannelsLastGiveTheSameShapes) {
  torch::manual_seed(0);
  DetectorOptions options = ProxyOptions();
  options.backbone.activation = Activation::kSwish;
  Detector model(::vertebra::test_util::ProxySpineNet49(96), options);
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 3, 96, 96});
  const DetectorOutput plain = model->forward(x);
  const DetectorOutput cl = model->forward(x.contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::allclose(plain.head.class_logits, cl.head.class_logits, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(plain.head.box_deltas, cl.head.box_deltas, 1e-4, 1e-4));
}

// A strided conv of a one-pixel map (a level-6 map at 64 px feeding level 7): under bf16
// autocast its weight gradient is bf16's rounding away from fp32's, not LibTorch 1.13's
// garbage, and in fp32 it gives what the strided conv gives.
TEST(SpineNetTest, StridedConvOfAOnePixelMapHasSoundBf16Gradients) {
  torch::manual_seed(0);
  SpineNetOptions options;
  ConvBn unit(16, 16, 3, 2, options);
  torch::nn::Conv2d reference(torch::nn::Conv2dOptions(16, 16, 3).stride(2).padding(1).bias(false));
  reference->weight.set_data(unit->named_parameters()["conv.weight"].detach().clone());
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{4, 16, 1, 1}, {4, 16, 4, 1}, {4, 16, 1, 4}}) {
    const at::Tensor x = torch::randn(shape).requires_grad_();  // As inside the network.
    {
      torch::NoGradGuard no_grad;
      unit->eval();
      const at::Tensor strided = unit->named_children()["bn"]->as<torch::nn::BatchNorm2d>()->forward(reference->forward(x));
      EXPECT_TRUE(torch::allclose(unit->forward(x), strided, 1e-6, 1e-6)) << "input " << shape;
      unit->train();
    }
    // A loss that BN does not cancel (the gradient of a plain sum through BN is zero).
    const at::Tensor weights = torch::randn({shape[0], 16, (shape[2] + 1) / 2, (shape[3] + 1) / 2});
    std::vector<at::Tensor> grads;
    for (const bool bf16 : {false, true}) {
      unit->zero_grad();
      {
        Bf16Autocast autocast(c10::Device(c10::kCPU), bf16);
        (unit->forward(x).to(torch::kFloat32) * weights).sum().backward();
      }
      grads.push_back(unit->named_parameters()["conv.weight"].grad().clone());
    }
    const double error = (grads[0] - grads[1]).abs().max().item<double>();
    EXPECT_LT(error, 0.05 * grads[0].abs().max().item<double>()) << "input " << shape;
  }
}

}  // namespace
}  // namespace vertebra::worker
