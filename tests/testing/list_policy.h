// A scripted search policy: proposes the decision sequences of a list in turn, over and over,
// and records what it observes. Not thread-safe, like every Policy.
#ifndef VERTEBRA_TESTS_TESTING_LIST_POLICY_H_
#define VERTEBRA_TESTS_TESTING_LIST_POLICY_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "controller/policy.h"

namespace vertebra::test_util {

class ListPolicy : public controller::Policy {
 public:
  // `observed`, when given, receives every observation.
  explicit ListPolicy(std::vector<std::vector<int>> list,
                      std::shared_ptr<std::vector<controller::Observation>> observed = nullptr)
      : list_(std::move(list)), observed_(std::move(observed)) {}
  v1::Algorithm algorithm() const override { return v1::ALGORITHM_RANDOM; }
  absl::StatusOr<controller::Proposal> Propose() override {
    return controller::Proposal{list_[next_++ % list_.size()], {}, 0};
  }
  absl::Status Observe(const controller::Observation& o) override {
    if (observed_) observed_->push_back(o);
    return absl::OkStatus();
  }
  std::string Save() const override { return std::to_string(next_); }
  absl::Status Restore(const std::string& s) override {
    next_ = std::stoul(s);
    return absl::OkStatus();
  }

 private:
  std::vector<std::vector<int>> list_;
  size_t next_ = 0;
  std::shared_ptr<std::vector<controller::Observation>> observed_;
};

}  // namespace vertebra::test_util

#endif  // VERTEBRA_TESTS_TESTING_LIST_POLICY_H_
