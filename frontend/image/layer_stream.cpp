#include "frontend/image/layer_stream.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frontend/image/decompress.h"
#include "frontend/image/digest.h"
#include "frontend/image/layer_progress.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

constexpr std::size_t kChunk = 1024 * 1024;

std::string LayerName(const LayerSpec& layer) {
  return "layer " + (layer.digest.empty() ? Printable(layer.blob_path) : Printable(layer.digest));
}

// Blocks SIGPIPE in this thread for its lifetime, so that a reader going away is an EPIPE
// error, not the end of the process; a SIGPIPE made pending by our write is consumed.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

  void ConsumePending() {
    sigset_t pending;
    sigemptyset(&pending);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      struct timespec zero {};
      (void)sigtimedwait(&set_, nullptr, &zero);
    }
  }

 private:
  sigset_t set_;
  sigset_t old_;
};

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// A local blob file.
class FileSource : public BlobSource {
 public:
  FileSource(int fd, const LayerSpec& layer) : fd_(fd), layer_(layer) {}
  std::size_t Read(unsigned char* buffer, std::size_t size) override {
    while (true) {
      const ssize_t n = read(fd_, buffer, size);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      throw Error("cannot read " + LayerName(layer_) + " from " + Printable(layer_.blob_path) +
                  ": " + std::strerror(errno));
    }
  }

 private:
  int fd_;
  const LayerSpec& layer_;
};

// Reads the blob in chunks, hashing and counting every byte it reads.
class BlobReader {
 public:
  BlobReader(BlobSource& source, const LayerSpec& layer)
      : source_(source), layer_(layer), buffer_(kChunk) {}

  // Fills the buffer (up to kChunk bytes; fewer only at end of file). Returns the count.
  std::size_t ReadChunk() {
    std::size_t used = 0;
    while (used < buffer_.size()) {
      const std::size_t n = source_.Read(buffer_.data() + used, buffer_.size() - used);
      if (n == 0) break;
      used += n;
    }
    bytes_ += used;
    LayerProgress::BlobBytes(layer_, used);
    if (hashing_) hash_.Update(buffer_.data(), used);
    if (layer_.verify && bytes_ > static_cast<std::uint64_t>(layer_.size)) {
      throw Error(LayerName(layer_) + " does not match its size (declared " +
                  std::to_string(layer_.size) + " bytes, the blob is larger)");
    }
    return used;
  }

  void Drain() {
    while (ReadChunk() > 0) {
    }
  }

  const unsigned char* data() const { return buffer_.data(); }
  std::uint64_t bytes() const { return bytes_; }
  std::string HexDigest() { return hash_.HexDigest(); }
  // The blob's digest is the source's to check (VerifiesDigest): no hashing from here on.
  void StopHashing() { hashing_ = false; }
  bool hashing() const { return hashing_; }

 private:
  BlobSource& source_;
  const LayerSpec& layer_;
  std::vector<unsigned char> buffer_;
  std::uint64_t bytes_ = 0;
  Sha256 hash_;
  bool hashing_ = true;
};

// Writes all of data to fd, retrying partial writes, EINTR and (for a non-blocking fd) EAGAIN.
void WriteAll(int fd, const unsigned char* data, std::size_t size, const LayerSpec& layer,
              SigpipeBlock& sigpipe, StreamBudget* budget) {
  if (budget != nullptr) budget->Take(size, layer);
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {
        struct pollfd p {
          fd, POLLOUT, 0
        };
        (void)poll(&p, 1, -1);
        continue;
      }
      if (err == EPIPE) {
        sigpipe.ConsumePending();
        throw Error("the unpacker stopped reading " + LayerName(layer) + " (broken pipe)");
      }
      throw Error("cannot write " + LayerName(layer) + " to the unpacker: " + std::strerror(err));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void CheckVerifiable(const LayerSpec& layer) {
  if (layer.verify) {
    if (layer.size < 0 || !IsValidDigest(layer.digest) || !IsValidDigest(layer.diff_id)) {
      throw Error(LayerName(layer) + " cannot be verified: its size, digest or diff_id is missing");
    }
  }
}

}  // namespace

void StreamBudget::Take(std::size_t n, const LayerSpec& layer) {
  const std::uint64_t used = used_.fetch_add(n) + n;
  if (bytes_ != 0 && used > bytes_)
    throw Error(LayerName(layer) + ": the image unpacks to more than " + what_ + " allows (" +
                std::to_string(bytes_) + " bytes); stopped, nothing kept");
}

StreamStats StreamLayer(const LayerSpec& layer, int out_fd, StreamBudget* budget) {
  if (layer.blob_path.empty()) {
    if (!layer.remote) {
      throw Error(LayerName(layer) + " has no local blob and nowhere to fetch it from");
    }
    CheckVerifiable(layer);
    const std::unique_ptr<BlobSource> source = layer.remote->Open(layer);
    return StreamLayer(layer, *source, out_fd, budget);
  }
  CheckVerifiable(layer);
  const int fd = open(layer.blob_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    throw Error("cannot open " + LayerName(layer) + " blob " + Printable(layer.blob_path) + ": " +
                std::strerror(errno));
  }
  FdCloser closer(fd);
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw Error(LayerName(layer) + " blob " + Printable(layer.blob_path) +
                " is not a regular file");
  }
  if (layer.verify && st.st_size != layer.size) {
    throw Error(LayerName(layer) + " does not match its size (declared " +
                std::to_string(layer.size) + " bytes, the blob has " + std::to_string(st.st_size) +
                ")");
  }
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  FileSource source(fd, layer);
  return StreamLayer(layer, source, out_fd, budget);
}

StreamStats StreamLayer(const LayerSpec& layer, BlobSource& source, int out_fd,
                        StreamBudget* budget) {
  CheckVerifiable(layer);
  SigpipeBlock sigpipe;
  BlobReader reader(source, layer);
  StreamStats stats;
  const std::size_t first = reader.ReadChunk();
  const unsigned char* magic = reader.data();
  const bool gzip = first >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  const bool zstd =
      first >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd;

  std::string tar_hex;
  if (!gzip && !zstd) {
    // Not compressed: the blob is the tar, and its digest is also its diff_id.
    std::size_t n = first;
    while (n > 0) {
      WriteAll(out_fd, reader.data(), n, layer, sigpipe, budget);
      stats.tar_bytes += n;
      n = reader.ReadChunk();
    }
    tar_hex = reader.HexDigest();
    stats.blob_bytes = reader.bytes();
    if (layer.verify) {
      if (stats.blob_bytes != static_cast<std::uint64_t>(layer.size)) {
        throw Error(LayerName(layer) + " does not match its size (declared " +
                    std::to_string(layer.size) + " bytes, the blob has " +
                    std::to_string(stats.blob_bytes) + ")");
      }
      if ("sha256:" + tar_hex != layer.digest) {
        throw Error(LayerName(layer) + " is corrupted: its content does not match its digest");
      }
      if ("sha256:" + tar_hex != layer.diff_id) {
        throw Error(LayerName(layer) + " is corrupted: its content does not match its diff_id");
      }
    }
    return stats;
  }

  // The compressed blob's digest: ours to compute unless the source checks it (and the tar is
  // hashed anyway, for the diff_id).
  if (layer.verify && source.VerifiesDigest()) reader.StopHashing();
  Sha256 tar_hash;
  std::string decompress_error;
  const std::unique_ptr<Decompressor> decompressor =
      MakeDecompressor(gzip ? Compression::kGzip : Compression::kZstd);
  const Decompressor::Sink sink = [&](const unsigned char* data, std::size_t n) {
    tar_hash.Update(data, n);
    WriteAll(out_fd, data, n, layer, sigpipe, budget);
    stats.tar_bytes += n;
  };
  try {
    for (std::size_t n = first; n > 0; n = reader.ReadChunk()) {
      decompressor->Feed(reader.data(), n, sink);
    }
    decompressor->Finish();
  } catch (const DecompressError& e) {
    decompress_error = e.what();
  }
  reader.Drain();  // the digest covers the whole blob, also what follows the compressed stream
  stats.blob_bytes = reader.bytes();
  tar_hex = tar_hash.HexDigest();
  if (layer.verify) {
    if (stats.blob_bytes != static_cast<std::uint64_t>(layer.size)) {
      throw Error(LayerName(layer) + " does not match its size (declared " +
                  std::to_string(layer.size) + " bytes, the blob has " +
                  std::to_string(stats.blob_bytes) + ")");
    }
    if (reader.hashing() && "sha256:" + reader.HexDigest() != layer.digest) {
      throw Error(LayerName(layer) + " is corrupted: its content does not match its digest");
    }
  }
  if (!decompress_error.empty()) {
    throw Error(LayerName(layer) + " is not a valid " + (gzip ? "gzip" : "zstd") + " stream (" +
                decompress_error + ")");
  }
  if (layer.verify && "sha256:" + tar_hex != layer.diff_id) {
    throw Error(LayerName(layer) +
                " is corrupted: its uncompressed content does not match its diff_id");
  }
  return stats;
}

}  // namespace grootfs::frontend::image
