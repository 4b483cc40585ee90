// migratectl's verbs: each adds its subcommand, its own options and what it
// does to the app. A verb's exit code goes to *rc.
#pragma once

#include "CLI/CLI.hpp"
#include "migratectl/client.h"

namespace volmigrate::cli {

void AddVerbs(CLI::App& app, Client& c, int* rc);

}  // namespace volmigrate::cli
