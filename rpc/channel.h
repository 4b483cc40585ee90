// Channels to a workerd, with the one-line errors operators need when it is not there.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace volmigrate::rpc {

// `server_name`, when set, is the name checked against the server certificate
// instead of the host in `address`: peers are dialled by IP and verified by name.
std::shared_ptr<grpc::Channel> Dial(const std::string& address, std::shared_ptr<grpc::ChannelCredentials> creds,
                                    const std::string& server_name);

// Unavailable, naming the address, unless the channel connects before the deadline.
absl::Status WaitConnected(grpc::Channel& ch, const std::string& address, absl::Duration timeout);

}  // namespace volmigrate::rpc
