// The "<kind>[:key=value,...]" form of the generated sets' data specs (synthetic.h,
// fashion_mnist.h). One parser so every set reads keys, reports errors and checks ranges the same
// way; outside worker/data only `data synth` uses it, to see which keys a spec sets. Thread-safe
// (no state).
//
// No LibTorch here.
#ifndef VERTEBRA_WORKER_DATA_SPEC_KEYS_H_
#define VERTEBRA_WORKER_DATA_SPEC_KEYS_H_

#include <cstdint>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vertebra::worker::data::spec_keys {

// A key of the spec and the options field it sets.
template <typename Options>
struct Field {
  const char* name;
  std::variant<int Options::*, double Options::*, uint64_t Options::*, std::string Options::*> member;
};

struct Entry {
  std::string key;
  std::string value;
};

// The key=value entries of "<kind>" (none) or "<kind>:key=value,...". InvalidArgument when the
// spec is not of `kind`, an entry is not key=value, or a key is given twice.
absl::StatusOr<std::vector<Entry>> SplitSpec(absl::string_view spec, absl::string_view kind);

// Sets *out from `value`; InvalidArgument naming the key when it is not a number of that type
// (doubles must be finite).
absl::Status SetValue(absl::string_view kind, const std::string& key, const std::string& value, int* out);
absl::Status SetValue(absl::string_view kind, const std::string& key, const std::string& value, double* out);
absl::Status SetValue(absl::string_view kind, const std::string& key, const std::string& value, uint64_t* out);
absl::Status SetValue(absl::string_view kind, const std::string& key, const std::string& value, std::string* out);

// OK, or InvalidArgument "<kind> option '<key>' must be in [lo, hi], got v".
absl::Status CheckRange(absl::string_view kind, const char* key, double v, double lo, double hi);

// Applies the spec's entries to *options; returns the keys given. InvalidArgument for SplitSpec's
// errors, an unknown key, or a malformed value, naming the key.
template <typename Options>
absl::StatusOr<absl::flat_hash_set<std::string>> Parse(absl::string_view spec, absl::string_view kind,
                                                       absl::Span<const Field<Options>> fields, Options& options) {
  absl::StatusOr<std::vector<Entry>> entries = SplitSpec(spec, kind);
  if (!entries.ok()) return entries.status();
  absl::flat_hash_set<std::string> given;
  for (const Entry& e : *entries) {
    const Field<Options>* field = nullptr;
    for (const Field<Options>& f : fields) {
      if (e.key == f.name) field = &f;
    }
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown ", std::string(kind), " option '", e.key, "'"));
    }
    const absl::Status set =
        std::visit([&](auto member) { return SetValue(kind, e.key, e.value, &(options.*member)); }, field->member);
    if (!set.ok()) return set;
    given.insert(e.key);
  }
  return given;
}

// The keys the generated sets share: fields of the same name and meaning in SyntheticOptions and
// FashionMnistOptions. A set's own keys are appended to these.
template <typename Options>
std::vector<Field<Options>> SharedFields() {
  return {
      {"seed", &Options::seed},
      {"size", &Options::size},
      {"images", &Options::images},
      {"min_objects", &Options::min_objects},
      {"max_objects", &Options::max_objects},
      {"classes", &Options::classes},
      {"min_side", &Options::min_side},
      {"max_side", &Options::max_side},
      {"aspect_log_range", &Options::aspect_log_range},
      {"min_contrast", &Options::min_contrast},
      {"field_grid", &Options::field_grid},
      {"stripe_amplitude", &Options::stripe_amplitude},
      {"stripe_min_period", &Options::stripe_min_period},
      {"stripe_max_period", &Options::stripe_max_period},
      {"noise_sigma", &Options::noise_sigma},
      {"clutter", &Options::clutter},
      {"min_visible_fraction", &Options::min_visible_fraction},
      {"min_visible_pixels", &Options::min_visible_pixels},
  };
}

// Where the shared fields' ranges differ between sets.
struct SharedLimits {
  int max_size = 0;
  int max_objects = 0;  // At most 255: the owner map is a byte.
  int max_classes = 0;
};

// OK, or InvalidArgument naming the first shared field out of its range.
template <typename Options>
absl::Status CheckSharedRanges(absl::string_view kind, const Options& o, const SharedLimits& limits) {
  const double inf = std::numeric_limits<double>::infinity();
  const auto check = [&](const char* key, double v, double lo, double hi) { return CheckRange(kind, key, v, lo, hi); };
  for (const absl::Status& st : {
           check("size", o.size, 16, limits.max_size),
           check("images", o.images, 1, std::numeric_limits<int>::max()),
           check("max_objects", o.max_objects, 1, limits.max_objects),
           check("min_objects", o.min_objects, 0, o.max_objects),
           check("classes", o.classes, 1, limits.max_classes),
           check("min_side", o.min_side, 2, 2.0 * o.size),
           check("max_side", o.max_side, o.min_side, 2.0 * o.size),
           check("aspect_log_range", o.aspect_log_range, 0, 2),
           check("min_contrast", o.min_contrast, 0, 441),
           check("field_grid", o.field_grid, 2, 64),
           check("stripe_amplitude", o.stripe_amplitude, 0, 255),
           check("stripe_min_period", o.stripe_min_period, 2, inf),
           check("stripe_max_period", o.stripe_max_period, o.stripe_min_period, inf),
           check("noise_sigma", o.noise_sigma, 0, 128),
           check("clutter", o.clutter, 0, 1000),
           check("min_visible_fraction", o.min_visible_fraction, 0, 1),
           check("min_visible_pixels", o.min_visible_pixels, 1, static_cast<double>(o.size) * o.size),
       }) {
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

// When `size` was given and a side bound was not, that bound is the default's scaled by
// size / reference_size: the side range follows the image size.
template <typename Options>
void ScaleSidesWithSize(const absl::flat_hash_set<std::string>& given, const Options& defaults, double reference_size,
                        Options& o) {
  if (!given.contains("size")) return;
  if (!given.contains("min_side")) o.min_side = defaults.min_side * o.size / reference_size;
  if (!given.contains("max_side")) o.max_side = defaults.max_side * o.size / reference_size;
}

}  // namespace vertebra::worker::data::spec_keys

#endif  // VERTEBRA_WORKER_DATA_SPEC_KEYS_H_
