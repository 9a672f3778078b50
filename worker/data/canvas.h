// Internal to worker/data: the reproducible numbers and the painting that the generated detection
// sets (synthetic.h, fashion_mnist.h) share. Every function is a pure function of its arguments;
// none keeps state, so all are thread-safe.
//
// Reproducibility across machines: only the C++-specified std::mt19937_64 is used for random
// bits; conversions to numbers, sin, exp and log are our own code made of IEEE-exact + - * /
// (the standard distributions and libm are implementation-defined), and the files that use them
// are compiled with -ffp-contract=off so no compiler fuses a multiply-add differently
// (worker/CMakeLists.txt).
//
// No LibTorch here.
#ifndef VERTEBRA_WORKER_DATA_CANVAS_H_
#define VERTEBRA_WORKER_DATA_CANVAS_H_

#include <cstdint>
#include <random>
#include <vector>

#include "worker/data/dataset.h"

namespace vertebra::worker::data::canvas {

inline constexpr double kPi = 3.14159265358979323846;

uint64_t SplitMix64(uint64_t x);

// The random stream of image `index` of a set seeded with `seed`.
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

// sin, cos, exp and log to about 1e-9, the same bits on every machine. DetLog needs x > 0.
double DetSin(double x);
double DetCos(double x);
double DetExp(double x);
double DetLog(double x);

// A square RGB canvas being painted, and which object owns each pixel.
struct Canvas {
  int size;
  std::vector<float> rgb;      // size * size * 3, 0..255 before rounding.
  std::vector<uint8_t> owner;  // 0 = background, k + 1 = object k.
};

// A blank canvas of side `size`.
Canvas MakeCanvas(int size);

// Background = a smooth colour field (bilinear over a field_grid x field_grid lattice of random
// colours) + oriented sinusoidal stripes of amplitude stripe_amplitude and a period in
// [stripe_min_period, stripe_max_period] px.
struct BackgroundOptions {
  int field_grid = 4;
  double stripe_amplitude = 24;
  double stripe_min_period = 4;
  double stripe_max_period = 24;
};
void PaintBackground(const BackgroundOptions& o, Random& rng, Canvas& c);

// The canvas as 8-bit RGB with per-pixel, per-channel noise of sigma `noise_sigma` (levels),
// approximately Gaussian (a scaled sum of four uniforms, exactly reproducible).
RgbImage QuantizeWithNoise(const Canvas& c, double noise_sigma, Random& rng);

// The visible extent of object k: the bounding box of the pixels it owns (x2, y2 inclusive) and
// their count; visible == 0 when it owns none.
struct Extent {
  int x1 = 1 << 30, y1 = 1 << 30, x2 = -1, y2 = -1, visible = 0;
};
// Extents of objects 0..count-1 from the owner map.
std::vector<Extent> VisibleExtents(const Canvas& c, int count);

// The ground-truth object for an extent: box edges at pixel borders (x2 = last column + 1),
// area = visible pixels.
Object ObjectFromExtent(const Extent& e, int64_t id, int category);

}  // namespace vertebra::worker::data::canvas

#endif  // VERTEBRA_WORKER_DATA_CANVAS_H_
