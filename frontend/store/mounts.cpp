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
#include <string_view>

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

// The next space-separated field of `line` from `at`, which moves past it.
std::string_view Field(std::string_view line, std::size_t& at) {
  const std::size_t start = std::min(at, line.size());
  const std::size_t end = std::min(line.find(' ', start), line.size());
  at = end + 1;
  return line.substr(start, end - start);
}

std::vector<Mount> MountsBeneath(const std::string& path) {
  return MountsBeneath(path, ReadMounts());
}

}  // namespace

std::vector<Mount> ReadMounts() {
  std::vector<Mount> mounts;
  const ipc::UniqueFd fd(open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
  if (!fd) return mounts;
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = read(fd.get(), buf, sizeof buf)) > 0;) text.append(buf, n);
  // ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
  for (std::size_t start = 0, nl; start < text.size(); start = nl + 1) {
    nl = std::min(text.find('\n', start), text.size());
    const std::string_view line(text.data() + start, nl - start);
    std::size_t at = 0;
    const std::string_view id = Field(line, at);
    for (int skip = 0; skip < 3; ++skip) (void)Field(line, at);
    const std::string_view point = Field(line, at);
    const std::size_t dash = line.find(" - ", at);
    if (id.empty() || point.empty() || dash == std::string_view::npos) continue;
    at = dash + 3;
    const std::string_view fstype = Field(line, at);
    const std::string_view source = Field(line, at);
    mounts.push_back(Mount{std::strtoull(std::string(id).c_str(), nullptr, 10),
                           Unescape(std::string(point)), std::string(fstype), std::string(source)});
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
