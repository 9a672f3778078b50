// The experiment file's reader: strict JSON, every field's type and range, defaults filled in.
#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<vertebra::v1::ExperimentConfig> config =
      vertebra::controller::ParseExperimentConfig(text, "fuzz.json");
  if (config.ok()) (void)vertebra::controller::ExperimentConfigToJson(*config);
  return 0;
}
