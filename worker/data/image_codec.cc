#include "worker/data/image_codec.h"

#include <png.h>
#include <turbojpeg.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"

namespace vertebra::worker::data {
namespace {

// Largest image we decode: far beyond any detection dataset (COCO's are ~640 x 480), small enough
// that a corrupt header asking for 60000 x 60000 pixels cannot exhaust memory.
constexpr int64_t kMaxPixels = int64_t{100} * 1000 * 1000;

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
constexpr uint8_t kJpegSignature[3] = {0xff, 0xd8, 0xff};

bool StartsWith(const std::vector<uint8_t>& bytes, const uint8_t* prefix, size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), prefix, n) == 0;
}

// ---------------------------------------------------------------------------------------------
// JPEG (TurboJPEG). tjDecompress2 handles grey and YCbCr; CMYK/YCCK files are decoded to CMYK
// and converted here, since TurboJPEG will not convert them to RGB itself.

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};

absl::StatusOr<RgbImage> DecodeJpeg(const std::vector<uint8_t>& bytes) {
  std::unique_ptr<void, TjDeleter> handle(tjInitDecompress());
  if (handle == nullptr) return absl::InternalError("cannot create a TurboJPEG decompressor");
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), data, size, &width, &height, &subsampling, &colorspace) != 0) {
    return absl::DataLossError(absl::StrCat("corrupt JPEG header: ", tjGetErrorStr2(handle.get())));
  }
  if (width <= 0 || height <= 0 || int64_t{width} * height > kMaxPixels) {
    return absl::DataLossError(absl::StrFormat("JPEG header gives an implausible size %d x %d", width, height));
  }
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const int channels = cmyk ? 4 : 3;
  std::vector<uint8_t> decoded(static_cast<size_t>(width) * height * channels);
  const int status = tjDecompress2(handle.get(), data, size, decoded.data(), width, width * channels, height,
                                   cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_ACCURATEDCT);
  if (status != 0) {
    const std::string message = tjGetErrorStr2(handle.get());
    // Warnings (e.g. "extraneous bytes before marker", which a few real dataset files carry)
    // leave a complete image; a truncated file leaves grey rows, so it counts as corrupt.
    const bool fatal = tjGetErrorCode(handle.get()) != TJERR_WARNING || absl::StrContains(message, "Premature end");
    if (fatal) return absl::DataLossError(absl::StrCat("corrupt JPEG data: ", message));
  }
  RgbImage image;
  image.width = width;
  image.height = height;
  if (!cmyk) {
    image.pixels = std::move(decoded);
    return image;
  }
  // libjpeg hands out Adobe-style (inverted) CMYK, as Photoshop writes it: R = C * K / 255.
  image.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0, n = static_cast<size_t>(width) * height; i < n; ++i) {
    const int k = decoded[4 * i + 3];
    for (int c = 0; c < 3; ++c) image.pixels[3 * i + c] = static_cast<uint8_t>((decoded[4 * i + c] * k + 127) / 255);
  }
  return image;
}

// ---------------------------------------------------------------------------------------------
// PNG (libpng). libpng reports errors by longjmp, so everything between setjmp and the last libpng
// call lives in ReadPngPlain below, a C-style function whose frames (and the callbacks') hold no
// object with a destructor: the jump cannot skip one.

struct PngReadSource {
  const uint8_t* data;
  size_t size;
  size_t offset;
};

struct PngErrorSink {
  char message[256];
};

void PngReadCallback(png_structp png, png_bytep out, png_size_t length) {
  auto* source = static_cast<PngReadSource*>(png_get_io_ptr(png));
  if (length > source->size - source->offset) png_error(png, "truncated PNG data");
  std::memcpy(out, source->data + source->offset, length);
  source->offset += length;
}

void PngErrorCallback(png_structp png, png_const_charp message) {
  auto* sink = static_cast<PngErrorSink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof(sink->message), "%s", message);
  png_longjmp(png, 1);
}

void PngWarningCallback(png_structp, png_const_charp) {}  // Benign (e.g. an odd iCCP chunk).

// Decodes into `*pixels` (malloc'd RGB, width * height * 3; the caller frees it). Returns 0 on
// success, 1 for corrupt data (message in sink), 2 for an implausible size, 3 out of memory.
int ReadPngPlain(const uint8_t* data, size_t size, PngErrorSink* sink, uint8_t** pixels, int* width, int* height) {
  *pixels = nullptr;
  PngReadSource source = {data, size, 0};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, sink, PngErrorCallback, PngWarningCallback);
  if (png == nullptr) return 3;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return 3;
  }
  // Modified between setjmp and a possible longjmp, so volatile (C11 7.13.2.1).
  uint8_t* volatile buffer = nullptr;
  png_bytep* volatile rows = nullptr;
  volatile int result = 0;
  if (setjmp(png_jmpbuf(png))) {
    std::free(buffer);
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    return result != 0 ? result : 1;
  }
  png_set_read_fn(png, &source, PngReadCallback);
  png_set_user_limits(png, 1000000, 1000000);
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info);
  const png_uint_32 h = png_get_image_height(png, info);
  if (uint64_t{w} * h > static_cast<uint64_t>(kMaxPixels)) {
    result = 2;
    png_error(png, "implausible size");
  }
  const int color_type = png_get_color_type(png, info);
  if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_expand_gray_1_2_4_to_8(png);
    png_set_gray_to_rgb(png);
  }
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_strip_alpha(png);  // As PIL's convert("RGB") and torchvision's ImageReadMode.RGB do.
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != size_t{w} * 3) {
    result = 1;
    png_error(png, "unexpected row layout after conversion to RGB");
  }
  buffer = static_cast<uint8_t*>(std::malloc(size_t{w} * h * 3));
  rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * h));
  if (buffer == nullptr || rows == nullptr) {
    result = 3;
    png_error(png, "out of memory");
  }
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = buffer + size_t{y} * w * 3;
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  std::free(rows);
  png_destroy_read_struct(&png, &info, nullptr);
  *pixels = buffer;
  *width = static_cast<int>(w);
  *height = static_cast<int>(h);
  return 0;
}

absl::StatusOr<RgbImage> DecodePng(const std::vector<uint8_t>& bytes) {
  PngErrorSink sink;
  sink.message[0] = '\0';
  uint8_t* pixels = nullptr;
  int width = 0, height = 0;
  const int result = ReadPngPlain(bytes.data(), bytes.size(), &sink, &pixels, &width, &height);
  std::unique_ptr<uint8_t, decltype(&std::free)> owned(pixels, &std::free);
  switch (result) {
    case 0:
      break;
    case 2:
      return absl::DataLossError("PNG header gives an implausible size");
    case 3:
      return absl::ResourceExhaustedError("out of memory decoding a PNG");
    default:
      return absl::DataLossError(absl::StrCat("corrupt PNG data: ", sink.message));
  }
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.assign(pixels, pixels + static_cast<size_t>(width) * height * 3);
  return image;
}

}  // namespace

absl::StatusOr<RgbImage> DecodeImage(const std::vector<uint8_t>& bytes) {
  try {
    if (StartsWith(bytes, kJpegSignature, sizeof(kJpegSignature))) return DecodeJpeg(bytes);
    if (StartsWith(bytes, kPngSignature, sizeof(kPngSignature))) return DecodePng(bytes);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory decoding an image");
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("not a JPEG or PNG file (%d bytes, unknown signature)", bytes.size()));
}

absl::StatusOr<RgbImage> ReadImageFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) return contents.status();  // NotFound, already naming the path.
  const std::vector<uint8_t> bytes(contents->begin(), contents->end());
  absl::StatusOr<RgbImage> image = DecodeImage(bytes);
  if (!image.ok()) {
    return absl::Status(image.status().code(), absl::StrCat(path, ": ", image.status().message()));
  }
  return image;
}

absl::StatusOr<std::vector<uint8_t>> EncodePng(const RgbImage& image) {
  if (image.width <= 0 || image.height <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("cannot encode an empty %d x %d image", image.width, image.height));
  }
  if (int64_t{image.width} * image.height > kMaxPixels ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrFormat("image of %d x %d pixels holds %d bytes, not width * height * 3",
                                                      image.width, image.height, image.pixels.size()));
  }
  // The simplified write API handles its own longjmp internally: nothing here can be skipped.
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), 0, nullptr)) {
    const std::string message = png.message;
    png_image_free(&png);
    return absl::InternalError(absl::StrCat("libpng cannot size the PNG: ", message));
  }
  std::vector<uint8_t> out(size);
  if (!png_image_write_to_memory(&png, out.data(), &size, 0, image.pixels.data(), 0, nullptr)) {
    const std::string message = png.message;
    png_image_free(&png);
    return absl::InternalError(absl::StrCat("libpng cannot encode the PNG: ", message));
  }
  out.resize(size);
  return out;
}

}  // namespace vertebra::worker::data
