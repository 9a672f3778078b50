// The scheduler's time source: Unix seconds. The system clock here; a fake one for tests lives in
// tests/testing/fake_clock.h.
#ifndef VERTEBRA_CONTROLLER_CLOCK_H_
#define VERTEBRA_CONTROLLER_CLOCK_H_

namespace vertebra::controller {

// Implementations must be thread-safe: the RPC threads and the policy thread read it at once.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Now() const = 0;
};

// The system clock; a process-wide instance, never deleted.
Clock* RealClock();

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_CLOCK_H_
