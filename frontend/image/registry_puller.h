// The state of one pull, shared by every thread fetching its layers: its registry endpoints
// (registry_endpoints.h), and requests to them through the registry API with what each needs:
// the scheme of an insecure registry, authentication (registry_auth.h), redirects
// (url_opener.h), and for small documents, retries and the fall back from a mirror to the next
// endpoint. Blobs are opened one location at a time here; their retries and resumes are the
// reader's (remote_blob.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frontend/image/blob_prefetch.h"
#include "frontend/image/http.h"
#include "frontend/image/image_spec.h"
#include "frontend/image/reference.h"
#include "frontend/image/registry.h"
#include "frontend/image/registry_auth.h"
#include "frontend/image/registry_endpoints.h"
#include "frontend/image/url_opener.h"

namespace grootfs::frontend::image {

class Puller {
 public:
  // `ref` is the image of a registry pull; without it there are no endpoints, only layers'
  // urls. Throws Error for a malformed mirror entry.
  Puller(std::string image_name, RegistryOptions options, std::optional<ImageRef> ref);
  Puller(const Puller&) = delete;
  Puller& operator=(const Puller&) = delete;

  const std::string& image() const { return image_; }
  const RegistryOptions& options() const { return options_; }
  // Only for a Puller made with a ref.
  const ImageRef& ref() const { return *ref_; }

  // A small document (manifest, config) read whole.
  struct Small {
    std::string body;
    std::string content_type;
    std::optional<std::string> docker_digest;
    std::string from;
  };
  // GET path from the first endpoint that answers (mirrors first), with retries. `what` names
  // the document in messages and logs, `not_found` in a 404's message. Throws Error.
  Small Fetch(const std::string& path, const std::vector<std::string>& headers,
              const std::string& what, const std::string& not_found);

  std::vector<Location> LocationsFor(const LayerSpec& layer) {
    return endpoints_.LocationsFor(layer);
  }

  // Opens a blob at `offset` from one location (redirects followed, auth done). The stream's
  // status is whatever the final response said. Throws TransferError or Error.
  std::unique_ptr<http::Stream> OpenBlobAt(const Location& loc, const std::string& digest,
                                           std::uint64_t offset);

  // A cold pull: `layer`'s blob asked for from the location its reader will try first, in a
  // thread of its own (blob_prefetch.h), unless the store already holds a layer made from that
  // blob (options().store_has_layer_from, asked on that thread). Nothing without that
  // callback. Before any layer opens; once.
  void PrefetchBlob(const LayerSpec& layer);

  // The response PrefetchBlob asked for, if it is this blob's at this location; nullptr
  // otherwise. Only its first opener at byte 0 may take it.
  std::unique_ptr<http::Stream> TakePrefetched(const std::string& digest, const Location& loc);

  // A one-line reason for a final HTTP status from an endpoint (nullptr: a layer url).
  std::string StatusMessage(const Endpoint* ep, long status, const std::string& host,
                            const std::string& not_found) const;

  void MarkDown(Endpoint* ep) { endpoints_.MarkDown(ep); }

 private:
  Small FetchFrom(Endpoint& ep, const std::string& path, const std::vector<std::string>& headers,
                  const std::string& what, const std::string& not_found);
  // One request to an endpoint: the other scheme when an insecure registry's first one fails,
  // once more with credentials after a 401, redirects followed. No retries.
  std::unique_ptr<http::Stream> OpenOnce(Endpoint& ep, const std::string& path,
                                         const std::vector<std::string>& headers,
                                         std::uint64_t range);

  const std::string image_;
  const RegistryOptions options_;
  const std::optional<ImageRef> ref_;
  Endpoints endpoints_;
  UrlOpener urls_;
  const RegistryAuth auth_;
  // Set before any layer opens (PrefetchBlob), not changed after. Last: destroyed first, so
  // its thread, which uses this Puller, is joined before the rest goes.
  std::unique_ptr<BlobPrefetch> prefetch_;
};

}  // namespace grootfs::frontend::image
