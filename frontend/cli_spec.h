// What the command line knows: every command and flag, with its value, default and help. The
// parser (cli.cpp), --help, and the documentation tests (the man page and the bash completion
// must name every flag) all read this one table.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace grootfs::frontend::cli {

struct FlagSpec {
  std::string name;          // without dashes
  std::string value;         // the value's name in help ("N", "PATH"); "" for a boolean flag
  std::string default_text;  // the default as --help shows it
  std::string help;          // one line
  std::string config_key;    // the config key it overrides, or ""
  bool repeatable = false;   // every occurrence counts (else the last wins)
  bool TakesValue() const { return !value.empty(); }
};

struct CommandSpec {
  std::string synopsis;     // after "grootfs [global flags] "
  std::string description;  // one line
  std::vector<FlagSpec> flags;
  std::size_t min_args = 0, max_args = 0;
  std::string args_description;  // what the positional args are, for errors
};

// The global flags (before the command), --help and --version included.
const std::vector<FlagSpec>& GlobalFlags();
const std::map<std::string, CommandSpec>& Commands();

// The flag of that name in the list, or null.
const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags, const std::string& name);

std::string GlobalUsage();
std::string CommandUsage(const std::string& command);
// " (usage: ...)" for an error about the command ("" : the global usage).
std::string UsageHint(const std::string& command);

// The one-line errors for an unknown command or flag, naming the nearest real one. `given` is
// the flag as typed without its value ("--stroe", "-stroe").
std::string UnknownCommandMessage(const std::string& command);
std::string UnknownGlobalFlagMessage(const std::string& given, const std::string& name);
std::string UnknownCommandFlagMessage(const std::string& command, const std::string& given,
                                      const std::string& name);

}  // namespace grootfs::frontend::cli
