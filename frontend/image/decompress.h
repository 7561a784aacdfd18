// Streaming decompression of a layer's blob: gzip with ISA-L's inflate (about twice zlib's
// speed), zstd with libzstd. Fed in chunks; output handed to a sink in chunks of at most
// kOutChunk bytes, so memory stays bounded whatever the layer's size.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "frontend/util/error.h"

namespace grootfs::frontend::image {

enum class Compression;

// Invalid compressed data (what the sink throws passes through unchanged).
class DecompressError : public Error {
 public:
  using Error::Error;
};

class Decompressor {
 public:
  static constexpr std::size_t kOutChunk = 1024 * 1024;
  using Sink = std::function<void(const unsigned char* data, std::size_t size)>;

  virtual ~Decompressor() = default;
  // Decompresses data, handing the output to sink. Concatenated streams (gzip members, zstd
  // frames) continue; once a stream ends and what follows is not another one, the rest of the
  // input is ignored (the caller still hashes it). Throws Error when the data is invalid.
  virtual void Feed(const unsigned char* data, std::size_t size, const Sink& sink) = 0;
  // The input ended: throws Error unless a whole stream was read.
  virtual void Finish() = 0;
};

// For Compression::kGzip or kZstd.
std::unique_ptr<Decompressor> MakeDecompressor(Compression compression);

}  // namespace grootfs::frontend::image
