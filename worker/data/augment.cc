#include "worker/data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace vertebra::worker::data {
namespace {

// Boxes narrower or lower than this after clipping carry no trainable signal: dropped.
constexpr double kMinBoxSide = 1.0;

// Uniform in [0, 1) from the top 53 bits: the same value on every platform, unlike
// std::uniform_real_distribution, whose algorithm is implementation-defined.
double UniformDouble(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Uniform integer in [0, n] from u in [0, 1).
int UniformOffset(double u, int n) { return std::min(n, static_cast<int>(u * (n + 1))); }

// Source index and weight for one output coordinate, pixel centres aligned as in OpenCV's
// INTER_LINEAR: src = (dst + offset + 0.5) / scale - 0.5, clamped to the image (border replicated).
struct Tap {
  int i0 = 0, i1 = 0;
  float w1 = 0;  // Weight of i1; i0 gets 1 - w1.
};

Tap MakeTap(int dst, int offset, double scale, int src_len) {
  double s = (dst + offset + 0.5) / scale - 0.5;
  Tap t;
  if (s <= 0) return t;
  if (s >= src_len - 1) {
    t.i0 = t.i1 = src_len - 1;
    return t;
  }
  t.i0 = static_cast<int>(s);
  t.i1 = t.i0 + 1;
  t.w1 = static_cast<float>(s - t.i0);
  return t;
}

// Writes the window [offset, offset + size) of `src` resized by `scale` (to resized_w x
// resized_h) into the top-left of a zeroed size x size image.
RgbImage ResizeCrop(const RgbImage& src, double scale, int resized_w, int resized_h, int offset_x, int offset_y,
                    int size) {
  RgbImage out;
  out.width = out.height = size;
  out.pixels.assign(static_cast<size_t>(size) * size * 3, 0);
  const int w = std::min(size, resized_w - offset_x);
  const int h = std::min(size, resized_h - offset_y);
  std::vector<Tap> cols(std::max(w, 0));
  for (int x = 0; x < w; ++x) {
    cols[x] = MakeTap(x, offset_x, scale, src.width);
    cols[x].i0 *= 3;  // Byte offsets within a row.
    cols[x].i1 *= 3;
  }
  const size_t row_bytes = static_cast<size_t>(src.width) * 3;
  for (int y = 0; y < h; ++y) {
    const Tap r = MakeTap(y, offset_y, scale, src.height);
    const uint8_t* row0 = src.pixels.data() + r.i0 * row_bytes;
    const uint8_t* row1 = src.pixels.data() + r.i1 * row_bytes;
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * size * 3;
    for (int x = 0; x < w; ++x) {
      const Tap& c = cols[x];
      for (int ch = 0; ch < 3; ++ch) {
        const float top = row0[c.i0 + ch] + c.w1 * (row0[c.i1 + ch] - row0[c.i0 + ch]);
        const float bottom = row1[c.i0 + ch] + c.w1 * (row1[c.i1 + ch] - row1[c.i0 + ch]);
        const float v = top + r.w1 * (bottom - top);
        dst[x * 3 + ch] = static_cast<uint8_t>(std::clamp(v + 0.5f, 0.0f, 255.0f));
      }
    }
  }
  return out;
}

void FlipHorizontally(RgbImage& image) {
  for (int y = 0; y < image.height; ++y) {
    uint8_t* row = image.pixels.data() + static_cast<size_t>(y) * image.width * 3;
    for (int a = 0, b = image.width - 1; a < b; ++a, --b) {
      for (int ch = 0; ch < 3; ++ch) std::swap(row[a * 3 + ch], row[b * 3 + ch]);
    }
  }
}

// The shared transform: scale, crop at (offset_x, offset_y), optional flip.
AugmentedExample Transform(const Example& example, int size, double scale, double u_x, double u_y, bool flip) {
  const RgbImage& src = example.image;
  const int resized_w = std::max(1, static_cast<int>(std::lround(src.width * scale)));
  const int resized_h = std::max(1, static_cast<int>(std::lround(src.height * scale)));
  AugmentedExample out;
  out.scale = scale;
  out.offset_x = UniformOffset(u_x, std::max(0, resized_w - size));
  out.offset_y = UniformOffset(u_y, std::max(0, resized_h - size));
  out.flipped = flip;
  out.image = ResizeCrop(src, scale, resized_w, resized_h, out.offset_x, out.offset_y, size);
  if (flip) FlipHorizontally(out.image);

  const double side = size;
  for (const Object& o : example.objects) {
    const double x1 = o.x1 * scale - out.offset_x, y1 = o.y1 * scale - out.offset_y;
    const double x2 = o.x2 * scale - out.offset_x, y2 = o.y2 * scale - out.offset_y;
    const double cx1 = std::clamp(x1, 0.0, side), cy1 = std::clamp(y1, 0.0, side);
    const double cx2 = std::clamp(x2, 0.0, side), cy2 = std::clamp(y2, 0.0, side);
    if (cx2 - cx1 < kMinBoxSide || cy2 - cy1 < kMinBoxSide) continue;
    Object t = o;
    const double kept = ((cx2 - cx1) * (cy2 - cy1)) / ((x2 - x1) * (y2 - y1));
    t.area = o.area * scale * scale * kept;
    t.x1 = static_cast<float>(flip ? size - cx2 : cx1);
    t.x2 = static_cast<float>(flip ? size - cx1 : cx2);
    t.y1 = static_cast<float>(cy1);
    t.y2 = static_cast<float>(cy2);
    out.objects.push_back(t);
  }
  return out;
}

double LetterboxScale(const RgbImage& image, int size) {
  return static_cast<double>(size) / std::max(image.width, image.height);
}

}  // namespace

AugmentedExample Letterbox(const Example& example, int size) {
  return Transform(example, size, LetterboxScale(example.image, size), 0, 0, false);
}

AugmentedExample Augment(const Example& example, const AugmentOptions& options, std::mt19937_64& rng) {
  const double u_scale = UniformDouble(rng);
  const double u_x = UniformDouble(rng);
  const double u_y = UniformDouble(rng);
  const double u_flip = UniformDouble(rng);
  const double jitter = options.min_scale + u_scale * (options.max_scale - options.min_scale);
  const bool flip = options.horizontal_flip && u_flip < 0.5;
  return Transform(example, options.size, LetterboxScale(example.image, options.size) * jitter, u_x, u_y, flip);
}

}  // namespace vertebra::worker::data
