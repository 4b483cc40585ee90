// What migratectl prints: tables and progress lines for people, JSON for scripts.
// Pure functions of API messages, unit-tested.
#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "volmigrate/v1/volmigrate.pb.h"

namespace volmigrate::cli {

std::string FormatBytes(uint64_t bytes);     // "1.5 GiB", "512 B"
std::string FormatDuration(double seconds);  // "45s", "3m07s", "2h05m"; "-" when unknown (<= 0)
std::string FormatRate(double bytes_per_second);

// Columns padded to their widest cell; the header row first.
std::string RenderTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

std::string VolumesTable(const v1::ListVolumesResponse& r);
std::string MigrationsTable(const v1::ListMigrationsResponse& r);
std::string MigrationDetails(const v1::Migration& m);  // status: fields and history
std::string HealthText(const v1::HealthResponse& h);

// "[#########...........]  45.0%  1.8 GiB/4.0 GiB  20.0 MiB/s  ETA 1m50s  HYDRATING"
// `width` is the bar's width in characters.
std::string ProgressLine(const v1::Migration& m, int width);

// Canonical proto3 JSON with the .proto field names, defaults included, on one line.
// One line of a seal, ship or restore: bar, bytes, objects, rate, state.
std::string TransferLine(const v1::Transfer& t, int width);
// What a finished transfer did, for the operator.
std::string TransferSummary(const v1::Transfer& t);
std::string SnapshotsTable(const v1::ListSnapshotsResponse& r);
// Retired source copies: name, volume, bytes held, when retired, when they expire.
std::string RetiredTable(const v1::ListRetiredResponse& r);
// A drain's plan: each volume's destination, bytes and ETA (and whether the
// link's rate was measured or assumed), then the whole drain's ETA.
std::string DrainPlanTable(const v1::Drain& d);
// A running drain in one line: "drain d-x: 1 of 3 ended, about 42s left".
std::string DrainLine(const v1::Drain& d);
// A rebalance's pools: each worker's size, use now and as planned; then a
// line per volume it keeps where it is, and why.
std::string PoolUseTable(const v1::Drain& d);

std::string ToJson(const google::protobuf::Message& msg);

// One line for an RPC error: "NOT_FOUND: no volume 'x' on worker w1".
std::string ErrorLine(const grpc::Status& s);
// {"error":{"code":"NOT_FOUND","message":"..."}}
std::string ErrorJson(const grpc::Status& s);

// Exit codes, as documented in `migratectl --help`.
enum Exit : int {
  kOk = 0,
  kServerError = 1,
  kUsage = 2,
  kNotFound = 3,
  kRefused = 4,
  kUnreachable = 5,
  kAuth = 6,
  kUnimplemented = 7,
  kMigrationFailed = 8,
};
int ExitCodeFor(grpc::StatusCode code);
extern const char kExitCodeHelp[];

}  // namespace volmigrate::cli

namespace volmigrate::cli {
// "256M", "10G", "1.5GiB", "4096" (bytes). Binary units; InvalidArgument otherwise.
absl::StatusOr<uint64_t> ParseSize(const std::string& s);
}  // namespace volmigrate::cli
