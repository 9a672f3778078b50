#include "worker/data/spec_keys.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace vertebra::worker::data::spec_keys {
namespace {

absl::Status BadValue(absl::string_view kind, const std::string& key, const std::string& value, const char* what) {
  return absl::InvalidArgumentError(absl::StrCat(kind, " option '", key, "': '", value, "' is not ", what));
}

}  // namespace

absl::StatusOr<std::vector<Entry>> SplitSpec(absl::string_view spec, absl::string_view kind) {
  if (spec.substr(0, kind.size()) != kind) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", kind, " data spec starts with '", kind, "', got '", spec, "'"));
  }
  absl::string_view rest = spec.substr(kind.size());
  std::vector<Entry> entries;
  if (rest.empty()) return entries;
  if (rest[0] != ':') {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", kind, " data spec is '", kind, "' or '", kind, ":key=value,...', got '", spec, "'"));
  }
  rest.remove_prefix(1);
  absl::flat_hash_set<std::string> seen;
  for (absl::string_view item : absl::StrSplit(rest, ',')) {
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat(kind, " spec entry '", item, "' is not key=value"));
    }
    Entry e{std::string(item.substr(0, eq)), std::string(item.substr(eq + 1))};
    if (!seen.insert(e.key).second) {
      return absl::InvalidArgumentError(absl::StrCat(kind, " option '", e.key, "' given twice"));
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

absl::Status SetValue(absl::string_view kind, const std::string& key, const std::string& value, int* out) {
  if (!absl::SimpleAtoi(value, out)) return BadValue(kind, key, value, "an integer");
  return absl::OkStatus();
}

absl::Status SetValue(absl::string_view kind, const std::string& key, const std::string& value, double* out) {
  double v = 0;
  if (!absl::SimpleAtod(value, &v) || !std::isfinite(v)) return BadValue(kind, key, value, "a finite number");
  *out = v;
  return absl::OkStatus();
}

absl::Status SetValue(absl::string_view kind, const std::string& key, const std::string& value, uint64_t* out) {
  if (!absl::SimpleAtoi(value, out)) return BadValue(kind, key, value, "an unsigned 64-bit integer");
  return absl::OkStatus();
}

absl::Status SetValue(absl::string_view, const std::string&, const std::string& value, std::string* out) {
  *out = value;
  return absl::OkStatus();
}

absl::Status CheckRange(absl::string_view kind, const char* key, double v, double lo, double hi) {
  if (v >= lo && v <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s option '%s' must be in [%g, %g], got %g", std::string(kind), key, lo, hi, v));
}

}  // namespace vertebra::worker::data::spec_keys
