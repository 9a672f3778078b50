#include "controller/rungs.h"

#include <algorithm>
#include <numeric>

#include "common/pareto.h"
#include "proto/kinds.h"

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
      pareto_(ObjectiveOf(config.objective()) == v1::OBJECTIVE_AP_MACS),
      trials_(std::max(1, config.rungs().steps_size())),
      order_(trials_.size()) {}

void Rungs::Add(int64_t trial, int32_t rung, double ap) {
  trials_[rung].push_back(trial);
  order_[rung].insert({-ap, trial});
}

std::optional<int64_t> Rungs::FindPromotion(const std::map<int64_t, v1::Trial>& trials) const {
  const std::vector<int64_t> all = Promotions(trials);
  if (all.empty()) return std::nullopt;
  return all.front();
}

std::vector<int64_t> Rungs::Promotions(const std::map<int64_t, v1::Trial>& trials) const {
  std::vector<int64_t> out;
  for (int k = static_cast<int>(trials_.size()) - 2; k >= 0; --k) {
    // The trials of the quota still at rung k and finished there: not yet promoted.
    for (int64_t id : Quota(k, trials)) {
      const v1::Trial& t = trials.at(id);
      if (t.rung() == k && t.state() == v1::DONE) out.push_back(t.id());
    }
  }
  return out;
}

std::vector<int64_t> Rungs::Quota(int32_t k, const std::map<int64_t, v1::Trial>& trials, const v1::Trial* extra) const {
  const v1::RungResult* extra_result = extra == nullptr ? nullptr : ResultAt(*extra, k);
  const size_t n = trials_[k].size() + (extra_result != nullptr ? 1 : 0);
  const size_t quota = n / eta_;
  std::vector<int64_t> out;
  if (quota == 0) return out;
  auto ap_of = [](const v1::RungResult* r) { return r->ap().stats_size() > 0 ? r->ap().stats(0) : 0.0; };
  if (!pareto_) {
    // By AP (the first on ties), with `extra` merged in at its place.
    std::set<std::pair<double, int64_t>>::const_iterator it = order_[k].begin();
    bool extra_placed = extra_result == nullptr;
    const std::pair<double, int64_t> extra_key =
        extra_placed ? std::pair<double, int64_t>{} : std::pair<double, int64_t>{-ap_of(extra_result), extra->id()};
    while (out.size() < quota) {
      if (!extra_placed && (it == order_[k].end() || extra_key < *it)) {
        out.push_back(extra->id());
        extra_placed = true;
      } else {
        out.push_back(it->second);
        ++it;
      }
    }
    return out;
  }
  // By Pareto rank of AP against MACs (common/pareto.h), then AP, then id.
  struct Entry {
    int64_t id;
    double ap;
    int rank;
  };
  std::vector<const v1::Trial*> records;
  records.reserve(n);
  for (int64_t id : trials_[k]) records.push_back(&trials.at(id));
  if (extra_result != nullptr) records.push_back(extra);
  std::vector<ApMacs> points;
  points.reserve(n);
  for (const v1::Trial* t : records) {
    const v1::RungResult* r = t == extra ? extra_result : ResultAt(*t, k);
    points.push_back({ap_of(r), t->macs()});
  }
  const std::vector<int> ranks = ParetoRanks(points);
  std::vector<Entry> entries;
  entries.reserve(n);
  for (size_t i = 0; i < n; ++i) entries.push_back({records[i]->id(), points[i].ap, ranks[i]});
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.ap != b.ap) return a.ap > b.ap;
    return a.id < b.id;
  });
  for (size_t i = 0; i < quota; ++i) out.push_back(entries[i].id);
  return out;
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
