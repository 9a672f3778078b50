// The image decoders (JPEG through TurboJPEG, PNG through libpng) as the COCO loader calls them.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "worker/data/image_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  (void)vertebra::worker::data::DecodeImage(bytes);
  return 0;
}
