#include "frontend/image/blob_prefetch.h"

#include <exception>
#include <utility>

#include "frontend/log.h"

namespace grootfs::frontend::image {

BlobPrefetch::BlobPrefetch(std::string digest, std::string where, Opener open)
    : digest_(std::move(digest)), where_(std::move(where)) {
  thread_ = std::thread([this, open = std::move(open)] {
    const http::CancelScope scope(cancellation_);
    try {
      stream_ = open();
      if (stream_) {
        Logger::Get().Debug("layer-prefetched",
                            {{"digest", digest_}, {"from", where_}, {"status", stream_->status()}});
      }
    } catch (const std::exception& e) {
      stream_.reset();
      Logger::Get().Debug(
          cancellation_.cancelled() ? "layer-prefetch-cancelled" : "layer-prefetch-failed",
          {{"digest", digest_}, {"from", where_}, {"error", e.what()}});
    } catch (...) {
      stream_.reset();
    }
  });
}

BlobPrefetch::~BlobPrefetch() {
  cancellation_.Cancel();  // a request still waiting ends now, whatever the registry does
  if (thread_.joinable()) thread_.join();
  if (stream_) {
    Logger::Get().Debug("layer-prefetch-unused", {{"digest", digest_}});
    // Closed without reading a byte more of it (a Stream drains a short body for reuse).
    const http::CancelScope scope(cancellation_);
    stream_.reset();
  }
}

std::unique_ptr<http::Stream> BlobPrefetch::Take(const std::string& digest,
                                                 const std::string& where) {
  {
    std::lock_guard lock(mutex_);
    if (taken_ || digest != digest_ || where != where_) return nullptr;
    taken_ = true;
  }
  thread_.join();  // only the one Take that set taken_ gets here
  return std::move(stream_);
}

}  // namespace grootfs::frontend::image
