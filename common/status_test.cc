#include "common/status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace volmigrate {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

absl::Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(Status, ErrnoZeroStillFails) {
  absl::Status s = ErrnoError(0, "dm_task_run");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("dm_task_run"), std::string::npos);
}

TEST(Status, ErrnoMapsToCode) {
  EXPECT_EQ(ErrnoError(ENOENT, "open").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoError(EACCES, "open").code(), absl::StatusCode::kPermissionDenied);
}

TEST(Status, AnnotateKeepsCode) {
  absl::Status s = Annotate(absl::NotFoundError("no such LV"), "creating clone");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "creating clone: no such LV");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

TEST(Status, MacrosPropagate) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(3).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace volmigrate
