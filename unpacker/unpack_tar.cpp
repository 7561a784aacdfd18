// Runs in: grootfs-unpack, which grootfs-helper's child executes inside the store's user
// namespace (root there, no capability on the host), confined. Trusts: nothing in the tar stream.
#include "unpacker/unpack_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "ipc/limits.h"

namespace grootfs::unpacker {
namespace {

using helper::kStrict;
using helper::OpenBeneath;
using helper::RemoveContents;
using helper::UniqueFd;

constexpr const char* kOpaqueXattr = "user.overlay.opaque";
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

Error ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return Error{EBADMSG, std::string("bad layer tar: ") + (s != nullptr ? s : "unknown error")};
}

std::string Join(const std::vector<std::string>& parts, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += (i ? "/" : "") + parts[i];
  return s;
}

// An entry's mtime. libarchive (3.6.2) reads a negative pax time with a fraction, -S.F, as
// -S + .F (the sign on the seconds only); only a pax time gives a fraction, so -S-1 + (1-.F).
timespec MTime(archive_entry* e) {
  timespec t{archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  if (t.tv_sec < 0 && t.tv_nsec > 0) t = {t.tv_sec - 1, 1'000'000'000 - t.tv_nsec};
  return t;
}

// Access and modification time of an entry: its mtime, set on the name (never followed).
void SetTimes(int parent, const std::string& name, timespec t) {
  const timespec times[2] = {t, t};
  (void)utimensat(parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

struct DirTimes {
  std::vector<std::string> parts;
  timespec mtime;
};

// What one unpack has learnt so far.
struct Unpack {
  int layer;
  const std::vector<std::string>& base_dir;
  std::span<const int> lowers;  // the layers below, topmost first (read-only)
  std::uint64_t budget;         // the most file data this layer may write; 0: no budget
  std::vector<DirTimes> dir_times;
  ipc::CountReply reply;
  // The directories of the last entry's parent, each opened beneath the one before: open[0] is
  // the layer, open[i] the directory of the first i components, named by open_names. Tars list
  // entries in directory order, so most entries reuse them instead of walking from the layer.
  // An entry changes names only inside its parent, never one of these directories.
  std::vector<UniqueFd> open;
  std::vector<std::string> open_names;
  UniqueFd deep;  // a parent deeper than kMaxOpenDepth, opened for the current entry only
};

constexpr std::size_t kMaxOpenDepth = 64;  // fds kept open for parents

// Keeps open only the first k components of the last parent.
void Forget(Unpack& u, std::size_t k) {
  if (k >= u.open_names.size()) return;
  u.open_names.resize(k);
  u.open.resize(k + 1);
}

// An image may not speak to overlay itself, nor set trusted or security labels. POSIX ACLs are
// kept (systemd's /var/log/journal has them): the kernel maps their ids like the owner's.
bool AllowedXattr(std::string_view n) {
  return (n.starts_with("user.") && !n.starts_with("user.overlay.")) ||
         n == "security.capability" || n.starts_with("system.posix_acl_");
}

// A directory the layer only implies must look as the merged view of the layers below shows
// it: it takes owner, mode, xattrs and mtime of the topmost lower one, unless a whiteout, a
// non-directory or an opaque directory in a lower layer hides it (then it keeps 0755, 0:0).
void Implied(Unpack& u, const std::vector<std::string>& parts, std::size_t n, int dir) {
  bool opaque = false;
  for (std::size_t l = 0; l < u.lowers.size() && !opaque; ++l) {
    for (std::size_t i = 1; i <= n; ++i) {
      auto d = OpenBeneath(u.lowers[l], Join(parts, i), O_RDONLY | O_DIRECTORY);
      if (!d && d.error().code != ENOENT) return;  // hidden by a non-directory
      if (!d) break;
      struct stat st {};
      char y = 0;
      if (i < n) {
        opaque |= fgetxattr(d->get(), kOpaqueXattr, &y, 1) == 1 && y == 'y';
      } else if (fstat(d->get(), &st) == 0) {
        (void)!fchown(dir, st.st_uid, st.st_gid);
        (void)fchmod(dir, st.st_mode & 07777);
        std::string names(65536, '\0'), value(65536, '\0');
        const ssize_t len = flistxattr(d->get(), names.data(), names.size());
        names.resize(len > 0 ? static_cast<std::size_t>(len) : 0);
        for (std::size_t k = 0; k < names.size(); k += std::strlen(&names[k]) + 1) {
          const ssize_t v = fgetxattr(d->get(), &names[k], value.data(), value.size());
          if (v >= 0 && AllowedXattr(&names[k]))
            (void)fsetxattr(dir, &names[k], value.data(), static_cast<std::size_t>(v), 0);
        }
        u.dir_times.push_back({{parts.begin(), parts.begin() + static_cast<long>(n)}, st.st_mtim});
        return;
      }
    }
  }
}

Error NotADirectory(const Error& e, const std::vector<std::string>& parts, std::size_t n) {
  if (e.code == ELOOP || e.code == EXDEV)
    return Error{EPERM, "layer entry goes through a link: " + Join(parts, n)};
  return e;
}

// Opens the directory made of the first n components beneath the layer, one component at a
// time and never through a symlink.
Result<UniqueFd> OpenParent(Unpack& u, const std::vector<std::string>& parts, std::size_t n) {
  auto cur = OpenBeneath(u.layer, ".", O_RDONLY | O_DIRECTORY);
  for (std::size_t i = 0; cur && i < n; ++i)
    cur = OpenBeneath(cur->get(), parts[i], O_RDONLY | O_DIRECTORY);
  if (!cur) return NotADirectory(cur.error(), parts, n);
  return cur;
}

// The directory of the first n components, as OpenParent opens it, making missing ones (see
// Implied); from the directories the last entry left open as far as the paths agree. The fd
// stays the unpack's.
Result<int> Parent(Unpack& u, const std::vector<std::string>& parts, std::size_t n) {
  if (u.open.empty()) {
    auto root = OpenBeneath(u.layer, ".", O_RDONLY | O_DIRECTORY);
    if (!root) return root.error();
    u.open.push_back(std::move(*root));
  }
  std::size_t k = 0;
  while (k < u.open_names.size() && k < n && u.open_names[k] == parts[k]) ++k;
  Forget(u, k);
  UniqueFd cur;  // past kMaxOpenDepth
  for (std::size_t i = k; i < n; ++i) {
    const int at = cur ? cur.get() : u.open.back().get();
    auto next = OpenBeneath(at, parts[i], O_RDONLY | O_DIRECTORY);
    if (!next && next.error().code == ENOENT && mkdirat(at, parts[i].c_str(), 0755) == 0) {
      next = OpenBeneath(at, parts[i], O_RDONLY | O_DIRECTORY);
      if (next) Implied(u, parts, i + 1, next->get());
    }
    if (!next) return NotADirectory(next.error(), parts, n);
    if (cur || u.open_names.size() == kMaxOpenDepth) {
      cur = std::move(*next);
    } else {
      u.open.push_back(std::move(*next));
      u.open_names.push_back(parts[i]);
    }
  }
  u.deep = std::move(cur);
  return u.deep ? u.deep.get() : u.open.back().get();
}

Result<std::vector<std::string>> Rebased(const Unpack& u, const char* name) {
  if (name == nullptr) return Error{EBADMSG, "layer entry without a name"};
  auto parts = CleanEntryPath(name);
  if (!parts) return Error{EPERM, std::string("layer entry escapes the layer: ") + name};
  std::vector<std::string> full = u.base_dir;
  full.insert(full.end(), parts->begin(), parts->end());
  return full;
}

void Metadata(int fd, archive_entry* e) {
  // Ids outside the store's mapping cannot be set: the entry stays owned by namespace root.
  if (archive_entry_uid(e) >= 0 && archive_entry_uid(e) < 0xFFFFFFFF && archive_entry_gid(e) >= 0 &&
      archive_entry_gid(e) < 0xFFFFFFFF)
    (void)!fchown(fd, static_cast<uid_t>(archive_entry_uid(e)),
                  static_cast<gid_t>(archive_entry_gid(e)));
  (void)fchmod(fd, archive_entry_perm(e) & 07777);  // after chown, which clears setuid bits
  const char* xname;
  const void* value;
  std::size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
    if (AllowedXattr(xname)) (void)fsetxattr(fd, xname, value, size, 0);
  }
}

Result<void> ClearWay(int parent, const std::string& name, bool keep_dir) {
  struct stat st {};
  if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
  if (S_ISDIR(st.st_mode) && keep_dir) return {};
  if (S_ISDIR(st.st_mode)) {
    auto dir = OpenBeneath(parent, name, O_RDONLY | O_DIRECTORY);
    if (!dir) return dir.error();
    if (auto r = RemoveContents(dir->get()); !r) return r;
    if (unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0) return Error::FromErrno("rmdir " + name);
    return {};
  }
  if (unlinkat(parent, name.c_str(), 0) != 0) return Error::FromErrno("unlink " + name);
  return {};
}

Result<void> Whiteout(Unpack& u, int parent, const std::vector<std::string>& parts) {
  const std::string& name = parts.back();
  if (name == kOpaqueMarker) {
    if (fsetxattr(parent, kOpaqueXattr, "y", 1, 0) != 0) return Error::FromErrno("set opaque");
    if (parts.size() == 1) u.reply.flags |= ipc::kLayerRootOpaque;
    return {};
  }
  const std::string hidden = name.substr(kWhiteoutPrefix.size());
  if (!ipc::IsPlainName(hidden)) return Error{EPERM, "bad whiteout " + name};
  struct stat st {};
  if (fstatat(parent, hidden.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return {};  // hidden already
  if (mknodat(parent, hidden.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
    return Error::FromErrno("whiteout " + hidden);
  return {};
}

Result<void> RegularFile(Unpack& u, archive* a, archive_entry* e, int parent,
                         const std::string& name) {
  auto fd = OpenBeneath(parent, name, O_WRONLY | O_CREAT | O_EXCL, kStrict, 0600);
  if (!fd) return fd.error();
  const void* buf;
  std::size_t size;
  la_int64_t offset, end = 0;
  int r;
  while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
    if (u.budget != 0 && size > u.budget - std::min(u.budget, u.reply.bytes))
      return Error{EDQUOT, "the layer unpacks to more than its budget of " +
                               std::to_string(u.budget) + " bytes"};
    const char* p = static_cast<const char*>(buf);
    while (size > 0) {
      const ssize_t n = pwrite(fd->get(), p, size, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Error::FromErrno("write " + name);
      p += n;
      size -= static_cast<std::size_t>(n);
      offset += n;
      u.reply.bytes += static_cast<std::uint64_t>(n);
    }
    end = std::max(end, offset);
  }
  if (r != ARCHIVE_EOF) return ArchiveError(a);
  // A sparse file's last hole: data never written up to its size.
  if (archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
      ftruncate(fd->get(), archive_entry_size(e)) != 0)
    return Error::FromErrno("truncate " + name);
  Metadata(fd->get(), e);
  SetTimes(parent, name, MTime(e));
  return {};
}

Result<void> Directory(Unpack& u, archive_entry* e, const std::vector<std::string>& parts,
                       int parent) {
  const std::string& name = parts.back();
  if (mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST)
    return Error::FromErrno("mkdir " + name);
  auto fd = OpenBeneath(parent, name, O_RDONLY | O_DIRECTORY);
  if (!fd) return fd.error();
  Metadata(fd->get(), e);
  u.dir_times.push_back({parts, MTime(e)});
  return {};
}

Result<void> HardLink(const Unpack& u, archive_entry* e, int parent, const std::string& name) {
  auto target = Rebased(u, archive_entry_hardlink(e));
  if (!target) return target.error();
  if (target->empty()) return Error{EPERM, "hard link to the layer root"};
  // The target must already be in this layer: its parent is resolved without creating
  // anything and without following links, and linkat does not follow the target itself.
  auto tparent = OpenBeneath(u.layer, target->size() > 1 ? Join(*target, target->size() - 1) : ".",
                             O_PATH | O_DIRECTORY);
  if (!tparent) return Error{ENOENT, "hard link target is not in the layer: " + name};
  if (linkat(tparent->get(), target->back().c_str(), parent, name.c_str(), 0) != 0)
    return Error::FromErrno("hard link " + name);
  return {};
}

Result<void> Entry(Unpack& u, archive* a, archive_entry* e) {
  auto parts = Rebased(u, archive_entry_pathname(e));
  if (!parts) return parts.error();
  if (parts->size() <= u.base_dir.size()) return {};  // the root itself: nothing to make
  const std::string& name = parts->back();
  const bool whiteout = name.starts_with(kWhiteoutPrefix);
  auto parent_fd = Parent(u, *parts, parts->size() - 1);
  if (!parent_fd) return parent_fd.error();
  const int parent = *parent_fd;
  if (whiteout) return Whiteout(u, parent, *parts);

  if (archive_entry_hardlink(e) != nullptr) {
    if (auto r = ClearWay(parent, name, false); !r) return r;
    return HardLink(u, e, parent, name);
  }
  const mode_t type = archive_entry_filetype(e);
  if (auto r = ClearWay(parent, name, type == AE_IFDIR); !r) return r;
  switch (type) {
    case AE_IFREG:
      return RegularFile(u, a, e, parent, name);
    case AE_IFDIR:
      return Directory(u, e, *parts, parent);
    case AE_IFLNK:  // stored as it is, never followed
      if (archive_entry_symlink(e) == nullptr ||
          symlinkat(archive_entry_symlink(e), parent, name.c_str()) != 0)
        return Error::FromErrno("symlink " + name);
      (void)!fchownat(parent, name.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                      static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW);
      SetTimes(parent, name, MTime(e));
      return {};
    case AE_IFIFO: {  // opened without blocking, to take the entry's metadata like a file
      auto fifo = mkfifoat(parent, name.c_str(), 0600) == 0
                      ? OpenBeneath(parent, name, O_RDONLY | O_NONBLOCK)
                      : Error::FromErrno("mkfifo " + name);
      if (!fifo) return fifo.error();
      Metadata(fifo->get(), e);
      SetTimes(parent, name, MTime(e));
      return {};
    }
    default:
      return {};  // devices and sockets are skipped: a layer may not bring its own devices
  }
}

}  // namespace

Result<ipc::CountReply> UnpackTar(int stream, int layer, const std::vector<std::string>& base_dir,
                                  std::span<const int> lowers, std::uint64_t budget) {
  Unpack u{layer, base_dir, lowers, budget, {}, {}, {}, {}, {}};
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), &archive_read_free);
  if (!a) return Error{ENOMEM, "archive_read_new"};
  archive_read_support_format_tar(a.get());  // plain tar only: the frontend decompresses
  if (archive_read_open_fd(a.get(), stream, 256 * 1024) != ARCHIVE_OK) return ArchiveError(a.get());
  archive_entry* e = nullptr;
  std::uint64_t entries = 0;
  int r;
  // ARCHIVE_WARN: a pax UTF-8 name the C locale cannot hold; libarchive then keeps its bytes,
  // unconverted and unnormalised, which is what is wanted: names are bytes.
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    if (++entries > ipc::limits::kMaxEntriesPerLayer) return Error{EFBIG, "too many entries"};
    if (auto done = Entry(u, a.get(), e); !done) return done.error();
  }
  if (r != ARCHIVE_EOF) return ArchiveError(a.get());
  // Directory times last: adding entries changed them.
  for (const DirTimes& t : u.dir_times) {
    auto parent = OpenParent(u, t.parts, t.parts.size() - 1);
    if (parent) SetTimes(parent->get(), t.parts.back(), t.mtime);
  }
  return u.reply;
}

std::optional<std::vector<std::string>> CleanEntryPath(std::string_view name) {
  if (name.empty() || name.size() > ipc::limits::kMaxEntryPath || name.front() == '/' ||
      name.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::vector<std::string> parts;
  while (!name.empty()) {
    const std::size_t slash = name.find('/');
    const std::string_view part = name.substr(0, slash);
    name = slash == std::string_view::npos ? std::string_view() : name.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == ".." || part.size() > ipc::limits::kMaxName) return std::nullopt;
    parts.emplace_back(part);
  }
  return parts;
}

}  // namespace grootfs::unpacker
