// migratectl: the operator's command line for volmigrate.
#include "CLI/CLI.hpp"
#include "migratectl/client.h"
#include "migratectl/verbs.h"

using namespace volmigrate::cli;

int main(int argc, char** argv) {
  CLI::App app{"migratectl: move encrypted local volumes between workers (volmigrate operator CLI)"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand too
  app.footer(kExitCodeHelp);
  app.set_version_flag("--version", "migratectl 0.1.0");
  Options o;
  app.add_option("-s,--server", o.server, "workerd address host:port")->capture_default_str();
  app.add_option("--server-name", o.server_name, "name to verify in the server certificate (default: the host)");
  app.add_option("--ca", o.tls.ca, "CA certificate (PEM)")->capture_default_str();
  app.add_option("--cert", o.tls.cert, "client certificate (PEM)")->capture_default_str();
  app.add_option("--key", o.tls.key, "client private key (PEM)")->capture_default_str();
  app.add_flag("--plaintext", o.plaintext, "no TLS (only for a workerd configured with plaintext = true)");
  app.add_flag("--json", o.json, "print JSON (one object per line for streams) instead of tables");
  app.add_option("--timeout", o.timeout, "seconds to wait for each call")->capture_default_str()->check(CLI::PositiveNumber);

  Client client(o);
  int rc = kOk;
  AddVerbs(app, client, &rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }
  return rc;
}
