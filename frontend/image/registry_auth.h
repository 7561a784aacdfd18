// Answering a registry's 401 (registry.h's auth rule): the challenges of its WWW-Authenticate
// headers say what next, a Bearer token from the realm they name (asked for with the basic
// credentials when there are any) or Basic credentials. Credentials go only to an endpoint that
// may receive them (the registry named in the image, never a mirror) and to the token realm it
// names. Nothing secret is logged.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "frontend/image/http.h"
#include "frontend/image/registry.h"
#include "frontend/image/registry_endpoints.h"
#include "frontend/image/registry_util.h"
#include "frontend/image/url_opener.h"

namespace grootfs::frontend::image {

class RegistryAuth {
 public:
  // `repository` is the default scope of a token ("" when there is no image repository).
  // Keeps references to options, urls and endpoints, which must outlive it.
  RegistryAuth(const RegistryOptions& options, std::string repository, const UrlOpener& urls,
               Endpoints& endpoints)
      : options_(options), repository_(std::move(repository)), urls_(urls), endpoints_(endpoints) {}

  // The header to ask `ep` again with ("Authorization: Bearer ..." or "... Basic ..."), given
  // the WWW-Authenticate values of its 401; nullopt when no challenge can be answered. Throws
  // Error when the token service fails or refuses.
  std::optional<std::string> Authenticate(Endpoint& ep,
                                          const std::vector<std::string>& www_authenticate) const;

 private:
  std::string FetchToken(const Endpoint& ep, const registry::Challenge& challenge) const;
  http::Url TokenUrl(const Endpoint& ep, const registry::Challenge& challenge) const;
  std::string BasicAuthorization() const;

  const RegistryOptions& options_;
  const std::string repository_;
  const UrlOpener& urls_;
  Endpoints& endpoints_;
};

// Where the credentials came from, for "check ..." in messages.
std::string CredentialsSource(const RegistryOptions& options);

}  // namespace grootfs::frontend::image
