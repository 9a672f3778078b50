// A clock that stands still until a test advances it. Thread-safe.
#ifndef VERTEBRA_TESTS_TESTING_FAKE_CLOCK_H_
#define VERTEBRA_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/clock.h"

namespace vertebra::test_util {

class FakeClock : public controller::Clock {
 public:
  explicit FakeClock(double start = 1.7e9) : now_(start) {}
  double Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(double seconds) {
    absl::MutexLock lock(&mu_);
    now_ += seconds;
  }

 private:
  mutable absl::Mutex mu_;
  double now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vertebra::test_util

#endif  // VERTEBRA_TESTS_TESTING_FAKE_CLOCK_H_
