#include "rpc/channel.h"

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"

namespace volmigrate::rpc {

std::shared_ptr<grpc::Channel> Dial(const std::string& address, std::shared_ptr<grpc::ChannelCredentials> creds,
                                    const std::string& server_name) {
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  // Fail fast on a dead peer rather than queueing calls for the default 20 s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(address, std::move(creds), args);
}

absl::Status WaitConnected(grpc::Channel& ch, const std::string& address, absl::Duration timeout) {
  auto deadline = std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
  if (ch.WaitForConnected(deadline)) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("cannot reach workerd at ", address, " within ",
                                             absl::FormatDuration(timeout),
                                             " (not listening, unreachable, or TLS handshake refused)"));
}

}  // namespace volmigrate::rpc
