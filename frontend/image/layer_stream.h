// Streaming one layer's blob, decompressed, into a file descriptor while verifying it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "frontend/image/image_spec.h"

namespace grootfs::frontend::image {

struct StreamStats {
  std::uint64_t blob_bytes = 0;  // bytes of the blob as stored (compressed)
  std::uint64_t tar_bytes = 0;   // bytes written to out_fd (the uncompressed tar)
};

// What the layers of one create may unpack to, shared by the workers that stream them at once.
// It counts the uncompressed tar as it streams: file data plus a 512-byte header per entry,
// never less than the layer will take on disk (sparse holes aside), so neither a gzip bomb nor
// many layers nor many empty files get past it.
class StreamBudget {
 public:
  StreamBudget(std::uint64_t bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}
  std::uint64_t bytes() const { return bytes_; }  // 0: no budget
  const std::string& what() const { return what_; }
  // Takes n bytes for the layer; throws Error once the layers together pass the budget.
  void Take(std::size_t n, const LayerSpec& layer);

 private:
  std::uint64_t bytes_;
  std::string what_;  // what sets it, for the error: "the disk limit", ...
  std::atomic<std::uint64_t> used_{0};
};

// A blob's bytes in order, from a local file or the network.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  // Up to size bytes (fewer is fine); 0 only at the end of the blob. Throws Error.
  virtual std::size_t Read(unsigned char* buffer, std::size_t size) = 0;
  // True when Read itself throws, at the latest instead of returning the final 0, unless the
  // bytes it returned have the layer's digest and size (a spooled blob, checked as it was
  // downloaded): the reader need not hash them again.
  virtual bool VerifiesDigest() const { return false; }
};

// Opens a layer's blob that is not a local file (a registry, the layer's urls).
class BlobOpener {
 public:
  virtual ~BlobOpener() = default;
  virtual std::unique_ptr<BlobSource> Open(const LayerSpec& layer) const = 0;
};

// Reads layer.blob_path (or, when it is empty, what layer.remote opens) in 1 MiB chunks,
// decompresses it (gzip and zstd are recognised by their magic bytes, whatever the media type says;
// anything else is copied as is) and writes the tar to out_fd (partial writes and EINTR are
// retried). The whole blob is read, also past the end of the compressed stream. When layer.verify,
// the blob's size, its SHA-256 and the SHA-256 of the tar must equal layer.size, layer.digest and
// layer.diff_id (the blob's SHA-256 is left to a source that VerifiesDigest()). Nothing is held
// whole in memory. Throws Error on any failure, including a reader that went away (EPIPE; SIGPIPE
// is blocked in the calling thread while this runs, and consumed). Whatever was already written
// must then be discarded by the caller. With a budget, every chunk is taken from it before it is
// written.
StreamStats StreamLayer(const LayerSpec& layer, int out_fd, StreamBudget* budget = nullptr);

// The same verification and decompression for the bytes of any source: a network source
// retries and resumes inside Read, so the digest state simply continues.
StreamStats StreamLayer(const LayerSpec& layer, BlobSource& source, int out_fd,
                        StreamBudget* budget = nullptr);

}  // namespace grootfs::frontend::image
