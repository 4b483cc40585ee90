// absl::Status <-> grpc::Status at the RPC boundary; the codes map one to one.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace volmigrate {

grpc::Status ToGrpc(const absl::Status& s);
absl::Status FromGrpc(const grpc::Status& s);

// "NOT_FOUND", "UNAVAILABLE", ...: the spelling operators see in grpcurl and logs.
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace volmigrate
