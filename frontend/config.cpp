#include "frontend/config.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <vector>

#include "frontend/util/error.h"
#include "frontend/util/nearest.h"

namespace grootfs::frontend {
namespace {

// Reads the whole file, so a failure can say why (yaml-cpp's LoadFile cannot).
std::string ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot read config file " + path + ": " + std::strerror(errno));
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      close(fd);
      throw Error("cannot read config file " + path + ": " + std::strerror(saved));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

std::string OneLine(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

std::string KeyName(const YAML::Node& key) {
  if (key.IsScalar()) return key.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << key;
  return out.c_str();
}

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void Fail(const std::string& key, const std::string& what) const {
    throw Error(OneLine("config file " + path_ + ": " + key + " " + what));
  }

  std::string String(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) Fail(key, "must be a string");
    return node.Scalar();
  }

  bool Bool(const YAML::Node& node, const std::string& key) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value))
      Fail(key, "must be true or false");
    return value;
  }

  std::int64_t Size(const YAML::Node& node, const std::string& key) const {
    std::int64_t value = 0;
    if (!node.IsScalar() || !YAML::convert<std::int64_t>::decode(node, value))
      Fail(key, "must be a number of bytes");
    if (value < 0) Fail(key, "must not be negative (got " + node.Scalar() + ")");
    return value;
  }

  LogLevel Level(const YAML::Node& node, const std::string& key) const {
    const auto level = ParseLogLevel(String(node, key));
    if (!level) Fail(key, "must be debug, info, error or fatal (got " + node.Scalar() + ")");
    return *level;
  }

  std::vector<std::string> StringList(const YAML::Node& node, const std::string& key) const {
    if (!node.IsSequence()) Fail(key, "must be a list of strings");
    std::vector<std::string> out;
    for (const auto& item : node) out.push_back(String(item, key + " entry"));
    return out;
  }

  using Handler = std::function<void(const YAML::Node&, const std::string&)>;

  // Calls the handler of each known key whose value is not null; names the rest in warnings.
  void Map(const YAML::Node& node, const std::string& prefix,
           const std::map<std::string, Handler>& handlers, std::vector<std::string>& warnings) {
    if (!node.IsMap()) Fail(prefix.empty() ? "the document" : prefix, "must be a mapping");
    for (const auto& entry : node) {
      const std::string name = KeyName(entry.first);
      const std::string key = prefix.empty() ? name : prefix + "." + name;
      const auto handler = handlers.find(name);
      if (handler == handlers.end()) {
        std::vector<std::string> known;
        for (const auto& known_entry : handlers) known.push_back(known_entry.first);
        const std::string nearest = NearestName(name, known);
        warnings.push_back(OneLine(
            "unknown config key " + key + " in " + path_ +
            " (nearest known key: " + (prefix.empty() ? nearest : prefix + "." + nearest) + ")"));
        continue;
      }
      if (entry.second.IsNull() || !handler->second) continue;
      handler->second(entry.second, key);
    }
  }

 private:
  std::string path_;
};

}  // namespace

Config LoadConfig(const std::string& path) {
  const std::string text = ReadFile(path);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(OneLine("cannot parse config file " + path + ": line " +
                        std::to_string(e.mark.line + 1) + ", column " +
                        std::to_string(e.mark.column + 1) + ": " + e.msg));
  }
  Config config;
  if (root.IsNull()) return config;  // an empty file

  Reader r(path);
  auto string_into = [&r](std::optional<std::string>& out) {
    return [&r, &out](const YAML::Node& n, const std::string& k) { out = r.String(n, k); };
  };
  auto bool_into = [&r](std::optional<bool>& out) {
    return [&r, &out](const YAML::Node& n, const std::string& k) { out = r.Bool(n, k); };
  };
  auto size_into = [&r](std::optional<std::int64_t>& out) {
    return [&r, &out](const YAML::Node& n, const std::string& k) { out = r.Size(n, k); };
  };
  auto list_into = [&r](std::optional<std::vector<std::string>>& out) {
    return [&r, &out](const YAML::Node& n, const std::string& k) { out = r.StringList(n, k); };
  };
  auto& warnings = config.warnings;

  r.Map(
      root, "",
      {
          {"store", string_into(config.store)},
          {"log_level",
           [&](const YAML::Node& n, const std::string& k) { config.log_level = r.Level(n, k); }},
          {"log_file", string_into(config.log_file)},
          {"helper_bin", string_into(config.helper_bin)},
          {"newuidmap_bin", string_into(config.newuidmap_bin)},
          {"newgidmap_bin", string_into(config.newgidmap_bin)},
          {"tardis_bin", nullptr},  // grootfs's; nothing here
          {"metron_endpoint", string_into(config.metron_endpoint)},
          {"metrics",
           [&](const YAML::Node& n, const std::string& k) {
             r.Map(n, k, {{"prometheus_textfile", string_into(config.metrics.prometheus_textfile)}},
                   warnings);
           }},
          {"log_timestamp_format", nullptr},  // BOSH's garden job writes it; grootfs ignores it
          {"create",
           [&](const YAML::Node& n, const std::string& k) {
             auto& c = config.create;
             r.Map(n, k,
                   {
                       {"disk_limit_size_bytes", size_into(c.disk_limit_size_bytes)},
                       {"exclude_image_from_quota", bool_into(c.exclude_image_from_quota)},
                       {"skip_layer_validation", bool_into(c.skip_layer_validation)},
                       {"with_clean", bool_into(c.with_clean)},
                       {"clean_log_file", string_into(c.clean_log_file)},
                       {"without_mount", bool_into(c.without_mount)},
                       {"insecure_registries", list_into(c.insecure_registries)},
                       {"registry_mirrors", list_into(c.registry_mirrors)},
                       {"remote_layer_client_certificates_path",
                        string_into(c.remote_layer_client_certificates_path)},
                   },
                   warnings);
           }},
          {"clean",
           [&](const YAML::Node& n, const std::string& k) {
             r.Map(n, k, {{"threshold_bytes", size_into(config.clean.threshold_bytes)}}, warnings);
           }},
          {"init",
           [&](const YAML::Node& n, const std::string& k) {
             r.Map(n, k,
                   {
                       {"store_size_bytes", size_into(config.init.store_size_bytes)},
                       {"with_direct_io", nullptr},  // grootfs's; nothing here
                   },
                   warnings);
           }},
      },
      warnings);
  return config;
}

}  // namespace grootfs::frontend
