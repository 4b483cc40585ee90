#include "objstore/store.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/test_util.h"

namespace volmigrate::objstore {
namespace {

// What every backend must do; run against the local directory always, and
// against a real S3 service when VOLMIGRATE_S3_ENDPOINT names one (the
// radosgw test in tests/s3 does).
void Contract(ObjectStore& s, const std::string& prefix) {
  { absl::Status p = s.Put(prefix + "a/0002", "two"); ASSERT_TRUE(p.ok()) << p; }
  ASSERT_TRUE(s.Put(prefix + "a/0001", std::string(100000, 'x') + "end").ok());
  ASSERT_TRUE(s.Put(prefix + "b/0001", "other").ok());
  EXPECT_EQ(*s.Get(prefix + "a/0002"), "two");
  EXPECT_EQ(*s.GetRange(prefix + "a/0001", 100000, 10), "end");
  EXPECT_EQ(*s.GetRange(prefix + "a/0001", 5, 3), "xxx");
  EXPECT_TRUE(absl::IsNotFound(s.Get(prefix + "a/0003").status()));
  auto l = s.List(prefix + "a/");
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].name, prefix + "a/0001");
  EXPECT_EQ((*l)[0].size, 100003u);
  EXPECT_EQ((*l)[1].name, prefix + "a/0002");
  ASSERT_TRUE(s.Put(prefix + "a/0002", "2").ok());  // overwrite
  EXPECT_EQ(*s.Get(prefix + "a/0002"), "2");
  ASSERT_TRUE(s.Delete(prefix + "a/0002").ok());
  ASSERT_TRUE(s.Delete(prefix + "a/0002").ok());  // missing is fine
  EXPECT_EQ(s.List(prefix + "a/")->size(), 1u);
  EXPECT_EQ(s.List(prefix + "none/")->size(), 0u);
}

TEST(LocalStore, Contract) {
  auto s = NewLocalStore(NewTempDir() + "/objects");
  ASSERT_TRUE(s.ok()) << s.status();
  Contract(**s, "vol/");
}

TEST(LocalStore, RefusesNamesOutsideItsRoot) {
  auto s = *NewLocalStore(NewTempDir());
  EXPECT_TRUE(absl::IsInvalidArgument(s->Put("../x", "1")));
  EXPECT_TRUE(absl::IsInvalidArgument(s->Put("/etc/x", "1")));
  EXPECT_TRUE(absl::IsInvalidArgument(NewLocalStore("relative").status()));
}

TEST(S3Store, OptionsAreChecked) {
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  S3Options o{.endpoint = "http://127.0.0.1:1", .bucket = "b"};
  auto s = NewS3Store(o);
  EXPECT_TRUE(absl::IsInvalidArgument(s.status()));
  EXPECT_NE(s.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  ::setenv("AWS_ACCESS_KEY_ID", "ak", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "sk-never-shown", 1);
  ASSERT_TRUE(NewS3Store(o).ok());
  o.endpoint = "127.0.0.1:1";
  EXPECT_TRUE(absl::IsInvalidArgument(NewS3Store(o).status()));
  // Nothing listens there: a transient error, without the secret in it.
  o.endpoint = "http://127.0.0.1:1";
  auto g = (*NewS3Store(o))->Get("x");
  EXPECT_TRUE(absl::IsUnavailable(g.status())) << g.status();
  EXPECT_EQ(g.status().message().find("sk-never-shown"), std::string::npos);
}

// Against a real service, path-style and virtual-host, with multipart uploads.
TEST(S3Store, ContractAgainstARealService) {
  const char* endpoint = std::getenv("VOLMIGRATE_S3_ENDPOINT");
  if (endpoint == nullptr) GTEST_SKIP() << "VOLMIGRATE_S3_ENDPOINT not set (tests/s3/radosgw.sh sets it)";
  // Credentials given explicitly: OptionsAreChecked changes the AWS_* variables.
  S3Options o{.endpoint = endpoint, .bucket = std::getenv("VOLMIGRATE_S3_BUCKET"),
              .access_key = std::getenv("VOLMIGRATE_S3_ACCESS"), .secret_key = std::getenv("VOLMIGRATE_S3_SECRET"),
              .multipart_bytes = 6 << 20, .part_bytes = 5 << 20};
  const std::string secret = o.secret_key;
  auto s = NewS3Store(o);
  ASSERT_TRUE(s.ok()) << s.status();
  Contract(**s, "contract/");
  // Multipart: 11 MiB in three parts, read back whole and by range.
  std::string big(11 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 / 4096);
  ASSERT_TRUE((*s)->Put("contract/big", big).ok());
  EXPECT_EQ(*(*s)->Get("contract/big") == big, true);
  EXPECT_EQ(*(*s)->GetRange("contract/big", (5 << 20) - 2, 4), big.substr((5 << 20) - 2, 4));
  o.secret_key = "wrong";
  auto bad = *NewS3Store(o);
  auto denied = bad->Get("contract/big");
  EXPECT_TRUE(absl::IsPermissionDenied(denied.status())) << denied.status();
  EXPECT_EQ(denied.status().message().find("wrong"), std::string::npos);
  if (const char* vh = std::getenv("VOLMIGRATE_S3_VHOST_ENDPOINT")) {
    S3Options v = o;
    v.endpoint = vh;
    v.secret_key = secret;
    v.virtual_host = true;
    auto vs = NewS3Store(v);
    ASSERT_TRUE(vs.ok()) << vs.status();
    Contract(**vs, "vhost/");
  }
}

}  // namespace
}  // namespace volmigrate::objstore
