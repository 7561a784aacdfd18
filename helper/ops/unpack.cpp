// Runs in: grootfs-helper's unpack child, inside the store's user namespace (root there, no
// capability on the host). Trusts: nothing in the tar stream.
#include "helper/ops/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <memory>

#include "ipc/limits.h"

namespace grootfs::helper {
namespace {

constexpr const char* kOpaqueXattr = "user.overlay.opaque";
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

struct ArchiveFree {
  void operator()(archive* a) const { (void)archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

Error ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return Error{EBADMSG, std::string("bad layer tar: ") + (s != nullptr ? s : "unknown error")};
}

std::string Join(const std::vector<std::string>& parts, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += (i ? "/" : "") + parts[i];
  return s;
}

// Opens (creating as needed) the directory made of the first n components, beneath layer,
// never through a symlink. The last parent is cached: tar streams are mostly in order.
class ParentCache {
 public:
  explicit ParentCache(int layer) : layer_(layer) {}

  Result<int> Open(const std::vector<std::string>& parts, std::size_t n, bool create) {
    const std::string rel = Join(parts, n);
    if (fd_ && rel == rel_) return fd_.get();
    UniqueFd cur;
    for (std::size_t i = 0; i < n; ++i) {
      const int base = cur ? cur.get() : layer_;
      auto next = OpenBeneath(base, parts[i], O_RDONLY | O_DIRECTORY);
      if (!next && next.error().code == ENOENT && create) {
        if (mkdirat(base, parts[i].c_str(), 0755) != 0 && errno != EEXIST)
          return Error::FromErrno("mkdir " + parts[i]);
        next = OpenBeneath(base, parts[i], O_RDONLY | O_DIRECTORY);
      }
      if (!next) {
        if (next.error().code == ELOOP || next.error().code == EXDEV)
          return Error{EPERM, "layer entry goes through a link: " + rel};
        return next.error();
      }
      cur = std::move(*next);
    }
    if (n == 0) {
      auto root = OpenBeneath(layer_, ".", O_RDONLY | O_DIRECTORY);
      if (!root) return root.error();
      cur = std::move(*root);
    }
    rel_ = rel;
    fd_ = std::move(cur);
    return fd_.get();
  }
  void Forget() { fd_.Reset(); }

 private:
  int layer_;
  std::string rel_;
  UniqueFd fd_;
};

struct DirTimes {
  std::vector<std::string> parts;
  timespec times[2];
};

class Unpacker {
 public:
  Unpacker(int layer, const std::vector<std::string>& base_dir)
      : layer_(layer), base_dir_(base_dir), parents_(layer) {}

  Result<ipc::UnpackLayerReply> Run(int stream);

 private:
  Result<void> Entry(archive* a, archive_entry* e);
  Result<void> Whiteout(int parent, const std::vector<std::string>& parts);
  Result<void> ClearWay(int parent, const std::string& name, bool keep_dir);
  Result<void> RegularFile(archive* a, archive_entry* e, int parent, const std::string& name);
  Result<void> Directory(archive_entry* e, const std::vector<std::string>& parts, int parent);
  Result<void> HardLink(archive_entry* e, int parent, const std::string& name);
  void Metadata(int fd, archive_entry* e);
  Result<std::vector<std::string>> Rebased(const char* name);

  int layer_;
  const std::vector<std::string>& base_dir_;
  ParentCache parents_;
  std::vector<DirTimes> dir_times_;
  ipc::UnpackLayerReply reply_;
};

Result<std::vector<std::string>> Unpacker::Rebased(const char* name) {
  if (name == nullptr) return Error{EBADMSG, "layer entry without a name"};
  auto parts = CleanEntryPath(name);
  if (!parts) return Error{EPERM, std::string("layer entry escapes the layer: ") + name};
  std::vector<std::string> full = base_dir_;
  full.insert(full.end(), parts->begin(), parts->end());
  return full;
}

void Unpacker::Metadata(int fd, archive_entry* e) {
  // Ids outside the store's mapping cannot be set: the entry stays owned by namespace root.
  if (archive_entry_uid(e) >= 0 && archive_entry_uid(e) < 0xFFFFFFFF &&
      archive_entry_gid(e) >= 0 && archive_entry_gid(e) < 0xFFFFFFFF)
    (void)!fchown(fd, static_cast<uid_t>(archive_entry_uid(e)),
                 static_cast<gid_t>(archive_entry_gid(e)));
  (void)fchmod(fd, archive_entry_perm(e) & 07777);  // after chown, which clears setuid bits
  const char* xname;
  const void* value;
  std::size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
    const std::string_view n = xname;
    // An image may not speak to overlay itself, nor set trusted or security labels.
    const bool allowed = (n.starts_with("user.") && !n.starts_with("user.overlay.")) ||
                         n == "security.capability";
    if (allowed) (void)fsetxattr(fd, xname, value, size, 0);
  }
}

Result<void> Unpacker::ClearWay(int parent, const std::string& name, bool keep_dir) {
  struct stat st{};
  if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
  if (S_ISDIR(st.st_mode)) {
    if (keep_dir) return {};
    auto dir = OpenBeneath(parent, name, O_RDONLY | O_DIRECTORY);
    if (!dir) return dir.error();
    if (auto r = RemoveContents(dir->get()); !r) return r;
    parents_.Forget();
    if (unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0) return Error::FromErrno("rmdir " + name);
    return {};
  }
  if (unlinkat(parent, name.c_str(), 0) != 0) return Error::FromErrno("unlink " + name);
  return {};
}

Result<void> Unpacker::Whiteout(int parent, const std::vector<std::string>& parts) {
  const std::string& name = parts.back();
  if (name == kOpaqueMarker) {
    if (fsetxattr(parent, kOpaqueXattr, "y", 1, 0) != 0) return Error::FromErrno("set opaque");
    if (parts.size() == 1) reply_.flags |= ipc::kLayerRootOpaque;
    return {};
  }
  const std::string hidden = name.substr(kWhiteoutPrefix.size());
  if (!ipc::IsPlainName(hidden)) return Error{EPERM, "bad whiteout " + name};
  struct stat st{};
  if (fstatat(parent, hidden.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return {};  // hidden already
  if (mknodat(parent, hidden.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
    return Error::FromErrno("whiteout " + hidden);
  return {};
}

Result<void> Unpacker::RegularFile(archive* a, archive_entry* e, int parent,
                                   const std::string& name) {
  auto fd = OpenBeneath(parent, name, O_WRONLY | O_CREAT | O_EXCL, kStrict, 0600);
  if (!fd) return fd.error();
  const void* buf;
  std::size_t size;
  la_int64_t offset;
  int r;
  while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
    const char* p = static_cast<const char*>(buf);
    while (size > 0) {
      const ssize_t n = pwrite(fd->get(), p, size, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Error::FromErrno("write " + name);
      p += n;
      size -= static_cast<std::size_t>(n);
      offset += n;
      reply_.bytes += static_cast<std::uint64_t>(n);
    }
  }
  if (r != ARCHIVE_EOF) return ArchiveError(a);
  if (archive_entry_size_is_set(e) && ftruncate(fd->get(), archive_entry_size(e)) != 0)
    return Error::FromErrno("truncate " + name);
  Metadata(fd->get(), e);
  const timespec times[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                             {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
  (void)futimens(fd->get(), times);
  return {};
}

Result<void> Unpacker::Directory(archive_entry* e, const std::vector<std::string>& parts,
                                 int parent) {
  const std::string& name = parts.back();
  if (mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST)
    return Error::FromErrno("mkdir " + name);
  auto fd = OpenBeneath(parent, name, O_RDONLY | O_DIRECTORY);
  if (!fd) return fd.error();
  Metadata(fd->get(), e);
  DirTimes t{parts, {}};
  t.times[0] = t.times[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  dir_times_.push_back(std::move(t));
  return {};
}

Result<void> Unpacker::HardLink(archive_entry* e, int parent, const std::string& name) {
  auto target = Rebased(archive_entry_hardlink(e));
  if (!target) return target.error();
  if (target->empty()) return Error{EPERM, "hard link to the layer root"};
  // The target must already be in this layer: its parent is resolved without creating
  // anything and without following links, and linkat does not follow the target itself.
  auto tparent = OpenBeneath(layer_, target->size() > 1 ? Join(*target, target->size() - 1) : ".",
                             O_PATH | O_DIRECTORY);
  if (!tparent) return Error{ENOENT, "hard link target is not in the layer: " + name};
  if (linkat(tparent->get(), target->back().c_str(), parent, name.c_str(), 0) != 0)
    return Error::FromErrno("hard link " + name);
  return {};
}

Result<void> Unpacker::Entry(archive* a, archive_entry* e) {
  auto parts = Rebased(archive_entry_pathname(e));
  if (!parts) return parts.error();
  if (parts->size() <= base_dir_.size()) return {};  // the root itself: nothing to make
  const std::string& name = parts->back();
  const bool whiteout = name.starts_with(kWhiteoutPrefix);
  auto parent = parents_.Open(*parts, parts->size() - 1, true);
  if (!parent) return parent.error();
  if (whiteout) return Whiteout(*parent, *parts);

  if (archive_entry_hardlink(e) != nullptr) {
    if (auto r = ClearWay(*parent, name, false); !r) return r;
    return HardLink(e, *parent, name);
  }
  const mode_t type = archive_entry_filetype(e);
  if (auto r = ClearWay(*parent, name, type == AE_IFDIR); !r) return r;
  switch (type) {
    case AE_IFREG:
      return RegularFile(a, e, *parent, name);
    case AE_IFDIR:
      return Directory(e, *parts, *parent);
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (target == nullptr || *target == '\0') return Error{EBADMSG, "empty symlink " + name};
      if (symlinkat(target, *parent, name.c_str()) != 0) return Error::FromErrno("symlink " + name);
      (void)!fchownat(*parent, name.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                     static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW);
      const timespec times[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                                 {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
      (void)utimensat(*parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
      return {};
    }
    case AE_IFIFO:
      if (mkfifoat(*parent, name.c_str(), archive_entry_perm(e) & 0777) != 0)
        return Error::FromErrno("mkfifo " + name);
      return {};
    default:
      return {};  // devices and sockets are skipped: a layer may not bring its own devices
  }
}

Result<ipc::UnpackLayerReply> Unpacker::Run(int stream) {
  ArchivePtr a(archive_read_new());
  if (!a) return Error{ENOMEM, "archive_read_new"};
  archive_read_support_format_tar(a.get());  // plain tar only: the frontend decompresses
  if (archive_read_open_fd(a.get(), stream, 256 * 1024) != ARCHIVE_OK) return ArchiveError(a.get());
  archive_entry* e = nullptr;
  std::uint64_t entries = 0;
  int r;
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    if (++entries > ipc::limits::kMaxEntriesPerLayer) return Error{EFBIG, "too many entries"};
    if (auto done = Entry(a.get(), e); !done) return done.error();
  }
  if (r != ARCHIVE_EOF) return ArchiveError(a.get());
  // Directory times last: adding entries changed them.
  parents_.Forget();
  for (const DirTimes& t : dir_times_) {
    auto parent = parents_.Open(t.parts, t.parts.size() - 1, false);
    if (parent) (void)utimensat(*parent, t.parts.back().c_str(), t.times, AT_SYMLINK_NOFOLLOW);
  }
  return reply_;
}

}  // namespace

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

Result<ipc::UnpackLayerReply> UnpackTar(int stream, int layer,
                                        const std::vector<std::string>& base_dir) {
  Unpacker unpacker(layer, base_dir);
  return unpacker.Run(stream);
}

}  // namespace grootfs::helper
