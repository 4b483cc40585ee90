// The operator API as migratectl calls it: one connection, unary calls printed
// as tables or JSON, and the watchers that follow migrations and transfers.
#pragma once

#include <grpcpp/client_context.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "migratectl/format.h"
#include "rpc/tls.h"
#include "volmigrate/v1/volmigrate.grpc.pb.h"

namespace volmigrate::cli {

// The value of environment variable `name`, or `def` when it is unset or empty.
inline std::string EnvVar(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

// The global options; flags override the VOLMIGRATE_* environment.
struct Options {
  std::string server = EnvVar("VOLMIGRATE_SERVER", "localhost:7443");
  std::string server_name;
  rpc::TlsFiles tls{EnvVar("VOLMIGRATE_CA", "/etc/volmigrate/tls/ca.crt"),
                    EnvVar("VOLMIGRATE_CERT", "/etc/volmigrate/tls/client.crt"),
                    EnvVar("VOLMIGRATE_KEY", "/etc/volmigrate/tls/client.key")};
  bool plaintext = false;
  bool json = false;
  double timeout = 120;  // volume creation and drains do kernel work and ask peers before answering
};

// Every method returns an exit code (format.h's Exit) and has printed the
// answer or the error by then.
class Client {
 public:
  explicit Client(const Options& o) : o_(o) {}

  // Connects lazily, so --help and usage errors never touch the network.
  int Connect();

  // Runs one unary call and prints its answer (`human(resp)` or JSON) or its
  // error; the answer also goes to `out` when given.
  template <typename Req, typename Resp, typename Human>
  int Unary(grpc::Status (v1::Operator::Stub::*call)(grpc::ClientContext*, const Req&, Resp*), const Req& req,
            const Human& human, Resp* out = nullptr) {
    if (int rc = Connect(); rc != kOk) return rc;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    Resp resp;
    grpc::Status s = ((*stub_).*call)(&ctx, req, &resp);
    if (!s.ok()) return Error(s);
    std::cout << (o_.json ? ToJson(resp) + "\n" : std::string(human(resp)));
    if (out) *out = resp;
    return kOk;
  }

  // Follows one migration until it ends: a live progress line on a terminal,
  // a line per change otherwise, a JSON object per change with --json.
  int Watch(const std::string& id);
  // The same for a seal, ship or restore; a summary line when it is done.
  int WatchTransfer(const std::string& id);
  // Follows several migrations by polling: one progress line each, then a
  // total; with `drain`, also that drain's migrations ended and time left.
  int WatchMany(const std::vector<std::string>& ids, const std::string& drain = "");

  // Prints an RPC error (and its JSON with --json); returns its exit code.
  int Error(const grpc::Status& s);

  const Options& options() const { return o_; }

 private:
  template <typename Msg, typename Line>
  int Follow(std::unique_ptr<grpc::ClientReader<Msg>> reader, Msg* m, const char* what, Line line);
  void SetDeadline(grpc::ClientContext& ctx);

  const Options& o_;
  std::unique_ptr<v1::Operator::Stub> stub_;
};

}  // namespace volmigrate::cli
