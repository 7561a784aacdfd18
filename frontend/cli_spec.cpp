#include "frontend/cli_spec.h"

#include <algorithm>

#include "frontend/cli.h"
#include "frontend/util/nearest.h"

namespace grootfs::frontend::cli {
namespace {

FlagSpec HelpFlag() { return {"help", "", "", "show this help (also -h)", "", false}; }

std::vector<std::string> Names(const std::vector<FlagSpec>& flags) {
  std::vector<std::string> names;
  for (const auto& flag : flags) names.push_back(flag.name);
  return names;
}

// "  --name VALUE" on one line, then indented the help, and on a line of their own its default
// and config key.
std::string FlagUsage(const FlagSpec& flag) {
  std::string text = "  --" + flag.name + (flag.TakesValue() ? " " + flag.value : "") + "\n" +
                     "        " + flag.help + "\n        ";
  std::vector<std::string> notes;
  if (flag.repeatable) notes.push_back("repeatable");
  if (!flag.default_text.empty()) notes.push_back("default: " + flag.default_text);
  if (!flag.config_key.empty()) notes.push_back("config: " + flag.config_key);
  if (notes.empty()) return text.substr(0, text.size() - 8);
  for (std::size_t i = 0; i < notes.size(); ++i) text += (i == 0 ? "(" : "; ") + notes[i];
  return text + ")\n";
}

}  // namespace

const std::vector<FlagSpec>& GlobalFlags() {
  static const std::vector<FlagSpec> flags = {
      {"store", "PATH", kDefaultStorePath, "the store", "store"},
      {"config", "FILE", "none", "a YAML config file; a flag on the command line wins over it", ""},
      {"log-level", "LEVEL", "fatal, or info with a log file",
       "debug, info, error or fatal: what is logged", "log_level"},
      {"log-file", "FILE", "stderr", "write the log (JSON lines) to FILE", "log_file"},
      {"helper-bin", "PATH", "../libexec/grootfs/grootfs-helper next to grootfs",
       "the privileged helper", "helper_bin"},
      {"version", "", "", "print the version and exit (also -v)", ""},
      HelpFlag(),
  };
  return flags;
}

const std::map<std::string, CommandSpec>& Commands() {
  static const std::map<std::string, CommandSpec> commands = {
      {"create",
       {"create [flags] IMAGE ID",
        "make an image's root filesystem and print its runtime spec as JSON",
        {{"disk-limit-size-bytes", "N", "0, no limit", "limit the image's disk usage to N bytes",
          "create.disk_limit_size_bytes"},
         {"exclude-image-from-quota", "", "false",
          "count only what the container writes against the limit",
          "create.exclude_image_from_quota"},
         {"insecure-registry", "HOST[:PORT]", "none",
          "allow plain HTTP or an untrusted certificate for this registry",
          "create.insecure_registries", true},
         {"skip-layer-validation", "", "false", "do not check oci:/// layer digests and sizes",
          "create.skip_layer_validation"},
         {"with-clean", "", "false", "remove unused layers before creating", "create.with_clean"},
         {"without-clean", "", "", "do not remove unused layers first (the default)", ""},
         {"threshold-bytes", "N", "none, any size",
          "with --with-clean: clean only when the store is over N bytes", "clean.threshold_bytes"},
         {"with-mount", "", "", "mount the rootfs (the default)", ""},
         {"without-mount", "", "false",
          "do not mount the rootfs: print the mount for the runtime to make",
          "create.without_mount"},
         {"username", "USER", "none, anonymous", "the registry user name", ""},
         {"password", "PASSWORD", "none", "the registry password", ""},
         {"password-stdin", "", "false",
          "read the registry password from stdin (one line); needs --username", ""},
         HelpFlag()},
        2,
        2,
        "IMAGE and ID"}},
      {"delete",
       {"delete ID|STORE/images/ID",
        "unmount and remove an image",
        {HelpFlag()},
        1,
        1,
        "one image ID or image path"}},
      {"stats",
       {"stats ID|STORE/images/ID",
        "print an image's disk usage as JSON",
        {HelpFlag()},
        1,
        1,
        "one image ID or image path"}},
      {"list",
       {"list", "print the path of every image, one a line", {HelpFlag()}, 0, 0, "nothing"}},
      {"clean",
       {"clean [--threshold-bytes N]",
        "remove layers no image uses",
        {{"threshold-bytes", "N", "none, any size", "do nothing while the store is under N bytes",
          "clean.threshold_bytes"},
         HelpFlag()},
        0,
        0,
        "nothing"}},
      {"capacity",
       {"capacity", "print the store's capacity in bytes as JSON", {HelpFlag()}, 0, 0, "nothing"}},
      {"init-store",
       {"init-store [--uid-mapping NS:HOST:SIZE]... [--gid-mapping NS:HOST:SIZE]... "
        "[--store-size-bytes N]",
        "make the store (root only)",
        {{"uid-mapping", "NS:HOST:SIZE", "none, a store of root's",
          "a user id range of the store's users; its owner is the host id of NS 0", "", true},
         {"gid-mapping", "NS:HOST:SIZE", "none, a store of root's",
          "a group id range of the store's users", "", true},
         {"store-size-bytes", "N", "none, a plain directory",
          "back the store with an XFS file of N bytes (project quotas)", "init.store_size_bytes"},
         HelpFlag()},
        0,
        0,
        "nothing"}},
      {"delete-store",
       {"delete-store", "unmount every image and remove the store", {HelpFlag()}, 0, 0, "nothing"}},
      {"check",
       {"check [--repair]",
        "verify the store: layers, images, leftovers, mounts",
        {{"repair", "", "false", "sweep leftovers, drop broken layers, remount images", ""},
         HelpFlag()},
        0,
        0,
        "nothing"}},
  };
  return commands;
}

const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags, const std::string& name) {
  const auto it = std::find_if(flags.begin(), flags.end(),
                               [&](const FlagSpec& flag) { return flag.name == name; });
  return it == flags.end() ? nullptr : &*it;
}

std::string GlobalUsage() {
  std::string text =
      "usage: grootfs [global flags] COMMAND [flags] [args]\n"
      "\n"
      "global flags (before the command):\n";
  for (const auto& flag : GlobalFlags()) text += FlagUsage(flag);
  text += "\ncommands:\n";
  for (const auto& [name, spec] : Commands()) {
    std::string line = "  " + name;
    line.resize(std::max<std::size_t>(line.size() + 1, 16), ' ');
    text += line + spec.description + "\n";
  }
  text += "\nrun 'grootfs COMMAND --help' for a command's flags; man grootfs for the rest";
  return text;
}

std::string CommandUsage(const std::string& command) {
  const CommandSpec& spec = Commands().at(command);
  std::string text = "usage: grootfs [global flags] " + spec.synopsis + "\n\n" + spec.description;
  text += "\n\nflags:\n";
  for (const auto& flag : spec.flags) text += FlagUsage(flag);
  text += "\nglobal flags (before the command): see grootfs --help";
  return text;
}

std::string UsageHint(const std::string& command) {
  if (command.empty()) return " (usage: grootfs [global flags] COMMAND [flags] [args]; see --help)";
  return " (usage: grootfs [global flags] " + Commands().at(command).synopsis + ")";
}

std::string UnknownCommandMessage(const std::string& command) {
  std::vector<std::string> names;
  for (const auto& entry : Commands()) names.push_back(entry.first);
  return "unknown command '" + command + "', did you mean " + NearestName(command, names) + "?" +
         UsageHint("");
}

std::string UnknownGlobalFlagMessage(const std::string& given, const std::string& name) {
  // A command's flag given before the command: say where it goes.
  for (const auto& [command, spec] : Commands())
    if (name != "help" && FindFlag(spec.flags, name))
      return "unknown global flag " + given + ": --" + name + " is a flag of " + command +
             " and goes after it" + UsageHint(command);
  return "unknown global flag " + given + ", did you mean --" +
         NearestName(name, Names(GlobalFlags())) + "?" + UsageHint("");
}

std::string UnknownCommandFlagMessage(const std::string& command, const std::string& given,
                                      const std::string& name) {
  const std::string nearest = NearestName(name, Names(Commands().at(command).flags));
  return "unknown flag " + given + " for " + command + ", did you mean --" + nearest + "?" +
         UsageHint(command);
}

}  // namespace grootfs::frontend::cli
