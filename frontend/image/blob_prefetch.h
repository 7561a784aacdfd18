// A blob's first request made ahead of time. On a cold pull (the image config not cached) the
// registry client asks for the bottom layer's blob while the config downloads, so that the
// blob's latency overlaps the config's and the store's own set-up (registry_puller.h). The request
// runs in a thread of its own, on its own connection; its response (headers read, body not)
// waits for the one reader that opens the same blob at the same location from byte 0, which
// then checks it as it checks any response it opens itself. Any failure is silent: the reader
// then opens the blob itself, exactly as without a prefetch. A prefetch abandoned (destroyed
// untaken, as when the pull fails) cancels its request (http_cancel.h): however slowly the
// registry answers, the destructor returns at once.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "frontend/image/http.h"
#include "frontend/image/http_cancel.h"

namespace grootfs::frontend::image {

class BlobPrefetch {
 public:
  // Makes the request; nullptr for none (nothing worth asking for). May throw: that is a
  // failed prefetch.
  using Opener = std::function<std::unique_ptr<http::Stream>()>;

  // Starts `open` in a thread for blob `digest` at location `where` (any string naming the
  // location uniquely).
  BlobPrefetch(std::string digest, std::string where, Opener open);
  // Cancels the request, waits for its thread (which then returns at once) and closes a
  // response never taken.
  ~BlobPrefetch();
  BlobPrefetch(const BlobPrefetch&) = delete;
  BlobPrefetch& operator=(const BlobPrefetch&) = delete;

  // The response for `digest` at `where`, once: waits for the request to finish. nullptr when
  // that is another blob or location, it was taken already, or the request failed.
  std::unique_ptr<http::Stream> Take(const std::string& digest, const std::string& where);

 private:
  const std::string digest_;
  const std::string where_;
  http::Cancellation cancellation_;  // of thread_'s transfers
  std::mutex mutex_;
  bool taken_ = false;                    // guarded by mutex_
  std::unique_ptr<http::Stream> stream_;  // set by thread_; read after joining it
  std::thread thread_;                    // last: started once the rest is in place
};

}  // namespace grootfs::frontend::image
