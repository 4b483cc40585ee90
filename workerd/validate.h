// Validation of RPC input: every request is checked before anything acts on it.
// Pure functions, unit-tested; messages name the field and never echo secrets.
#pragma once

#include "absl/status/status.h"
#include "volmigrate/v1/volmigrate.grpc.pb.h"

namespace volmigrate::workerd {

absl::Status ValidateVolumeId(const std::string& id);
absl::Status ValidateCreateVolume(const v1::CreateVolumeRequest& r);
absl::Status ValidateLuksLayout(const v1::LuksLayout& l);
absl::Status ValidateOffer(const v1::OfferMigrationRequest& r);

}  // namespace volmigrate::workerd
