// `vertebra eval GT.json DETS.json [--json]`: COCO bbox AP as pycocotools computes it.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "eval/coco_eval.h"
#include "eval/coco_json.h"
#include "nlohmann/json.hpp"

namespace vertebra::cli {
namespace {

struct EvalOptions {
  std::string gt_path;
  std::string detections_path;
  bool json = false;
};

void RunEval(const EvalOptions& o) {
  absl::StatusOr<eval::GroundTruth> gt = eval::ReadCocoInstancesFile(o.gt_path);
  if (!gt.ok()) Fail(gt.status());
  absl::StatusOr<std::vector<eval::Detection>> detections = eval::ReadCocoResultsFile(o.detections_path, *gt);
  if (!detections.ok()) Fail(detections.status());
  const eval::CocoStats stats = eval::Evaluate(*gt, *detections);
  if (o.json) {
    // ordered_json keeps pycocotools' order; dump() prints doubles so that they read back exactly.
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    const std::array<double, eval::kNumCocoStats> values = stats.AsArray();
    for (int i = 0; i < eval::kNumCocoStats; ++i) out[std::string(eval::kCocoStatNames[i])] = values[i];
    std::cout << out.dump() << "\n";
    return;
  }
  std::cout << eval::FormatSummary(stats);
}

}  // namespace

void RegisterEvalCommand(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "COCO bbox AP/AR of a results file against ground truth, exactly as pycocotools computes it");
  cmd->add_option("gt", o->gt_path, "COCO instances JSON (images, categories, annotations); - for stdin")->required();
  cmd->add_option("detections", o->detections_path,
                  "COCO results JSON: [{image_id, category_id, bbox: [x, y, w, h], score}, ...]")
      ->required();
  cmd->add_flag("--json", o->json, "Print one JSON object: AP AP50 AP75 APs APm APl AR1 AR10 AR100 ARs ARm ARl");
  cmd->callback([o] { RunEval(*o); });
}

}  // namespace vertebra::cli
