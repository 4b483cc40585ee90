#include "workerd/daemon.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <fcntl.h>
#include <unistd.h>

#include <csignal>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "rpc/channel.h"
#include "rpc/tls.h"
#include "spdlog/spdlog.h"

namespace volmigrate::workerd {

namespace {

// "InitiatorName=iqn...." from open-iscsi's file, unless the config names it.
absl::StatusOr<std::string> InitiatorName(const Config& c) {
  if (!c.migration.initiator_name.empty()) return c.migration.initiator_name;
  const std::string path = "/etc/iscsi/initiatorname.iscsi";
  auto text = ReadFile(path);
  if (!text.ok()) return Annotate(text.status(), "iSCSI initiator name (set [migration] initiator_name)");
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::ConsumePrefix(&line, "InitiatorName=")) return std::string(absl::StripAsciiWhitespace(line));
  }
  return absl::FailedPreconditionError(absl::StrCat(path, " has no InitiatorName= line"));
}

// How this worker calls its peers: its own certificate, or plaintext in development.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> PeerCredentials(const Config& c) {
  if (c.plaintext) return grpc::InsecureChannelCredentials();
  return rpc::ClientCredentials(c.tls);
}

// Where destinations reach this worker's tgt: configured, or the listen host.
std::string Portal(const Config& c) {
  if (!c.migration.iscsi_portal.empty()) return c.migration.iscsi_portal;
  std::string host = c.listen.substr(0, c.listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]") return "";
  return host + ":3260";
}

// The crash tests' fault injection: the first time a (kind, state, before|after)
// comes up, leave a marker and die as a power cut would kill the process.
std::function<void(const std::string&, const std::string&, bool)> CrashOncePerState(const std::string& dir) {
  spdlog::warn("crash testing: SIGKILL once around every state's step (markers in {})", dir);
  return [dir](const std::string& kind, const std::string& state, bool after) {
    std::string marker = absl::StrCat(dir, "/", kind, ".", state, after ? ".after" : ".before");
    int fd = ::open(marker.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
    spdlog::warn("crash test: SIGKILL {} {} step", after ? "after" : "before", state);
    spdlog::default_logger()->flush();
    ::raise(SIGKILL);
  };
}

std::function<void(const std::string&, const std::string&, bool)> HaltBefore(const std::string& spec) {
  spdlog::warn("halt testing: the first machine to reach {} stops there", spec);
  return [spec](const std::string& kind, const std::string& state, bool after) {
    if (after || absl::StrCat(kind, ".", state) != spec) return;
    spdlog::warn("halt test: holding before {} {} step", kind, state);
    spdlog::default_logger()->flush();
    for (;;) ::pause();
  };
}

// The object store sealed volumes ship to, from [objstore].
absl::StatusOr<std::unique_ptr<objstore::ObjectStore>> OpenObjects(const ObjstoreConfig& o) {
  if (o.kind == "dir") return objstore::NewLocalStore(o.dir);
  return objstore::NewS3Store({.endpoint = o.endpoint, .bucket = o.bucket, .region = o.region,
                               .access_key = o.access_key, .secret_key = o.secret_key,
                               .virtual_host = o.virtual_host, .multipart_bytes = o.multipart_mib << 20,
                               .part_bytes = o.part_mib << 20});
}

}  // namespace

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(Config cfg) {
  std::unique_ptr<Daemon> d(new Daemon(std::move(cfg)));
  const Config& c = d->cfg_;

  std::shared_ptr<grpc::ServerCredentials> creds;
  if (c.plaintext) {
    spdlog::warn("plaintext mode: no TLS and no peer authentication (local development only)");
    creds = grpc::InsecureServerCredentials();
  } else {
    ASSIGN_OR_RETURN(creds, rpc::ServerCredentials(c.tls));
  }

  RETURN_IF_ERROR(MakeDirs(c.data_dir, 0700));
  ASSIGN_OR_RETURN(d->store_, fsm::Store::Open(c.data_dir + "/state"));
  fsm::RunnerOptions ro{.max_concurrent = c.max_concurrent};
  if (!c.crash_dir.empty()) ro.step_hook = CrashOncePerState(c.crash_dir);
  if (!c.halt_before.empty()) ro.step_hook = HaltBefore(c.halt_before);
  d->runner_ = std::make_unique<fsm::Runner>(d->store_.get(), ro);

  if (c.storage.configured) {
    luks::Pbkdf pbkdf{c.storage.pbkdf, c.storage.pbkdf_iterations};
    d->exec_ = std::make_unique<SystemExecutor>();
    d->lvm_dm_ = dm::NewLibDm();
    d->lvm_ = std::make_unique<volumes::Lvm>(
        d->exec_.get(), volumes::LvmOptions{.volume_group = c.storage.volume_group, .thin_pool = c.storage.thin_pool},
        d->lvm_dm_.get());
    ASSIGN_OR_RETURN(d->keys_, luks::FileKeyStore::Open(c.storage.key_dir));
    d->volumes_ = std::make_unique<VolumeManager>(c.worker, d->lvm_.get(), d->keys_.get(), pbkdf);

    ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> client, PeerCredentials(c));
    std::map<std::string, std::string> addresses;
    for (const PeerConfig& p : c.peers) addresses[p.name] = p.address;
    d->host_ = migration::NewSystemHost(d->exec_.get(), d->lvm_.get(), d->keys_.get(), dm::NewLibDm(),
                                        {.pbkdf = pbkdf, .hook_timeout = absl::Seconds(c.migration.hook_timeout_seconds)});
    d->peers_ = migration::NewGrpcPeers(std::move(addresses), client, absl::Seconds(10));
    d->env_ = std::make_unique<migration::Env>();
    migration::Env& e = *d->env_;
    e.worker = c.worker;
    e.portal = Portal(c);
    ASSIGN_OR_RETURN(e.initiator_iqn, InitiatorName(c));
    e.opts = c.migration;
    e.host = d->host_.get();
    e.peers = d->peers_.get();
    e.store = d->store_.get();
    e.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
    RETURN_IF_ERROR(d->runner_->Register(migration::SourceMachine(&e)));
    RETURN_IF_ERROR(d->runner_->Register(migration::DestinationMachine(&e)));

    ASSIGN_OR_RETURN(d->objects_, OpenObjects(c.objstore));
    d->seal_host_ = sealing::NewSystemHost(d->host_.get(), d->lvm_.get());
    d->seal_ = std::make_unique<sealing::Env>();
    sealing::Env& se = *d->seal_;
    se.worker = c.worker;
    se.opts = {.object_bytes = c.objstore.object_mib << 20, .parallel = c.objstore.parallel,
               .attempts = c.objstore.attempts, .consumer_start = c.migration.consumer_start,
               .consumer_stop = c.migration.consumer_stop};
    se.host = d->seal_host_.get();
    se.objects = d->objects_.get();
    se.store = d->store_.get();
    se.fetch_key = [peers = d->peers_.get()](const std::string& peer, const std::string& volume) {
      return peers->FetchVolumeKey(peer, volume);
    };
    se.now_ms = e.now_ms;
    RETURN_IF_ERROR(d->runner_->Register(sealing::SealMachine(&se)));
    RETURN_IF_ERROR(d->runner_->Register(sealing::RestoreMachine(&se)));
    spdlog::info("sealed volumes ship to {}", se.objects->Describe());
  }
  RETURN_IF_ERROR(d->runner_->Start());
  d->operator_ = std::make_unique<OperatorService>(c, d->runner_.get(), d->volumes_.get(), d->env_.get(), d->seal_.get());
  d->peer_ = std::make_unique<PeerService>(c, d->runner_.get(), d->env_.get(), d->seal_.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(c.listen, creds, &d->port_);
  builder.RegisterService(d->operator_.get());
  builder.RegisterService(d->peer_.get());
  d->server_ = builder.BuildAndStart();
  if (!d->server_ || d->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", c.listen, " (address in use or not local)"));
  }
  spdlog::info("workerd {} listening on {} (port {}), {} peer(s), state in {}", c.worker, c.listen, d->port_,
               c.peers.size(), c.data_dir);
  return d;
}

Daemon::~Daemon() { Shutdown(absl::Seconds(5)); }

void Daemon::Shutdown(absl::Duration grace) {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
    server_->Wait();
    server_.reset();
  }
  if (runner_) runner_->Stop();
}

absl::Status CheckPeers(const Config& cfg, absl::Duration timeout) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> creds, PeerCredentials(cfg));
  std::vector<std::string> bad;
  for (const PeerConfig& p : cfg.peers) {
    auto ch = rpc::Dial(p.address, creds, p.name);
    auto stub = v1::Operator::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    v1::HealthRequest req;
    v1::HealthResponse resp;
    grpc::Status s = stub->Health(&ctx, req, &resp);
    if (!s.ok()) {
      bad.push_back(absl::StrCat(p.name, " at ", p.address, ": ", GrpcCodeName(s.error_code()), " ", s.error_message()));
    } else if (resp.worker() != p.name) {
      bad.push_back(absl::StrCat(p.name, " at ", p.address, ": answers as worker '", resp.worker(), "'"));
    }
  }
  if (bad.empty()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("unreachable peer(s): ", absl::StrJoin(bad, "; ")));
}

}  // namespace volmigrate::workerd
