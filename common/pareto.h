// The Pareto order of AP (maximized) against multiply-adds (minimized): the scheduler's promotion
// rank for the ap_macs objective, `top --pareto`'s front and the report's staircases.
// Pure functions; thread-safe.
//
// The tie rule: a point dominates another when it is at least as good in both (AP >=, MACs <=) and
// better in one. Points equal in both dominate neither each other, so all of them share a rank
// and all of them are on the front when one is. A NaN AP (a diverged run) compares with nothing:
// it dominates no point, it is never on the front, and it is ranked after every other point.
#ifndef VERTEBRA_COMMON_PARETO_H_
#define VERTEBRA_COMMON_PARETO_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vertebra {

struct ApMacs {
  double ap = 0;
  int64_t macs = 0;
};

// The non-dominated sorting rank of each point, in input order: 0 for the front, 1 for the front
// of what is left without it, and so on; NaN APs get one rank past the last. Quadratic in the
// points times the ranks: fine for the thousands of results of a rung.
std::vector<int> ParetoRanks(const std::vector<ApMacs>& points);

// Indices of the points on the front (rank 0), ordered by MACs, then AP (higher first), then
// index. O(n log n + n x front size).
std::vector<size_t> ParetoFront(const std::vector<ApMacs>& points);

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_PARETO_H_
