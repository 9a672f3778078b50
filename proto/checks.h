// What a worker may send: the range of every number and the length of every free-text field of
// the worker service's requests, checked at the controller's edge before anything is stored. A
// request that breaks one is refused whole (InvalidArgument naming the field), so one bad number
// never reaches a ranking or a reward. The limits are part of the protocol: a well-behaved worker
// stays inside them (TruncateText for failure messages). Stateless; thread-safe.
#ifndef VERTEBRA_PROTO_CHECKS_H_
#define VERTEBRA_PROTO_CHECKS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "vertebra/v1/service.pb.h"

namespace vertebra {

inline constexpr size_t kMaxWorkerIdChars = 128;
inline constexpr size_t kMaxSecretChars = 128;    // Register hands out 48 hex digits.
inline constexpr size_t kMaxHostChars = 255;      // A DNS name is at most 253.
inline constexpr size_t kMaxDeviceChars = 255;
inline constexpr size_t kMaxFailureChars = 4096;  // A failure's first lines say what went wrong.
inline constexpr int64_t kMaxStep = int64_t{1} << 40;
inline constexpr int64_t kMaxMemoryMb = int64_t{1} << 30;  // 1 EiB.
inline constexpr double kMaxLoss = 1e6;
inline constexpr double kMaxSeconds = 1e8;        // Three years of training.
inline constexpr double kMaxImagesPerS = 1e7;
// Trial states one worker may say it holds: a search of this many trials is far beyond any run,
// and the ids stay well within the message limit.
inline constexpr size_t kMaxHeldTrials = 100000;

// Lease: the worker id within its length; held_trials at most kMaxHeldTrials, each positive.
absl::Status CheckLeaseRequest(const v1::LeaseRequest& r);

// Register: host, device within their lengths; memory_mb in [0, kMaxMemoryMb].
absl::Status CheckRegisterRequest(const v1::RegisterRequest& r);

// Heartbeat: the ids; step and start_step in [0, kMaxStep]; loss finite in [0, kMaxLoss]; ap
// (when has_ap) in [0, 1]; held_trials as Lease's.
absl::Status CheckHeartbeatRequest(const v1::HeartbeatRequest& r);

// Report: the ids; failure within kMaxFailureChars; the COCO numbers absent or exactly 12
// (pycocotools' stats), AP (stats[0]) in [0, 1] and the other eleven in [0, 1] or exactly -1
// (pycocotools' "no ground truth in this area"), required unless the report is a failure;
// train_seconds, eval_seconds and checkpoint_seconds in [0, kMaxSeconds]; images_per_s in [0, kMaxImagesPerS]; cooldown_steps and
// start_step in [0, kMaxStep]. NaN and infinities never pass.
absl::Status CheckReportRequest(const v1::ReportRequest& r);

// `text` cut to at most `max_chars` bytes at a UTF-8 character boundary, with " [...]" at the end
// when anything was cut (the result stays within max_chars).
std::string TruncateText(const std::string& text, size_t max_chars = kMaxFailureChars);

}  // namespace vertebra

#endif  // VERTEBRA_PROTO_CHECKS_H_
