#include "search_spaces/decisions.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/family.h"

namespace vertebra::search_spaces {
namespace {

// One output block per level 3..7.
constexpr int kNumOutputBlocks = kMaxOutputLevel - kMinOutputLevel + 1;
// Options of an intermediate-permutation decision: pool levels 2..7.
constexpr int kNumLevels = kMaxLevel - kMinLevel + 1;
// The paper's block adjustments (spinenet.md §1.2); option i shifts the pool level by
// kAdjustments[i].
constexpr std::array<int, 4> kAdjustments = {-1, 0, 1, 2};
constexpr int kNoAdjustmentOption = 1;
// Block-type options.
constexpr int kBottleneckOption = 0;
constexpr int kResidualOption = 1;
constexpr int kNumBlockTypes = 2;
// A mutation redraws a different decision this many times before falling back to flipping a
// block type; a redraw lands on an equivalent spec only when adjustments happen to cancel a
// permutation change, so a handful of tries suffice and 100 is far beyond need.
constexpr int kMaxMutationAttempts = 100;

// Where each part of the decision sequence starts (see the layout in decisions.h).
struct Layout {
  int num_intermediate;
  int num_blocks;

  explicit Layout(const SearchSpace& space)
      : num_intermediate(space.num_intermediate()), num_blocks(space.num_blocks()) {}
  int output_begin() const { return num_intermediate; }
  int parent_begin() const { return output_begin() + kNumOutputBlocks; }
  int adjustment_begin() const { return parent_begin() + 2 * num_blocks; }
  int type_begin() const { return adjustment_begin() + num_intermediate; }
  int size() const { return type_begin() + num_blocks; }
};

// The features block `block` may take as parents: first..last, inclusive. Intermediate blocks
// see the last `window` features built (stem included), output blocks every earlier feature.
struct ParentRange {
  int first;
  int last;
};

ParentRange ParentCandidates(const SearchSpace& space, int block) {
  const int feature = block + kNumStemFeatures;
  const int first =
      block < space.num_intermediate() ? std::max(0, feature - space.options().intermediate_parent_window) : 0;
  return {first, feature - 1};
}

bool IsZeroScaling(const v1::Scaling& s) {
  return s.filter_scale() == 0 && s.resample_alpha() == 0 && s.block_repeats() == 0 && s.endpoint_filters() == 0;
}

v1::Scaling SpaceScaling(const SearchSpaceOptions& options) {
  return IsZeroScaling(options.scaling) ? DefaultScaling() : options.scaling;
}

// "0..3, 5" for a mask with options 0, 1, 2, 3 and 5 valid.
std::string DescribeMask(const std::vector<bool>& mask) {
  std::vector<std::string> parts;
  const int n = static_cast<int>(mask.size());
  for (int i = 0; i < n; ++i) {
    if (!mask[i]) continue;
    int j = i;
    while (j + 1 < n && mask[j + 1]) ++j;
    parts.push_back(j == i ? absl::StrCat(i) : absl::StrCat(i, "..", j));
    i = j;
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, ", ");
}

int CountValid(const std::vector<bool>& mask) { return static_cast<int>(std::count(mask.begin(), mask.end(), true)); }

// A uniform integer in [0, n), n > 0. Drawn from the raw 64-bit output of mt19937_64 (whose
// sequence the standard fixes) by rejecting the top partial range and taking the remainder,
// rather than with std::uniform_int_distribution (whose algorithm each standard library picks):
// sequences are then the same for a seed on every platform.
uint64_t DrawBelow(std::mt19937_64& rng, uint64_t n) {
  // 2^64 mod n: the values below it would make small remainders more likely.
  const uint64_t reject_below = (0 - n) % n;
  uint64_t x = rng();
  while (x < reject_below) x = rng();
  return x % n;
}

// An option drawn with probability weight / sum(weights). Precondition: some weight > 0.
int DrawWeighted(const std::vector<int64_t>& weights, std::mt19937_64& rng) {
  uint64_t total = 0;
  for (int64_t w : weights) total += static_cast<uint64_t>(w);
  uint64_t r = DrawBelow(rng, total);
  for (int i = 0; i < static_cast<int>(weights.size()); ++i) {
    const uint64_t w = static_cast<uint64_t>(weights[i]);
    if (r < w) return i;
    r -= w;
  }
  return static_cast<int>(weights.size()) - 1;  // Unreachable: r < total.
}

// A valid option drawn uniformly, leaving out `excluded` (-1: none). Precondition: one exists.
int DrawValid(const std::vector<bool>& mask, std::mt19937_64& rng, int excluded = -1) {
  std::vector<int64_t> weights(mask.size(), 0);
  for (size_t i = 0; i < mask.size(); ++i) {
    weights[i] = mask[i] && static_cast<int>(i) != excluded ? 1 : 0;
  }
  return DrawWeighted(weights, rng);
}

bool IsValidOption(const std::vector<bool>& mask, int option) {
  return option >= 0 && option < static_cast<int>(mask.size()) && mask[option];
}

// The spec a complete, valid sequence stands for.
v1::ArchSpec BuildSpec(const SearchSpace& space, const std::vector<int>& chosen) {
  const Layout layout(space);
  v1::ArchSpec spec;
  for (int block = 0; block < layout.num_blocks; ++block) {
    v1::Block* b = spec.add_blocks();
    if (block < layout.num_intermediate) {
      const int pool_level = kMinLevel + chosen[block];
      b->set_level(pool_level + kAdjustments[chosen[layout.adjustment_begin() + block]]);
      b->set_output(false);
    } else {
      // output[block - num_intermediate].level is step `block`: it follows the pool's steps.
      b->set_level(kMinOutputLevel + chosen[block]);
      b->set_output(true);
    }
    b->add_parents(chosen[layout.parent_begin() + 2 * block]);
    b->add_parents(chosen[layout.parent_begin() + 2 * block + 1]);
    b->set_type(chosen[layout.type_begin() + block] == kBottleneckOption ? v1::BOTTLENECK : v1::RESIDUAL);
  }
  *spec.mutable_scaling() = SpaceScaling(space.options());
  return spec;
}

std::string DescribePool(std::vector<int> pool) {
  std::sort(pool.begin(), pool.end());
  return absl::StrCat("{", absl::StrJoin(pool, ", "), "}");
}

// Pool levels a block at `level` can come from: level - adjustment for each adjustment, in the
// order Encode prefers (no adjustment first, then +1, -1, +2).
std::array<int, 4> PoolLevelsByPreference(int level) { return {level, level - 1, level + 1, level - 2}; }

bool InLevelRange(int level) { return level >= kMinLevel && level <= kMaxLevel; }

// Whether blocks needing `need[l]` blocks at level kMinLevel + l can each be given a distinct
// pool item from `pool` (counts per level) within reach of an adjustment. Each block accepts a
// contiguous range of pool levels, so the greedy that serves blocks in increasing level order
// from the lowest pool level still in reach is exact.
bool CanCover(const std::array<int, kNumLevels>& need, std::array<int, kNumLevels> pool) {
  for (int l = 0; l < kNumLevels; ++l) {
    int left = need[l];
    for (int p = std::max(0, l - 2); p <= std::min(kNumLevels - 1, l + 1) && left > 0; ++p) {
      const int take = std::min(left, pool[p]);
      left -= take;
      pool[p] -= take;
    }
    if (left > 0) return false;
  }
  return true;
}

// The same greedy over rows (served by level, then row), returning the first row left without
// a pool item. Only for the error message of an uncoverable spec.
int FirstUncoveredRow(const std::vector<int>& levels, std::array<int, kNumLevels> pool) {
  std::vector<int> rows(levels.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int>(i);
  std::stable_sort(rows.begin(), rows.end(), [&](int a, int b) { return levels[a] < levels[b]; });
  for (int row : rows) {
    const int l = levels[row] - kMinLevel;
    bool served = false;
    for (int p = std::max(0, l - 2); p <= std::min(kNumLevels - 1, l + 1); ++p) {
      if (pool[p] > 0) {
        --pool[p];
        served = true;
        break;
      }
    }
    if (!served) return row;
  }
  return -1;
}

// The pool level of each intermediate block, such that level - pool level is an adjustment and
// the pool levels use the pool exactly. Equivalent to a backtracking search over the blocks in
// order that tries pool levels in PoolLevelsByPreference order and keeps the first complete
// assignment; CanCover prunes every dead branch, so it runs in polynomial time.
absl::StatusOr<std::vector<int>> AssignPoolLevels(const std::vector<int>& levels, const std::vector<int>& pool_items) {
  std::array<int, kNumLevels> pool{};
  for (int level : pool_items) ++pool[level - kMinLevel];
  std::array<int, kNumLevels> need{};
  for (int level : levels) ++need[level - kMinLevel];

  for (size_t row = 0; row < levels.size(); ++row) {
    bool reachable = false;
    for (int p : PoolLevelsByPreference(levels[row])) {
      reachable = reachable || (InLevelRange(p) && pool[p - kMinLevel] > 0);
    }
    if (!reachable) {
      return absl::InvalidArgumentError(
          absl::StrFormat("blocks[%d].level: %d is out of reach of the intermediate pool %s (adjustments -1..+2 "
                          "reach it only from pool levels %d..%d)",
                          row, levels[row], DescribePool(pool_items), std::max(kMinLevel, levels[row] - 2),
                          std::min(kMaxLevel, levels[row] + 1)));
    }
  }
  if (!CanCover(need, pool)) {
    const int row = FirstUncoveredRow(levels, pool);
    return absl::InvalidArgumentError(absl::StrFormat(
        "blocks[%d].level: the intermediate pool %s cannot cover the intermediate levels %s with "
        "adjustments -1..+2: no pool item is left for this block's level %d",
        row, DescribePool(pool_items), absl::StrCat("[", absl::StrJoin(levels, ", "), "]"), levels[row]));
  }

  std::vector<int> assigned(levels.size());
  for (size_t row = 0; row < levels.size(); ++row) {
    --need[levels[row] - kMinLevel];
    bool done = false;
    for (int p : PoolLevelsByPreference(levels[row])) {
      if (!InLevelRange(p) || pool[p - kMinLevel] == 0) continue;
      --pool[p - kMinLevel];
      if (CanCover(need, pool)) {
        assigned[row] = p;
        done = true;
        break;
      }
      ++pool[p - kMinLevel];
    }
    if (!done) {  // Unreachable: the remainder was coverable before this row.
      return absl::InternalError(absl::StrFormat("blocks[%d]: pool assignment failed", row));
    }
  }
  return assigned;
}

double Log10Factorial(int n) {
  double sum = 0;
  for (int k = 2; k <= n; ++k) sum += std::log10(static_cast<double>(k));
  return sum;
}

double Log10Choose2(int n) { return std::log10(0.5 * n * (n - 1)); }

int NumValidAdjustments(int pool_level) {
  int count = 0;
  for (int adjustment : kAdjustments) count += InLevelRange(pool_level + adjustment) ? 1 : 0;
  return count;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// DecisionCursor

DecisionCursor::DecisionCursor(const SearchSpace& space)
    : space_(&space), pool_left_(kNumLevels, 0), outputs_left_(kNumOutputBlocks, true), levels_(space.num_blocks(), 0) {
  chosen_.reserve(space.num_decisions());
  for (int level : space.options().intermediate_pool) ++pool_left_[level - kMinLevel];
}

bool DecisionCursor::Done() const { return step() >= space_->num_decisions(); }

// Empty once Done().
std::vector<bool> DecisionCursor::Mask() const {
  if (Done()) return {};
  const Decision& d = space_->decision(step());
  std::vector<bool> mask(d.num_options, false);
  switch (d.kind) {
    case DecisionKind::kIntermediateLevel:
      for (int o = 0; o < kNumLevels; ++o) mask[o] = pool_left_[o] > 0;
      break;
    case DecisionKind::kOutputLevel:
      for (int o = 0; o < kNumOutputBlocks; ++o) mask[o] = outputs_left_[o];
      break;
    case DecisionKind::kParent: {
      const ParentRange range = ParentCandidates(*space_, d.block);
      const bool second = (step() - Layout(*space_).parent_begin()) % 2 == 1;
      // The first parent leaves room for a larger second one; the second exceeds the first.
      const int first = second ? chosen_.back() + 1 : range.first;
      const int last = second ? range.last : range.last - 1;
      for (int o = first; o <= last; ++o) mask[o] = true;
      break;
    }
    case DecisionKind::kLevelAdjustment:
      for (int o = 0; o < static_cast<int>(kAdjustments.size()); ++o) {
        mask[o] = InLevelRange(levels_[d.block] + kAdjustments[o]);
      }
      break;
    case DecisionKind::kBlockType:
      mask[kBottleneckOption] = mask[kResidualOption] = true;
      break;
  }
  return mask;
}

std::vector<int64_t> DecisionCursor::CompletionWeights() const {
  const std::vector<bool> mask = Mask();
  std::vector<int64_t> weights(mask.size(), 0);
  if (Done()) return weights;
  const Decision& d = space_->decision(step());
  const bool first_parent = d.kind == DecisionKind::kParent && (step() - Layout(*space_).parent_begin()) % 2 == 0;
  for (int o = 0; o < static_cast<int>(mask.size()); ++o) {
    if (!mask[o]) continue;
    if (d.kind == DecisionKind::kIntermediateLevel) {
      // Orders of the rest of the pool: multinomial(n - 1; counts with this level's minus one),
      // proportional to this level's count. What follows the permutation is counted over the
      // pool as a multiset, so it does not depend on the order.
      weights[o] = pool_left_[o];
    } else if (first_parent) {
      weights[o] = ParentCandidates(*space_, d.block).last - o;  // Second parents above it.
    } else {
      weights[o] = 1;  // Every other choice leaves the same number of completions.
    }
  }
  return weights;
}

absl::Status DecisionCursor::Choose(int option) {
  if (Done()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the decision sequence is complete (%d decisions)", space_->num_decisions()));
  }
  const Decision& d = space_->decision(step());
  if (option < 0 || option >= d.num_options) {
    return absl::InvalidArgumentError(
        absl::StrFormat("step %d (%s): option %d is out of range 0..%d", step(), d.name, option, d.num_options - 1));
  }
  const std::vector<bool> mask = Mask();
  if (!mask[option]) {
    return absl::InvalidArgumentError(absl::StrFormat("step %d (%s): option %d is masked out; valid options: %s",
                                                      step(), d.name, option, DescribeMask(mask)));
  }
  switch (d.kind) {
    case DecisionKind::kIntermediateLevel:
      --pool_left_[option];
      levels_[d.block] = kMinLevel + option;
      break;
    case DecisionKind::kOutputLevel:
      outputs_left_[option] = false;
      levels_[d.block] = kMinOutputLevel + option;
      break;
    case DecisionKind::kParent:
    case DecisionKind::kLevelAdjustment:
    case DecisionKind::kBlockType:
      break;  // Read back from chosen_ where needed.
  }
  chosen_.push_back(option);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// SearchSpace

absl::StatusOr<SearchSpace> SearchSpace::Create(SearchSpaceOptions options) {
  if (options.intermediate_pool.empty()) {
    return absl::InvalidArgumentError("intermediate_pool: must name at least one level");
  }
  const int max_pool = kMaxBlocks - kNumOutputBlocks;
  if (static_cast<int>(options.intermediate_pool.size()) > max_pool) {
    return absl::InvalidArgumentError(
        absl::StrFormat("intermediate_pool: %d levels is more than the limit of %d (%d blocks with the outputs)",
                        options.intermediate_pool.size(), max_pool, kMaxBlocks));
  }
  for (size_t i = 0; i < options.intermediate_pool.size(); ++i) {
    const int level = options.intermediate_pool[i];
    if (!InLevelRange(level)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("intermediate_pool[%d]: must be in %d..%d, got %d", i, kMinLevel, kMaxLevel, level));
    }
  }
  if (options.intermediate_parent_window < 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("intermediate_parent_window: must be at least 2 (a block takes two parents), got %d",
                        options.intermediate_parent_window));
  }
  if (!IsZeroScaling(options.scaling)) {
    // Every decoded spec carries this scaling, so it must pass validation on its own.
    v1::ArchSpec probe = SpineNet49();
    *probe.mutable_scaling() = options.scaling;
    if (absl::Status status = ValidateArchSpec(probe); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("options.", status.message()));
    }
  }
  return SearchSpace(std::move(options));
}

SearchSpace::SearchSpace(SearchSpaceOptions options) : options_(std::move(options)) {
  const Layout layout(*this);
  decisions_.reserve(layout.size());
  for (int i = 0; i < layout.num_intermediate; ++i) {
    decisions_.push_back(
        {DecisionKind::kIntermediateLevel, i, kNumLevels, absl::StrFormat("intermediate[%d].level", i)});
  }
  for (int j = 0; j < kNumOutputBlocks; ++j) {
    decisions_.push_back({DecisionKind::kOutputLevel, layout.num_intermediate + j, kNumOutputBlocks,
                          absl::StrFormat("output[%d].level", j)});
  }
  // Parent options are absolute feature indices; the last block's parents reach num_blocks.
  const int parent_options = layout.num_blocks + 1;
  for (int block = 0; block < layout.num_blocks; ++block) {
    for (int slot = 0; slot < 2; ++slot) {
      decisions_.push_back(
          {DecisionKind::kParent, block, parent_options, absl::StrFormat("block[%d].parent[%d]", block, slot)});
    }
  }
  for (int block = 0; block < layout.num_intermediate; ++block) {
    decisions_.push_back({DecisionKind::kLevelAdjustment, block, static_cast<int>(kAdjustments.size()),
                          absl::StrFormat("block[%d].level_adjustment", block)});
  }
  for (int block = 0; block < layout.num_blocks; ++block) {
    decisions_.push_back({DecisionKind::kBlockType, block, kNumBlockTypes, absl::StrFormat("block[%d].type", block)});
  }
}

int SearchSpace::num_intermediate() const { return static_cast<int>(options_.intermediate_pool.size()); }

int SearchSpace::num_blocks() const { return num_intermediate() + kNumOutputBlocks; }

absl::StatusOr<v1::ArchSpec> SearchSpace::Decode(absl::Span<const int> decisions) const {
  if (static_cast<int>(decisions.size()) != num_decisions()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("decisions: this space takes %d decisions, got %d", num_decisions(), decisions.size()));
  }
  DecisionCursor cursor(*this);
  for (int option : decisions) RETURN_IF_ERROR(cursor.Choose(option));
  return BuildSpec(*this, cursor.chosen());
}

absl::StatusOr<std::vector<int>> SearchSpace::Encode(const v1::ArchSpec& spec) const {
  const Layout layout(*this);
  if (spec.blocks_size() != layout.num_blocks) {
    return absl::InvalidArgumentError(
        absl::StrFormat("blocks: this space builds %d blocks (%d intermediate + %d output), got %d", layout.num_blocks,
                        layout.num_intermediate, kNumOutputBlocks, spec.blocks_size()));
  }
  // The spec's own scaling is not a decision; check the rest under the space's scaling.
  v1::ArchSpec checked = spec;
  *checked.mutable_scaling() = SpaceScaling(options_);
  RETURN_IF_ERROR(ValidateArchSpec(checked));
  const v1::ArchSpec canonical = CanonicalArchSpec(checked);

  std::vector<int> levels;
  for (int block = 0; block < layout.num_blocks; ++block) {
    const v1::Block& b = canonical.blocks(block);
    const bool intermediate = block < layout.num_intermediate;
    if (b.output() == intermediate) {
      return absl::InvalidArgumentError(
          absl::StrFormat("blocks[%d].output: this space builds its %d intermediate blocks first and its %d "
                          "output blocks last, so block %d must %sbe an output",
                          block, layout.num_intermediate, kNumOutputBlocks, block, intermediate ? "not " : ""));
    }
    const ParentRange range = ParentCandidates(*this, block);
    if (b.parents(0) < range.first) {
      return absl::InvalidArgumentError(
          absl::StrFormat("blocks[%d].parents: %d is outside the parent window: intermediate block %d (feature "
                          "%d) may only take features %d..%d",
                          block, b.parents(0), block, block + kNumStemFeatures, range.first, range.last));
    }
    if (intermediate) levels.push_back(b.level());
  }
  ASSIGN_OR_RETURN(const std::vector<int> pool_levels, AssignPoolLevels(levels, options_.intermediate_pool));

  std::vector<int> decisions(layout.size());
  for (int block = 0; block < layout.num_blocks; ++block) {
    const v1::Block& b = canonical.blocks(block);
    if (block < layout.num_intermediate) {
      decisions[block] = pool_levels[block] - kMinLevel;
      decisions[layout.adjustment_begin() + block] = kNoAdjustmentOption + (b.level() - pool_levels[block]);
    } else {
      decisions[block] = b.level() - kMinOutputLevel;
    }
    decisions[layout.parent_begin() + 2 * block] = b.parents(0);
    decisions[layout.parent_begin() + 2 * block + 1] = b.parents(1);
    decisions[layout.type_begin() + block] = b.type() == v1::BOTTLENECK ? kBottleneckOption : kResidualOption;
  }
  // Replayed through the masks: an encoding is only returned if Decode accepts it.
  DecisionCursor cursor(*this);
  for (int option : decisions) RETURN_IF_ERROR(cursor.Choose(option));
  return decisions;
}

std::vector<int> SearchSpace::Sample(std::mt19937_64& rng) const {
  DecisionCursor cursor(*this);
  while (!cursor.Done()) {
    const absl::Status status = cursor.Choose(DrawWeighted(cursor.CompletionWeights(), rng));
    (void)status;  // Always OK: only options with a positive weight are drawn.
  }
  return cursor.chosen();
}

std::vector<int> SearchSpace::Mutate(absl::Span<const int> decisions, std::mt19937_64& rng) const {
  // First the input as given (repaired the same way if it is not a valid sequence), noting the
  // steps that have an alternative.
  std::vector<int> base;
  std::vector<int> mutable_steps;
  {
    DecisionCursor cursor(*this);
    while (!cursor.Done()) {
      const int step = cursor.step();
      const std::vector<bool> mask = cursor.Mask();
      int option = step < static_cast<int>(decisions.size()) ? decisions[step] : -1;
      if (!IsValidOption(mask, option)) option = DrawValid(mask, rng);
      if (CountValid(mask) >= 2) mutable_steps.push_back(step);
      (void)cursor.Choose(option);  // Valid by construction.
    }
    base = cursor.chosen();
  }
  const std::string base_hash = ArchHash(BuildSpec(*this, base));

  // Never empty: the first output-permutation decision always has five options.
  for (int attempt = 0; attempt < kMaxMutationAttempts; ++attempt) {
    const int target = mutable_steps[DrawBelow(rng, mutable_steps.size())];
    DecisionCursor cursor(*this);
    while (!cursor.Done()) {
      const int step = cursor.step();
      int option = base[step];
      if (step == target) {
        option = DrawValid(cursor.Mask(), rng, /*excluded=*/base[step]);
      } else if (step > target) {
        const std::vector<bool> mask = cursor.Mask();
        if (!IsValidOption(mask, option)) option = DrawValid(mask, rng);
      }
      (void)cursor.Choose(option);  // Valid by construction.
    }
    if (ArchHash(BuildSpec(*this, cursor.chosen())) != base_hash) return cursor.chosen();
  }
  // Block types map one to one onto the spec, so flipping one always changes the hash.
  std::vector<int> flipped = base;
  const int last_type = Layout(*this).size() - 1;
  flipped[last_type] = flipped[last_type] == kBottleneckOption ? kResidualOption : kBottleneckOption;
  return flipped;
}

SpaceSize SearchSpace::Size() const {
  const Layout layout(*this);
  SpaceSize size;

  std::array<int, kNumLevels> counts{};
  for (int level : options_.intermediate_pool) ++counts[level - kMinLevel];
  size.log10_intermediate_permutations = Log10Factorial(layout.num_intermediate);
  for (int c : counts) size.log10_intermediate_permutations -= Log10Factorial(c);

  size.log10_output_permutations = Log10Factorial(kNumOutputBlocks);

  for (int block = 0; block < layout.num_blocks; ++block) {
    const ParentRange range = ParentCandidates(*this, block);
    size.log10_connections += Log10Choose2(range.last - range.first + 1);
  }
  for (int level : options_.intermediate_pool) {
    size.log10_adjustments += std::log10(static_cast<double>(NumValidAdjustments(level)));
  }
  size.log10_block_types = layout.num_blocks * std::log10(static_cast<double>(kNumBlockTypes));
  size.log10_total = size.log10_intermediate_permutations + size.log10_output_permutations + size.log10_connections +
                     size.log10_adjustments + size.log10_block_types;

  // (N-5)! 5! prod_{i=2}^{N+1} C(i,2) 4^(N-5) 2^N, with the two stem features as candidates.
  const int n = layout.num_blocks;
  size.log10_paper_formula = Log10Factorial(n - kNumOutputBlocks) + Log10Factorial(kNumOutputBlocks) +
                             (n - kNumOutputBlocks) * std::log10(4.0) + n * std::log10(2.0);
  for (int i = kNumStemFeatures; i <= n + kNumStemFeatures - 1; ++i) {
    size.log10_paper_formula += Log10Choose2(i);
  }
  return size;
}

}  // namespace vertebra::search_spaces
