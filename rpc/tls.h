// Mutual TLS: every workerd and every client presents a certificate signed by the
// fleet's CA, and checks the other side's.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace volmigrate::rpc {

struct TlsFiles {
  std::string ca;    // PEM CA bundle that signs every peer and client
  std::string cert;  // PEM certificate chain of this side
  std::string key;   // PEM private key of this side
};

// Server side: requires a client certificate and verifies it against the CA.
// Errors name the file that is missing or unreadable.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsFiles& files);

// Client side: presents our certificate and verifies the server's.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const TlsFiles& files);

// The authenticated client's certificate common name, or "" (plaintext, none).
std::string PeerCommonName(const grpc::ServerContext& ctx);

// A role a certificate carries as a URI SAN "spiffe://volmigrate/<role>/<name>"
// (deploy/tls/make-certs.sh issue --role): "worker" or "operator", and whose.
struct Role {
  std::string role, name;  // both empty: the certificate carries none
};
// The URI's role, if it is one (a valid name of 1-63 [a-z0-9-] included).
Role ParseRoleUri(const std::string& uri);
// The authenticated client's role; the first of its URI SANs that is one.
Role PeerRole(const grpc::ServerContext& ctx);

}  // namespace volmigrate::rpc
