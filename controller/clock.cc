#include "controller/clock.h"

#include <chrono>

namespace vertebra::controller {
namespace {

class SystemClock : public Clock {
 public:
  double Now() const override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
};

}  // namespace

Clock* RealClock() {
  static SystemClock clock;
  return &clock;
}

}  // namespace vertebra::controller
