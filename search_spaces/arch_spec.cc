#include "search_spaces/arch_spec.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_format.h"
#include "search_spaces/resolve.h"

namespace vertebra::search_spaces {
namespace {

// Scaling values beyond these build models no machine could hold; they are typos.
constexpr double kMaxFilterScale = 16.0;
constexpr double kMaxResampleAlpha = 16.0;
constexpr int kMaxBlockRepeats = 64;
constexpr int kMaxEndpointFilters = 16384;

absl::Status BlockError(int row, const char* field, const std::string& reason) {
  return absl::InvalidArgumentError(absl::StrFormat("blocks[%d].%s: %s", row, field, reason));
}

absl::Status ValidateScaling(const v1::Scaling& s) {
  if (!(s.filter_scale() > 0) || s.filter_scale() > kMaxFilterScale || !std::isfinite(s.filter_scale())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "scaling.filter_scale: must be in (0, %g], got %g", kMaxFilterScale, s.filter_scale()));
  }
  if (!(s.resample_alpha() > 0) || s.resample_alpha() > kMaxResampleAlpha || !std::isfinite(s.resample_alpha())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "scaling.resample_alpha: must be in (0, %g], got %g", kMaxResampleAlpha, s.resample_alpha()));
  }
  if (s.block_repeats() < 1 || s.block_repeats() > kMaxBlockRepeats) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "scaling.block_repeats: must be in 1..%d, got %d", kMaxBlockRepeats, s.block_repeats()));
  }
  if (s.endpoint_filters() < 1 || s.endpoint_filters() > kMaxEndpointFilters) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "scaling.endpoint_filters: must be in 1..%d, got %d", kMaxEndpointFilters, s.endpoint_filters()));
  }
  // Every width the builder derives must stay at least one channel.
  const int l2 = InnerWidth(kMinLevel, s.filter_scale());
  if (l2 < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "scaling.filter_scale: %g makes the level-2 width int(64 x %g) = 0", s.filter_scale(), s.filter_scale()));
  }
  if (static_cast<int>(l2 * s.resample_alpha()) < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "scaling.resample_alpha: %g squeezes a %d-channel level-2 connection to 0 channels",
        s.resample_alpha(), l2));
  }
  return absl::OkStatus();
}

}  // namespace

v1::Scaling DefaultScaling() {
  v1::Scaling s;
  s.set_filter_scale(1.0);
  s.set_resample_alpha(0.5);
  s.set_block_repeats(1);
  s.set_endpoint_filters(256);
  return s;
}

const char* BlockTypeName(v1::BlockType type) {
  switch (type) {
    case v1::BOTTLENECK: return "bottleneck";
    case v1::RESIDUAL: return "residual";
    default: return "unspecified";
  }
}

absl::Status ValidateArchSpec(const v1::ArchSpec& spec) {
  const int n = spec.blocks_size();
  if (n == 0) return absl::InvalidArgumentError("blocks: the block list is empty");
  if (n > kMaxBlocks) {
    return absl::InvalidArgumentError(
        absl::StrFormat("blocks: %d blocks is more than the limit of %d", n, kMaxBlocks));
  }
  int output_row[kMaxLevel + 1];
  std::fill(std::begin(output_row), std::end(output_row), -1);
  for (int row = 0; row < n; ++row) {
    const v1::Block& b = spec.blocks(row);
    if (b.level() < kMinLevel || b.level() > kMaxLevel) {
      return BlockError(row, "level", absl::StrFormat("must be in %d..%d, got %d", kMinLevel, kMaxLevel, b.level()));
    }
    if (b.type() != v1::BOTTLENECK && b.type() != v1::RESIDUAL) {
      return BlockError(row, "block", "must be \"bottleneck\" or \"residual\"");
    }
    if (b.parents_size() != 2) {
      return BlockError(row, "parents", absl::StrFormat("must name exactly 2 features, got %d", b.parents_size()));
    }
    const int feature = row + kNumStemFeatures;
    for (int p : b.parents()) {
      if (p < 0 || p >= feature) {
        return BlockError(row, "parents", absl::StrFormat(
            "%d is not an earlier feature (block %d produces feature %d; parents must be in 0..%d)",
            p, row, feature, feature - 1));
      }
    }
    if (b.parents(0) == b.parents(1)) {
      return BlockError(row, "parents", absl::StrFormat("the two parents must differ, got [%d, %d]",
                                                         b.parents(0), b.parents(1)));
    }
    if (b.output()) {
      if (output_row[b.level()] >= 0) {
        return BlockError(row, "output", absl::StrFormat("level %d already has an output block (blocks[%d])",
                                                          b.level(), output_row[b.level()]));
      }
      output_row[b.level()] = row;
    }
  }
  for (int level = kMinOutputLevel; level <= kMaxOutputLevel; ++level) {
    if (output_row[level] < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "blocks: no output block at level %d (exactly one output per level %d..%d is required)",
          level, kMinOutputLevel, kMaxOutputLevel));
    }
  }
  return ValidateScaling(spec.scaling());
}

v1::ArchSpec CanonicalArchSpec(const v1::ArchSpec& spec) {
  v1::ArchSpec canonical = spec;
  canonical.clear_name();
  for (v1::Block& b : *canonical.mutable_blocks()) {
    std::sort(b.mutable_parents()->begin(), b.mutable_parents()->end());
  }
  return canonical;
}

std::string ArchHash(const v1::ArchSpec& spec) {
  // The hash covers a fixed text rendering rather than the protobuf wire bytes, so that it does
  // not depend on the serializer's field order or a future field's default.
  const v1::ArchSpec c = CanonicalArchSpec(spec);
  std::string text = "vertebra.arch.v1;";
  const v1::Scaling& s = c.scaling();
  text += absl::StrFormat("scale=%.17g;alpha=%.17g;repeats=%d;endpoints=%d;", s.filter_scale(),
                          s.resample_alpha(), s.block_repeats(), s.endpoint_filters());
  for (const v1::Block& b : c.blocks()) {
    text += absl::StrFormat("%d,%d,%d,%d,%d;", b.level(), static_cast<int>(b.type()),
                            b.parents_size() > 0 ? b.parents(0) : -1,
                            b.parents_size() > 1 ? b.parents(1) : -1, b.output() ? 1 : 0);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

std::string ShortArchHash(const v1::ArchSpec& spec) { return ArchHash(spec).substr(0, 12); }

}  // namespace vertebra::search_spaces
