#include "search_spaces/arch_json.h"

#include <fstream>
#include <sstream>
#include <set>
#include <string>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_spec.h"
#include "search_spaces/family.h"

namespace vertebra::search_spaces {
namespace {

using nlohmann::json;

absl::Status FieldError(const std::string& path, const std::string& reason) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s", path, reason));
}

const char* TypeName(const json& j) { return j.type_name(); }

absl::Status CheckKeys(const json& object, const std::string& path, const std::set<std::string>& known) {
  for (const auto& item : object.items()) {
    if (known.count(item.key()) == 0) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      return FieldError(path.empty() ? item.key() : path + "." + item.key(),
                        absl::StrFormat("unknown key (expected one of: %s)", list));
    }
  }
  return absl::OkStatus();
}

// An integer JSON value; rejects floats such as 2.5 and booleans.
absl::StatusOr<int> GetInt(const json& j, const std::string& path) {
  if (!j.is_number_integer()) {
    return FieldError(path, absl::StrFormat("must be an integer, got %s %s", TypeName(j), j.dump()));
  }
  const int64_t v = j.get<int64_t>();
  if (v < INT32_MIN || v > INT32_MAX) return FieldError(path, absl::StrFormat("%d is out of range", v));
  return static_cast<int>(v);
}

absl::StatusOr<double> GetNumber(const json& j, const std::string& path) {
  if (!j.is_number()) return FieldError(path, absl::StrFormat("must be a number, got %s %s", TypeName(j), j.dump()));
  return j.get<double>();
}

absl::StatusOr<v1::Block> ParseBlock(const json& j, int row) {
  const std::string path = absl::StrFormat("blocks[%d]", row);
  if (!j.is_object()) return FieldError(path, absl::StrFormat("must be an object, got %s", TypeName(j)));
  RETURN_IF_ERROR(CheckKeys(j, path, {"level", "block", "parents", "output"}));
  v1::Block b;
  for (const char* required : {"level", "block", "parents"}) {
    if (!j.contains(required)) return FieldError(path + "." + required, "missing");
  }
  ASSIGN_OR_RETURN(int level, GetInt(j["level"], path + ".level"));
  b.set_level(level);
  const json& type = j["block"];
  if (type == "bottleneck") {
    b.set_type(v1::BOTTLENECK);
  } else if (type == "residual") {
    b.set_type(v1::RESIDUAL);
  } else {
    return FieldError(path + ".block", absl::StrFormat("must be \"bottleneck\" or \"residual\", got %s", type.dump()));
  }
  const json& parents = j["parents"];
  if (!parents.is_array()) {
    return FieldError(path + ".parents", absl::StrFormat("must be an array of 2 feature indices, got %s", TypeName(parents)));
  }
  for (size_t i = 0; i < parents.size(); ++i) {
    ASSIGN_OR_RETURN(int p, GetInt(parents[i], absl::StrFormat("%s.parents[%d]", path, i)));
    b.add_parents(p);
  }
  if (j.contains("output")) {
    if (!j["output"].is_boolean()) {
      return FieldError(path + ".output", absl::StrFormat("must be true or false, got %s", j["output"].dump()));
    }
    b.set_output(j["output"].get<bool>());
  }
  return b;
}

absl::Status ParseScaling(const json& j, v1::Scaling* s) {
  if (!j.is_object()) return FieldError("scaling", absl::StrFormat("must be an object, got %s", TypeName(j)));
  RETURN_IF_ERROR(CheckKeys(j, "scaling", {"filter_scale", "resample_alpha", "block_repeats", "endpoint_filters"}));
  if (j.contains("filter_scale")) {
    ASSIGN_OR_RETURN(double v, GetNumber(j["filter_scale"], "scaling.filter_scale"));
    s->set_filter_scale(v);
  }
  if (j.contains("resample_alpha")) {
    ASSIGN_OR_RETURN(double v, GetNumber(j["resample_alpha"], "scaling.resample_alpha"));
    s->set_resample_alpha(v);
  }
  if (j.contains("block_repeats")) {
    ASSIGN_OR_RETURN(int v, GetInt(j["block_repeats"], "scaling.block_repeats"));
    s->set_block_repeats(v);
  }
  if (j.contains("endpoint_filters")) {
    ASSIGN_OR_RETURN(int v, GetInt(j["endpoint_filters"], "scaling.endpoint_filters"));
    s->set_endpoint_filters(v);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ArchSpec> ArchSpecFromJson(std::string_view text) {
  absl::StatusOr<json> parsed = ParseJsonStrict(text);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrFormat("malformed JSON: %s", parsed.status().message()));
  json j = *std::move(parsed);
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrFormat("must be a JSON object, got %s", TypeName(j)));
  RETURN_IF_ERROR(CheckKeys(j, "", {"name", "blocks", "scaling"}));
  v1::ArchSpec spec;
  if (j.contains("name")) {
    if (!j["name"].is_string()) return FieldError("name", absl::StrFormat("must be a string, got %s", TypeName(j["name"])));
    spec.set_name(j["name"].get<std::string>());
  }
  if (!j.contains("blocks")) return FieldError("blocks", "missing");
  const json& blocks = j["blocks"];
  if (!blocks.is_array()) return FieldError("blocks", absl::StrFormat("must be an array, got %s", TypeName(blocks)));
  if (static_cast<int>(blocks.size()) > kMaxBlocks) {
    return FieldError("blocks", absl::StrFormat("%d blocks is more than the limit of %d", blocks.size(), kMaxBlocks));
  }
  for (size_t row = 0; row < blocks.size(); ++row) {
    ASSIGN_OR_RETURN(v1::Block b, ParseBlock(blocks[row], static_cast<int>(row)));
    *spec.add_blocks() = std::move(b);
  }
  *spec.mutable_scaling() = DefaultScaling();
  if (j.contains("scaling")) RETURN_IF_ERROR(ParseScaling(j["scaling"], spec.mutable_scaling()));
  RETURN_IF_ERROR(ValidateArchSpec(spec));
  return spec;
}

std::string ArchSpecToJson(const v1::ArchSpec& spec, int indent) {
  auto block_json = [](const v1::Block& b) {
    json parents = json::array();
    for (int p : b.parents()) parents.push_back(p);
    return json{{"level", b.level()}, {"block", BlockTypeName(b.type())}, {"parents", parents},
                {"output", b.output()}};
  };
  const v1::Scaling& s = spec.scaling();
  const json scaling = {{"filter_scale", s.filter_scale()}, {"resample_alpha", s.resample_alpha()},
                        {"block_repeats", s.block_repeats()}, {"endpoint_filters", s.endpoint_filters()}};
  if (indent < 0) {
    json blocks = json::array();
    for (const v1::Block& b : spec.blocks()) blocks.push_back(block_json(b));
    json j = {{"name", spec.name()}, {"blocks", blocks}, {"scaling", scaling}};
    return j.dump();
  }
  // One block per line: nlohmann's pretty printer would spread each over six lines.
  const std::string pad(indent, ' ');
  std::ostringstream out;
  out << "{\n" << pad << "\"name\": " << json(spec.name()).dump() << ",\n" << pad << "\"blocks\": [\n";
  for (int i = 0; i < spec.blocks_size(); ++i) {
    out << pad << pad << block_json(spec.blocks(i)).dump() << (i + 1 < spec.blocks_size() ? ",\n" : "\n");
  }
  out << pad << "],\n" << pad << "\"scaling\": " << scaling.dump() << "\n}\n";
  return out.str();
}

absl::StatusOr<v1::ArchSpec> ReadArchSpecFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  absl::StatusOr<v1::ArchSpec> spec = ArchSpecFromJson(text);
  if (!spec.ok()) {
    return absl::Status(spec.status().code(), absl::StrFormat("%s: %s", path, spec.status().message()));
  }
  return spec;
}

absl::StatusOr<v1::ArchSpec> LoadArchSpec(const std::string& name_or_path) {
  absl::StatusOr<v1::ArchSpec> reference = ReferenceArch(name_or_path);
  if (reference.ok()) return reference;
  std::ifstream probe(name_or_path);
  if (!probe) {
    return absl::NotFoundError(absl::StrFormat(
        "'%s' is neither a reference architecture (see 'vertebra arch list') nor a readable file", name_or_path));
  }
  return ReadArchSpecFile(name_or_path);
}

std::string ResolvedGraphToJson(const ResolvedGraph& g) {
  auto size = [](Size2 s) { return json::array({s.height, s.width}); };
  auto feature = [&](const Feature& f) {
    return json{{"index", f.index}, {"level", f.level}, {"block", BlockTypeName(f.type)},
                {"inner_width", f.inner_width}, {"channels", f.channels}, {"size", size(f.size)},
                {"output", f.is_output}};
  };
  json features = json::array();
  for (const Feature& f : g.features) features.push_back(feature(f));
  json blocks = json::array();
  for (const ResolvedBlock& b : g.blocks) {
    json edges = json::array();
    for (const ResampleEdge& e : b.edges) {
      edges.push_back({{"parent", e.parent}, {"in_channels", e.in_channels}, {"squeeze_channels", e.squeeze_channels},
                       {"out_channels", e.out_channels}, {"level_delta", e.level_delta},
                       {"strided_conv", e.strided_conv}, {"max_pools", e.max_pools}, {"upsample", e.upsample},
                       {"in_size", size(e.in_size)}, {"out_size", size(e.out_size)}});
    }
    blocks.push_back({{"row", b.row}, {"feature", feature(b.feature)}, {"edges", edges},
                      {"extra_parents", b.extra_parents}, {"repeats", b.repeats},
                      {"reaches_endpoint", b.reaches_endpoint}});
  }
  json endpoints = json::array();
  for (const Endpoint& e : g.endpoints) {
    endpoints.push_back({{"level", e.level}, {"feature", e.feature}, {"in_channels", e.in_channels},
                         {"filters", e.filters}, {"size", size(e.size)}});
  }
  const v1::Scaling& s = g.scaling;
  json j = {{"input", size(g.input)},
            {"scaling", {{"filter_scale", s.filter_scale()}, {"resample_alpha", s.resample_alpha()},
                         {"block_repeats", s.block_repeats()}, {"endpoint_filters", s.endpoint_filters()}}},
            {"stem", {{"in_channels", Stem::kInChannels}, {"conv_filters", Stem::kConvFilters},
                      {"conv_kernel", Stem::kConvKernel}, {"conv_size", size(g.stem.conv_size)},
                      {"pool_size", size(g.stem.pool_size)}, {"inner_width", g.stem.inner_width},
                      {"repeats", g.stem.repeats}, {"projection", g.stem.projection}}},
            {"features", features},
            {"blocks", blocks},
            {"endpoints", endpoints},
            {"warnings", g.warnings}};
  return j.dump();
}

}  // namespace vertebra::search_spaces
