#include "controller/rungs.h"

#include <algorithm>

#include "common/pareto.h"
#include "proto/kinds.h"

namespace vertebra::controller {

const v1::RungResult* ResultAt(const v1::Trial& t, int32_t rung) {
  for (const v1::RungResult& r : t.results()) {
    if (r.rung() == rung) return &r;
  }
  return nullptr;
}

Rungs::Rungs(const v1::ExperimentConfig& config)
    : eta_(config.rungs().eta()),
      pareto_(ObjectiveOf(config.objective()) == v1::OBJECTIVE_AP_MACS),
      predicted_(PromotionOf(config.search()) == v1::PROMOTION_PREDICTED),
      predictor_(std::max(1, config.rungs().steps_size()), config.proxy()),
      trials_(std::max(1, config.rungs().steps_size())),
      order_(trials_.size()) {}

void Rungs::Add(const v1::Trial& trial, int32_t rung, double ap) {
  trials_[rung].push_back(trial.id());
  order_[rung].insert({-ap, trial.id()});
  predictor_.Add(trial, rung, ap);
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
  if (!pareto_ && !predicted_) {
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
  // By the score (the rung's AP, or the predicted top-rung AP), or by Pareto rank of the score
  // against MACs (common/pareto.h); then the score, then id.
  struct Entry {
    int64_t id;
    double score;
    int rank;
  };
  std::vector<const v1::Trial*> records;
  records.reserve(n);
  for (int64_t id : trials_[k]) records.push_back(&trials.at(id));
  if (extra_result != nullptr) records.push_back(extra);
  std::vector<ApMacs> points;
  points.reserve(n);
  for (const v1::Trial* t : records) {
    const double ap = ap_of(t == extra ? extra_result : ResultAt(*t, k));
    points.push_back({predicted_ ? predictor_.TopEstimate(*t, k, ap) : ap, t->macs()});
  }
  const std::vector<int> ranks = pareto_ ? ParetoRanks(points) : std::vector<int>(n, 0);
  std::vector<Entry> entries;
  entries.reserve(n);
  for (size_t i = 0; i < n; ++i) entries.push_back({records[i]->id(), points[i].ap, ranks[i]});
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.score != b.score) return a.score > b.score;
    return a.id < b.id;
  });
  for (size_t i = 0; i < quota; ++i) out.push_back(entries[i].id);
  return out;
}

std::vector<int64_t> Rungs::ResultsPerRung() const {
  std::vector<int64_t> out;
  out.reserve(trials_.size());
  for (const std::vector<int64_t>& r : trials_) out.push_back(static_cast<int64_t>(r.size()));
  return out;
}

}  // namespace vertebra::controller
