// Early-return helpers for absl::Status and absl::StatusOr (Debian's 2022 Abseil has none).
#ifndef VERTEBRA_COMMON_STATUS_MACROS_H_
#define VERTEBRA_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define VERTEBRA_CONCAT_INNER_(a, b) a##b
#define VERTEBRA_CONCAT_(a, b) VERTEBRA_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the calling function when it is not OK.
#define RETURN_IF_ERROR(expr)                   \
  do {                                          \
    ::absl::Status vertebra_status_ = (expr);   \
    if (!vertebra_status_.ok()) return vertebra_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` declares x from an OK StatusOr or returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  VERTEBRA_ASSIGN_OR_RETURN_IMPL_(VERTEBRA_CONCAT_(vertebra_statusor_, __LINE__), lhs, expr)

#define VERTEBRA_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return statusor.status();              \
  lhs = std::move(statusor).value()

#endif  // VERTEBRA_COMMON_STATUS_MACROS_H_
