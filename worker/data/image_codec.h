// Image files in and out: JPEG through libjpeg-turbo's TurboJPEG API (SIMD decoding, the fastest
// well-kept decoder Debian ships) and PNG through libpng. Thread-safe: every call is independent.
#ifndef VERTEBRA_WORKER_DATA_IMAGE_CODEC_H_
#define VERTEBRA_WORKER_DATA_IMAGE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/dataset.h"

namespace vertebra::worker::data {

// Decodes a JPEG or PNG (told apart by their signatures) into 8-bit RGB: grey, palette, alpha
// and 16-bit PNGs are converted; CMYK JPEGs too. DataLoss for a corrupt or truncated file,
// InvalidArgument for anything that is neither format.
absl::StatusOr<RgbImage> DecodeImage(const std::vector<uint8_t>& bytes);

// Reads and decodes a file; errors are prefixed with the path (NotFound when it cannot be read).
absl::StatusOr<RgbImage> ReadImageFile(const std::string& path);

// Lossless PNG bytes of an RGB image. InvalidArgument for an empty or inconsistent image.
absl::StatusOr<std::vector<uint8_t>> EncodePng(const RgbImage& image);

}  // namespace vertebra::worker::data

#endif  // VERTEBRA_WORKER_DATA_IMAGE_CODEC_H_
