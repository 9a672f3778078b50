// Strict JSON parsing for every file and message a user or a client hands us.
//
// nlohmann::json::parse throws on bad input, and not only parse_error: a number that overflows a
// double ("1e400") is an out_of_range. ParseJsonStrict turns every such failure into a value that
// names where in the document it happened, and refuses a key given twice in one object (the
// library would silently keep the last one). Thread-safe.
#ifndef VERTEBRA_COMMON_JSON_UTIL_H_
#define VERTEBRA_COMMON_JSON_UTIL_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace vertebra {

// The parsed document, or InvalidArgument "PATH: REASON" where PATH is the field being read when
// the parser stopped ("lease.lease_seconds", "blocks[3].level"; "(top level)" before any field)
// and REASON the parser's words without its exception tag, e.g.
//   lease.lease_seconds: number overflow parsing '1e400'
//   rungs: key "steps" given twice
absl::StatusOr<nlohmann::json> ParseJsonStrict(std::string_view text);

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_JSON_UTIL_H_
