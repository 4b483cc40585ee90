// peer_probe: one call of the Peer API (an empty OfferMigration) with the
// given certificate, for the VM tests: prints the gRPC status code's name and
// message. Authorization comes before validation, so PERMISSION_DENIED says
// the certificate is no peer, and INVALID_ARGUMENT that it is one.
//   peer_probe ADDRESS SERVER_NAME CA CERT KEY
#include <chrono>
#include <cstdio>

#include "absl/status/status.h"
#include "rpc/channel.h"
#include "rpc/status.h"
#include "rpc/tls.h"
#include "volmigrate/v1/volmigrate.grpc.pb.h"

int main(int argc, char** argv) {
  using namespace volmigrate;
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s ADDRESS SERVER_NAME CA CERT KEY\n", argv[0]);
    return 2;
  }
  auto creds = rpc::ClientCredentials({argv[3], argv[4], argv[5]});
  if (!creds.ok()) {
    std::fprintf(stderr, "%s\n", creds.status().ToString().c_str());
    return 2;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::OfferMigrationResponse out;
  grpc::Status s = v1::Peer::NewStub(rpc::Dial(argv[1], *creds, argv[2]))->OfferMigration(&ctx, {}, &out);
  std::printf("%s\n", FromGrpc(s).ToString().c_str());
  return 0;
}
