#include "frontend/cli.h"

#include <charconv>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "frontend/cli_spec.h"
#include "frontend/config.h"
#include "frontend/util/error.h"

namespace grootfs::frontend {
namespace {

using cli::Commands;
using cli::FindFlag;
using cli::GlobalFlags;
using cli::UsageHint;

// Go's strconv.ParseBool, as urfave/cli's --flag=VALUE takes it.
std::optional<bool> ParseBool(std::string_view text) {
  static const std::set<std::string_view> yes = {"1", "t", "T", "true", "TRUE", "True"};
  static const std::set<std::string_view> no = {"0", "f", "F", "false", "FALSE", "False"};
  if (yes.count(text)) return true;
  if (no.count(text)) return false;
  return std::nullopt;
}

std::optional<std::uint32_t> ParseU32(std::string_view text) {
  std::uint32_t value = 0;
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// One flag as it appeared: its name without dashes, and the value if it had one.
struct FlagOccurrence {
  std::string given;  // as typed, without its value: "--name" or "-name"
  std::string name;
  std::string value;
  bool has_value = false;
};

class Parser {
 public:
  Parser(int argc, const char* const* argv) {
    for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i] == nullptr ? "" : argv[i]);
  }

  Invocation Run() {
    ParseGlobals();
    if (pos_ < args_.size()) {
      command_ = args_[pos_++];
      if (command_ == "help") {
        help_ = true;
        if (pos_ < args_.size() && Commands().count(args_[pos_])) help_command_ = args_[pos_];
      } else if (!Commands().count(command_)) {
        Fail(cli::UnknownCommandMessage(command_));
        ScanForHelp();
      } else {
        ParseCommand();
      }
    } else if (!error_ && !version_) {
      help_ = true;  // no command at all: as urfave/cli, show the usage
    }

    Invocation inv;
    if (version_ && !help_) {
      inv.command = "help";
      inv.usage = std::string("grootfs version ") + kVersion;
      return inv;
    }
    if (help_) {
      inv.command = "help";
      inv.usage = help_command_.empty() ? cli::GlobalUsage() : cli::CommandUsage(help_command_);
      return inv;
    }
    if (error_) throw Error(*error_);
    CheckArgCount();
    Build(inv);
    return inv;
  }

 private:
  void Fail(std::string message) {
    if (!error_) error_ = std::move(message);
  }

  // Splits "-name", "--name" or "--name=value"; nullopt for a positional argument.
  std::optional<FlagOccurrence> SplitFlag(const std::string& arg) {
    if (arg.size() < 2 || arg[0] != '-') return std::nullopt;
    std::string_view body(arg);
    body.remove_prefix(body[1] == '-' ? 2 : 1);
    FlagOccurrence flag;
    const auto eq = body.find('=');
    flag.name = std::string(body.substr(0, eq));
    flag.given = arg.substr(0, arg.size() - body.size()) + flag.name;
    if (eq != std::string_view::npos) {
      flag.value = std::string(body.substr(eq + 1));
      flag.has_value = true;
    }
    if (flag.name.empty() || flag.name[0] == '-') Fail("bad flag syntax: " + arg + UsageHint(""));
    return flag;
  }

  static bool IsHelpFlag(const FlagOccurrence& flag) {
    return flag.name == "help" || flag.name == "h";
  }

  // The value of a flag that takes one: after '=' or the next argument, whatever it looks like
  // (as Go's flag package does).
  std::optional<std::string> TakeValue(const FlagOccurrence& flag, const std::string& command) {
    if (flag.has_value) return flag.value;
    if (pos_ < args_.size()) return args_[pos_++];
    Fail("flag --" + flag.name + " needs a value" + UsageHint(command));
    return std::nullopt;
  }

  // A boolean flag: bare, or --flag=BOOL.
  bool TakeBool(const FlagOccurrence& flag, const std::string& command) {
    if (!flag.has_value) return true;
    const auto value = ParseBool(flag.value);
    if (!value) Fail("invalid value '" + flag.value + "' for --" + flag.name + UsageHint(command));
    return value.value_or(false);
  }

  void ParseGlobals() {
    while (pos_ < args_.size()) {
      const std::string& arg = args_[pos_];
      if (arg == "--") {
        ++pos_;
        return;
      }
      auto flag = SplitFlag(arg);
      if (!flag) return;  // the command
      ++pos_;
      if (IsHelpFlag(*flag)) {
        help_ = help_ || TakeBool(*flag, "");  // --help=false is no help
        continue;
      }
      if (flag->name == "version" || flag->name == "v") {  // as urfave/cli: print and stop
        version_ = version_ || TakeBool(*flag, "");
        continue;
      }
      if (!FindFlag(GlobalFlags(), flag->name)) {
        Fail(cli::UnknownGlobalFlagMessage(flag->given, flag->name));
        continue;
      }
      const auto value = TakeValue(*flag, "");
      if (value) globals_[flag->name] = *value;
    }
  }

  // After an unknown command: only looks for --help.
  void ScanForHelp() {
    for (; pos_ < args_.size() && args_[pos_] != "--"; ++pos_) {
      auto flag = SplitFlag(args_[pos_]);
      if (flag && IsHelpFlag(*flag) && (!flag->has_value || ParseBool(flag->value) == true))
        help_ = true;
    }
  }

  void ParseCommand() {
    const cli::CommandSpec& spec = Commands().at(command_);
    bool flags_done = false;
    while (pos_ < args_.size()) {
      const std::string& arg = args_[pos_++];
      if (!flags_done && arg == "--") {
        flags_done = true;
        continue;
      }
      auto flag = flags_done ? std::nullopt : SplitFlag(arg);
      if (!flag) {
        positional_.push_back(arg);
        continue;
      }
      if (IsHelpFlag(*flag)) {
        if (TakeBool(*flag, command_)) {
          help_ = true;
          help_command_ = command_;
        }
        continue;
      }
      const cli::FlagSpec* known = FindFlag(spec.flags, flag->name);
      if (!known) {
        if (FindFlag(GlobalFlags(), flag->name))
          Fail("global flag --" + flag->name + " must come before the command" +
               UsageHint(command_));
        else
          Fail(cli::UnknownCommandFlagMessage(command_, flag->given, flag->name));
        continue;
      }
      if (known->TakesValue()) {
        const auto value = TakeValue(*flag, command_);
        if (value) values_[flag->name].push_back(*value);
      } else {
        bools_[flag->name] = TakeBool(*flag, command_);
      }
    }
  }

  void CheckArgCount() {
    const cli::CommandSpec& spec = Commands().at(command_);
    const std::size_t n = positional_.size();
    if (n >= spec.min_args && n <= spec.max_args) return;
    throw Error(command_ + " takes " + spec.args_description + ", got " + std::to_string(n) +
                " argument" + (n == 1 ? "" : "s") + UsageHint(command_));
  }

  const std::string* Global(const std::string& name) const {
    const auto it = globals_.find(name);
    return it == globals_.end() ? nullptr : &it->second;
  }

  // The last value of a command flag (last one wins, as in Go), or null.
  const std::string* Last(const std::string& name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second.back();
  }

  bool Bool(const std::string& name) const {
    const auto it = bools_.find(name);
    return it != bools_.end() && it->second;
  }

  std::optional<bool> OptionalBool(const std::string& name) const {
    const auto it = bools_.find(name);
    if (it == bools_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<std::int64_t> Size(const std::string& name) const {
    const std::string* value = Last(name);
    if (value == nullptr) return std::nullopt;
    return ParseSize("--" + name, *value);
  }

  static std::string AbsoluteStore(const std::string& store) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path path = fs::absolute(store, ec);
    if (ec) throw Error("cannot resolve store path " + store + ": " + ec.message());
    std::string text = path.lexically_normal().string();
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    return text;
  }

  void Build(Invocation& inv) {
    inv.command = command_;
    inv.args = positional_;

    Config config;
    if (const std::string* path = Global("config")) {
      if (path->empty()) throw Error("--config needs a file" + UsageHint(""));
      inv.config_path = *path;
      config = LoadConfig(*path);
    }
    inv.config_warnings = config.warnings;
    auto non_empty = [](const std::optional<std::string>& s) { return s && !s->empty(); };

    // Global settings: flag > config > default.
    if (const std::string* store = Global("store")) {
      if (store->empty()) throw Error("--store needs a path" + UsageHint(""));
      inv.store = AbsoluteStore(*store);
    } else if (non_empty(config.store)) {
      inv.store = AbsoluteStore(*config.store);
    } else {
      inv.store = kDefaultStorePath;
    }
    if (const std::string* level = Global("log-level")) {
      const auto parsed = ParseLogLevel(*level);
      if (!parsed)
        throw Error("invalid log level '" + *level + "': use debug, info, error or fatal");
      inv.log_level = *parsed;
      inv.log_level_given = true;
    } else if (config.log_level) {
      inv.log_level = *config.log_level;
      inv.log_level_given = true;
    }
    if (const std::string* file = Global("log-file"))
      inv.log_file = *file;
    else if (config.log_file)
      inv.log_file = *config.log_file;
    if (!inv.log_level_given && !inv.log_file.empty()) inv.log_level = LogLevel::kInfo;
    if (const std::string* helper = Global("helper-bin"))
      inv.helper_bin = *helper;
    else if (config.helper_bin)
      inv.helper_bin = *config.helper_bin;
    inv.newuidmap_bin = config.newuidmap_bin.value_or("");
    inv.newgidmap_bin = config.newgidmap_bin.value_or("");
    inv.metron_endpoint = config.metron_endpoint.value_or("");
    inv.prometheus_textfile = config.metrics.prometheus_textfile.value_or("");

    // create
    const auto& c = config.create;
    inv.disk_limit_size_bytes = Size("disk-limit-size-bytes");
    if (!inv.disk_limit_size_bytes) inv.disk_limit_size_bytes = c.disk_limit_size_bytes;
    inv.exclude_image_from_quota = OptionalBool("exclude-image-from-quota")
                                       .value_or(c.exclude_image_from_quota.value_or(false));
    inv.skip_layer_validation =
        OptionalBool("skip-layer-validation").value_or(c.skip_layer_validation.value_or(false));
    if (Bool("with-clean") && Bool("without-clean"))
      throw Error("--with-clean and --without-clean cannot be used together" + UsageHint(command_));
    inv.with_clean = Bool("with-clean")      ? true
                     : Bool("without-clean") ? false
                                             : c.with_clean.value_or(false);
    if (Bool("with-mount") && Bool("without-mount"))
      throw Error("--with-mount and --without-mount cannot be used together" + UsageHint(command_));
    inv.without_mount = Bool("without-mount") ? true
                        : Bool("with-mount")  ? false
                                              : c.without_mount.value_or(false);
    if (const auto it = values_.find("insecure-registry"); it != values_.end())
      inv.insecure_registries = it->second;
    else
      inv.insecure_registries = c.insecure_registries.value_or(std::vector<std::string>{});
    inv.registry_mirrors = c.registry_mirrors.value_or(std::vector<std::string>{});
    if (const std::string* user = Last("username")) inv.username = *user;
    if (const std::string* password = Last("password")) inv.password = *password;
    inv.password_stdin = Bool("password-stdin");
    if (inv.password_stdin && Last("password"))
      throw Error("--password and --password-stdin cannot be used together" + UsageHint(command_));
    if (inv.password_stdin && inv.username.empty())
      throw Error("--password-stdin needs --username" + UsageHint(command_));
    inv.remote_layer_client_certificates_path =
        c.remote_layer_client_certificates_path.value_or("");
    inv.clean_log_file = c.clean_log_file.value_or("");

    // create and clean
    inv.threshold_bytes = Size("threshold-bytes");
    if (!inv.threshold_bytes) inv.threshold_bytes = config.clean.threshold_bytes;

    // init-store (and capacity, which reports init.store_size_bytes)
    if (const auto it = values_.find("uid-mapping"); it != values_.end())
      for (const auto& m : it->second) inv.uid_mappings.push_back(ParseIdMapping(m));
    if (const auto it = values_.find("gid-mapping"); it != values_.end())
      for (const auto& m : it->second) inv.gid_mappings.push_back(ParseIdMapping(m));
    inv.repair = Bool("repair");
    inv.store_size_bytes = Size("store-size-bytes");
    if (!inv.store_size_bytes) inv.store_size_bytes = config.init.store_size_bytes;
  }

  std::vector<std::string> args_;
  std::size_t pos_ = 0;
  std::optional<std::string> error_;  // the first problem; reported unless --help shows up
  bool help_ = false;
  bool version_ = false;
  std::string help_command_;
  std::string command_;
  std::map<std::string, std::string> globals_;
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, bool> bools_;
  std::vector<std::string> positional_;
};

}  // namespace

IdMapping ParseIdMapping(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  std::uint32_t parts[3] = {0, 0, 0};
  std::string_view rest = text;
  for (int i = 0; i < 3; ++i) {
    const auto colon = rest.find(':');
    if ((i < 2) != (colon != std::string_view::npos))
      throw Error("invalid id mapping " + quoted + ": expected NS:HOST:SIZE, e.g. 0:100000:65536");
    const auto part = ParseU32(rest.substr(0, colon));
    if (!part)
      throw Error("invalid id mapping " + quoted +
                  ": NS, HOST and SIZE must be numbers from 0 to 4294967295");
    parts[i] = *part;
    if (colon != std::string_view::npos) rest.remove_prefix(colon + 1);
  }
  const IdMapping mapping{parts[0], parts[1], parts[2]};
  if (mapping.size == 0) throw Error("invalid id mapping " + quoted + ": SIZE must be at least 1");
  // As the kernel's uid_map: FIRST + SIZE must stay below 2^32 (4294967295 is never an id).
  constexpr std::uint64_t kIds = std::uint64_t{1} << 32;
  if (std::uint64_t{mapping.ns_id} + mapping.size >= kIds ||
      std::uint64_t{mapping.host_id} + mapping.size >= kIds)
    throw Error("invalid id mapping " + quoted + ": the range runs past id 4294967294");
  return mapping;
}

std::int64_t ParseSize(std::string_view flag, std::string_view text) {
  const std::string what = std::string(flag) + " '" + std::string(text) + "'";
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  const bool negative = !text.empty() && text.front() == '-';
  if (ec == std::errc::result_out_of_range && !negative)
    throw Error("invalid " + what + ": a size cannot exceed 9223372036854775807");
  if ((ec != std::errc() && ec != std::errc::result_out_of_range) || stop != end)
    throw Error("invalid " + what + ": expected a number of bytes");
  if (negative) throw Error("invalid " + what + ": a size cannot be negative");
  return value;
}

Invocation ParseCommandLine(int argc, const char* const* argv) { return Parser(argc, argv).Run(); }

}  // namespace grootfs::frontend
