#include "workerd/daemon.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "common/files.h"
#include "common/status.h"
#include "rpc/channel.h"
#include "rpc/status.h"
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
  RETURN_IF_ERROR(d->OpenState());
  if (c.storage.configured) {
    RETURN_IF_ERROR(d->OpenStorage());
    RETURN_IF_ERROR(d->StartMigrations());
    RETURN_IF_ERROR(d->StartSealing());
  }
  RETURN_IF_ERROR(d->runner_->Start());
  RETURN_IF_ERROR(d->Serve(creds));
  RETURN_IF_ERROR(d->ServeMetrics());
  return d;
}

absl::Status Daemon::OpenState() {
  RETURN_IF_ERROR(MakeDirs(cfg_.data_dir, 0700));
  ASSIGN_OR_RETURN(store_, fsm::Store::Open(cfg_.data_dir + "/state"));
  fsm::RunnerOptions ro{.max_concurrent = cfg_.max_concurrent};
  steps_ = std::make_shared<metrics::Steps>();
  ro.observe = [steps = steps_](const std::string& kind, const std::string& state, absl::Duration took,
                                fsm::StepOutcome o) { steps->Observe(kind, state, took, o); };
  if (!cfg_.crash_dir.empty()) ro.step_hook = CrashOncePerState(cfg_.crash_dir);
  if (!cfg_.halt_before.empty()) ro.step_hook = HaltBefore(cfg_.halt_before);
  runner_ = std::make_unique<fsm::Runner>(store_.get(), ro);
  return absl::OkStatus();
}

absl::Status Daemon::OpenStorage() {
  const StorageConfig& st = cfg_.storage;
  exec_ = std::make_unique<SystemExecutor>();
  lvm_dm_ = dm::NewLibDm();
  lvm_ = std::make_unique<volumes::Lvm>(
      exec_.get(), volumes::LvmOptions{.volume_group = st.volume_group, .thin_pool = st.thin_pool}, lvm_dm_.get());
  ASSIGN_OR_RETURN(keys_, luks::FileKeyStore::Open(st.key_dir));
  host_ = host::NewSystemHost(exec_.get(), lvm_.get(), keys_.get(), dm::NewLibDm(),
                              {.pbkdf = Pbkdf(), .hook_timeout = absl::Seconds(cfg_.migration.hook_timeout_seconds)});
  volumes_ = std::make_unique<VolumeManager>(cfg_.worker, host_.get());
  return absl::OkStatus();
}

absl::Status Daemon::StartMigrations() {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> client, PeerCredentials(cfg_));
  peers_ = migration::NewGrpcPeers([this](const std::string& w) { return cfg_.PeerAddress(w); }, client,
                                   absl::Seconds(10));
  env_ = std::make_unique<migration::Env>();
  migration::Env& e = *env_;
  e.worker = cfg_.worker;
  e.portal = Portal(cfg_);
  ASSIGN_OR_RETURN(e.initiator_iqn, InitiatorName(cfg_));
  e.opts = cfg_.migration;
  e.host = host_.get();
  e.peers = peers_.get();
  e.store = store_.get();
  e.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
  RETURN_IF_ERROR(runner_->Register(migration::SourceMachine(&e)));
  RETURN_IF_ERROR(runner_->Register(migration::DestinationMachine(&e)));
  if (e.opts.retire == "keep" && e.opts.retire_after_seconds > 0) expiry_ = std::thread([this] { ExpireRetiredLoop(); });
  return absl::OkStatus();
}

void Daemon::ExpireRetiredLoop() {
  // A look costs one lvs: often enough that a copy goes within a quarter of
  // its grace, at most once a minute; the first one interval after the start,
  // not beside the resumption of every machine.
  const absl::Duration every =
      std::clamp(absl::Seconds(env_->opts.retire_after_seconds) / 4, absl::Seconds(1), absl::Minutes(1));
  std::unique_lock lock(expiry_mu_);
  while (!expiry_cv_.wait_for(lock, absl::ToChronoMilliseconds(every), [this] { return stopping_; })) {
    lock.unlock();
    auto purged = migration::ExpireRetired(env_.get());
    if (!purged.ok()) spdlog::warn("expiring retired copies: {}", purged.status().ToString());
    lock.lock();
  }
}

absl::Status Daemon::StartSealing() {
  ASSIGN_OR_RETURN(objects_, OpenObjects(cfg_.objstore));
  seal_ = std::make_unique<sealing::Env>();
  sealing::Env& se = *seal_;
  se.worker = cfg_.worker;
  se.opts = {.object_bytes = cfg_.objstore.object_mib << 20, .parallel = cfg_.objstore.parallel,
             .attempts = cfg_.objstore.attempts, .consumer_start = cfg_.migration.consumer_start,
             .consumer_stop = cfg_.migration.consumer_stop};
  se.host = host_.get();
  se.objects = objects_.get();
  se.store = store_.get();
  se.fetch_key = [peers = peers_.get()](const std::string& peer, const std::string& volume) {
    return peers->FetchVolumeKey(peer, volume);
  };
  se.now_ms = env_->now_ms;
  RETURN_IF_ERROR(runner_->Register(sealing::SealMachine(&se)));
  RETURN_IF_ERROR(runner_->Register(sealing::RestoreMachine(&se)));
  spdlog::info("sealed volumes ship to {}", se.objects->Describe());
  return absl::OkStatus();
}

absl::Status Daemon::Serve(std::shared_ptr<grpc::ServerCredentials> creds) {
  operator_ = std::make_unique<OperatorService>(cfg_, runner_.get(), volumes_.get(), env_.get(), seal_.get());
  peer_ = std::make_unique<PeerService>(cfg_, runner_.get(), env_.get(), seal_.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(cfg_.listen, std::move(creds), &port_);
  builder.RegisterService(operator_.get());
  builder.RegisterService(peer_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", cfg_.listen, " (address in use or not local)"));
  spdlog::info("workerd {} listening on {} (port {}), {} peer(s), state in {}", cfg_.worker, cfg_.listen, port_,
               cfg_.peers.size(), cfg_.data_dir);
  return absl::OkStatus();
}

absl::Status Daemon::ServeMetrics() {
  if (cfg_.metrics_listen.empty()) return absl::OkStatus();
  auto records = std::make_shared<metrics::Records>(store_.get(), host_.get(), seal_.get());
  ASSIGN_OR_RETURN(metrics_, metrics::Server::Start(cfg_.metrics_listen, {records, steps_->registry()}));
  spdlog::info("metrics on http://{}/metrics (port {})", cfg_.metrics_listen, metrics_->port());
  return absl::OkStatus();
}

Daemon::~Daemon() { Shutdown(absl::Seconds(5)); }

void Daemon::Shutdown(absl::Duration grace) {
  metrics_.reset();
  {
    std::lock_guard lock(expiry_mu_);
    stopping_ = true;
  }
  expiry_cv_.notify_all();
  if (expiry_.joinable()) expiry_.join();
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
