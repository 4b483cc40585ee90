// workerd: runs this worker's durable migration machines and serves the API.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "CLI/CLI.hpp"
#include "common/log.h"
#include "spdlog/spdlog.h"
#include "workerd/config.h"
#include "workerd/daemon.h"

using namespace volmigrate;

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "workerd: %s\n", std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"workerd: runs this worker's volume migrations, seals and drains as durable state machines\n"
               "and serves the volmigrate.v1 API (mutual TLS)."};
  std::string config_path = "/etc/volmigrate/workerd.toml";
  std::string log_level;
  bool check = false;
  app.add_option("-c,--config", config_path, "TOML configuration file")->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error (overrides the config)");
  app.add_flag("--check", check,
               "Validate the configuration and TLS files, call every peer over mutual TLS, and exit: "
               "0 when all is well");
  app.set_version_flag("--version", "workerd 0.1.0");
  app.footer("Exit status: 0 clean shutdown or check passed; 1 bad configuration, unreadable state, or an "
             "unreachable peer (--check); 2 bad command line.\nSIGTERM or SIGINT shuts down gracefully: "
             "steps in flight commit, every machine resumes at the next start.");
  CLI11_PARSE(app, argc, argv);

  auto cfg = workerd::LoadConfig(config_path);
  if (!cfg.ok()) return Fail(cfg.status());
  if (!log_level.empty()) cfg->log_level = log_level;
  if (const char* d = std::getenv("VOLMIGRATE_CRASH_DIR"); d && *d) cfg->crash_dir = d;
  if (const char* h = std::getenv("VOLMIGRATE_HALT_BEFORE"); h && *h) cfg->halt_before = h;
  if (absl::Status s = InitLogging(cfg->log_level); !s.ok()) return Fail(s);

  if (check) {
    if (!cfg->plaintext) {
      if (auto c = rpc::ServerCredentials(cfg->tls); !c.ok()) return Fail(c.status());
    }
    if (absl::Status s = workerd::CheckPeers(*cfg, absl::Seconds(5)); !s.ok()) return Fail(s);
    std::printf("workerd %s: configuration and TLS files are valid; %zu peer(s) reachable\n", cfg->worker.c_str(),
                cfg->peers.size());
    return 0;
  }

  // Block the signals before any thread starts, so only sigwait below sees them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto daemon = workerd::Daemon::Start(*cfg);
  if (!daemon.ok()) return Fail(daemon.status());
  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("signal {}: shutting down; unfinished machines resume at the next start", sig);
  (*daemon)->Shutdown(absl::Seconds(5));
  return 0;
}
