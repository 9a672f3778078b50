#include "worker/data/canvas.h"

#include <algorithm>
#include <cmath>

namespace vertebra::worker::data::canvas {
namespace {

constexpr double kLn2 = 0.69314718055994530942;
constexpr double kSqrt3 = 1.73205080756887729353;

}  // namespace

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

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

Canvas MakeCanvas(int size) {
  const size_t pixels = static_cast<size_t>(size) * size;
  return Canvas{size, std::vector<float>(pixels * 3), std::vector<uint8_t>(pixels, 0)};
}

void PaintBackground(const BackgroundOptions& o, Random& rng, Canvas& c) {
  const int s = c.size, g = o.field_grid;
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

RgbImage QuantizeWithNoise(const Canvas& c, double noise_sigma, Random& rng) {
  const size_t values = static_cast<size_t>(c.size) * c.size * 3;
  RgbImage image;
  image.width = c.size;
  image.height = c.size;
  image.pixels.resize(values);
  // Four 16-bit uniforms from one draw, summed (Irwin-Hall, variance 4/12), scaled to sigma.
  const double noise_scale = noise_sigma * kSqrt3 / 65536.0;
  for (size_t i = 0; i < values; ++i) {
    const uint64_t b = rng.Bits();
    const double sum = static_cast<double>((b & 0xffff) + ((b >> 16) & 0xffff) + ((b >> 32) & 0xffff) + (b >> 48));
    const double v = c.rgb[i] + (sum - 2 * 65536.0) * noise_scale;
    image.pixels[i] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0) + 0.5);
  }
  return image;
}

std::vector<Extent> VisibleExtents(const Canvas& c, int count) {
  const int s = c.size;
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
  return extent;
}

Object ObjectFromExtent(const Extent& e, int64_t id, int category) {
  Object obj;
  obj.id = id;
  obj.x1 = static_cast<float>(e.x1);
  obj.y1 = static_cast<float>(e.y1);
  obj.x2 = static_cast<float>(e.x2 + 1);
  obj.y2 = static_cast<float>(e.y2 + 1);
  obj.category = category;
  obj.area = e.visible;
  return obj;
}

}  // namespace vertebra::worker::data::canvas
