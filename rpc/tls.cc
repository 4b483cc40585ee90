#include "rpc/tls.h"

#include <grpc/grpc_security_constants.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"

namespace volmigrate::rpc {
namespace {

struct Pem {
  std::string ca, cert, key;
};

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what, const char* marker) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("no TLS ", what, " file configured"));
  auto pem = ReadFile(path);
  if (!pem.ok()) return Annotate(pem.status(), absl::StrCat("TLS ", what));
  // gRPC reports a bad PEM only at handshake time, vaguely; catch it here.
  if (!absl::StrContains(*pem, marker))
    return absl::InvalidArgumentError(absl::StrCat("TLS ", what, " ", path, " holds no ", marker, " block"));
  return pem;
}

absl::StatusOr<Pem> Load(const TlsFiles& f) {
  Pem p;
  ASSIGN_OR_RETURN(p.ca, ReadPem(f.ca, "CA", "-----BEGIN CERTIFICATE-----"));
  ASSIGN_OR_RETURN(p.cert, ReadPem(f.cert, "certificate", "-----BEGIN CERTIFICATE-----"));
  ASSIGN_OR_RETURN(p.key, ReadPem(f.key, "key", "PRIVATE KEY-----"));
  return p;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsFiles& files) {
  ASSIGN_OR_RETURN(Pem p, Load(files));
  grpc::SslServerCredentialsOptions opts(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = p.ca;
  opts.pem_key_cert_pairs.push_back({p.key, p.cert});
  return grpc::SslServerCredentials(opts);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const TlsFiles& files) {
  ASSIGN_OR_RETURN(Pem p, Load(files));
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = p.ca;
  opts.pem_private_key = p.key;
  opts.pem_cert_chain = p.cert;
  return grpc::SslCredentials(opts);
}

std::string PeerCommonName(const grpc::ServerContext& ctx) {
  auto auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return "";
  auto cn = auth->FindPropertyValues("x509_common_name");
  return cn.empty() ? "" : std::string(cn.front().data(), cn.front().size());
}

Role ParseRoleUri(const std::string& uri) {
  constexpr absl::string_view kPrefix = "spiffe://volmigrate/";
  if (!absl::StartsWith(uri, kPrefix)) return {};
  const std::string rest = uri.substr(kPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string::npos) return {};
  Role r{rest.substr(0, slash), rest.substr(slash + 1)};
  const bool known = r.role == "worker" || r.role == "operator";
  const bool valid = !r.name.empty() && r.name.size() <= 63 && r.name[0] != '-' &&
                     r.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
  return known && valid ? r : Role{};
}

Role PeerRole(const grpc::ServerContext& ctx) {
  auto auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return {};
  for (const auto& v : auth->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
    Role r = ParseRoleUri(std::string(v.data(), v.size()));
    if (!r.role.empty()) return r;
  }
  return {};
}

}  // namespace volmigrate::rpc
