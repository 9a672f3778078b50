// python/vertebra builds the network the C++ builder builds: for the reference family at proxy
// scaling and for sampled specs, the C++ Detector's weights (as `vertebra retrain` writes them)
// load into the Python Detector built from the same resolved graph under the same names, and both
// forwards agree within 1e-4 relative in eval mode. Runs tests/worker/model/python_parity.py with
// Debian's /usr/bin/python3 and python3-torch (scripts/install-deps.sh).
#include <sys/wait.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_json.h"
#include "search_spaces/decisions.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"
#include "tests/testing/proxy_model.h"
#include "tests/testing/temp_dir.h"
#include "worker/model/retinanet.h"
#include "worker/model/state_io.h"

namespace vertebra::worker {
namespace {

namespace fs = std::filesystem;
namespace ss = search_spaces;
using ::testing::HasSubstr;
using ::vertebra::test_util::ProxyHead;
using ::vertebra::test_util::ProxyScaling;

constexpr char kPython[] = "/usr/bin/python3";
// The graph is resolved for one size and run at another (not a multiple of 128, not square), as
// a user's detector does: the upsampling targets follow the input, in both builders.
constexpr int kResolvedSize = 64;
constexpr int kInputHeight = 72;
constexpr int kInputWidth = 100;

struct Case {
  std::string name;
  v1::ArchSpec spec;  // At proxy scaling.
  Activation activation = Activation::kRelu;
  ss::HeadNorm norm = ss::HeadNorm::kBatchNormPerLevel;
};

const char* NormName(ss::HeadNorm norm) {
  switch (norm) {
    case ss::HeadNorm::kBatchNormPerLevel:
      return "bn";
    case ss::HeadNorm::kGroupNorm:
      return "gn";
    case ss::HeadNorm::kNone:
      break;
  }
  return "none";
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (const std::string name : {"spinenet-49", "scale-decreased-49"}) {
    Case c{name, *ss::ReferenceArch(name)};
    *c.spec.mutable_scaling() = ProxyScaling();
    cases.push_back(c);
  }
  cases[1].norm = ss::HeadNorm::kGroupNorm;
  ss::SearchSpaceOptions space_options;
  space_options.scaling = ProxyScaling();
  const ss::SearchSpace space = *ss::SearchSpace::Create(space_options);
  std::mt19937_64 rng(19);
  cases.push_back(
      {"sampled-swish-no-head-norm", *space.Decode(space.Sample(rng)), Activation::kSwish, ss::HeadNorm::kNone});
  cases.push_back({"sampled-bn", *space.Decode(space.Sample(rng))});
  return cases;
}

// Every BN's affine parameters and running statistics drawn at random (fresh ones are the
// identity in eval mode, so a BN loaded under the wrong name would go unnoticed).
void RandomizeNorms(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (const auto& p : module.named_parameters()) {
    if (p.value().dim() == 1) p.value().uniform_(0.5, 1.5);
  }
  for (const auto& b : module.named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0.0, 0.1);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
  }
}

// Writes one case folder; returns it.
fs::path WriteCase(const fs::path& root, const Case& c) {
  const ss::ResolvedGraph graph = *ss::Resolve(c.spec, kResolvedSize, kResolvedSize);
  DetectorOptions options;
  options.head = ProxyHead(c.norm);
  options.backbone.activation = c.activation;
  Detector detector(graph, options);
  RandomizeNorms(*detector);
  detector->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor input = torch::randn({2, 3, kInputHeight, kInputWidth});
  const DetectorOutput out = detector->forward(input);

  const fs::path dir = root / c.name;
  fs::create_directories(dir);
  TensorMap io = {{"input", input}, {"class_logits", out.head.class_logits}, {"box_deltas", out.head.box_deltas}};
  for (size_t l = 0; l < out.pyramid.size(); ++l) {
    io.emplace(absl::StrFormat("p%d", graph.endpoints[l].level), out.pyramid[l]);
  }
  const nlohmann::json head = {{"width", options.head.width},
                               {"num_convs", options.head.num_convs},
                               {"num_classes", options.head.num_classes},
                               {"anchors_per_location", options.head.anchors_per_location},
                               {"norm", NormName(c.norm)},
                               {"groups", ss::HeadGroupNormGroups(options.head.width)}};
  const nlohmann::json description = {
      {"name", c.name}, {"head", head}, {"activation", c.activation == Activation::kSwish ? "swish" : "relu"}};
  EXPECT_TRUE(WriteFileAtomically((dir / "case.json").string(), description.dump()).ok());
  EXPECT_TRUE(WriteFileAtomically((dir / "resolved.json").string(), ss::ResolvedGraphToJson(graph)).ok());
  EXPECT_TRUE(SaveSafetensors(StateOf(*detector), (dir / "weights.safetensors").string(), {{"format", "pt"}}).ok());
  EXPECT_TRUE(SaveSafetensors(io, (dir / "io.safetensors").string(), {}).ok());
  return dir;
}

// A copy of case `from` named `name`, whose file `file` is replaced by `state`.
fs::path Variant(const fs::path& from, const std::string& name, const std::string& file, const TensorMap& state) {
  const fs::path dir = from.parent_path() / name;
  fs::create_directories(dir);
  for (const char* f : {"resolved.json", "weights.safetensors", "io.safetensors"}) fs::copy_file(from / f, dir / f);
  nlohmann::json description = nlohmann::json::parse(*ReadFile((from / "case.json").string()));
  description["name"] = name;
  EXPECT_TRUE(WriteFileAtomically((dir / "case.json").string(), description.dump()).ok());
  EXPECT_TRUE(SaveSafetensors(state, (dir / file).string(), {}).ok());
  return dir;
}

// Runs the script on `dirs`; returns its output lines and sets `exit_code`.
std::vector<std::string> RunScript(const std::vector<fs::path>& dirs, int* exit_code) {
  std::vector<std::string> quoted;
  for (const fs::path& d : dirs) quoted.push_back("'" + d.string() + "'");
  const std::string command = absl::StrFormat("%s '%s' '%s' %s 2>&1", kPython, VERTEBRA_PYTHON_PARITY_SCRIPT,
                                              VERTEBRA_PYTHON_PACKAGE_DIR, absl::StrJoin(quoted, " "));
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (pipe != nullptr && fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  const int status = pipe != nullptr ? pclose(pipe) : -1;
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < output.size()) {
    const size_t end = output.find('\n', start);
    lines.push_back(output.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

TEST(PythonParityTest, PythonForwardMatchesTheCppModelAndRefusesWhatDiffers) {
  torch::manual_seed(0);
  const test_util::TempDir tmp("python_parity");
  std::vector<fs::path> dirs;
  for (const Case& c : Cases()) dirs.push_back(WriteCase(tmp.path(), c));

  // The failures the check must catch: a renamed tensor, and an output that is off by 1e-3.
  TensorMap renamed = *LoadSafetensors((dirs[0] / "weights.safetensors").string());
  auto moved = renamed.extract("backbone.block_03.resample_1.expand.bn.running_mean");
  ASSERT_FALSE(moved.empty());
  moved.key() = "backbone.block_03.resample_1.expand.bn.running_average";
  renamed.insert(std::move(moved));
  dirs.push_back(Variant(dirs[0], "renamed-tensor", "weights.safetensors", renamed));
  TensorMap perturbed = *LoadSafetensors((dirs[0] / "io.safetensors").string());
  perturbed.at("p5").mul_(1.001);
  dirs.push_back(Variant(dirs[0], "perturbed-output", "io.safetensors", perturbed));

  int exit_code = 0;
  const std::vector<std::string> lines = RunScript(dirs, &exit_code);
  const std::string all = absl::StrJoin(lines, "\n");
  std::cout << all << "\n";
  EXPECT_EQ(exit_code, 1) << all;
  ASSERT_EQ(lines.size(), dirs.size()) << all;
  for (size_t i = 0; i + 2 < dirs.size(); ++i) EXPECT_THAT(lines[i], ::testing::StartsWith("ok ")) << all;
  EXPECT_THAT(lines[dirs.size() - 2], HasSubstr("FAIL renamed-tensor: weights do not load")) << all;
  EXPECT_THAT(lines[dirs.size() - 2], HasSubstr("running_average")) << all;
  EXPECT_THAT(lines[dirs.size() - 1], HasSubstr("FAIL perturbed-output: p5 differs")) << all;
}

}  // namespace
}  // namespace vertebra::worker
