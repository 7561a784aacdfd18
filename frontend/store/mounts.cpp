#include "frontend/store/mounts.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "frontend/util/open_at.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend::store {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 3]))) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// mountinfo spells every point without symlinks: the path's parent is resolved, its last
// component is not (a symlink planted there must not lead anywhere).
std::string Canonical(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return path;
  char real[PATH_MAX];
  if (realpath(path.substr(0, slash).c_str(), real) == nullptr) return path;
  return std::string(real) + path.substr(slash);
}

std::vector<Mount> MountsBeneath(const std::string& path, std::vector<Mount> all) {
  const std::string dir = Canonical(path);
  std::vector<Mount> found;
  for (Mount& m : all)
    if (m.point == dir || m.point.starts_with(dir + "/")) found.push_back(std::move(m));
  return found;
}

std::vector<Mount> MountsBeneath(const std::string& path) {
  return MountsBeneath(path, ReadMounts());
}

}  // namespace

std::vector<Mount> ReadMounts() {
  std::vector<Mount> mounts;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point, word;
    if (!(fields >> id >> parent >> devno >> root >> point)) continue;
    while (fields >> word && word != "-") {
    }
    Mount m{std::strtoull(id.c_str(), nullptr, 10), Unescape(point), "", ""};
    fields >> m.fstype >> m.source;
    mounts.push_back(std::move(m));
  }
  return mounts;
}

std::vector<std::string> MountsAtOrBeneath(const std::string& dir) {
  std::vector<std::string> points;
  for (const Mount& m : MountsBeneath(dir)) points.push_back(m.point);
  return points;
}

std::vector<std::string> ForeignMountsIn(const std::string& path) {
  return ForeignMountsIn(path, ReadMounts());
}

std::vector<std::string> ForeignMountsIn(const std::string& path, const std::vector<Mount>& all) {
  const std::string dir = Canonical(path);
  std::vector<std::string> foreign;
  bool ours_seen = false;
  for (const Mount& m : MountsBeneath(dir, all)) {
    if (m.point == dir + "/rootfs" && m.fstype == "overlay" && !ours_seen) {
      ours_seen = true;  // the first overlay on rootfs is the one MountRootfs made
      continue;
    }
    foreign.push_back(m.point);
  }
  return foreign;
}

std::vector<std::string> DetachMountsBeneath(const std::string& path) {
  char real[PATH_MAX];  // the store itself: its path is the caller's to give
  const std::string root = realpath(path.c_str(), real) != nullptr ? real : path;
  std::vector<std::string> points;
  for (const Mount& m : MountsBeneath(root))
    if (m.point != root) points.push_back(m.point);
  // Deepest first, and each point as often as something is stacked on it.
  std::sort(points.begin(), points.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  ipc::UniqueFd top(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (const std::string& point : points) {
    ipc::UniqueFd at = top ? OpenNoSymlinks(top.get(), point.substr(root.size() + 1),
                                            O_PATH | O_NOFOLLOW, RESOLVE_BENEATH)
                           : ipc::UniqueFd();
    if (at) (void)umount2(("/proc/self/fd/" + std::to_string(at.get())).c_str(), MNT_DETACH);
  }
  std::vector<std::string> left;
  for (const Mount& m : MountsBeneath(root))
    if (m.point != root) left.push_back(m.point);
  return left;
}

}  // namespace grootfs::frontend::store
