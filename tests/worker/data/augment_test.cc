#include "worker/data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/data/synthetic.h"

namespace vertebra::worker::data {
namespace {

struct Rgb {
  uint8_t r, g, b;
};

Rgb PixelAt(const RgbImage& image, int x, int y) {
  const uint8_t* p = image.pixels.data() + (static_cast<size_t>(y) * image.width + x) * 3;
  return {p[0], p[1], p[2]};
}

void Fill(RgbImage& image, int x1, int y1, int x2, int y2, Rgb c) {
  for (int y = y1; y < y2; ++y) {
    for (int x = x1; x < x2; ++x) {
      uint8_t* p = image.pixels.data() + (static_cast<size_t>(y) * image.width + x) * 3;
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
  }
}

Object MakeObject(int64_t id, float x1, float y1, float x2, float y2) {
  Object o;
  o.id = id;
  o.x1 = x1;
  o.y1 = y1;
  o.x2 = x2;
  o.y2 = y2;
  o.area = (x2 - x1) * (y2 - y1);
  return o;
}

// A w x h image of random noise whose blue channel is never 0, with a pure red rectangle
// [x1, x2) x [y1, y2) and its box as the only object.
Example RectangleExample(int w, int h, int x1, int y1, int x2, int y2, uint64_t seed) {
  Example ex;
  ex.image_id = 1;
  ex.image.width = w;
  ex.image.height = h;
  ex.image.pixels.resize(static_cast<size_t>(w) * h * 3);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < ex.image.pixels.size(); ++i) {
    ex.image.pixels[i] = static_cast<uint8_t>(i % 3 == 2 ? 60 + rng() % 196 : rng() % 256);
  }
  Fill(ex.image, x1, y1, x2, y2, {255, 0, 0});
  ex.objects.push_back(MakeObject(1, x1, y1, x2, y2));
  return ex;
}

void ExpectSame(const AugmentedExample& a, const AugmentedExample& b) {
  EXPECT_EQ(a.image.width, b.image.width);
  EXPECT_EQ(a.image.height, b.image.height);
  EXPECT_TRUE(a.image.pixels == b.image.pixels);
  EXPECT_EQ(a.scale, b.scale);
  EXPECT_EQ(a.offset_x, b.offset_x);
  EXPECT_EQ(a.offset_y, b.offset_y);
  EXPECT_EQ(a.flipped, b.flipped);
  ASSERT_EQ(a.objects.size(), b.objects.size());
  for (size_t i = 0; i < a.objects.size(); ++i) {
    EXPECT_EQ(a.objects[i].id, b.objects[i].id);
    EXPECT_EQ(a.objects[i].x1, b.objects[i].x1);
    EXPECT_EQ(a.objects[i].y1, b.objects[i].y1);
    EXPECT_EQ(a.objects[i].x2, b.objects[i].x2);
    EXPECT_EQ(a.objects[i].y2, b.objects[i].y2);
    EXPECT_EQ(a.objects[i].area, b.objects[i].area);
  }
}

TEST(AugmentLetterbox, WideImageScalesToTopLeftAndPadsBelow) {
  Example ex;
  ex.image.width = 200;
  ex.image.height = 100;
  ex.image.pixels.assign(200 * 100 * 3, 0);
  Fill(ex.image, 0, 0, 200, 100, {10, 20, 30});
  Object o = MakeObject(7, 20, 10, 60, 50);
  o.category = 2;
  ex.objects.push_back(o);

  const AugmentedExample out = Letterbox(ex, 128);
  EXPECT_DOUBLE_EQ(out.scale, 0.64);
  EXPECT_EQ(out.offset_x, 0);
  EXPECT_EQ(out.offset_y, 0);
  EXPECT_FALSE(out.flipped);
  ASSERT_EQ(out.image.width, 128);
  ASSERT_EQ(out.image.height, 128);
  for (int y = 0; y < 128; ++y) {
    for (int x = 0; x < 128; ++x) {
      const Rgb p = PixelAt(out.image, x, y);
      const Rgb want = y < 64 ? Rgb{10, 20, 30} : Rgb{0, 0, 0};
      ASSERT_EQ(p.r, want.r) << x << "," << y;
      ASSERT_EQ(p.g, want.g) << x << "," << y;
      ASSERT_EQ(p.b, want.b) << x << "," << y;
    }
  }
  ASSERT_EQ(out.objects.size(), 1u);
  const Object& t = out.objects[0];
  EXPECT_EQ(t.id, 7);
  EXPECT_EQ(t.category, 2);
  EXPECT_NEAR(t.x1, 12.8, 1e-5);
  EXPECT_NEAR(t.y1, 6.4, 1e-5);
  EXPECT_NEAR(t.x2, 38.4, 1e-5);
  EXPECT_NEAR(t.y2, 32.0, 1e-5);
  EXPECT_NEAR(t.area, 1600 * 0.64 * 0.64, 1e-6);
}

TEST(AugmentLetterbox, TallImagePadsRightAndInterpolatesSmoothly) {
  // A vertical ramp 0..255 over 256 rows, halved to 128 rows: pixel centres aligned, so output
  // row y samples source row 2y + 0.5, the mean of rows 2y and 2y + 1.
  Example ex;
  ex.image.width = 64;
  ex.image.height = 256;
  ex.image.pixels.resize(64 * 256 * 3);
  for (int y = 0; y < 256; ++y) Fill(ex.image, 0, y, 64, y + 1, {static_cast<uint8_t>(y), 0, 0});
  const AugmentedExample out = Letterbox(ex, 128);
  EXPECT_DOUBLE_EQ(out.scale, 0.5);
  for (int y = 0; y < 128; ++y) {
    EXPECT_EQ(PixelAt(out.image, 10, y).r, static_cast<uint8_t>(2 * y + 1)) << y;  // (2y + 2y+1)/2 rounded.
    EXPECT_EQ(PixelAt(out.image, 40, y).r, 0) << y;                                // Padding.
  }
}

TEST(AugmentTest, RectangleStaysAlignedWithItsBox) {
  AugmentOptions options;
  options.size = 128;
  options.min_scale = 0.5;
  options.max_scale = 2.0;
  int flipped = 0, cropped = 0, checked_pixels = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    const Example ex = RectangleExample(160, 110, 50, 30, 110, 80, seed);
    std::mt19937_64 rng(seed);
    const AugmentedExample out = Augment(ex, options, rng);
    ASSERT_EQ(out.image.width, 128);
    ASSERT_EQ(out.image.height, 128);
    flipped += out.flipped;
    cropped += out.offset_x > 0 || out.offset_y > 0;
    if (out.objects.empty()) continue;  // Cropped away.
    const Object& b = out.objects[0];
    // Output pixel (x, y), centre (x + 0.5, y + 0.5), is pure red when the centre lies 1 px inside
    // the box (bilinear taps reach at most scale / 2 <= 0.8 px), and not red 1 px outside.
    constexpr double kMargin = 1.0;
    for (int y = 0; y < 128; ++y) {
      for (int x = 0; x < 128; ++x) {
        const double cx = x + 0.5, cy = y + 0.5;
        const bool inside = cx > b.x1 + kMargin && cx < b.x2 - kMargin && cy > b.y1 + kMargin && cy < b.y2 - kMargin;
        const bool outside = cx < b.x1 - kMargin || cx > b.x2 + kMargin || cy < b.y1 - kMargin || cy > b.y2 + kMargin;
        const Rgb p = PixelAt(out.image, x, y);
        const bool red = p.r == 255 && p.g == 0 && p.b == 0;
        if (inside) {
          ASSERT_TRUE(red) << "seed " << seed << " pixel " << x << "," << y;
          ++checked_pixels;
        } else if (outside) {
          ASSERT_FALSE(red) << "seed " << seed << " pixel " << x << "," << y;
        }
      }
    }
  }
  EXPECT_GT(flipped, 50);
  EXPECT_LT(flipped, 150);
  EXPECT_GT(cropped, 20);
  EXPECT_GT(checked_pixels, 100000);
}

TEST(AugmentTest, FlipMirrorsImageAndBoxes) {
  // A square image at its own size: scale 1, no crop, so the only change is the flip.
  Example ex = RectangleExample(128, 128, 10, 20, 40, 90, 3);
  AugmentOptions options;
  int flipped = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    const AugmentedExample out = Augment(ex, options, rng);
    ASSERT_EQ(out.objects.size(), 1u);
    const Object& b = out.objects[0];
    if (!out.flipped) {
      EXPECT_TRUE(out.image.pixels == ex.image.pixels);
      EXPECT_EQ(b.x1, 10);
      EXPECT_EQ(b.x2, 40);
      continue;
    }
    ++flipped;
    EXPECT_EQ(b.x1, 128 - 40);
    EXPECT_EQ(b.x2, 128 - 10);
    EXPECT_EQ(b.y1, 20);
    EXPECT_EQ(b.y2, 90);
    for (int y = 0; y < 128; y += 7) {
      for (int x = 0; x < 128; ++x) {
        const Rgb a = PixelAt(out.image, x, y), want = PixelAt(ex.image, 127 - x, y);
        ASSERT_TRUE(a.r == want.r && a.g == want.g && a.b == want.b) << x << "," << y;
      }
    }
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 20);

  options.horizontal_flip = false;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    EXPECT_FALSE(Augment(ex, options, rng).flipped);
  }
}

TEST(AugmentTest, CropDropsBoxesThatLeaveAndClipsTheOthers) {
  Example ex = RectangleExample(100, 100, 45, 45, 55, 55, 5);
  ex.objects.clear();
  ex.objects.push_back(MakeObject(1, 0, 0, 10, 10));      // Top-left corner.
  ex.objects.push_back(MakeObject(2, 90, 90, 100, 100));  // Bottom-right corner.
  ex.objects.push_back(MakeObject(3, 20, 20, 80, 80));    // Central, larger than the crop.
  ex.objects.push_back(MakeObject(4, 0, 40, 100, 60));    // Full-width band.
  AugmentOptions options;
  options.size = 100;
  options.min_scale = options.max_scale = 2.0;  // 200 x 200, cropped to 100 x 100.
  options.horizontal_flip = false;
  int dropped = 0, clipped = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    std::mt19937_64 rng(seed);
    const AugmentedExample out = Augment(ex, options, rng);
    EXPECT_DOUBLE_EQ(out.scale, 2.0);
    ASSERT_GE(out.offset_x, 0);
    ASSERT_LE(out.offset_x, 100);
    ASSERT_GE(out.offset_y, 0);
    ASSERT_LE(out.offset_y, 100);
    std::map<int64_t, Object> got;
    for (const Object& o : out.objects) got[o.id] = o;
    for (const Object& o : ex.objects) {
      const double x1 = o.x1 * 2 - out.offset_x, y1 = o.y1 * 2 - out.offset_y;
      const double x2 = o.x2 * 2 - out.offset_x, y2 = o.y2 * 2 - out.offset_y;
      const double cx1 = std::clamp(x1, 0.0, 100.0), cy1 = std::clamp(y1, 0.0, 100.0);
      const double cx2 = std::clamp(x2, 0.0, 100.0), cy2 = std::clamp(y2, 0.0, 100.0);
      const bool keep = cx2 - cx1 >= 1 && cy2 - cy1 >= 1;
      ASSERT_EQ(got.count(o.id), keep ? 1u : 0u) << "seed " << seed << " id " << o.id;
      if (!keep) {
        ++dropped;
        continue;
      }
      const Object& t = got[o.id];
      EXPECT_FLOAT_EQ(t.x1, cx1);
      EXPECT_FLOAT_EQ(t.y1, cy1);
      EXPECT_FLOAT_EQ(t.x2, cx2);
      EXPECT_FLOAT_EQ(t.y2, cy2);
      EXPECT_GE(t.x1, 0);
      EXPECT_LE(t.x2, 100);
      EXPECT_NEAR(t.area, (cx2 - cx1) * (cy2 - cy1), 1e-6);  // o.area * 4 * clipped fraction.
      clipped += cx1 != x1 || cx2 != x2 || cy1 != y1 || cy2 != y2;
    }
  }
  EXPECT_GT(dropped, 50);
  EXPECT_GT(clipped, 50);
}

TEST(AugmentTest, SameSeedSameOutput) {
  SyntheticOptions so;
  so.images = 4;
  std::unique_ptr<SyntheticDataset> ds = SyntheticDataset::Create(so).value();
  AugmentOptions options;
  options.min_scale = 0.5;
  options.max_scale = 2.0;
  for (int i = 0; i < ds->size(); ++i) {
    const Example ex = ds->Get(i).value();
    std::mt19937_64 a(42 + i), b(42 + i);
    for (int k = 0; k < 3; ++k) ExpectSame(Augment(ex, options, a), Augment(ex, options, b));
  }
  // Different seeds give different geometry somewhere.
  const Example ex = ds->Get(0).value();
  bool differ = false;
  for (uint64_t s = 1; s <= 10 && !differ; ++s) {
    std::mt19937_64 a(s), b(s + 100);
    differ = Augment(ex, options, a).scale != Augment(ex, options, b).scale;
  }
  EXPECT_TRUE(differ);
}

TEST(AugmentTest, NoJitterNoFlipEqualsLetterbox) {
  AugmentOptions options;
  options.horizontal_flip = false;
  SyntheticOptions so;
  so.images = 3;
  so.size = 96;
  std::unique_ptr<SyntheticDataset> ds = SyntheticDataset::Create(so).value();
  std::vector<Example> examples;
  for (int i = 0; i < ds->size(); ++i) examples.push_back(ds->Get(i).value());
  examples.push_back(RectangleExample(200, 100, 20, 10, 60, 50, 9));
  examples.push_back(RectangleExample(77, 131, 5, 60, 70, 130, 10));
  for (const Example& ex : examples) {
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      std::mt19937_64 rng(seed);
      ExpectSame(Augment(ex, options, rng), Letterbox(ex, options.size));
    }
  }
}

}  // namespace
}  // namespace vertebra::worker::data
