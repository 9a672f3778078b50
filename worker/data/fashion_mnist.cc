#include "worker/data/fashion_mnist.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/data/canvas.h"
#include "worker/data/spec_keys.h"

// Reproducible across machines: the numbers and painting of canvas.h; floats only in + - * /,
// compiled with -ffp-contract=off (worker/CMakeLists.txt).

namespace vertebra::worker::data {
namespace {

using canvas::Canvas;
using canvas::DetExp;
using canvas::DetLog;
using canvas::Random;

constexpr absl::string_view kKind = "fashion-mnist";
// The default side range is set for this canvas size; other sizes scale it.
constexpr double kReferenceSize = 128;
// Colour draws per object before taking the one closest to the contrast targets.
constexpr int kColourTries = 16;
// A clutter fragment is a crop of this many of the item's 28 px per side: big enough to carry a
// real edge or fold, small enough not to read as a whole object.
constexpr double kFragmentMinCrop = 8;
constexpr double kFragmentMaxCrop = 20;
// Fragments are blended with weight U(kFragmentMinWeight, 1) * clutter_contrast.
constexpr double kFragmentMinWeight = 0.5;
// Limits that keep one canvas cheap and the owner map in a byte.
constexpr int kMaxObjectsLimit = 64;
constexpr int kMaxSizeLimit = 4096;

constexpr int kSide = kFashionMnistSide;

// A spec's options plus the split as written (train or test).
struct ParsedOptions : FashionMnistOptions {
  std::string split_name;
};

const char* SplitName(FashionMnistSplit split) { return split == FashionMnistSplit::kTrain ? "train" : "test"; }

// Bilinear resize (pixel centres aligned, edges clamped) of the rectangle [sx, sx + sw) x
// [sy, sy + sh) of a 28x28 item to w x h samples in `out`, 0..255.
void ResizeItem(const uint8_t* item, double sx, double sy, double sw, double sh, int w, int h,
                std::vector<float>& out) {
  struct Tap {
    int i0, i1;
    float f;
  };
  const auto taps = [](double start, double span, int n) {
    std::vector<Tap> t(n);
    for (int i = 0; i < n; ++i) {
      const double src = start + (i + 0.5) * span / n - 0.5;
      const double fl = std::floor(src);
      const int i0 = static_cast<int>(fl);
      t[i] = Tap{std::clamp(i0, 0, kSide - 1), std::clamp(i0 + 1, 0, kSide - 1), static_cast<float>(src - fl)};
    }
    return t;
  };
  const std::vector<Tap> cols = taps(sx, sw, w), rows = taps(sy, sh, h);
  out.resize(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y) {
    const uint8_t* r0 = item + rows[y].i0 * kSide;
    const uint8_t* r1 = item + rows[y].i1 * kSide;
    const float fy = rows[y].f;
    float* o = &out[static_cast<size_t>(y) * w];
    for (int x = 0; x < w; ++x) {
      const Tap& c = cols[x];
      const float top = r0[c.i0] + (r0[c.i1] - r0[c.i0]) * c.f;
      const float bottom = r1[c.i0] + (r1[c.i1] - r1[c.i0]) * c.f;
      o[x] = top + (bottom - top) * fy;
    }
  }
}

// A top-left corner for an extent `len` on a canvas of side s: inside when it fits, else
// covering the canvas.
int Place(Random& rng, int len, int s) { return len <= s ? rng.Int(s - len + 1) : (s - len) + rng.Int(len - s + 1); }

double Distance(const double* a, const double* b) {
  double d2 = 0;
  for (int ch = 0; ch < 3; ++ch) d2 += (a[ch] - b[ch]) * (a[ch] - b[ch]);
  return std::sqrt(d2);
}

// How far a draw falls short of a target (>= 1: met).
double Meets(double got, double target) { return target <= 0 ? 1 : got / target; }

void PaintFragment(const FashionMnistOptions& o, const FashionMnistItems& items, Random& rng, double log_min,
                   double log_range, std::vector<float>& scratch, Canvas& c, std::vector<int>& used) {
  const int s = c.size;
  const int item = rng.Int(items.count);
  used.push_back(item);
  const double cw = rng.Uniform(kFragmentMinCrop, kFragmentMaxCrop);
  const double ch = rng.Uniform(kFragmentMinCrop, kFragmentMaxCrop);
  const double cx = rng.Uniform(0, kSide - cw), cy = rng.Uniform(0, kSide - ch);
  const double scale = DetExp(log_min + log_range * rng.Uniform()) / kSide;
  const int w = std::max(1, static_cast<int>(cw * scale + 0.5));
  const int h = std::max(1, static_cast<int>(ch * scale + 0.5));
  // Corners in [1 - w, s - 1] x [1 - h, s - 1]: at least one pixel inside.
  const int x0 = rng.Int(s + w - 1) - w + 1, y0 = rng.Int(s + h - 1) - h + 1;
  double colour[3];
  for (double& v : colour) v = rng.Uniform(0, 255);
  const double weight = rng.Uniform(kFragmentMinWeight, 1) * o.clutter_contrast / 255;
  ResizeItem(&items.pixels[static_cast<size_t>(item) * kSide * kSide], cx, cy, cw, ch, w, h, scratch);
  for (int y = std::max(0, y0); y < std::min(s, y0 + h); ++y) {
    const float* src = &scratch[static_cast<size_t>(y - y0) * w];
    for (int x = std::max(0, x0); x < std::min(s, x0 + w); ++x) {
      const double a = src[x - x0] * weight;
      float* out = &c.rgb[(static_cast<size_t>(y) * s + x) * 3];
      for (int k = 0; k < 3; ++k) out[k] = static_cast<float>(out[k] + a * (colour[k] - out[k]));
    }
  }
}

// Paints object k (owner value k + 1) from an item of `eligible`.
ComposedObject PaintItem(const FashionMnistOptions& o, const FashionMnistItems& items, const std::vector<int>& eligible,
                         Random& rng, int k, double log_min, double log_range, std::vector<float>& scratch, Canvas& c) {
  const int s = c.size;
  ComposedObject p;
  p.split = items.split;
  p.item = eligible[rng.Int(static_cast<int>(eligible.size()))];
  p.category = items.labels[p.item];
  const double side = DetExp(log_min + log_range * rng.Uniform());
  const double aspect = DetExp(rng.Uniform(-o.aspect_log_range, o.aspect_log_range));
  p.width = std::max(1, static_cast<int>(side + 0.5));
  p.height = std::max(1, static_cast<int>(side * aspect + 0.5));
  p.x = Place(rng, p.width, s);
  p.y = Place(rng, p.height, s);
  ResizeItem(&items.pixels[static_cast<size_t>(p.item) * kSide * kSide], 0, 0, kSide, kSide, p.width, p.height,
             scratch);
  const int x0 = std::max(0, p.x), x1 = std::min(s, p.x + p.width);
  const int y0 = std::max(0, p.y), y1 = std::min(s, p.y + p.height);
  const float threshold = static_cast<float>(o.foreground_threshold);

  // The mean intensity of the foreground and the mean background under it: the colours are
  // chosen so the object's mean colour stands out from what it covers.
  double under[3] = {0, 0, 0}, mean_a = 0;
  int n = 0;
  for (int y = y0; y < y1; ++y) {
    const float* row = scratch.data() + static_cast<ptrdiff_t>(y - p.y) * p.width;
    for (int x = x0; x < x1; ++x) {
      const float v = row[x - p.x];
      if (v < threshold) continue;
      const float* bg = &c.rgb[(static_cast<size_t>(y) * s + x) * 3];
      for (int ch = 0; ch < 3; ++ch) under[ch] += bg[ch];
      mean_a += v;
      ++n;
    }
  }
  if (n > 0) {
    for (double& u : under) u /= n;
    mean_a /= 255.0 * n;
  }
  // Darkest and brightest pixels get colours `dark` and `light`: the first draw that meets both
  // targets, else the one closest to them.
  double dark[3] = {0, 0, 0}, light[3] = {0, 0, 0}, best = -1;
  for (int t = 0; t < kColourTries; ++t) {
    double d[3], l[3], mean[3];
    for (int ch = 0; ch < 3; ++ch) {
      d[ch] = (ch == 0 || o.tint) ? rng.Uniform(0, 255) : d[0];
      l[ch] = (ch == 0 || o.tint) ? rng.Uniform(0, 255) : l[0];
      mean[ch] = d[ch] + (l[ch] - d[ch]) * mean_a;
    }
    const double score = std::min(Meets(Distance(d, l), o.min_texture), Meets(Distance(mean, under), o.min_contrast));
    if (score > best) {
      best = score;
      std::copy(d, d + 3, dark);
      std::copy(l, l + 3, light);
    }
    if (score >= 1) break;
  }
  const float scale[3] = {static_cast<float>((light[0] - dark[0]) / 255),
                          static_cast<float>((light[1] - dark[1]) / 255),
                          static_cast<float>((light[2] - dark[2]) / 255)};
  const float base[3] = {static_cast<float>(dark[0]), static_cast<float>(dark[1]), static_cast<float>(dark[2])};
  const uint8_t tag = static_cast<uint8_t>(k + 1);
  for (int y = y0; y < y1; ++y) {
    const float* row = scratch.data() + static_cast<ptrdiff_t>(y - p.y) * p.width;
    for (int x = x0; x < x1; ++x) {
      const float v = row[x - p.x];
      if (v < threshold) continue;
      const size_t at = static_cast<size_t>(y) * s + x;
      c.owner[at] = tag;
      float* out = &c.rgb[at * 3];
      for (int ch = 0; ch < 3; ++ch) out[ch] = base[ch] + scale[ch] * v;
      ++p.painted_pixels;
    }
  }
  return p;
}

}  // namespace

absl::Status ValidateFashionMnistOptions(const FashionMnistOptions& o) {
  const auto check = [](const char* key, double v, double lo, double hi) {
    return spec_keys::CheckRange(kKind, key, v, lo, hi);
  };
  if (o.dir.empty()) return absl::InvalidArgumentError("fashion-mnist option 'dir' is empty");
  for (const absl::Status& st : {
           spec_keys::CheckSharedRanges(kKind, o, {kMaxSizeLimit, kMaxObjectsLimit, kFashionMnistClasses}),
           check("foreground_threshold", o.foreground_threshold, 1, 255),
           check("min_texture", o.min_texture, 0, 441),
           check("tint", o.tint, 0, 1),
           check("clutter_contrast", o.clutter_contrast, 0, 1),
       }) {
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<FashionMnistOptions> ParseFashionMnistSpec(std::string_view spec_in,
                                                          const FashionMnistOptions& defaults) {
  // Debian's Abseil has its own string_view.
  const absl::string_view spec(spec_in.data(), spec_in.size());
  using O = ParsedOptions;
  static const std::vector<spec_keys::Field<O>> kFields = [] {
    std::vector<spec_keys::Field<O>> fields = spec_keys::SharedFields<O>();
    fields.push_back({"dir", &O::dir});
    fields.push_back({"split", &O::split_name});
    fields.push_back({"foreground_threshold", &O::foreground_threshold});
    fields.push_back({"min_texture", &O::min_texture});
    fields.push_back({"tint", &O::tint});
    fields.push_back({"clutter_contrast", &O::clutter_contrast});
    return fields;
  }();
  ParsedOptions o;
  static_cast<FashionMnistOptions&>(o) = defaults;
  o.split_name = SplitName(defaults.split);
  absl::StatusOr<absl::flat_hash_set<std::string>> given = spec_keys::Parse<O>(spec, kKind, kFields, o);
  if (!given.ok()) return given.status();
  if (o.split_name == "train") {
    o.split = FashionMnistSplit::kTrain;
  } else if (o.split_name == "test") {
    o.split = FashionMnistSplit::kTest;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("fashion-mnist option 'split': '", o.split_name, "' is not train or test"));
  }
  FashionMnistOptions options = o;
  spec_keys::ScaleSidesWithSize(*given, defaults, kReferenceSize, options);
  absl::Status valid = ValidateFashionMnistOptions(options);
  if (!valid.ok()) return valid;
  return options;
}

absl::StatusOr<std::unique_ptr<FashionMnistDataset>> FashionMnistDataset::Create(const FashionMnistOptions& options) {
  absl::Status valid = ValidateFashionMnistOptions(options);
  if (!valid.ok()) return valid;
  absl::StatusOr<std::shared_ptr<const FashionMnistItems>> items = LoadFashionMnistItems(options.dir, options.split);
  if (!items.ok()) return items.status();
  std::vector<int> eligible;
  for (int i = 0; i < (*items)->count; ++i) {
    if ((*items)->labels[i] < options.classes) eligible.push_back(i);
  }
  if (eligible.empty()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: no item of the first %d classes", (*items)->images_path, options.classes));
  }
  return std::unique_ptr<FashionMnistDataset>(new FashionMnistDataset(options, *std::move(items), std::move(eligible)));
}

FashionMnistDataset::FashionMnistDataset(const FashionMnistOptions& options,
                                         std::shared_ptr<const FashionMnistItems> items, std::vector<int> eligible)
    : options_(options), items_(std::move(items)), eligible_(std::move(eligible)) {
  for (int k = 0; k < options_.classes; ++k) categories_.push_back(Category{k, k + 1, kFashionMnistClassNames[k]});
}

absl::StatusOr<Example> FashionMnistDataset::Get(int index) const {
  absl::StatusOr<ComposedCanvas> composed = Compose(index);
  if (!composed.ok()) return composed.status();
  return std::move(composed->example);
}

absl::StatusOr<ComposedCanvas> FashionMnistDataset::Compose(int index) const {
  const FashionMnistOptions& o = options_;
  if (index < 0 || index >= o.images) {
    return absl::OutOfRangeError(absl::StrFormat("fashion-mnist image index %d is outside [0, %d)", index, o.images));
  }
  Random rng(o.seed, static_cast<uint64_t>(index));
  Canvas c = canvas::MakeCanvas(o.size);
  std::vector<float> scratch;
  ComposedCanvas out;

  canvas::PaintBackground(
      canvas::BackgroundOptions{o.field_grid, o.stripe_amplitude, o.stripe_min_period, o.stripe_max_period}, rng, c);
  const double log_min = DetLog(o.min_side), log_range = DetLog(o.max_side) - log_min;
  for (int i = 0; i < o.clutter; ++i) {
    PaintFragment(o, *items_, rng, log_min, log_range, scratch, c, out.clutter_items);
  }
  const int count = o.min_objects + rng.Int(o.max_objects - o.min_objects + 1);
  for (int k = 0; k < count; ++k) {
    out.objects.push_back(PaintItem(o, *items_, eligible_, rng, k, log_min, log_range, scratch, c));
  }

  Example& ex = out.example;
  ex.image_id = static_cast<int64_t>(index) + 1;
  ex.file_name = absl::StrFormat("%06d.png", ex.image_id);
  ex.image = canvas::QuantizeWithNoise(c, o.noise_sigma, rng);
  const std::vector<canvas::Extent> extent = canvas::VisibleExtents(c, count);
  for (int k = 0; k < count; ++k) {
    ComposedObject& p = out.objects[k];
    const canvas::Extent& e = extent[k];
    p.visible_pixels = e.visible;
    if (e.visible < o.min_visible_pixels) continue;
    if (e.visible < o.min_visible_fraction * p.painted_pixels) continue;
    p.object = static_cast<int>(ex.objects.size());
    ex.objects.push_back(canvas::ObjectFromExtent(e, static_cast<int64_t>(index) * o.max_objects + k + 1, p.category));
  }
  out.owner = std::move(c.owner);
  return out;
}

}  // namespace vertebra::worker::data
