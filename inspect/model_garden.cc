#include "inspect/model_garden.h"

#include <string>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_spec.h"

namespace vertebra::inspect {
namespace {

// Ordered: the keys come out in the order written below.
using json = nlohmann::ordered_json;
namespace ss = ::vertebra::search_spaces;

// Our endpoints are P3..P7 (search_spaces/arch_spec.h); the builder's defaults are the same.
constexpr int kMinLevel = ss::kMinOutputLevel;
constexpr int kMaxLevel = ss::kMaxOutputLevel;

// Python's repr of a float that holds a scaling value: "1.0", "0.65" (never "1").
std::string PythonFloat(double v) {
  std::string s = absl::StrFormat("%.17g", v);
  // Shortest form that reads back to the same double.
  for (int precision = 1; precision <= 17; ++precision) {
    std::string t = absl::StrFormat("%.*g", precision, v);
    if (std::stod(t) == v) {
      s = t;
      break;
    }
  }
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

absl::StatusOr<std::vector<ModelGardenBlock>> ToModelGardenBlocks(const v1::ArchSpec& spec) {
  RETURN_IF_ERROR(ss::ValidateArchSpec(spec));
  std::vector<ModelGardenBlock> rows;
  rows.reserve(spec.blocks_size());
  for (const v1::Block& b : spec.blocks()) {
    ModelGardenBlock row;
    row.level = b.level();
    row.block_fn = ss::BlockTypeName(b.type());
    // Both lists start with the two stem features, so a parent index is an input offset.
    row.input_offsets = {b.parents(0), b.parents(1)};
    row.is_output = b.output();
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::string> ModelGardenJson(const v1::ArchSpec& spec) {
  ASSIGN_OR_RETURN(const std::vector<ModelGardenBlock> rows, ToModelGardenBlocks(spec));
  json specs = json::array();
  for (const ModelGardenBlock& r : rows) {
    specs.push_back({r.level, r.block_fn, {r.input_offsets[0], r.input_offsets[1]}, r.is_output});
  }
  const v1::Scaling& s = spec.scaling();
  json j = {{"name", spec.name()},
            {"hash", ss::ArchHash(spec)},
            {"block_specs", specs},
            {"endpoints_num_filters", s.endpoint_filters()},
            {"resample_alpha", s.resample_alpha()},
            {"block_repeats", s.block_repeats()},
            {"filter_size_scale", s.filter_scale()},
            {"min_level", kMinLevel},
            {"max_level", kMaxLevel}};
  // One row per line, like the builder's own table, so that a diff reads row by row.
  std::string out = "{\n";
  bool first = true;
  for (const auto& [key, value] : j.items()) {
    if (!first) out += ",\n";
    first = false;
    out += "  " + json(key).dump() + ": ";
    if (key == "block_specs") {
      out += "[\n";
      for (size_t i = 0; i < value.size(); ++i) {
        out += "    " + value[i].dump() + (i + 1 < value.size() ? ",\n" : "\n");
      }
      out += "  ]";
    } else {
      out += value.dump();
    }
  }
  out += "\n}\n";
  return out;
}

absl::StatusOr<std::string> ModelGardenPython(const v1::ArchSpec& spec) {
  ASSIGN_OR_RETURN(const std::vector<ModelGardenBlock> rows, ToModelGardenBlocks(spec));
  std::string out = absl::StrFormat(
      "# %s (hash %s) for the Model Garden SpineNet builder:\n"
      "#   SpineNet(block_specs=build_block_specs(BLOCK_SPECS), **SCALING)\n"
      "# Offsets index [stem block 1, stem block 2, row 0, row 1, ...].\n"
      "BLOCK_SPECS = [\n",
      spec.name().empty() ? "unnamed architecture" : spec.name(), ss::ArchHash(spec));
  for (const ModelGardenBlock& r : rows) {
    out += absl::StrFormat("    (%d, '%s', (%d, %d), %s),\n", r.level, r.block_fn, r.input_offsets[0],
                           r.input_offsets[1], r.is_output ? "True" : "False");
  }
  const v1::Scaling& s = spec.scaling();
  out += absl::StrFormat(
      "]\n\nSCALING = {\n    'endpoints_num_filters': %d,\n    'filter_size_scale': %s,\n"
      "    'resample_alpha': %s,\n    'block_repeats': %d,\n    'min_level': %d,\n    'max_level': %d,\n}\n",
      s.endpoint_filters(), PythonFloat(s.filter_scale()), PythonFloat(s.resample_alpha()), s.block_repeats(),
      kMinLevel, kMaxLevel);
  return out;
}

}  // namespace vertebra::inspect
