#include "common/grpc_status.h"

#include "gtest/gtest.h"

namespace vertebra {
namespace {

TEST(GrpcStatus, OkBothWays) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK, "lease").ok());
}

TEST(GrpcStatus, CodesAClientActsOnKeepTheirMeaning) {
  const grpc::Status s = ToGrpcStatus(absl::FailedPreconditionError("lease 3 is stale"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "lease 3 is stale");
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpcStatus(absl::ResourceExhaustedError("x")).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ToGrpcStatus(absl::UnauthenticatedError("x")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ToGrpcStatus(absl::PermissionDeniedError("x")).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ToGrpcStatus(absl::AlreadyExistsError("x")).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  // Anything else is the server's own fault.
  EXPECT_EQ(ToGrpcStatus(absl::OutOfRangeError("x")).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(ToGrpcStatus(absl::DataLossError("x")).error_code(), grpc::StatusCode::INTERNAL);
}

TEST(GrpcStatus, FromGrpcNamesTheCall) {
  const absl::Status s = FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no trial 9"), "get trial");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "get trial: no trial 9");
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no trial 9"), "").message(), "no trial 9");
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "m"), "c").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "m"), "c").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "m"), "c").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "m"), "c").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "m"), "c").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNKNOWN, "m"), "c").code(), absl::StatusCode::kInternal);
}

TEST(GrpcStatus, TransientErrorsAreTheOnesARetryMayFix) {
  for (grpc::StatusCode c : {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED,
                             grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::INTERNAL,
                             grpc::StatusCode::UNKNOWN, grpc::StatusCode::CANCELLED}) {
    EXPECT_TRUE(IsTransient(grpc::Status(c, "m"))) << c;
  }
  for (grpc::StatusCode c : {grpc::StatusCode::OK, grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::NOT_FOUND,
                             grpc::StatusCode::FAILED_PRECONDITION, grpc::StatusCode::UNAUTHENTICATED,
                             grpc::StatusCode::PERMISSION_DENIED}) {
    EXPECT_FALSE(IsTransient(grpc::Status(c, ""))) << c;
  }
}

}  // namespace
}  // namespace vertebra
