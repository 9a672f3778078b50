#include "worker/data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/data/image_codec.h"

// Reproducibility across machines: only the C++-specified std::mt19937_64 is used for random
// bits; conversions to numbers, sin, exp and log are our own code made of IEEE-exact + - * /
// (the standard distributions and libm are implementation-defined), and this file is compiled
// with -ffp-contract=off so no compiler fuses a multiply-add differently (worker/CMakeLists.txt).

namespace vertebra::worker::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kLn2 = 0.69314718055994530942;
constexpr double kSqrt3 = 1.73205080756887729353;
// The pilot's side range was tuned at this image size; other sizes scale it.
constexpr double kReferenceSize = 128;
// Colour draws per object before taking the most contrasting one.
constexpr int kColourTries = 16;
// Inner radius of the ring and half-thickness of the cross's arms, in half-side units: thick
// enough that both stay recognisable at the smallest sides.
constexpr double kRingInner = 0.55;
constexpr double kCrossArm = 0.34;
// Limits that keep one image cheap and the owner map in a byte.
constexpr int kMaxObjectsLimit = 64;
constexpr int kMaxSizeLimit = 4096;

// ---- Reproducible numbers ----------------------------------------------------------------------

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class Random {
 public:
  Random(uint64_t seed, uint64_t index) : engine_(SplitMix64(SplitMix64(seed) ^ SplitMix64(index + 0x51ED))) {}
  uint64_t Bits() { return engine_(); }
  // [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // [0, n) by multiply-shift (bias below 2^-50 for the n used here).
  int Int(int n) {
    return static_cast<int>((static_cast<unsigned __int128>(engine_()) * static_cast<uint64_t>(n)) >> 64);
  }

 private:
  std::mt19937_64 engine_;
};

double DetSin(double x) {
  double r = x - std::floor(x / (2 * kPi) + 0.5) * (2 * kPi);  // [-pi, pi]
  if (r > kPi / 2) r = kPi - r;
  if (r < -kPi / 2) r = -kPi - r;
  const double r2 = r * r;
  // Taylor to r^13: error below 1e-9 on [-pi/2, pi/2].
  double p = 1.0 / 6227020800.0;
  p = p * r2 - 1.0 / 39916800.0;
  p = p * r2 + 1.0 / 362880.0;
  p = p * r2 - 1.0 / 5040.0;
  p = p * r2 + 1.0 / 120.0;
  p = p * r2 - 1.0 / 6.0;
  return r + r * r2 * p;
}

double DetCos(double x) { return DetSin(x + kPi / 2); }

double DetExp(double x) {
  const double k = std::floor(x / kLn2 + 0.5);
  const double r = x - k * kLn2;  // |r| <= 0.35
  double p = 1;
  for (int i = 14; i >= 1; --i) p = 1 + p * r / i;
  return std::ldexp(p, static_cast<int>(k));
}

double DetLog(double x) {  // x > 0
  int e = 0;
  double m = std::frexp(x, &e);  // [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2;
    --e;
  }
  const double t = (m - 1) / (m + 1);  // |t| < 0.172
  const double t2 = t * t;
  double s = 0;
  for (int i = 21; i >= 1; i -= 2) s = s * t2 + 1.0 / i;
  return 2 * t * s + e * kLn2;
}

// ---- Painting --------------------------------------------------------------------------------

enum Shape : int { kRectangle = 0, kEllipse = 1, kTriangle = 2, kRing = 3, kCross = 4 };

// Whether the point (u, v) of the object's frame, scaled so the object spans [-1, 1]^2, is inside.
inline bool Inside(int shape, double u, double v) {
  const double au = std::fabs(u), av = std::fabs(v);
  if (au > 1 || av > 1) return false;
  switch (shape) {
    case kRectangle:
      return true;
    case kEllipse:
      return u * u + v * v <= 1;
    case kTriangle:  // Apex at v = -1, base at v = +1.
      return 2 * au <= v + 1;
    case kRing: {
      const double r2 = u * u + v * v;
      return r2 <= 1 && r2 >= kRingInner * kRingInner;
    }
    case kCross:
      return au <= kCrossArm || av <= kCrossArm;
  }
  return false;
}

struct Canvas {
  int size;
  std::vector<float> rgb;      // size * size * 3, 0..255 before rounding.
  std::vector<uint8_t> owner;  // 0 = background, k + 1 = object k.
};

void PaintBackground(const SyntheticOptions& o, Random& rng, Canvas& c) {
  const int s = o.size, g = o.field_grid;
  std::vector<float> lattice(static_cast<size_t>(g) * g * 3);
  for (float& v : lattice) v = static_cast<float>(rng.Uniform(0, 255));
  const double theta = rng.Uniform(0, kPi);
  const double period = rng.Uniform(o.stripe_min_period, o.stripe_max_period);
  const double phase = rng.Uniform(0, 2 * kPi);
  double tint[3];
  for (double& t : tint) t = o.stripe_amplitude * rng.Uniform(-1, 1);
  const double fx = 2 * kPi * DetCos(theta) / period, fy = 2 * kPi * DetSin(theta) / period;
  const double scale = static_cast<double>(g - 1) / s;
  for (int y = 0; y < s; ++y) {
    const double gy = (y + 0.5) * scale;
    const int y0 = std::min(static_cast<int>(gy), g - 2);
    const double wy = gy - y0;
    for (int x = 0; x < s; ++x) {
      const double gx = (x + 0.5) * scale;
      const int x0 = std::min(static_cast<int>(gx), g - 2);
      const double wx = gx - x0;
      const double stripe = DetSin(fx * x + fy * y + phase);
      const float* a = &lattice[(static_cast<size_t>(y0) * g + x0) * 3];
      const float* b = a + 3;
      const float* cc = a + static_cast<size_t>(g) * 3;
      const float* d = cc + 3;
      float* out = &c.rgb[(static_cast<size_t>(y) * s + x) * 3];
      for (int ch = 0; ch < 3; ++ch) {
        const double top = a[ch] + (b[ch] - a[ch]) * wx;
        const double bottom = cc[ch] + (d[ch] - cc[ch]) * wx;
        out[ch] = static_cast<float>(top + (bottom - top) * wy + tint[ch] * stripe);
      }
    }
  }
}

void PaintClutter(const SyntheticOptions& o, Random& rng, Canvas& c) {
  const int s = o.size;
  for (int i = 0; i < o.clutter; ++i) {
    const double ax = rng.Uniform(0, s), ay = rng.Uniform(0, s);
    const double bx = rng.Uniform(0, s), by = rng.Uniform(0, s);
    const double half = rng.Uniform(0.5, 1.5);
    float colour[3];
    for (float& v : colour) v = static_cast<float>(rng.Uniform(0, 255));
    const double dx = bx - ax, dy = by - ay, len2 = std::max(dx * dx + dy * dy, 1e-9);
    const int x0 = std::max(0, static_cast<int>(std::floor(std::min(ax, bx) - half)));
    const int x1 = std::min(s, static_cast<int>(std::ceil(std::max(ax, bx) + half)));
    const int y0 = std::max(0, static_cast<int>(std::floor(std::min(ay, by) - half)));
    const int y1 = std::min(s, static_cast<int>(std::ceil(std::max(ay, by) + half)));
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        const double px = x + 0.5 - ax, py = y + 0.5 - ay;
        const double t = std::clamp((px * dx + py * dy) / len2, 0.0, 1.0);
        const double ex = px - t * dx, ey = py - t * dy;
        if (ex * ex + ey * ey > half * half) continue;
        float* out = &c.rgb[(static_cast<size_t>(y) * s + x) * 3];
        for (int ch = 0; ch < 3; ++ch) out[ch] = colour[ch];
      }
    }
  }
}

// Paints object k (owner value k + 1); returns its class and the pixels it covered.
struct Painted {
  int shape = 0;
  int pixels = 0;
};

Painted PaintObject(const SyntheticOptions& o, Random& rng, int k, double log_min_side, double log_side_range,
                    Canvas& c) {
  const int s = o.size;
  Painted p;
  p.shape = rng.Int(o.classes);
  const double side = DetExp(log_min_side + log_side_range * rng.Uniform());
  const double aspect = DetExp(rng.Uniform(-o.aspect_log_range, o.aspect_log_range));
  const double hw = side / 2, hh = side * aspect / 2;
  double angle = rng.Uniform(-o.max_rotation_deg, o.max_rotation_deg) * (kPi / 180);
  const int quarter_turns = rng.Int(4);  // Drawn for every shape so streams stay aligned.
  if (p.shape == kTriangle) angle += quarter_turns * (kPi / 2);
  const double cs = DetCos(angle), sn = DetSin(angle);
  const double ex = std::fabs(hw * cs) + std::fabs(hh * sn), ey = std::fabs(hw * sn) + std::fabs(hh * cs);
  const double cx = 2 * ex <= s ? rng.Uniform(ex, s - ex) : rng.Uniform(s - ex, ex);
  const double cy = 2 * ey <= s ? rng.Uniform(ey, s - ey) : rng.Uniform(s - ey, ey);
  const int x0 = std::max(0, static_cast<int>(std::floor(cx - ex)));
  const int x1 = std::min(s, static_cast<int>(std::ceil(cx + ex)));
  const int y0 = std::max(0, static_cast<int>(std::floor(cy - ey)));
  const int y1 = std::min(s, static_cast<int>(std::ceil(cy + ey)));

  // The colour: the first of several draws far enough from the mean under the box, else the
  // farthest one.
  double mean[3] = {0, 0, 0};
  for (int y = y0; y < y1; ++y) {
    const float* row = &c.rgb[(static_cast<size_t>(y) * s + x0) * 3];
    for (int i = 0; i < (x1 - x0) * 3; i += 3) {
      mean[0] += row[i];
      mean[1] += row[i + 1];
      mean[2] += row[i + 2];
    }
  }
  const double n = std::max(1, (x1 - x0) * (y1 - y0));
  for (double& m : mean) m /= n;
  double colour[3] = {0, 0, 0};
  double best = -1;
  for (int t = 0; t < kColourTries; ++t) {
    double cand[3];
    double d2 = 0;
    for (int ch = 0; ch < 3; ++ch) {
      cand[ch] = rng.Uniform(0, 255);
      d2 += (cand[ch] - mean[ch]) * (cand[ch] - mean[ch]);
    }
    if (d2 > best) {
      best = d2;
      std::copy(cand, cand + 3, colour);
    }
    if (d2 >= o.min_contrast * o.min_contrast) break;
  }
  const double shade_angle = rng.Uniform(0, 2 * kPi);
  const double shade = rng.Uniform(-o.object_shading, o.object_shading) / std::max(ex, ey);
  const double gx = shade * DetCos(shade_angle), gy = shade * DetSin(shade_angle);

  const uint8_t tag = static_cast<uint8_t>(k + 1);
  const double inv_hw = 1 / hw, inv_hh = 1 / hh;
  for (int y = y0; y < y1; ++y) {
    const double dy = y + 0.5 - cy;
    for (int x = x0; x < x1; ++x) {
      const double dx = x + 0.5 - cx;
      const double u = (dx * cs + dy * sn) * inv_hw;
      const double v = (dy * cs - dx * sn) * inv_hh;
      if (!Inside(p.shape, u, v)) continue;
      const size_t at = static_cast<size_t>(y) * s + x;
      c.owner[at] = tag;
      const double delta = gx * dx + gy * dy;
      float* out = &c.rgb[at * 3];
      for (int ch = 0; ch < 3; ++ch) out[ch] = static_cast<float>(colour[ch] + delta);
      ++p.pixels;
    }
  }
  return p;
}

// ---- Spec parsing ------------------------------------------------------------------------------

absl::Status OutOfRange(const char* key, double lo, double hi, double got) {
  return absl::InvalidArgumentError(
      absl::StrFormat("synthetic option '%s' must be in [%g, %g], got %g", key, lo, hi, got));
}

}  // namespace

absl::Status ValidateSyntheticOptions(const SyntheticOptions& o) {
  const auto check = [](const char* key, double v, double lo, double hi) -> absl::Status {
    if (!(v >= lo && v <= hi)) return OutOfRange(key, lo, hi, v);
    return absl::OkStatus();
  };
  const double inf = std::numeric_limits<double>::infinity();
  for (const absl::Status& st : {
           check("size", o.size, 16, kMaxSizeLimit),
           check("images", o.images, 1, std::numeric_limits<int>::max()),
           check("max_objects", o.max_objects, 1, kMaxObjectsLimit),
           check("min_objects", o.min_objects, 0, o.max_objects),
           check("classes", o.classes, 1, kMaxSyntheticClasses),
           check("min_side", o.min_side, 2, 2.0 * o.size),
           check("max_side", o.max_side, o.min_side, 2.0 * o.size),
           check("aspect_log_range", o.aspect_log_range, 0, 2),
           check("max_rotation_deg", o.max_rotation_deg, 0, 180),
           check("min_contrast", o.min_contrast, 0, 441),
           check("object_shading", o.object_shading, 0, 255),
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

absl::StatusOr<SyntheticOptions> ParseSyntheticSpec(std::string_view spec_in) {
  // Debian's Abseil has its own string_view.
  const absl::string_view spec(spec_in.data(), spec_in.size());
  constexpr absl::string_view kName = "synthetic";
  SyntheticOptions o;
  if (spec.substr(0, kName.size()) != kName) {
    return absl::InvalidArgumentError(absl::StrCat("a synthetic data spec starts with 'synthetic', got '", spec, "'"));
  }
  absl::string_view rest = spec.substr(kName.size());
  if (rest.empty()) return o;
  if (rest[0] != ':') {
    return absl::InvalidArgumentError(
        absl::StrCat("a synthetic data spec is 'synthetic' or 'synthetic:key=value,...', got '", spec, "'"));
  }
  rest.remove_prefix(1);

  struct IntKey {
    const char* name;
    int SyntheticOptions::*field;
  };
  struct DoubleKey {
    const char* name;
    double SyntheticOptions::*field;
  };
  static constexpr IntKey kIntKeys[] = {
      {"size", &SyntheticOptions::size},
      {"images", &SyntheticOptions::images},
      {"min_objects", &SyntheticOptions::min_objects},
      {"max_objects", &SyntheticOptions::max_objects},
      {"classes", &SyntheticOptions::classes},
      {"field_grid", &SyntheticOptions::field_grid},
      {"clutter", &SyntheticOptions::clutter},
      {"min_visible_pixels", &SyntheticOptions::min_visible_pixels},
  };
  static constexpr DoubleKey kDoubleKeys[] = {
      {"min_side", &SyntheticOptions::min_side},
      {"max_side", &SyntheticOptions::max_side},
      {"aspect_log_range", &SyntheticOptions::aspect_log_range},
      {"max_rotation_deg", &SyntheticOptions::max_rotation_deg},
      {"min_contrast", &SyntheticOptions::min_contrast},
      {"object_shading", &SyntheticOptions::object_shading},
      {"stripe_amplitude", &SyntheticOptions::stripe_amplitude},
      {"stripe_min_period", &SyntheticOptions::stripe_min_period},
      {"stripe_max_period", &SyntheticOptions::stripe_max_period},
      {"noise_sigma", &SyntheticOptions::noise_sigma},
      {"min_visible_fraction", &SyntheticOptions::min_visible_fraction},
  };

  absl::flat_hash_set<std::string> seen;
  for (absl::string_view item : absl::StrSplit(rest, ',')) {
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("synthetic spec entry '", item, "' is not key=value"));
    }
    const std::string key(item.substr(0, eq));
    const absl::string_view value = item.substr(eq + 1);
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(absl::StrCat("synthetic option '", key, "' given twice"));
    }
    const auto bad_value = [&](const char* what) {
      return absl::InvalidArgumentError(absl::StrCat("synthetic option '", key, "': '", value, "' is not ", what));
    };
    bool known = false;
    if (key == "seed") {
      known = true;
      if (!absl::SimpleAtoi(value, &o.seed)) return bad_value("an unsigned 64-bit integer");
    }
    for (const IntKey& k : kIntKeys) {
      if (key != k.name) continue;
      known = true;
      if (!absl::SimpleAtoi(value, &(o.*k.field))) return bad_value("an integer");
    }
    for (const DoubleKey& k : kDoubleKeys) {
      if (key != k.name) continue;
      known = true;
      double v = 0;
      if (!absl::SimpleAtod(value, &v) || !std::isfinite(v)) return bad_value("a finite number");
      o.*k.field = v;
    }
    if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown synthetic option '", key, "'"));
  }
  if (seen.contains("size")) {
    const SyntheticOptions defaults;
    if (!seen.contains("min_side")) o.min_side = defaults.min_side * o.size / kReferenceSize;
    if (!seen.contains("max_side")) o.max_side = defaults.max_side * o.size / kReferenceSize;
  }
  absl::Status valid = ValidateSyntheticOptions(o);
  if (!valid.ok()) return valid;
  return o;
}

absl::StatusOr<std::unique_ptr<SyntheticDataset>> SyntheticDataset::Create(const SyntheticOptions& options) {
  absl::Status valid = ValidateSyntheticOptions(options);
  if (!valid.ok()) return valid;
  return std::unique_ptr<SyntheticDataset>(new SyntheticDataset(options));
}

SyntheticDataset::SyntheticDataset(const SyntheticOptions& options) : options_(options) {
  for (int k = 0; k < options_.classes; ++k) categories_.push_back(Category{k, k + 1, kSyntheticClassNames[k]});
}

absl::StatusOr<Example> SyntheticDataset::Get(int index) const {
  const SyntheticOptions& o = options_;
  if (index < 0 || index >= o.images) {
    return absl::OutOfRangeError(absl::StrFormat("synthetic image index %d is outside [0, %d)", index, o.images));
  }
  const int s = o.size;
  const size_t pixels = static_cast<size_t>(s) * s;
  Random rng(o.seed, static_cast<uint64_t>(index));
  Canvas c{s, std::vector<float>(pixels * 3), std::vector<uint8_t>(pixels, 0)};

  PaintBackground(o, rng, c);
  PaintClutter(o, rng, c);
  const int count = o.min_objects + rng.Int(o.max_objects - o.min_objects + 1);
  const double log_min = DetLog(o.min_side), log_range = DetLog(o.max_side) - log_min;
  std::vector<Painted> painted(count);
  for (int k = 0; k < count; ++k) painted[k] = PaintObject(o, rng, k, log_min, log_range, c);

  Example ex;
  ex.image_id = static_cast<int64_t>(index) + 1;
  ex.file_name = absl::StrFormat("%06d.png", ex.image_id);
  ex.image.width = s;
  ex.image.height = s;
  ex.image.pixels.resize(pixels * 3);
  // Noise over everything: four 16-bit uniforms from one draw, summed (Irwin-Hall, variance
  // 4/12), scaled to sigma.
  const double noise_scale = o.noise_sigma * kSqrt3 / 65536.0;
  for (size_t i = 0; i < pixels * 3; ++i) {
    const uint64_t b = rng.Bits();
    const double sum = static_cast<double>((b & 0xffff) + ((b >> 16) & 0xffff) + ((b >> 32) & 0xffff) + (b >> 48));
    const double v = c.rgb[i] + (sum - 2 * 65536.0) * noise_scale;
    ex.image.pixels[i] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0) + 0.5);
  }

  // Visible extent and pixel count of every object from the owner map.
  struct Extent {
    int x1 = std::numeric_limits<int>::max(), y1 = std::numeric_limits<int>::max(), x2 = -1, y2 = -1, visible = 0;
  };
  std::vector<Extent> extent(count);
  for (int y = 0; y < s; ++y) {
    const uint8_t* row = &c.owner[static_cast<size_t>(y) * s];
    for (int x = 0; x < s; ++x) {
      if (row[x] == 0) continue;
      Extent& e = extent[row[x] - 1];
      e.x1 = std::min(e.x1, x);
      e.x2 = std::max(e.x2, x);
      e.y1 = std::min(e.y1, y);
      e.y2 = std::max(e.y2, y);
      ++e.visible;
    }
  }
  for (int k = 0; k < count; ++k) {
    const Extent& e = extent[k];
    if (e.visible < o.min_visible_pixels) continue;
    if (e.visible < o.min_visible_fraction * painted[k].pixels) continue;
    Object obj;
    obj.id = static_cast<int64_t>(index) * o.max_objects + k + 1;
    obj.x1 = static_cast<float>(e.x1);
    obj.y1 = static_cast<float>(e.y1);
    obj.x2 = static_cast<float>(e.x2 + 1);
    obj.y2 = static_cast<float>(e.y2 + 1);
    obj.category = painted[k].shape;
    obj.area = e.visible;
    ex.objects.push_back(obj);
  }
  return ex;
}

absl::StatusOr<WrittenDataset> WriteCocoDataset(const Dataset& dataset, const std::string& out_dir) {
  // COCO's small/medium boundaries (detection.md §2).
  constexpr double kSmallArea = 32.0 * 32.0;
  constexpr double kMediumArea = 96.0 * 96.0;
  WrittenDataset summary;
  namespace fs = std::filesystem;
  const fs::path root(out_dir);
  const fs::path images_dir = root / "images";
  const fs::path instances = root / "instances.json";
  std::error_code ec;
  fs::create_directories(images_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(images_dir.string(), ": cannot create: ", ec.message()));
  fs::remove(instances, ec);
  if (ec) return absl::InternalError(absl::StrCat(instances.string(), ": cannot remove: ", ec.message()));

  const std::vector<Category>& cats = dataset.categories();
  nlohmann::json images = nlohmann::json::array();
  nlohmann::json annotations = nlohmann::json::array();
  nlohmann::json categories = nlohmann::json::array();
  for (const Category& cat : cats) categories.push_back({{"id", cat.coco_id}, {"name", cat.name}});
  for (int i = 0; i < dataset.size(); ++i) {
    absl::StatusOr<Example> ex = dataset.Get(i);
    if (!ex.ok()) return absl::Status(ex.status().code(), absl::StrCat("image ", i, ": ", ex.status().message()));
    const std::string name = ex->file_name.empty() ? absl::StrFormat("%06d.png", ex->image_id) : ex->file_name;
    absl::StatusOr<std::vector<uint8_t>> png = EncodePng(ex->image);
    if (!png.ok()) return absl::Status(png.status().code(), absl::StrCat(name, ": ", png.status().message()));
    absl::Status written = WriteFileAtomically((images_dir / name).string(), std::string(png->begin(), png->end()));
    if (!written.ok()) return written;
    images.push_back(
        {{"id", ex->image_id}, {"width", ex->image.width}, {"height", ex->image.height}, {"file_name", name}});
    ++summary.images;
    for (const Object& obj : ex->objects) {
      ++summary.objects;
      ++summary.objects_by_size[obj.area < kSmallArea ? 0 : obj.area < kMediumArea ? 1 : 2];
      if (obj.category < 0 || obj.category >= static_cast<int>(cats.size())) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": object ", obj.id, " has category ", obj.category,
                                                       " outside the dataset's ", cats.size()));
      }
      annotations.push_back({{"id", obj.id},
                             {"image_id", ex->image_id},
                             {"category_id", cats[obj.category].coco_id},
                             {"bbox", {obj.x1, obj.y1, obj.x2 - obj.x1, obj.y2 - obj.y1}},
                             {"area", obj.area},
                             {"iscrowd", obj.crowd ? 1 : 0}});
    }
  }
  const nlohmann::json doc = {
      {"images", std::move(images)}, {"annotations", std::move(annotations)}, {"categories", std::move(categories)}};
  RETURN_IF_ERROR(WriteFileAtomically(instances.string(), doc.dump()));
  return summary;
}

}  // namespace vertebra::worker::data
