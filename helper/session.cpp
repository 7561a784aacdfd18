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

}  // namespace

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
  return Session(std::move(*store), std::move(*marker), caller);
}

}  // namespace grootfs::helper
