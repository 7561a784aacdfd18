#include "frontend/image/tar_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "frontend/image/digest.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

const char* FileType(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::int64_t Nanoseconds(const struct timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

ImageSpec LoadTarImage(const std::string& tar_path) {
  const std::string shown = "tar image " + Printable(tar_path);
  if (tar_path.empty() || tar_path.front() != '/')
    throw Error(shown + ": the path must be absolute");
  struct stat st {};
  if (stat(tar_path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) throw Error(shown + ": no such file or directory");
    throw Error(shown + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error(shown + " is " + FileType(st.st_mode) + ", not a regular file");
  }
  // O_NONBLOCK: should the path be swapped for a fifo after the stat, open must not block.
  const int fd = open(tar_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw Error("cannot open " + shown + ": " + std::strerror(errno));
  struct stat opened {};
  if (fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode) || opened.st_dev != st.st_dev ||
      opened.st_ino != st.st_ino) {
    close(fd);
    throw Error(shown + " changed while it was being opened; try again");
  }
  unsigned char magic[4] = {};
  ssize_t n = -1;
  do {
    n = pread(fd, magic, sizeof magic, 0);
  } while (n < 0 && errno == EINTR);
  const int read_errno = errno;
  close(fd);
  if (n < 0) throw Error("cannot read " + shown + ": " + std::strerror(read_errno));

  LayerSpec layer;
  layer.blob_path = tar_path;
  layer.size = -1;
  layer.verify = false;
  layer.compression = Compression::kNone;
  layer.media_type = "application/vnd.oci.image.layer.v1.tar";
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    layer.compression = Compression::kGzip;
    layer.media_type += "+gzip";
  } else if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f &&
             magic[3] == 0xfd) {
    layer.compression = Compression::kZstd;
    layer.media_type += "+zstd";
  }
  std::string identity = tar_path;
  identity.push_back('\0');
  identity += std::to_string(st.st_dev) + " " + std::to_string(st.st_ino) + " " +
              std::to_string(st.st_size) + " " + std::to_string(Nanoseconds(st.st_mtim)) + " " +
              std::to_string(Nanoseconds(st.st_ctim));
  layer.cache_key = "tar-" + Sha256Hex(identity);

  ImageSpec spec;
  spec.layers.push_back(std::move(layer));
  return spec;
}

}  // namespace grootfs::frontend::image
