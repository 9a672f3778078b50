// The architecture spec's JSON reader and everything a valid spec goes through next: validation,
// the resolved graph and its cost. Any input: an error Status or a result, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "search_spaces/arch_json.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/resolve.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vertebra::search_spaces;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<vertebra::v1::ArchSpec> spec = ArchSpecFromJson(text);
  if (!spec.ok()) return 0;
  if (!ValidateArchSpec(*spec).ok()) return 0;
  (void)Resolve(*spec, 64, 64);
  return 0;
}
