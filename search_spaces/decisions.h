// The SpineNet search space (spinenet.md §1.2) as a fixed sequence of categorical decisions,
// each with a mask of the choices that are valid given the earlier ones. A controller (RL,
// evolution, random) only ever sees decision sequences; Decode turns one into an ArchSpec.
//
// Decision layout, in this order (the paper's: permutation, connections, adjustments):
//   1. intermediate permutation: num_intermediate decisions; option i = pool level 2 + i (6
//      options), valid while that level has blocks left in the pool.
//   2. output permutation: 5 decisions; option i = level 3 + i, each level once.
//   3. parents: 2 per block in build order (intermediate blocks first, then outputs); option =
//      absolute feature index (num_blocks + 1 options). The pair is unordered, so the first
//      parent must be smaller than the second. Intermediate blocks choose among the last five
//      features built (stem features included); output blocks among all earlier features.
//   4. level adjustments: one per intermediate block; options {-1, 0, +1, +2}, valid where the
//      adjusted level stays in 2..7.
//   5. block types: one per block; options {bottleneck, residual}.
//
// Different sequences may decode to the same spec (two pool blocks of different levels adjusted
// onto the same level); Encode picks one deterministically. Thread-safe: const methods only.
#ifndef VERTEBRA_SEARCH_SPACES_DECISIONS_H_
#define VERTEBRA_SEARCH_SPACES_DECISIONS_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "vertebra/v1/arch.pb.h"

namespace vertebra::search_spaces {

struct SearchSpaceOptions {
  // Levels of the intermediate blocks before adjustment (a multiset; order is irrelevant).
  // Default: SpineNet-49's ten intermediate blocks.
  std::vector<int> intermediate_pool = {2, 4, 3, 4, 6, 4, 5, 7, 5, 5};
  // Intermediate blocks choose parents among this many most recent features.
  int intermediate_parent_window = 5;
  // Given to every decoded spec. Default: SpineNet-49's.
  v1::Scaling scaling;  // All-zero means DefaultScaling().
};

enum class DecisionKind { kIntermediateLevel, kOutputLevel, kParent, kLevelAdjustment, kBlockType };

struct Decision {
  DecisionKind kind;
  int block = 0;        // Build-order block (spec row) the decision is about; for permutation
                        // decisions, the position being filled.
  int num_options = 0;
  std::string name;     // e.g. "block[3].parent[1]", "intermediate[2].level".
};

// The size of the space, log10 of the number of valid decision sequences, factor by factor.
struct SpaceSize {
  double log10_intermediate_permutations = 0;  // Distinct level orders of the pool (multinomial).
  double log10_output_permutations = 0;        // 5!
  double log10_connections = 0;                // Product of C(candidates, 2) over blocks.
  double log10_adjustments = 0;                // Product over pool blocks of valid adjustments.
  double log10_block_types = 0;                // 2^num_blocks
  double log10_total = 0;
  // The paper's formula for the same N without the parent window: (N-5)! 5! prod C(i,2) 4^(N-5)
  // 2^N, for comparison.
  double log10_paper_formula = 0;
};

class SearchSpace;

// Walks a decision sequence one step at a time, keeping the masks current. What a controller
// uses while it samples: Mask(), then Choose(option), until Done().
class DecisionCursor {
 public:
  explicit DecisionCursor(const SearchSpace& space);
  int step() const { return static_cast<int>(chosen_.size()); }
  bool Done() const;
  // Valid options for the current step (size = decision(step()).num_options).
  std::vector<bool> Mask() const;
  // FailedPrecondition when done; InvalidArgument when `option` is masked out.
  absl::Status Choose(int option);
  const std::vector<int>& chosen() const { return chosen_; }
  // Per option of the current step, a weight proportional to the number of valid ways to finish
  // the sequence after choosing it (0 exactly where masked out; all 0 when done). Sample draws
  // from these weights, which makes it exactly uniform over whole sequences; a learned policy
  // uses their logarithm as its prior.
  std::vector<int64_t> CompletionWeights() const;

 private:
  friend class SearchSpace;

  const SearchSpace* space_;
  std::vector<int> chosen_;
  std::vector<int> pool_left_;   // Count per level 2..7 still to place (intermediate).
  std::vector<bool> outputs_left_;
  std::vector<int> levels_;      // Per block: pool level (intermediate) or level (output).
};

class SearchSpace {
 public:
  // InvalidArgument for an empty pool, pool levels outside 2..7, or a window < 2.
  static absl::StatusOr<SearchSpace> Create(SearchSpaceOptions options);

  int num_intermediate() const;
  int num_blocks() const;  // num_intermediate() + 5
  int num_decisions() const { return static_cast<int>(decisions_.size()); }
  const Decision& decision(int i) const { return decisions_[i]; }
  const std::vector<Decision>& decisions() const { return decisions_; }
  const SearchSpaceOptions& options() const { return options_; }

  // Builds the spec (parents sorted, scaling from the options, empty name). InvalidArgument
  // naming the step when the sequence has the wrong length or a masked-out choice.
  absl::StatusOr<v1::ArchSpec> Decode(absl::Span<const int> decisions) const;

  // The decisions of a spec in this space, such that Decode(Encode(s)) == CanonicalArchSpec(s)
  // up to the name. InvalidArgument naming the block when the spec is not in the space (wrong
  // block count, outputs not last, a parent outside the window, levels the pool cannot cover).
  absl::StatusOr<std::vector<int>> Encode(const v1::ArchSpec& spec) const;

  // A decision sequence drawn uniformly from all valid sequences.
  std::vector<int> Sample(std::mt19937_64& rng) const;

  // Changes one decision to another valid option, then repairs what follows: later choices
  // that are still valid are kept, the others are redrawn uniformly. The result decodes to a
  // spec with a different hash whenever the space allows one.
  std::vector<int> Mutate(absl::Span<const int> decisions, std::mt19937_64& rng) const;

  SpaceSize Size() const;

 private:
  friend class DecisionCursor;
  explicit SearchSpace(SearchSpaceOptions options);
  SearchSpaceOptions options_;
  std::vector<Decision> decisions_;
};

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_DECISIONS_H_
