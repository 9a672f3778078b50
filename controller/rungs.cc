#include "controller/rungs.h"

#include <algorithm>
#include <numeric>

#include "common/pareto.h"

namespace vertebra::controller {
namespace {

// Trials measured at both a lower rung and the top one before the lower rung's AP is mapped
// onto the top rung's scale.
constexpr size_t kMinPairsForFit = 5;

}  // namespace

const v1::RungResult* ResultAt(const v1::Trial& t, int32_t rung) {
  for (const v1::RungResult& r : t.results()) {
    if (r.rung() == rung) return &r;
  }
  return nullptr;
}

Rungs::Rungs(const v1::ExperimentConfig& config)
    : eta_(config.rungs().eta()),
      pareto_(config.objective().kind() == "ap_macs"),
      trials_(std::max(1, config.rungs().steps_size())),
      order_(trials_.size()) {}

void Rungs::Add(int64_t trial, int32_t rung, double ap) {
  trials_[rung].push_back(trial);
  order_[rung].insert({-ap, trial});
}

std::optional<int64_t> Rungs::FindPromotion(const std::map<int64_t, v1::Trial>& trials) const {
  for (int k = static_cast<int>(trials_.size()) - 2; k >= 0; --k) {
    const std::vector<int64_t>& ids = trials_[k];
    const size_t quota = ids.size() / eta_;
    if (quota == 0) continue;
    if (!pareto_) {
      // By AP: the best not-yet-promoted trial within the top `quota` (the first on ties).
      size_t seen = 0;
      for (auto it = order_[k].begin(); it != order_[k].end() && seen < quota; ++it, ++seen) {
        const v1::Trial& t = trials.at(it->second);
        if (t.rung() == k && t.state() == v1::DONE) return t.id();
      }
      continue;
    }
    // By Pareto rank of AP against MACs (common/pareto.h), then AP, then id.
    struct Entry {
      int64_t id;
      double ap;
      int rank;
    };
    std::vector<ApMacs> points;
    points.reserve(ids.size());
    for (int64_t id : ids) {
      const v1::Trial& t = trials.at(id);
      const v1::RungResult* r = ResultAt(t, k);
      points.push_back({r->ap().stats_size() > 0 ? r->ap().stats(0) : 0.0, t.macs()});
    }
    const std::vector<int> ranks = ParetoRanks(points);
    std::vector<Entry> entries;
    entries.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) entries.push_back({ids[i], points[i].ap, ranks[i]});
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      if (a.rank != b.rank) return a.rank < b.rank;
      if (a.ap != b.ap) return a.ap > b.ap;
      return a.id < b.id;
    });
    for (size_t i = 0; i < quota; ++i) {
      const v1::Trial& t = trials.at(entries[i].id);
      // Still at rung k and finished there: not yet promoted.
      if (t.rung() == k && t.state() == v1::DONE) return t.id();
    }
  }
  return std::nullopt;
}

double Rungs::TopEstimate(int32_t rung, double ap, const std::map<int64_t, v1::Trial>& trials) const {
  const int32_t top = static_cast<int32_t>(trials_.size()) - 1;
  if (rung >= top) return ap;
  std::vector<double> low, high;
  for (int64_t id : trials_[top]) {
    const v1::Trial& t = trials.at(id);
    const v1::RungResult* a = ResultAt(t, rung);
    const v1::RungResult* b = ResultAt(t, top);
    if (a == nullptr || b == nullptr || a->ap().stats_size() == 0 || b->ap().stats_size() == 0) continue;
    low.push_back(a->ap().stats(0));
    high.push_back(b->ap().stats(0));
  }
  if (low.size() < kMinPairsForFit) return ap;
  // The least-squares line of the top-rung AP on this rung's AP: the expected top-rung AP given
  // this one. Selecting the pairs by their low-rung AP (promotion) does not bias it. Its slope
  // is r x sd_high / sd_low; a negative r is taken as no relation (slope 0).
  const double n = static_cast<double>(low.size());
  const double mean_low = std::accumulate(low.begin(), low.end(), 0.0) / n;
  const double mean_high = std::accumulate(high.begin(), high.end(), 0.0) / n;
  double cov = 0, var = 0;
  for (size_t i = 0; i < low.size(); ++i) {
    cov += (low[i] - mean_low) * (high[i] - mean_high);
    var += (low[i] - mean_low) * (low[i] - mean_low);
  }
  const double slope = var > 0 ? std::max(0.0, cov / var) : 0.0;
  return mean_high + slope * (ap - mean_low);
}

std::vector<int64_t> Rungs::ResultsPerRung() const {
  std::vector<int64_t> out;
  out.reserve(trials_.size());
  for (const std::vector<int64_t>& r : trials_) out.push_back(static_cast<int64_t>(r.size()));
  return out;
}

}  // namespace vertebra::controller
