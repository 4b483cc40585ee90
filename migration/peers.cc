#include "migration/peers.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "rpc/channel.h"
#include "rpc/status.h"

namespace volmigrate::migration {
namespace {

class GrpcPeers final : public Peers {
 public:
  GrpcPeers(AddressOf address_of, std::shared_ptr<grpc::ChannelCredentials> creds, absl::Duration timeout)
      : address_of_(std::move(address_of)), creds_(std::move(creds)), timeout_(timeout) {}

  absl::StatusOr<v1::HealthResponse> Health(const std::string& worker) override {
    v1::HealthResponse out;
    RETURN_IF_ERROR(Call(worker, "Health", [&](Stubs& s, grpc::ClientContext* c) {
      return s.op->Health(c, v1::HealthRequest(), &out);
    }));
    return out;
  }
  absl::StatusOr<v1::OfferMigrationResponse> Offer(const std::string& worker,
                                                   const v1::OfferMigrationRequest& req) override {
    v1::OfferMigrationResponse out;
    RETURN_IF_ERROR(Call(worker, "OfferMigration",
                         [&](Stubs& s, grpc::ClientContext* c) { return s.peer->OfferMigration(c, req, &out); }));
    return out;
  }
  absl::StatusOr<v1::Migration> GetMigration(const std::string& worker, const std::string& id) override {
    v1::GetMigrationRequest req;
    req.set_id(id);
    v1::Migration out;
    RETURN_IF_ERROR(
        Call(worker, "GetMigration", [&](Stubs& s, grpc::ClientContext* c) { return s.op->GetMigration(c, req, &out); }));
    out.clear_history();
    return out;
  }
  absl::StatusOr<v1::CancelMigrationResponse> Cancel(const std::string& worker, const std::string& id) override {
    v1::CancelMigrationRequest req;
    req.set_migration_id(id);
    v1::CancelMigrationResponse out;
    RETURN_IF_ERROR(Call(worker, "CancelMigration",
                         [&](Stubs& s, grpc::ClientContext* c) { return s.peer->CancelMigration(c, req, &out); }));
    return out;
  }
  absl::Status Report(const std::string& worker, const v1::ReportProgressRequest& req) override {
    v1::ReportProgressResponse out;
    return Call(worker, "ReportProgress",
                [&](Stubs& s, grpc::ClientContext* c) { return s.peer->ReportProgress(c, req, &out); });
  }

  absl::StatusOr<v1::AllocationMap> GetAllocation(const std::string& worker, const std::string& id,
                                                 const std::string& destination) override {
    v1::GetAllocationRequest req;
    req.set_migration_id(id);
    req.set_destination_worker(destination);
    v1::AllocationMap out;
    RETURN_IF_ERROR(Call(worker, "GetAllocation",
                         [&](Stubs& s, grpc::ClientContext* c) { return s.peer->GetAllocation(c, req, &out); }));
    return out;
  }

  absl::StatusOr<std::string> FetchVolumeKey(const std::string& worker, const std::string& volume) override {
    v1::FetchVolumeKeyRequest req;
    req.set_volume_id(volume);
    v1::FetchVolumeKeyResponse out;
    RETURN_IF_ERROR(Call(worker, "FetchVolumeKey",
                         [&](Stubs& s, grpc::ClientContext* c) { return s.peer->FetchVolumeKey(c, req, &out); }));
    return out.key();
  }

 private:
  struct Stubs {
    std::unique_ptr<v1::Operator::Stub> op;
    std::unique_ptr<v1::Peer::Stub> peer;
  };

  template <typename F>
  absl::Status Call(const std::string& worker, const char* what, F f) {
    std::shared_ptr<Stubs> s;
    {
      std::lock_guard lock(mu_);
      auto it = stubs_.find(worker);
      if (it == stubs_.end()) {
        const std::string addr = address_of_(worker);
        if (addr.empty()) return absl::NotFoundError(absl::StrCat("unknown worker '", worker, "'"));
        auto ch = rpc::Dial(addr, creds_, worker);
        it = stubs_.emplace(worker, std::make_shared<Stubs>(Stubs{v1::Operator::NewStub(ch), v1::Peer::NewStub(ch)}))
                 .first;
      }
      s = it->second;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
    grpc::Status st = f(*s, &ctx);
    if (st.ok()) return absl::OkStatus();
    if (st.error_code() == grpc::UNAVAILABLE) {
      // Drop the channel: it would keep reconnecting (and logging) in the
      // background for a peer nobody is calling; the next call dials afresh.
      std::lock_guard lock(mu_);
      if (auto it = stubs_.find(worker); it != stubs_.end() && it->second == s) stubs_.erase(it);
    }
    return Annotate(FromGrpc(st), absl::StrCat(what, " on ", worker));
  }

  const AddressOf address_of_;
  const std::shared_ptr<grpc::ChannelCredentials> creds_;
  const absl::Duration timeout_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Stubs>> stubs_;
};

}  // namespace

std::unique_ptr<Peers> NewGrpcPeers(AddressOf address_of, std::shared_ptr<grpc::ChannelCredentials> creds,
                                    absl::Duration timeout) {
  return std::make_unique<GrpcPeers>(std::move(address_of), std::move(creds), timeout);
}

}  // namespace volmigrate::migration
