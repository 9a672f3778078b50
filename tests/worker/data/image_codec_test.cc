#include "worker/data/image_codec.h"

#include <png.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vertebra::worker::data {
namespace {

using ::testing::HasSubstr;

RgbImage Gradient(int width, int height) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &image.pixels[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / std::max(width - 1, 1));
      p[1] = static_cast<uint8_t>(y * 255 / std::max(height - 1, 1));
      p[2] = static_cast<uint8_t>((x + y) * 7);
    }
  }
  return image;
}

// A JPEG of `pixels` in `pixel_format` (TJPF_RGB, TJPF_GRAY or TJPF_CMYK), quality 95.
std::vector<uint8_t> MakeJpeg(const std::vector<uint8_t>& pixels, int width, int height, int pixel_format,
                              int subsampling) {
  tjhandle handle = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int channels = tjPixelSize[pixel_format];
  const int rc = tjCompress2(handle, pixels.data(), width, width * channels, height, pixel_format, &out, &size,
                             subsampling, 95, TJFLAG_ACCURATEDCT);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(handle);
  std::vector<uint8_t> bytes(out, out + size);
  tjFree(out);
  tjDestroy(handle);
  return bytes;
}

// A PNG written with libpng's simplified API in any of its formats (grey, alpha, 16-bit...).
std::vector<uint8_t> MakePng(const void* pixels, int width, int height, png_uint_32 format) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = width;
  png.height = height;
  png.format = format;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&png, nullptr, &size, 0, pixels, 0, nullptr)) << png.message;
  std::vector<uint8_t> bytes(size);
  EXPECT_TRUE(png_image_write_to_memory(&png, bytes.data(), &size, 0, pixels, 0, nullptr)) << png.message;
  bytes.resize(size);
  return bytes;
}

double MeanAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::abs(int{a[i]} - int{b[i]});
  return sum / static_cast<double>(a.size());
}

TEST(ImageCodecTest, PngRoundTripIsExact) {
  const RgbImage image = Gradient(37, 21);
  auto png = EncodePng(image);
  ASSERT_TRUE(png.ok()) << png.status();
  auto decoded = DecodeImage(*png);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->width, 37);
  EXPECT_EQ(decoded->height, 21);
  EXPECT_EQ(decoded->pixels, image.pixels);
}

TEST(ImageCodecTest, EncodePngRejectsEmptyOrInconsistentImages) {
  EXPECT_EQ(EncodePng(RgbImage{}).status().code(), absl::StatusCode::kInvalidArgument);
  RgbImage bad = Gradient(4, 4);
  bad.pixels.pop_back();
  EXPECT_EQ(EncodePng(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImageCodecTest, JpegDecodesCloseToTheOriginal) {
  const RgbImage image = Gradient(64, 48);
  for (int subsampling : {TJSAMP_444, TJSAMP_420}) {
    auto decoded = DecodeImage(MakeJpeg(image.pixels, 64, 48, TJPF_RGB, subsampling));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->width, 64);
    EXPECT_EQ(decoded->height, 48);
    ASSERT_EQ(decoded->pixels.size(), image.pixels.size());
    EXPECT_LT(MeanAbsDiff(decoded->pixels, image.pixels), 4.0) << "subsampling " << subsampling;
  }
}

TEST(ImageCodecTest, GreyJpegBecomesRgb) {
  std::vector<uint8_t> grey(32 * 16);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint8_t>(i % 32 * 8);
  auto decoded = DecodeImage(MakeJpeg(grey, 32, 16, TJPF_GRAY, TJSAMP_GRAY));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->pixels.size(), grey.size() * 3);
  for (size_t i = 0; i < grey.size(); ++i) {
    EXPECT_EQ(decoded->pixels[3 * i], decoded->pixels[3 * i + 1]);
    EXPECT_EQ(decoded->pixels[3 * i], decoded->pixels[3 * i + 2]);
    EXPECT_NEAR(decoded->pixels[3 * i], grey[i], 6);
  }
}

TEST(ImageCodecTest, CmykJpegBecomesRgb) {
  // Inverted (Adobe) CMYK as libjpeg stores it: C = M = Y = 255 and K = 128 is mid grey.
  std::vector<uint8_t> cmyk(16 * 16 * 4);
  for (size_t i = 0; i < cmyk.size(); i += 4) {
    cmyk[i] = 255;
    cmyk[i + 1] = 255;
    cmyk[i + 2] = 255;
    cmyk[i + 3] = 128;
  }
  auto decoded = DecodeImage(MakeJpeg(cmyk, 16, 16, TJPF_CMYK, TJSAMP_444));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->pixels.size(), 16u * 16 * 3);
  for (uint8_t v : decoded->pixels) EXPECT_NEAR(v, 128, 4);
}

TEST(ImageCodecTest, GreyPngBecomesRgb) {
  std::vector<uint8_t> grey = {0, 50, 100, 150, 200, 255};
  auto decoded = DecodeImage(MakePng(grey.data(), 3, 2, PNG_FORMAT_GRAY));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->pixels.size(), 18u);
  for (size_t i = 0; i < grey.size(); ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(decoded->pixels[3 * i + c], grey[i]);
  }
}

TEST(ImageCodecTest, AlphaPngDropsAlpha) {
  std::vector<uint8_t> rgba = {10, 20, 30, 255, 40, 50, 60, 0, 70, 80, 90, 128, 1, 2, 3, 4};
  // The simplified writer stores 8-bit RGBA as given (not premultiplied) in sRGB formats.
  auto decoded = DecodeImage(MakePng(rgba.data(), 2, 2, PNG_FORMAT_RGBA));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->pixels, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60, 70, 80, 90, 1, 2, 3}));
}

TEST(ImageCodecTest, GreyAlphaPngBecomesRgb) {
  std::vector<uint8_t> ga = {7, 255, 200, 0};
  auto decoded = DecodeImage(MakePng(ga.data(), 2, 1, PNG_FORMAT_GA));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->pixels, (std::vector<uint8_t>{7, 7, 7, 200, 200, 200}));
}

TEST(ImageCodecTest, SixteenBitPngBecomesEightBit) {
  // PNG_FORMAT_LINEAR_RGB writes 16-bit linear samples; 0 and 65535 stay black and white.
  std::vector<uint16_t> rgb16 = {0, 0, 0, 65535, 65535, 65535};
  auto decoded = DecodeImage(MakePng(rgb16.data(), 2, 1, PNG_FORMAT_LINEAR_RGB));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->pixels, (std::vector<uint8_t>{0, 0, 0, 255, 255, 255}));
}

TEST(ImageCodecTest, PalettePngBecomesRgb) {
  // Write a two-colour palette PNG with the simplified API's colour-map format.
  const uint8_t colormap[] = {255, 0, 0, 0, 0, 255};  // red, blue
  const uint8_t indices[] = {0, 1, 1, 0};
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = 2;
  png.height = 2;
  png.format = PNG_FORMAT_RGB_COLORMAP;
  png.colormap_entries = 2;
  png_alloc_size_t size = 0;
  ASSERT_TRUE(png_image_write_to_memory(&png, nullptr, &size, 0, indices, 0, colormap)) << png.message;
  std::vector<uint8_t> bytes(size);
  ASSERT_TRUE(png_image_write_to_memory(&png, bytes.data(), &size, 0, indices, 0, colormap)) << png.message;
  bytes.resize(size);
  auto decoded = DecodeImage(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->pixels, (std::vector<uint8_t>{255, 0, 0, 0, 0, 255, 0, 0, 255, 255, 0, 0}));
}

TEST(ImageCodecTest, TruncatedFilesAreDataLoss) {
  const RgbImage image = Gradient(40, 30);
  std::vector<uint8_t> png = *EncodePng(image);
  std::vector<uint8_t> jpeg = MakeJpeg(image.pixels, 40, 30, TJPF_RGB, TJSAMP_420);
  for (std::vector<uint8_t> bytes : {png, jpeg}) {
    for (size_t keep : {bytes.size() / 2, bytes.size() - 4, size_t{12}}) {
      std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + keep);
      auto decoded = DecodeImage(cut);
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << keep << " bytes: " << decoded.status();
    }
  }
}

TEST(ImageCodecTest, CorruptFilesAreDataLoss) {
  const RgbImage image = Gradient(40, 30);
  std::vector<uint8_t> png = *EncodePng(image);
  png[png.size() / 2] ^= 0xff;  // Breaks the IDAT CRC.
  EXPECT_EQ(DecodeImage(png).status().code(), absl::StatusCode::kDataLoss);

  std::vector<uint8_t> jpeg = MakeJpeg(image.pixels, 40, 30, TJPF_RGB, TJSAMP_420);
  std::vector<uint8_t> garbage(jpeg.begin(), jpeg.begin() + 3);  // The signature, then noise.
  for (int i = 0; i < 200; ++i) garbage.push_back(static_cast<uint8_t>(i * 37 + 11));
  EXPECT_EQ(DecodeImage(garbage).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ImageCodecTest, UnknownBytesAreInvalidArgument) {
  EXPECT_EQ(DecodeImage({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeImage({'G', 'I', 'F', '8', '9', 'a', 0, 0}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImageCodecTest, ReadImageFileNamesThePath) {
  const std::string path = absl::StrFormat("%simage_codec_test_%d.png", testing::TempDir(), getpid());
  EXPECT_EQ(ReadImageFile(path).status().code(), absl::StatusCode::kNotFound);
  std::vector<uint8_t> png = *EncodePng(Gradient(5, 5));
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size() / 2));
  }
  auto decoded = ReadImageFile(path);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr(path));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vertebra::worker::data
