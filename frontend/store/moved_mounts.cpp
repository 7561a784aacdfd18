#include "frontend/store/moved_mounts.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "frontend/log.h"

namespace grootfs::frontend::store {
namespace {

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

std::vector<Mount> MovedMounts(const Paths& p) { return MovedMounts(p, ReadMounts()); }

std::vector<Mount> MovedMounts(const Paths& p, const std::vector<Mount>& all) {
  std::vector<Mount> moved;
  struct stat st {};
  char* real = realpath(p.root.c_str(), nullptr);
  if (real == nullptr || stat(real, &st) != 0) {
    std::free(real);
    return moved;
  }
  const std::string root = real;
  std::free(real);
  // The helper's tag: the marker's, or the store directory's identity for an older store.
  std::string tag = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  std::string marker;  // bounded, a regular file: the owner may have swapped meta/ for his own
  try {
    marker = ReadFile(p.marker(), 64 << 10);
  } catch (const Error&) {
  }
  for (std::size_t at = 0, nl; at < marker.size(); at = nl + 1) {
    nl = std::min(marker.find('\n', at), marker.size());
    const std::string_view line(marker.data() + at, nl - at);
    if (line.starts_with("tag:")) tag = std::string(line.substr(4));
  }
  for (const Mount& m : all)
    if (m.fstype == "overlay" && m.source == "grootfs-store:" + tag && !AtAPlace(root, m.point))
      moved.push_back(m);
  return moved;
}

std::vector<std::string> UnmountMovedMounts(const Paths& p, HelperClient& helper) {
  for (const Mount& m : MovedMounts(p)) {
    try {
      helper.UnmountMovedMount(m.id);
    } catch (const std::exception& e) {
      Logger::Get().Error("cannot-unmount-moved-mount", {{"path", m.point}, {"error", e.what()}});
    }
  }
  std::vector<std::string> left;
  for (const Mount& m : MovedMounts(p)) left.push_back(m.point);
  return left;
}

}  // namespace grootfs::frontend::store
