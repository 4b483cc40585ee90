#include "rpc/status.h"

#include "gtest/gtest.h"

namespace volmigrate {
namespace {

TEST(GrpcStatus, RoundTripKeepsCodeAndMessage) {
  absl::Status s = absl::FailedPreconditionError("volume is in use");
  grpc::Status g = ToGrpc(s);
  EXPECT_EQ(g.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(g.error_message(), "volume is in use");
  EXPECT_EQ(FromGrpc(g), s);
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
}

TEST(GrpcStatus, CodeNames) {
  EXPECT_STREQ(GrpcCodeName(grpc::UNAVAILABLE), "UNAVAILABLE");
  EXPECT_STREQ(GrpcCodeName(grpc::NOT_FOUND), "NOT_FOUND");
}

}  // namespace
}  // namespace volmigrate
