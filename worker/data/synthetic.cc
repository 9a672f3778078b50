#include "worker/data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/data/canvas.h"
#include "worker/data/image_codec.h"
#include "worker/data/spec_keys.h"

// Reproducible across machines: the numbers and painting of canvas.h.

namespace vertebra::worker::data {
namespace {

using canvas::Canvas;
using canvas::DetCos;
using canvas::DetExp;
using canvas::DetLog;
using canvas::DetSin;
using canvas::kPi;
using canvas::Random;

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

constexpr absl::string_view kKind = "synthetic";

}  // namespace

absl::Status ValidateSyntheticOptions(const SyntheticOptions& o) {
  const auto check = [](const char* key, double v, double lo, double hi) {
    return spec_keys::CheckRange(kKind, key, v, lo, hi);
  };
  for (const absl::Status& st : {
           spec_keys::CheckSharedRanges(kKind, o, {kMaxSizeLimit, kMaxObjectsLimit, kMaxSyntheticClasses}),
           check("max_rotation_deg", o.max_rotation_deg, 0, 180),
           check("object_shading", o.object_shading, 0, 255),
       }) {
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<SyntheticOptions> ParseSyntheticSpec(std::string_view spec_in) {
  // Debian's Abseil has its own string_view.
  const absl::string_view spec(spec_in.data(), spec_in.size());
  static const std::vector<spec_keys::Field<SyntheticOptions>> kFields = [] {
    std::vector<spec_keys::Field<SyntheticOptions>> fields = spec_keys::SharedFields<SyntheticOptions>();
    fields.push_back({"max_rotation_deg", &SyntheticOptions::max_rotation_deg});
    fields.push_back({"object_shading", &SyntheticOptions::object_shading});
    return fields;
  }();
  const SyntheticOptions defaults;
  SyntheticOptions o;
  absl::StatusOr<absl::flat_hash_set<std::string>> given = spec_keys::Parse<SyntheticOptions>(spec, kKind, kFields, o);
  if (!given.ok()) return given.status();
  spec_keys::ScaleSidesWithSize(*given, defaults, kReferenceSize, o);
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
  canvas::Random rng(o.seed, static_cast<uint64_t>(index));
  canvas::Canvas c = canvas::MakeCanvas(o.size);

  canvas::PaintBackground(
      canvas::BackgroundOptions{o.field_grid, o.stripe_amplitude, o.stripe_min_period, o.stripe_max_period}, rng, c);
  PaintClutter(o, rng, c);
  const int count = o.min_objects + rng.Int(o.max_objects - o.min_objects + 1);
  const double log_min = DetLog(o.min_side), log_range = DetLog(o.max_side) - log_min;
  std::vector<Painted> painted(count);
  for (int k = 0; k < count; ++k) painted[k] = PaintObject(o, rng, k, log_min, log_range, c);

  Example ex;
  ex.image_id = static_cast<int64_t>(index) + 1;
  ex.file_name = absl::StrFormat("%06d.png", ex.image_id);
  ex.image = canvas::QuantizeWithNoise(c, o.noise_sigma, rng);
  const std::vector<canvas::Extent> extent = canvas::VisibleExtents(c, count);
  for (int k = 0; k < count; ++k) {
    const canvas::Extent& e = extent[k];
    if (e.visible < o.min_visible_pixels) continue;
    if (e.visible < o.min_visible_fraction * painted[k].pixels) continue;
    ex.objects.push_back(
        canvas::ObjectFromExtent(e, static_cast<int64_t>(index) * o.max_objects + k + 1, painted[k].shape));
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
