// What one layer's fetch and unpack report while they run:
// - the metrics DownloadTime (from the start until the whole blob is read and verified) and
//   UnpackTime (from the start until the unpacked layer is there: the two overlap, the blob
//   streams into the unpacker), in nanos;
// - when stderr is a terminal, one line per layer on stderr, redrawn in place (ANSI cursor
//   moves) at most 10 times a second: bytes, rate, then verifying, unpacking, done. When
//   stderr is not a terminal (Garden) nothing at all is written.
#pragma once

#include <chrono>
#include <cstddef>

#include "frontend/image/image_spec.h"

namespace grootfs::frontend::image {

class LayerProgress {
 public:
  explicit LayerProgress(const LayerSpec& layer);  // starts the clock: "downloading"
  ~LayerProgress();                                // "failed" unless Unpacked() came first
  LayerProgress(const LayerProgress&) = delete;
  LayerProgress& operator=(const LayerProgress&) = delete;

  void Downloaded();  // the blob is read and verified: DownloadTime; "unpacking"
  void Unpacked();    // UnpackTime; "done"

  // From the blob reader: n more bytes of `layer`'s blob (the same LayerSpec object the
  // LayerProgress was made with; other layers are ignored).
  static void BlobBytes(const LayerSpec& layer, std::size_t n);

 private:
  const LayerSpec& layer_;
  std::chrono::steady_clock::time_point started_;
  bool unpacked_ = false;
};

}  // namespace grootfs::frontend::image
