#include "workerd/validate.h"

#include "gtest/gtest.h"

namespace volmigrate::workerd {
namespace {

v1::OfferMigrationRequest GoodOffer() {
  v1::OfferMigrationRequest r;
  r.set_migration_id("mig-1");
  r.set_volume_id("vol-1");
  r.set_source_worker("w1");
  r.set_size_bytes(252 * 1024 * 1024);
  r.mutable_luks()->set_uuid("0b9c3f44-0c3e-4b8e-9a3b-6c2b1f0d9e11");
  r.mutable_luks()->set_cipher("aes-xts-plain64");
  r.mutable_luks()->set_key_size_bits(512);
  r.mutable_luks()->set_sector_size_bytes(4096);
  r.mutable_luks()->set_data_offset_bytes(4 * 1024 * 1024);
  r.set_device_bytes(r.size_bytes() + r.luks().data_offset_bytes());
  r.mutable_target()->set_portal("169.254.0.1:3260");
  r.mutable_target()->set_iqn("iqn.2026-11.io.volmigrate:w1.mig-1");
  r.mutable_target()->set_chap_user("mig-1");
  r.mutable_target()->set_chap_secret("0123456789abcd");
  r.set_initiator_iqn("iqn.2026-11.io.volmigrate:w2");
  r.set_volume_key("key material");
  return r;
}

TEST(Validate, GoodOfferPasses) { EXPECT_TRUE(ValidateOffer(GoodOffer()).ok()) << ValidateOffer(GoodOffer()); }

TEST(Validate, OfferFieldsChecked) {
  auto expect_bad = [](auto mutate, const char* field) {
    v1::OfferMigrationRequest r = GoodOffer();
    mutate(r);
    absl::Status s = ValidateOffer(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(s.message().find(field), std::string::npos) << s;
  };
  expect_bad([](auto& r) { r.set_migration_id("../x"); }, "migration_id");
  expect_bad([](auto& r) { r.set_volume_id(""); }, "volume id");
  expect_bad([](auto& r) { r.set_size_bytes(1000); }, "size_bytes");
  expect_bad([](auto& r) { r.set_device_bytes(r.size_bytes()); }, "device_bytes");
  expect_bad([](auto& r) { r.mutable_luks()->set_sector_size_bytes(1000); }, "sector_size_bytes");
  expect_bad([](auto& r) { r.mutable_luks()->set_cipher("aes;rm -rf"); }, "cipher");
  expect_bad([](auto& r) { r.mutable_luks()->set_data_offset_bytes(100); }, "data_offset_bytes");
  expect_bad([](auto& r) { r.mutable_target()->set_iqn("x"); }, "target.iqn");
  expect_bad([](auto& r) { r.mutable_target()->set_chap_secret("short"); }, "chap_secret");
  expect_bad([](auto& r) { r.mutable_target()->set_chap_user("a b"); }, "chap_user");
  expect_bad([](auto& r) { r.clear_volume_key(); }, "volume_key");
  expect_bad([](auto& r) { r.set_initiator_iqn(""); }, "initiator_iqn");
}

TEST(Validate, ChapSecretNeverEchoed) {
  v1::OfferMigrationRequest r = GoodOffer();
  r.mutable_target()->set_chap_secret("supersecretvalue-too-long");
  absl::Status s = ValidateOffer(r);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().find("supersecret"), std::string::npos);
}

TEST(Validate, CreateVolume) {
  v1::CreateVolumeRequest r;
  r.set_id("vol-1");
  r.set_size_bytes(256 << 20);
  EXPECT_TRUE(ValidateCreateVolume(r).ok());
  r.set_size_bytes((256 << 20) + 1);
  EXPECT_EQ(ValidateCreateVolume(r).code(), absl::StatusCode::kInvalidArgument);
  r.set_size_bytes(0);
  EXPECT_EQ(ValidateCreateVolume(r).code(), absl::StatusCode::kInvalidArgument);
}

// A volume must not be named like the devices and keys workerd makes: a peer
// asking for the key of "m-0123456789-src" would get a migration's source key.
TEST(Validate, InternalNamesAreNoVolumeIds) {
  for (const char* id : {"m-0123456789-src", "m-0123456789-meta", "m-0123456789-retired", "vol-1-crypt", "vol-1-clone"}) {
    absl::Status s = ValidateVolumeId(id);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_NE(s.message().find("reserves"), std::string::npos) << s;
  }
  EXPECT_TRUE(ValidateVolumeId("src").ok());
  EXPECT_TRUE(ValidateVolumeId("meta-data").ok());
}

}  // namespace
}  // namespace volmigrate::workerd
