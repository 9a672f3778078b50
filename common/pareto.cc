#include "common/pareto.h"

#include <algorithm>
#include <cmath>

namespace vertebra {
namespace {

// At least as good in both and better in one; false whenever either AP is NaN.
bool Dominates(const ApMacs& a, const ApMacs& b) {
  return a.ap >= b.ap && a.macs <= b.macs && (a.ap > b.ap || a.macs < b.macs);
}

}  // namespace

std::vector<int> ParetoRanks(const std::vector<ApMacs>& points) {
  std::vector<int> rank(points.size(), 0);
  std::vector<bool> assigned(points.size(), false);
  size_t left = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    if (std::isnan(points[i].ap)) {
      assigned[i] = true;  // Ranked after the loop, past the last finite rank.
    } else {
      ++left;
    }
  }
  int next = 0;
  for (; left > 0; ++next) {
    std::vector<size_t> front;
    for (size_t i = 0; i < points.size(); ++i) {
      if (assigned[i]) continue;
      bool dominated = false;
      for (size_t j = 0; j < points.size() && !dominated; ++j) {
        if (j != i && !assigned[j]) dominated = Dominates(points[j], points[i]);
      }
      if (!dominated) front.push_back(i);
    }
    for (size_t i : front) {
      rank[i] = next;
      assigned[i] = true;
    }
    left -= front.size();
  }
  for (size_t i = 0; i < points.size(); ++i) {
    if (std::isnan(points[i].ap)) rank[i] = next;
  }
  return rank;
}

std::vector<size_t> ParetoFront(const std::vector<ApMacs>& points) {
  std::vector<size_t> order;
  order.reserve(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    if (!std::isnan(points[i].ap)) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (points[a].macs != points[b].macs) return points[a].macs < points[b].macs;
    if (points[a].ap != points[b].ap) return points[a].ap > points[b].ap;
    return a < b;
  });
  // In this order a point can only be dominated by one before it, and a point dominated by an
  // earlier dominated point is dominated by what dominated that one: checking the front suffices.
  std::vector<size_t> front;
  for (size_t i : order) {
    const bool dominated =
        std::any_of(front.begin(), front.end(), [&](size_t f) { return Dominates(points[f], points[i]); });
    if (!dominated) front.push_back(i);
  }
  return front;
}

}  // namespace vertebra
