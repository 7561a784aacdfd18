// grootfs: the unprivileged frontend. Parses the command line, runs one command, and on
// failure prints one line on stdout and exits non-zero, as the contract says.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <iostream>

#include "frontend/cli.h"
#include "frontend/commands/commands.h"
#include "frontend/image/credentials.h"
#include "frontend/lifetime.h"
#include "frontend/log.h"
#include "frontend/metrics/metrics.h"
#include "frontend/store/act_as_owner.h"
#include "frontend/util/error.h"

namespace {

using grootfs::frontend::Invocation;
namespace commands = grootfs::frontend::commands;

int Dispatch(Invocation& inv) {
  // Stored registry credentials are the invoking user's: read before any change of identity.
  grootfs::frontend::image::ResolveRegistryCredentials(inv);
  // Root's store administration stays root's (and acts by fd); every other command works
  // inside the store as the store's owner.
  if (inv.command != "init-store" && inv.command != "delete-store")
    grootfs::frontend::store::ActAsStoreOwner(inv.store);
  if (inv.command == "create") return commands::Create(inv);
  if (inv.command == "delete") return commands::Delete(inv);
  if (inv.command == "stats") return commands::Stats(inv);
  if (inv.command == "list") return commands::List(inv);
  if (inv.command == "clean") return commands::Clean(inv);
  if (inv.command == "capacity") return commands::Capacity(inv);
  if (inv.command == "init-store") return commands::InitStore(inv);
  if (inv.command == "delete-store") return commands::DeleteStore(inv);
  if (inv.command == "check") return commands::Check(inv);
  throw grootfs::frontend::Error("unknown command " + inv.command);
}

// Once a stop signal is being acted on, its thread alone ends the process (after its cleanup,
// with its own line on stdout): whatever the command did meanwhile is not reported.
[[noreturn]] void AwaitStop() {
  for (;;) pause();
}

}  // namespace

int main(int argc, char** argv) {
  namespace lifetime = grootfs::frontend::lifetime;
  signal(SIGPIPE, SIG_IGN);  // a helper that goes away is an error reply, not a signal
  lifetime::Install();       // SIGINT, SIGTERM, SIGHUP: stop helpers, clean up, exit 1
  auto& log = grootfs::frontend::Logger::Get();
  namespace metrics = grootfs::frontend::metrics;
  const auto started = std::chrono::steady_clock::now();
  auto took = [&] { return std::chrono::steady_clock::now() - started; };
  try {
    Invocation inv = grootfs::frontend::ParseCommandLine(argc, argv);
    if (inv.command == "help") {
      std::cout << inv.usage << std::endl;
      return 0;
    }
    log.Configure(inv.log_level, inv.log_file);
    log.SetCommand(inv.command);
    log.Debug("grootfs", {{"version", grootfs::frontend::kVersion}});
    lifetime::SetStore(inv.helper_bin, inv.store);
    metrics::Configure(inv.command, inv.store, inv.metron_endpoint, inv.prometheus_textfile);
    // A mistyped key is not fatal (BOSH writes keys of its own), but it must be visible: in the
    // log, and on stderr when that is a terminal (Garden takes any non-JSON stderr line as an
    // error, so never there).
    const bool terminal = isatty(STDERR_FILENO) == 1;
    for (const auto& warning : inv.config_warnings) {
      log.Info("config-warning", {{"warning", warning}});
      if (terminal) std::cerr << "grootfs: warning: " << warning << std::endl;
    }
    const int status = Dispatch(inv);
    if (lifetime::Finish()) AwaitStop();
    metrics::Finish(status == 0, "", took());
    return status;
  } catch (const std::exception& e) {
    if (lifetime::Finish()) AwaitStop();
    std::string line = e.what();
    for (char& c : line)
      if (c == '\n') c = ' ';
    log.Error("failed", {{"error", line}});
    std::cout << line << std::endl;
    metrics::Finish(false, line, took());
    return 1;
  }
}
