// Runs in: grootfs-helper (privileged). Trusts: a marker only if root owns it and its folder.
#include "helper/session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

namespace grootfs::helper {
namespace {

constexpr off_t kMaxMarker = 4096;
constexpr std::size_t kMaxRanges = 32;

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) words.push_back(line.substr(i, j - i));
    i = j;
  }
  return words;
}

bool ParseU32(std::string_view s, std::uint32_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseRange(const std::vector<std::string_view>& w, IdRange& r) {
  return w.size() == 4 && ParseU32(w[1], r.ns_id) && ParseU32(w[2], r.host_id) &&
         ParseU32(w[3], r.size) && r.size > 0 &&
         std::uint64_t{r.ns_id} + r.size <= 0xFFFFFFFFull &&
         std::uint64_t{r.host_id} + r.size <= 0xFFFFFFFFull;
}

Result<std::string> ReadMarker(int store) {
  auto meta = OpenBeneath(store, "meta", O_RDONLY | O_DIRECTORY);
  if (!meta) return Error{EACCES, "not a grootfs store (run init-store)"};
  auto file = OpenBeneath(meta->get(), "store-marker", O_RDONLY);
  if (!file) return Error{EACCES, "not a grootfs store (run init-store)"};
  struct stat dir_st{}, st{};
  if (fstat(meta->get(), &dir_st) != 0 || fstat(file->get(), &st) != 0)
    return Error::FromErrno("stat store marker");
  // Only root can have written it: root owns both, nobody else may write either.
  if (dir_st.st_uid != 0 || st.st_uid != 0 || !S_ISREG(st.st_mode) ||
      (dir_st.st_mode & 022) != 0 || (st.st_mode & 022) != 0 || st.st_size > kMaxMarker)
    return Error{EPERM, "store marker is not root's"};
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  if (read(file->get(), text.data(), text.size()) != st.st_size)
    return Error::FromErrno("read store marker");
  return text;
}

// Reads a small, world-readable system file (as the caller: fsuid is the caller's).
std::string ReadSystemFile(const char* path) {
  auto fd = OpenBeneath(AT_FDCWD, path, O_RDONLY, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  std::string text;
  if (!fd) return text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd->get(), buf, sizeof buf)) > 0 && text.size() < (1u << 20))
    text.append(buf, static_cast<std::size_t>(n));
  return text;
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == ':') {
      fields.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  return fields;
}

template <typename F>
void ForEachLine(std::string_view text, F f) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    f(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
}

// The caller's login name from /etc/passwd (no NSS: nothing else is read).
std::string UserName(uid_t uid) {
  std::string name;
  const std::string text = ReadSystemFile("/etc/passwd");
  ForEachLine(text, [&](std::string_view line) {
    auto f = Fields(line);
    std::uint32_t id;
    if (name.empty() && f.size() >= 3 && ParseU32(f[2], id) && id == uid) name = std::string(f[0]);
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
  ForEachLine(text, [&](std::string_view line) {
    auto f = Fields(line);
    IdRange r;
    if (f.size() != 3 || !(f[0] == id_text || (!name.empty() && f[0] == name))) return;
    if (ParseU32(f[1], r.host_id) && ParseU32(f[2], r.size) && r.size > 0 &&
        std::uint64_t{r.host_id} + r.size <= 0xFFFFFFFFull && ranges.size() < kMaxRanges)
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

Result<StoreMarker> ParseStoreMarker(std::string_view text) {
  StoreMarker m;
  bool header = false, owner = false;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const auto w = Words(line);
    if (w.empty()) continue;
    if (!header) {
      if (w.size() != 1 || w[0] != "grootfs-store-v1") break;
      header = true;
    } else if (w[0] == "owner" && w.size() == 3 && !owner) {
      owner = ParseU32(w[1], m.owner_uid) && ParseU32(w[2], m.owner_gid);
      if (!owner) break;
    } else if ((w[0] == "uidmap" || w[0] == "gidmap")) {
      IdRange r;
      auto& ranges = w[0] == "uidmap" ? m.uid_map : m.gid_map;
      if (!ParseRange(w, r) || ranges.size() >= kMaxRanges) return Error{EINVAL, "bad marker"};
      ranges.push_back(r);
    } else {
      return Error{EINVAL, "bad store marker line"};
    }
  }
  if (!header || !owner || m.uid_map.empty() != m.gid_map.empty())
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
  struct stat st{};
  if (fstat(store->get(), &st) != 0) return Error::FromErrno("stat store");
  if (st.st_uid != marker->owner_uid) return Error{EPERM, "store owner does not match its marker"};
  if (caller != 0 && caller != marker->owner_uid)
    return Error{EPERM, "store belongs to another user"};
  if (caller != 0) {
    if (auto allowed = CheckCallerMayUseMappings(*marker, caller, getgid()); !allowed)
      return allowed.error();
  }
  return Session(std::move(*store), std::move(*marker), caller);
}

}  // namespace grootfs::helper
