// Runs in: grootfs-helper (privileged). Trusts: a marker only if root owns it and its folder;
// /etc/passwd, /etc/subuid and /etc/subgid (root's files, read as the caller).
#include "helper/session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

namespace grootfs::helper {
namespace {

constexpr std::size_t kMaxFile = 1 << 20;
constexpr std::size_t kMaxRanges = 32;

bool ParseU32(std::string_view s, std::uint32_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "a:b:c" to {"a", "b", "c"}. Every file the helper reads is lines of colon-separated fields.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  for (std::size_t start = 0, i = 0; i <= line.size(); ++i) {
    if (i < line.size() && line[i] != ':') continue;
    fields.push_back(line.substr(start, i - start));
    start = i + 1;
  }
  return fields;
}

template <typename F>
void ForEachLine(std::string_view text, F f) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    f(Fields(text.substr(0, nl)));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
}

bool InRange(std::uint32_t start, std::uint32_t size) {
  return size > 0 && std::uint64_t{start} + size <= 0xFFFFFFFFull;
}


Result<std::string> ReadMarker(int store) {
  auto meta = OpenBeneath(store, "meta", O_RDONLY | O_DIRECTORY);
  auto file = meta ? OpenBeneath(meta->get(), "store-marker", O_RDONLY) : meta.error();
  if (!file) return Error{EACCES, "not a grootfs store (run init-store)"};
  struct stat dir_st{}, st{};
  if (fstat(meta->get(), &dir_st) != 0 || fstat(file->get(), &st) != 0)
    return Error::FromErrno("stat store marker");
  // Only root can have written it: root owns both, nobody else may write either.
  if (dir_st.st_uid != 0 || st.st_uid != 0 || !S_ISREG(st.st_mode) || (dir_st.st_mode & 022) != 0 ||
      (st.st_mode & 022) != 0)
    return Error{EPERM, "store marker is not root's"};
  return ReadAll(file->get(), kMaxFile);
}

// A small, world-readable system file, read as the caller (fsuid is the caller's).
std::string ReadSystemFile(const char* path) {
  auto fd = OpenBeneath(AT_FDCWD, path, O_RDONLY, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  return fd ? ReadAll(fd->get(), kMaxFile) : std::string();
}

// The caller's login name from /etc/passwd (no NSS: nothing else is read).
std::string UserName(uid_t uid) {
  std::string name;
  ForEachLine(ReadSystemFile("/etc/passwd"), [&](const std::vector<std::string_view>& f) {
    std::uint32_t id;
    if (name.empty() && f.size() >= 3 && ParseU32(f[2], id) && id == uid) name = f[0];
  });
  return name;
}

Result<void> CheckCallerMayUseMappings(const StoreMarker& m, uid_t uid, gid_t gid) {
  const std::string name = UserName(uid);
  const auto subuids = SubordinateRanges(ReadSystemFile("/etc/subuid"), name, uid);
  const auto subgids = SubordinateRanges(ReadSystemFile("/etc/subgid"), name, uid);
  if (!MappingAllowed(m.uid_map, uid, subuids) || !MappingAllowed(m.gid_map, gid, subgids))
    return Error{EPERM, "the store's id mappings are not the caller's (see /etc/subuid)"};
  return {};
}

}  // namespace

std::vector<IdRange> SubordinateRanges(std::string_view text, std::string_view name,
                                       std::uint32_t id) {
  std::vector<IdRange> ranges;
  const std::string id_text = std::to_string(id);
  ForEachLine(text, [&](const std::vector<std::string_view>& f) {
    IdRange r;
    if (f.size() == 3 && (f[0] == id_text || (!name.empty() && f[0] == name)) &&
        ParseU32(f[1], r.host_id) && ParseU32(f[2], r.size) && InRange(r.host_id, r.size) &&
        ranges.size() < kMaxRanges)
      ranges.push_back(r);
  });
  return ranges;
}

bool MappingAllowed(const std::vector<IdRange>& map, std::uint32_t own_id,
                    const std::vector<IdRange>& subordinate) {
  if (map.empty()) return false;  // an identity map is root's alone
  for (const IdRange& r : map) {
    bool ok = r.host_id == own_id && r.size == 1;
    for (const IdRange& sub : subordinate)
      ok = ok || (r.host_id >= sub.host_id &&
                  std::uint64_t{r.host_id} + r.size <= std::uint64_t{sub.host_id} + sub.size);
    if (!ok) return false;
  }
  return true;
}

// grootfs-store-v1 / owner:UID:GID / uidmap:NS:HOST:SIZE ... / gidmap:NS:HOST:SIZE ...
Result<StoreMarker> ParseStoreMarker(std::string_view text) {
  StoreMarker m;
  int line = 0;
  bool ok = true;
  ForEachLine(text, [&](const std::vector<std::string_view>& f) {
    IdRange r;
    const bool is_map = f.size() == 4 && (f[0] == "uidmap" || f[0] == "gidmap");
    const bool is_limit = line >= 2 && f.size() == 2 && f[0] == "mountlimit";
    const bool is_tag = line >= 2 && f.size() == 2 && f[0] == "tag" && f[1].size() == 32 &&
                        f[1].find_first_not_of("0123456789abcdef") == std::string_view::npos;
    auto& ranges = f[0] == "uidmap" ? m.uid_map : m.gid_map;
    if (line++ == 0) {
      ok = f.size() == 1 && f[0] == "grootfs-store-v1";
    } else if (line == 2) {
      ok = ok && f.size() == 3 && f[0] == "owner" && ParseU32(f[1], m.owner_uid) &&
           ParseU32(f[2], m.owner_gid);
    } else if (is_limit && ParseU32(f[1], m.mount_limit)) {
    } else if (is_tag) {
      m.tag = f[1];
    } else if (is_map && ParseU32(f[1], r.ns_id) && ParseU32(f[2], r.host_id) &&
               ParseU32(f[3], r.size) && InRange(r.ns_id, r.size) && InRange(r.host_id, r.size) &&
               ranges.size() < kMaxRanges) {
      ranges.push_back(r);
    } else {
      ok = false;
    }
  });
  if (!ok || line < 2 || m.uid_map.empty() != m.gid_map.empty())
    return Error{EINVAL, "bad store marker"};
  return m;
}

Result<Session> OpenSession(const std::string& store_path, uid_t caller) {
  auto store = OpenBeneath(AT_FDCWD, store_path, O_RDONLY | O_DIRECTORY,
                           RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (!store) return store.error();
  auto text = ReadMarker(store->get());
  if (!text) return text.error();
  auto marker = ParseStoreMarker(*text);
  if (!marker) return marker.error();
  struct stat st {};
  if (fstat(store->get(), &st) != 0) return Error::FromErrno("stat store");
  if (st.st_uid != marker->owner_uid) return Error{EPERM, "store owner does not match its marker"};
  if (caller != 0 && caller != marker->owner_uid)
    return Error{EPERM, "store belongs to another user"};
  if (caller != 0) {
    if (auto allowed = CheckCallerMayUseMappings(*marker, caller, getgid()); !allowed)
      return allowed.error();
  }
  // A store made before tags existed is known by its directory's identity.
  const std::string id = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  const std::string tag = "grootfs-store:" + (marker->tag.empty() ? id : marker->tag);
  return Session(std::move(*store), std::move(*marker), tag);
}

}  // namespace grootfs::helper
