// The JSON form of an ArchSpec, the one people write by hand and other programs emit:
//
//   {"name": "spinenet-49",
//    "blocks": [{"level": 2, "block": "bottleneck", "parents": [0, 1], "output": false}, ...],
//    "scaling": {"filter_scale": 1.0, "resample_alpha": 0.5, "block_repeats": 1,
//                "endpoint_filters": 256}}
//
// "name", "output" and "scaling" (and each scaling field) are optional; missing scaling fields
// take SpineNet-49's values. Thread-safe: every function here is pure.
#ifndef VERTEBRA_SEARCH_SPACES_ARCH_JSON_H_
#define VERTEBRA_SEARCH_SPACES_ARCH_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "search_spaces/resolve.h"
#include "vertebra/v1/arch.pb.h"

namespace vertebra::search_spaces {

// Parses the JSON form and validates it (ValidateArchSpec). Unknown keys, wrong types, and
// malformed JSON give InvalidArgument naming the key path ("blocks[3].parnets: unknown key").
absl::StatusOr<v1::ArchSpec> ArchSpecFromJson(std::string_view text);

// Writes the JSON form. `indent` < 0 gives one line; blocks always take one line each when
// indent >= 0, so that a 15-block spec reads as a table.
std::string ArchSpecToJson(const v1::ArchSpec& spec, int indent = 1);

// Reads and parses a file. Errors are prefixed with the path: NotFound when it cannot be read.
absl::StatusOr<v1::ArchSpec> ReadArchSpecFile(const std::string& path);

// A reference model by name (family.h) or else a JSON file at that path.
absl::StatusOr<v1::ArchSpec> LoadArchSpec(const std::string& name_or_path);

// The resolved graph as one JSON object (for tools in other languages that build or inspect the
// network without redoing its arithmetic): input, scaling, stem, features, blocks with their
// edges and extra parents, endpoints, warnings. Field names follow resolve.h.
std::string ResolvedGraphToJson(const ResolvedGraph& graph);

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_ARCH_JSON_H_
