// The in-memory twin of the SQLite store: the same contract (store_test.cc runs one suite against
// both), no durability. Every call holds one mutex, so a call sees and makes whole mutations only.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "controller/store.h"
#include "proto/kinds.h"

namespace vertebra::controller {
namespace {

class MemoryStore final : public Store {
 public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  absl::Status Apply(const Mutation& mutation) override {
    absl::MutexLock lock(&mu_);
    // Everything that can fail is checked before anything changes: a mutation applies whole or
    // not at all, as the SQLite transaction does. The checks come in the SQLite store's order, so
    // that a mutation with several faults gets the same error from both.
    for (const v1::Trial& trial : mutation.trials) {
      if (trial.id() < 1) {
        return absl::InvalidArgumentError(absl::StrFormat("memory store: trial id %d: must be >= 1", trial.id()));
      }
    }
    if (mutation.empty()) return absl::OkStatus();
    if (mutation.create_experiment && experiment_) {
      return absl::FailedPreconditionError("memory store: the experiment already exists");
    }
    if (!mutation.create_experiment && !experiment_) {
      return absl::FailedPreconditionError("memory store: no experiment to change; create it first");
    }

    if (mutation.create_experiment) experiment_ = *mutation.create_experiment;
    if (mutation.experiment_state) experiment_state_ = *mutation.experiment_state;
    for (const v1::Trial& trial : mutation.trials) trials_[trial.id()] = trial;
    for (v1::MetricPoint point : mutation.metrics) {
      // SQLite stores a NaN as NULL, which reads back as "no AP"; the twin agrees.
      if (point.has_ap() && std::isnan(point.ap())) {
        point.clear_has_ap();
        point.clear_ap();
      }
      metrics_[point.trial()].push_back(point);
    }
    for (const WorkerRecord& worker : mutation.workers) workers_[worker.id] = worker;
    if (mutation.policy) policy_ = *mutation.policy;
    if (mutation.final_stage) final_stage_ = *mutation.final_stage;
    for (Event event : mutation.events) {
      event.id = ++last_event_id_;
      events_.push_back(std::move(event));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Snapshot> Load() const override {
    absl::MutexLock lock(&mu_);
    Snapshot snapshot;
    snapshot.experiment = experiment_;
    snapshot.experiment_state = experiment_state_;
    snapshot.trials.reserve(trials_.size());
    for (const auto& [id, trial] : trials_) snapshot.trials.push_back(trial);
    snapshot.workers.reserve(workers_.size());
    for (const auto& [id, worker] : workers_) snapshot.workers.push_back(worker);
    snapshot.policy = policy_;
    snapshot.last_event_id = last_event_id_;
    snapshot.final_stage = final_stage_;
    return snapshot;
  }

  absl::StatusOr<RoleCounts> Counts() const override {
    absl::MutexLock lock(&mu_);
    RoleCounts counts;
    for (const auto& [id, trial] : trials_) counts.Add(trial.role(), trial.state());
    return counts;
  }

  absl::StatusOr<v1::Trial> GetTrial(int64_t id) const override {
    absl::MutexLock lock(&mu_);
    const auto it = trials_.find(id);
    if (it == trials_.end()) return absl::NotFoundError(absl::StrFormat("memory store: no trial %d", id));
    return it->second;
  }

  absl::StatusOr<std::vector<v1::Trial>> ListTrials(int64_t offset, int64_t limit) const override {
    if (offset < 0 || limit < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("memory store: ListTrials(offset=%d, limit=%d): both must be >= 0", offset, limit));
    }
    absl::MutexLock lock(&mu_);
    std::vector<v1::Trial> out;
    auto it = trials_.begin();
    for (int64_t skipped = 0; it != trials_.end() && skipped < offset; ++it, ++skipped) {
    }
    for (; it != trials_.end() && static_cast<int64_t>(out.size()) < limit; ++it) out.push_back(it->second);
    return out;
  }

  absl::StatusOr<std::vector<v1::Trial>> TopTrials(int64_t k) const override {
    if (k < 0) return absl::InvalidArgumentError(absl::StrFormat("memory store: TopTrials(k=%d): must be >= 0", k));
    absl::MutexLock lock(&mu_);
    std::vector<std::pair<double, const v1::Trial*>> ranked;
    for (const auto& [id, trial] : trials_) {
      if (!IsSearchTrial(trial)) continue;
      const std::optional<double> ap = BestAp(trial);
      // A NaN AP is stored as NULL by SQLite and so ranks nowhere; the twin agrees.
      if (ap && !std::isnan(*ap)) ranked.emplace_back(*ap, &trial);
    }
    const auto better = [](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first > b.first;
      return a.second->id() < b.second->id();
    };
    const size_t n = std::min(ranked.size(), static_cast<size_t>(k));
    std::partial_sort(ranked.begin(), ranked.begin() + n, ranked.end(), better);
    std::vector<v1::Trial> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) out.push_back(*ranked[i].second);
    return out;
  }

  absl::StatusOr<std::vector<v1::MetricPoint>> Metrics(int64_t trial) const override {
    absl::MutexLock lock(&mu_);
    const auto it = metrics_.find(trial);
    if (it == metrics_.end()) return std::vector<v1::MetricPoint>{};
    return it->second;
  }

  absl::StatusOr<std::optional<v1::FinalStage>> GetFinalStage() const override {
    absl::MutexLock lock(&mu_);
    return final_stage_;
  }

  absl::StatusOr<std::vector<Event>> Events(int64_t after_id, int64_t limit) const override {
    if (limit < 0) {
      return absl::InvalidArgumentError(absl::StrFormat("memory store: Events(limit=%d): must be >= 0", limit));
    }
    absl::MutexLock lock(&mu_);
    // Ids are 1, 2, ... in order, so the first event after `after_id` is at index after_id.
    std::vector<Event> out;
    for (size_t i = static_cast<size_t>(std::max<int64_t>(after_id, 0));
         i < events_.size() && static_cast<int64_t>(out.size()) < limit; ++i) {
      out.push_back(events_[i]);
    }
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::optional<v1::ExperimentConfig> experiment_ ABSL_GUARDED_BY(mu_);
  v1::ExperimentState experiment_state_ ABSL_GUARDED_BY(mu_) = v1::EXPERIMENT_STATE_UNSPECIFIED;
  std::map<int64_t, v1::Trial> trials_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::vector<v1::MetricPoint>> metrics_ ABSL_GUARDED_BY(mu_);  // By trial, in order.
  std::map<std::string, WorkerRecord> workers_ ABSL_GUARDED_BY(mu_);
  std::optional<PolicyCheckpoint> policy_ ABSL_GUARDED_BY(mu_);
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);  // events_[i].id == i + 1.
  int64_t last_event_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<v1::FinalStage> final_stage_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace vertebra::controller
