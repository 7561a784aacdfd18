#include "frontend/store/moved_mounts.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "frontend/log.h"

namespace grootfs::frontend::store {
namespace {

std::string Unescape(const std::string& f) {
  std::string out;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\\' && i + 3 < f.size()) {
      out += static_cast<char>(std::strtol(f.substr(i + 1, 3).c_str(), nullptr, 8));
      i += 3;
    } else {
      out += f[i];
    }
  }
  return out;
}

bool AtAPlace(const std::string& root, const std::string& point) {
  for (const std::string area : {"/images/", "/tmp/"}) {
    const std::string prefix = root + area;
    if (!point.starts_with(prefix) || !point.ends_with("/rootfs")) continue;
    const std::string name = point.substr(prefix.size(), point.size() - prefix.size() - 7);
    if (!name.empty() && name.find('/') == std::string::npos) return true;
  }
  return false;
}

}  // namespace

std::vector<MovedMount> MovedMounts(const Paths& p) {
  std::vector<MovedMount> moved;
  struct stat st{};
  char* real = realpath(p.root.c_str(), nullptr);
  if (real == nullptr || stat(real, &st) != 0) {
    std::free(real);
    return moved;
  }
  const std::string root = real;
  std::free(real);
  // The helper's tag: the marker's, or the store directory's identity for an older store.
  std::string tag = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  std::ifstream marker(p.marker());
  for (std::string line; std::getline(marker, line);)
    if (line.starts_with("tag:")) tag = line.substr(4);
  const std::string want = " - overlay grootfs-store:" + tag + " ";
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.find(want) == std::string::npos) continue;
    std::istringstream fields(line);
    std::string field, point;
    for (int i = 0; i < 5 && fields >> field; ++i) point = field;
    point = Unescape(point);
    if (!AtAPlace(root, point)) moved.push_back({std::strtoull(line.c_str(), nullptr, 10), point});
  }
  return moved;
}

std::vector<std::string> UnmountMovedMounts(const Paths& p, HelperClient& helper) {
  for (const MovedMount& m : MovedMounts(p)) {
    try {
      helper.UnmountMovedMount(m.id);
    } catch (const std::exception& e) {
      Logger::Get().Error("cannot-unmount-moved-mount", {{"path", m.point}, {"error", e.what()}});
    }
  }
  std::vector<std::string> left;
  for (const MovedMount& m : MovedMounts(p)) left.push_back(m.point);
  return left;
}

}  // namespace grootfs::frontend::store
