// The architecture record: validation, canonical form and content hash of an ArchSpec.
//
// Thread-safe: every function here is pure.
#ifndef VERTEBRA_SEARCH_SPACES_ARCH_SPEC_H_
#define VERTEBRA_SEARCH_SPACES_ARCH_SPEC_H_

#include <string>

#include "absl/status/status.h"
#include "vertebra/v1/arch.pb.h"

namespace vertebra::search_spaces {

// Levels a block may take: L2 (1/4 of the input) to L7 (1/128).
inline constexpr int kMinLevel = 2;
inline constexpr int kMaxLevel = 7;
// Levels that carry an output block and an endpoint P3..P7, one each.
inline constexpr int kMinOutputLevel = 3;
inline constexpr int kMaxOutputLevel = 7;
// The stem produces features 0 and 1; blocks[k] produces feature k + kNumStemFeatures.
inline constexpr int kNumStemFeatures = 2;
// No sensible backbone has more rows than this; SpineNet-49 has 15. Longer lists are refused so
// that a malformed proposal cannot make the controller allocate without bound.
inline constexpr int kMaxBlocks = 512;

// SpineNet-49's scaling (spinenet.md §2.2), used where a spec gives none.
v1::Scaling DefaultScaling();

// Checks everything the JSON form cannot express: levels in 2..7, exactly two distinct earlier
// parents per block, exactly one output block per level 3..7 and at most one at level 2, a block
// count in 1..kMaxBlocks, positive scaling values and widths that stay positive after scaling.
// Returns InvalidArgument naming the block ("blocks[4].parents") or field ("scaling.filter_scale").
absl::Status ValidateArchSpec(const v1::ArchSpec& spec);

// The canonical form: name cleared, each block's parents sorted ascending. Two specs build the
// same network if and only if their canonical forms are equal. The build order is part of the
// network (it fixes submodule names, the stochastic-depth schedule and which dangling features
// the output blocks absorb), so blocks are never reordered. Precondition: ValidateArchSpec is OK.
v1::ArchSpec CanonicalArchSpec(const v1::ArchSpec& spec);

// The content hash: lowercase hex SHA-256 of the canonical form's deterministic serialization
// (64 characters). Stable across runs, machines and releases; ignores the name.
std::string ArchHash(const v1::ArchSpec& spec);

// The first 12 hex characters of ArchHash, for display.
std::string ShortArchHash(const v1::ArchSpec& spec);

// "bottleneck" / "residual"; "unspecified" otherwise.
const char* BlockTypeName(v1::BlockType type);

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_ARCH_SPEC_H_
