// Where one pull asks a registry: its mirrors first (registry_util.h's MirrorsFor), then the
// registry itself; and what the pull learns about each as it goes, shared by all its threads:
// the scheme an insecure registry answers in (asked in the remembered one first, and
// remembered in the store's cache for the next pull: registry_cache.h), the Authorization its
// origin wants, and which mirrors are down.
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "frontend/image/http.h"
#include "frontend/image/image_spec.h"
#include "frontend/image/reference.h"
#include "frontend/image/registry.h"
#include "frontend/image/registry_cache.h"

namespace grootfs::frontend::image {

// A registry or a mirror of it.
struct Endpoint {
  std::string authority;     // host[:port]
  std::string prefix;        // a mirror URL's path, "" otherwise
  std::string fixed_scheme;  // a mirror URL's scheme; "" for a registry (https, maybe http)
  bool insecure = false;     // unverified TLS, then plain HTTP, allowed
  bool mirror = false;
  bool credentials = false;  // may receive --username/--password
  // Learned while pulling; guarded by Endpoints' mutex.
  std::string scheme;
  bool scheme_known = false;  // it answered in `scheme`, or that is fixed: no other is tried
  std::string first_failure;  // how the first scheme failed ("over TLS: ..."): `scheme` is then
                              // the last try
  std::string remembered;     // the scheme the store's cache says it answered in last, or ""
  std::string authorization;  // "Authorization: ..." for this endpoint's origin
  bool down = false;

  std::string Name() const {
    return mirror ? "mirror " + fixed_scheme + "://" + authority + prefix : authority;
  }
};

// Where a blob may come from: one of the layer's urls, or a registry endpoint.
struct Location {
  std::optional<http::Url> url;  // a layer url
  Endpoint* endpoint = nullptr;  // or a registry (or mirror)
  std::string Name() const { return url ? url->ForLog() : endpoint->Name(); }
  // Says which location this is, for a prefetched response (whose URL may carry a query).
  std::string Key() const {
    return url ? "url " + url->ToString() : "endpoint " + endpoint->Name();
  }
};

class Endpoints {
 public:
  // The mirrors of ref's registry, then the registry; none without a ref (layers' urls only).
  // Throws Error for a malformed mirror entry.
  Endpoints(const RegistryOptions& options, const std::optional<ImageRef>& ref,
            const CacheDir& cache);
  Endpoints(const Endpoints&) = delete;
  Endpoints& operator=(const Endpoints&) = delete;

  // Every endpoint, mirrors first; the list and the addresses in it do not change.
  std::deque<Endpoint>::iterator begin() { return list_.begin(); }
  std::deque<Endpoint>::iterator end() { return list_.end(); }

  // What a request to `ep` starts from: the scheme to ask in, whether that is settled, and
  // the Authorization header ("" for none).
  struct Attempt {
    std::string scheme;
    bool scheme_known = false;
    std::string authorization;
    std::string first_failure;  // the first scheme's, when this is the last try
  };
  Attempt NextAttempt(const Endpoint& ep);

  // The first request to an insecure registry failed in `scheme`: the other one is the last
  // try. False when there is nothing else to try.
  bool SwitchScheme(Endpoint& ep, const std::string& scheme, const std::string& why);
  // The first answer of an insecure registry: its scheme is kept for this pull and remembered
  // for the next.
  void SchemeAnswered(Endpoint& ep, const std::string& scheme);
  bool AsksInPlainHttp(const Endpoint& ep);

  void SetAuthorization(Endpoint& ep, const std::string& authorization);

  // A mirror marked down (it could not be reached) is not asked again in this pull; marking
  // the registry itself, or no endpoint (nullptr), does nothing.
  void MarkDown(Endpoint* ep);
  bool IsDown(const Endpoint& ep);

  // Where a layer's blob may come from, in order: its urls, then the endpoints not down.
  std::vector<Location> LocationsFor(const LayerSpec& layer);

 private:
  std::string FirstScheme(Endpoint& ep) const;

  const SchemeMemory schemes_;
  std::mutex mutex_;
  std::deque<Endpoint> list_;  // mirrors first, then the registry; addresses stay put
};

}  // namespace grootfs::frontend::image
