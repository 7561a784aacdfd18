// Streaming one layer's blob, decompressed, into a file descriptor while verifying it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "frontend/image/image_spec.h"

namespace grootfs::frontend::image {

struct StreamStats {
  std::uint64_t blob_bytes = 0;  // bytes of the blob as stored (compressed)
  std::uint64_t tar_bytes = 0;   // bytes written to out_fd (the uncompressed tar)
};

// A blob's bytes in order, from a local file or the network.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  // Up to size bytes (fewer is fine); 0 only at the end of the blob. Throws Error.
  virtual std::size_t Read(unsigned char* buffer, std::size_t size) = 0;
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
// layer.diff_id. Nothing is held whole in memory. Throws Error on any failure, including a reader
// that went away (EPIPE; SIGPIPE is blocked in the calling thread while this runs, and consumed).
// Whatever was already written must then be discarded by the caller.
StreamStats StreamLayer(const LayerSpec& layer, int out_fd);

// The same verification and decompression for the bytes of any source: a network source
// retries and resumes inside Read, so the digest state simply continues.
StreamStats StreamLayer(const LayerSpec& layer, BlobSource& source, int out_fd);

}  // namespace grootfs::frontend::image
