#include "proto/checks.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace vertebra {
namespace {

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s", field, why));
}

absl::Status Length(const std::string& field, const std::string& value, size_t max) {
  if (value.size() <= max) return absl::OkStatus();
  return Bad(field, absl::StrFormat("%d bytes is more than the limit of %d", value.size(), max));
}

absl::Status Range(const std::string& field, double value, double min, double max) {
  if (std::isfinite(value) && value >= min && value <= max) return absl::OkStatus();
  return Bad(field, absl::StrFormat("must be in [%g, %g], got %g", min, max, value));
}

absl::Status Ids(const std::string& worker_id, int64_t trial, int64_t lease) {
  if (absl::Status s = Length("worker_id", worker_id, kMaxWorkerIdChars); !s.ok()) return s;
  if (trial < 0) return Bad("trial", absl::StrFormat("must not be negative, got %d", trial));
  if (lease < 0) return Bad("lease", absl::StrFormat("must not be negative, got %d", lease));
  return absl::OkStatus();
}

absl::Status Step(const std::string& field, int64_t step) {
  if (step >= 0 && step <= kMaxStep) return absl::OkStatus();
  return Bad(field, absl::StrFormat("must be in [0, %d], got %d", kMaxStep, step));
}

// The held trials: at most kMaxHeldTrials ids, each positive.
absl::Status HeldTrials(const google::protobuf::RepeatedField<int64_t>& held) {
  if (held.size() > static_cast<int>(kMaxHeldTrials)) {
    return Bad("held_trials", absl::StrFormat("%d trials is more than the limit of %d", held.size(), kMaxHeldTrials));
  }
  for (int i = 0; i < held.size(); ++i) {
    if (held[i] < 1) return Bad(absl::StrFormat("held_trials[%d]", i), absl::StrFormat("must be positive, got %d", held[i]));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckLeaseRequest(const v1::LeaseRequest& r) {
  RETURN_IF_ERROR(Length("worker_id", r.worker_id(), kMaxWorkerIdChars));
  return HeldTrials(r.held_trials());
}

absl::Status CheckRegisterRequest(const v1::RegisterRequest& r) {
  RETURN_IF_ERROR(Length("host", r.host(), kMaxHostChars));
  RETURN_IF_ERROR(Length("device", r.device(), kMaxDeviceChars));
  if (r.memory_mb() < 0 || r.memory_mb() > kMaxMemoryMb) {
    return Bad("memory_mb", absl::StrFormat("must be in [0, %d], got %d", kMaxMemoryMb, r.memory_mb()));
  }
  return absl::OkStatus();
}

absl::Status CheckHeartbeatRequest(const v1::HeartbeatRequest& r) {
  RETURN_IF_ERROR(Ids(r.worker_id(), r.trial(), r.lease()));
  RETURN_IF_ERROR(Step("step", r.step()));
  RETURN_IF_ERROR(Range("loss", r.loss(), 0, kMaxLoss));
  if (r.has_ap()) RETURN_IF_ERROR(Range("ap", r.ap(), 0, 1));
  RETURN_IF_ERROR(Step("start_step", r.start_step()));
  return HeldTrials(r.held_trials());
}

absl::Status CheckReportRequest(const v1::ReportRequest& r) {
  RETURN_IF_ERROR(Ids(r.worker_id(), r.trial(), r.lease()));
  RETURN_IF_ERROR(Length("failure", r.failure(), kMaxFailureChars));
  const int n = r.ap().stats_size();
  if (n != 0 && n != 12) return Bad("ap.stats", absl::StrFormat("must hold 12 numbers, got %d", n));
  if (n == 0 && !r.failed()) return Bad("ap.stats", "a finished trial must report its 12 COCO numbers");
  for (int i = 0; i < n; ++i) {
    const double x = r.ap().stats(i);
    if (i > 0 && x == -1) continue;
    RETURN_IF_ERROR(Range(absl::StrFormat("ap.stats[%d]", i), x, 0, 1));
  }
  RETURN_IF_ERROR(Range("train_seconds", r.train_seconds(), 0, kMaxSeconds));
  RETURN_IF_ERROR(Range("eval_seconds", r.eval_seconds(), 0, kMaxSeconds));
  RETURN_IF_ERROR(Range("checkpoint_seconds", r.checkpoint_seconds(), 0, kMaxSeconds));
  RETURN_IF_ERROR(Range("images_per_s", r.images_per_s(), 0, kMaxImagesPerS));
  RETURN_IF_ERROR(Step("cooldown_steps", r.cooldown_steps()));
  return Step("start_step", r.start_step());
}

std::string TruncateText(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  static constexpr char kMark[] = " [...]";
  const size_t mark = sizeof(kMark) - 1;
  if (max_chars < mark) return text.substr(0, 0);
  size_t cut = max_chars - mark;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + kMark;
}

}  // namespace vertebra
