#include "frontend/image/blob_spool.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "frontend/image/digest.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend::image {
namespace {

constexpr std::size_t kChunk = 256 * 1024;  // several spools run at once

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// An unnamed file in dir: O_TMPFILE, or a named one unlinked at once where that is refused.
ipc::UniqueFd UnnamedFile(const std::string& dir) {
  ipc::UniqueFd fd(open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd) return fd;
  std::string name = dir + "/blob-spool-XXXXXX";
  fd = ipc::UniqueFd(mkostemp(name.data(), O_CLOEXEC));
  if (!fd) throw Error(Errno("cannot make a temporary file in " + Printable(dir)));
  (void)unlink(name.c_str());
  return fd;
}

// Reads the spooled file from its start, with pread: each Open has its own offset.
class SpooledSource : public BlobSource {
 public:
  explicit SpooledSource(std::shared_ptr<ipc::UniqueFd> fd) : fd_(std::move(fd)) {}
  std::size_t Read(unsigned char* buffer, std::size_t size) override {
    while (true) {
      const ssize_t n = pread(fd_->get(), buffer, size, offset_);
      if (n >= 0) {
        offset_ += n;
        return static_cast<std::size_t>(n);
      }
      if (errno != EINTR) throw Error(Errno("cannot read a downloaded blob"));
    }
  }

 private:
  std::shared_ptr<ipc::UniqueFd> fd_;
  off_t offset_ = 0;
};

class SpooledOpener : public BlobOpener {
 public:
  explicit SpooledOpener(std::shared_ptr<ipc::UniqueFd> fd) : fd_(std::move(fd)) {}
  std::unique_ptr<BlobSource> Open(const LayerSpec&) const override {
    return std::make_unique<SpooledSource>(fd_);
  }

 private:
  std::shared_ptr<ipc::UniqueFd> fd_;
};

void WriteAllTo(int fd, const unsigned char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(Errno("cannot write a downloaded blob"));
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

std::shared_ptr<const BlobOpener> SpoolBlob(const LayerSpec& layer, const std::string& dir) {
  if (!layer.remote) throw Error("layer " + layer.digest + " has nowhere to fetch it from");
  auto fd = std::make_shared<ipc::UniqueFd>(UnnamedFile(dir));
  const std::unique_ptr<BlobSource> source = layer.remote->Open(layer);
  std::vector<unsigned char> buffer(kChunk);
  Sha256 hash;
  std::uint64_t bytes = 0;
  const std::string name = "layer " + Printable(layer.digest);
  for (std::size_t n; (n = source->Read(buffer.data(), buffer.size())) > 0;) {
    bytes += n;
    if (layer.verify && bytes > static_cast<std::uint64_t>(layer.size))
      throw Error(name + " does not match its size (declared " + std::to_string(layer.size) +
                  " bytes, the blob is larger)");
    hash.Update(buffer.data(), n);
    WriteAllTo(fd->get(), buffer.data(), n);
  }
  if (layer.verify) {
    if (bytes != static_cast<std::uint64_t>(layer.size))
      throw Error(name + " does not match its size (declared " + std::to_string(layer.size) +
                  " bytes, the blob has " + std::to_string(bytes) + ")");
    if ("sha256:" + hash.HexDigest() != layer.digest)
      throw Error(name + " is corrupted: its content does not match its digest");
  }
  return std::make_shared<SpooledOpener>(std::move(fd));
}

}  // namespace grootfs::frontend::image
