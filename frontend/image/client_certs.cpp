#include "frontend/image/client_certs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

constexpr std::size_t kMaxFile = 4 * 1024 * 1024;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string ReadSmallFile(const std::string& path, const std::string& what) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    throw Error("cannot read " + what + " " + Printable(path) + ": " + std::strerror(errno));
  std::string content;
  char buffer[65536];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
    if (content.size() > kMaxFile) break;
  }
  close(fd);
  return content;
}

}  // namespace

ClientCerts LoadClientCerts(const std::string& dir) {
  ClientCerts tls;
  if (dir.empty()) return tls;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    throw Error("cannot read the client certificates directory " + Printable(dir) + ": " +
                std::strerror(errno));
  }
  std::vector<std::string> names;
  while (const dirent* entry = readdir(d)) names.emplace_back(entry->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  auto has = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    if (EndsWith(name, ".crt")) {
      tls.ca_pem += ReadSmallFile(path, "CA certificate") + "\n";
    } else if (EndsWith(name, ".cert")) {
      const std::string key = name.substr(0, name.size() - 5) + ".key";
      if (!has(key)) {
        throw Error("client certificate " + Printable(path) + " has no key " + Printable(key));
      }
      tls.identities.emplace_back(path, dir + "/" + key);
    } else if (EndsWith(name, ".key")) {
      const std::string cert = name.substr(0, name.size() - 4) + ".cert";
      if (!has(cert)) {
        throw Error("client key " + Printable(path) + " has no certificate " + Printable(cert));
      }
    }
  }
  return tls;
}

}  // namespace grootfs::frontend::image
