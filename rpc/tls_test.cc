#include "rpc/tls.h"

#include <cstdlib>

#include "common/files.h"
#include "common/test_util.h"
#include "gtest/gtest.h"

namespace volmigrate::rpc {
namespace {

TEST(Tls, MissingCertNamesTheFile) {
  std::string d = NewTempDir();
  ASSERT_TRUE(WriteFileAtomic(d + "/ca.crt", "-----BEGIN CERTIFICATE-----\nx\n", 0644).ok());
  auto c = ServerCredentials({d + "/ca.crt", d + "/missing.crt", d + "/k.key"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("missing.crt"), std::string::npos) << c.status();
}

TEST(Tls, NonPemIsRefused) {
  std::string d = NewTempDir();
  ASSERT_TRUE(WriteFileAtomic(d + "/ca.crt", "hello", 0644).ok());
  auto c = ClientCredentials({d + "/ca.crt", d + "/x", d + "/y"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("ca.crt"), std::string::npos);
}

TEST(Tls, EmptyPathSaysWhatIsMissing) {
  auto c = ClientCredentials({"", "", ""});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "no TLS CA file configured");
}

TEST(Tls, RolesComeFromOneUriForm) {
  EXPECT_EQ(ParseRoleUri("spiffe://volmigrate/worker/w1").role, "worker");
  EXPECT_EQ(ParseRoleUri("spiffe://volmigrate/worker/w1").name, "w1");
  EXPECT_EQ(ParseRoleUri("spiffe://volmigrate/operator/alice").role, "operator");
  for (const char* bad : {"spiffe://volmigrate/admin/x", "spiffe://volmigrate/worker/", "spiffe://volmigrate/worker/W1",
                          "spiffe://volmigrate/worker/a/b", "spiffe://other/worker/w1", "https://volmigrate/worker/w1",
                          "spiffe://volmigrate/worker/-x", "spiffe://volmigrate/worker"})
    EXPECT_TRUE(ParseRoleUri(bad).role.empty()) << bad;
}

}  // namespace
}  // namespace volmigrate::rpc
