// The one translation between absl::Status (module boundaries) and grpc::Status (the wire), and
// the test for errors a client may retry. Stateless; thread-safe.
#ifndef VERTEBRA_COMMON_GRPC_STATUS_H_
#define VERTEBRA_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vertebra {

// The gRPC status a server answers for `status`, message unchanged. The codes a client acts on
// (InvalidArgument, NotFound, FailedPrecondition, Unavailable, Unauthenticated, PermissionDenied,
// ResourceExhausted, AlreadyExists) keep their meaning; every other error is INTERNAL.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The Status a client returns for a failed call, its message "<context>: <gRPC message>" (just
// the gRPC message when `context` is empty). UNAUTHENTICATED, INVALID_ARGUMENT, NOT_FOUND and
// FAILED_PRECONDITION keep their meaning; UNAVAILABLE and DEADLINE_EXCEEDED are Unavailable (the
// controller could not be reached in time); every other code is Internal. OK for OK.
absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view context);

// Whether a retry of the same call may succeed: the controller was unreachable, overloaded, or
// failed in a way that a restart fixes (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
// INTERNAL, UNKNOWN, CANCELLED). False for OK and for refusals (bad argument, stale lease, token).
bool IsTransient(const grpc::Status& status);

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_GRPC_STATUS_H_
