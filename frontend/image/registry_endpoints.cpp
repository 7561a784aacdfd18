#include "frontend/image/registry_endpoints.h"

#include "frontend/image/registry_util.h"
#include "frontend/log.h"

namespace grootfs::frontend::image {
namespace {

namespace reg = registry;

// Whether host[:port] names its port (the only registries whose scheme is remembered).
bool NamesPort(const std::string& authority) {
  const std::optional<http::Url> url = http::ParseUrl("https://" + authority);
  return url && !url->port.empty();
}

}  // namespace

Endpoints::Endpoints(const RegistryOptions& options, const std::optional<ImageRef>& ref,
                     const CacheDir& cache)
    : schemes_(cache) {
  if (!ref) return;
  for (const http::Url& url : reg::MirrorsFor(options.registry_mirrors, ref->registry)) {
    Endpoint ep;
    ep.authority = url.Authority();
    ep.prefix = url.path;
    ep.fixed_scheme = url.scheme;
    ep.scheme = url.scheme;
    ep.scheme_known = true;
    ep.insecure = reg::IsInsecure(options.insecure_registries, ep.authority);
    ep.mirror = true;
    list_.push_back(std::move(ep));
  }
  Endpoint origin;
  origin.authority = ref->registry;
  origin.scheme = "https";
  origin.insecure = reg::IsInsecure(options.insecure_registries, origin.authority);
  if (origin.insecure) origin.scheme = FirstScheme(origin);
  origin.credentials = true;
  list_.push_back(std::move(origin));
}

// The scheme an insecure registry is asked in first. Named without a port: TLS, to port 443,
// before plain HTTP to port 80, where another server may answer (whatever the store's cache
// says: its owner can write there). Named with its port: the scheme it last answered in, else
// plain HTTP: one port speaks one protocol, so the order changes only what the failed attempt
// costs (a round trip, not loading OpenSSL for a handshake).
std::string Endpoints::FirstScheme(Endpoint& ep) const {
  if (!NamesPort(ep.authority)) return "https";
  ep.remembered = schemes_.Remembered(ep.authority);
  return ep.remembered.empty() ? "http" : ep.remembered;
}

Endpoints::Attempt Endpoints::NextAttempt(const Endpoint& ep) {
  std::lock_guard lock(mutex_);
  Attempt a;
  a.scheme = ep.scheme;
  a.scheme_known = ep.scheme_known;
  a.authorization = ep.authorization;
  a.first_failure = ep.first_failure;
  return a;
}

bool Endpoints::SwitchScheme(Endpoint& ep, const std::string& scheme, const std::string& why) {
  if (!ep.insecure || !ep.fixed_scheme.empty()) return false;
  std::lock_guard lock(mutex_);
  // Switched already (by another thread, when it switched from this scheme): true to retry.
  if (!ep.first_failure.empty() || ep.scheme != scheme) return ep.scheme != scheme;
  ep.first_failure = (scheme == "https" ? "over TLS: " : "over plain HTTP: ") + why;
  ep.scheme = scheme == "https" ? "http" : "https";
  Logger::Get().Info(scheme == "https" ? "registry-plain-http" : "registry-tls",
                     {{"registry", ep.authority}, {scheme + "-error", why}});
  return true;
}

void Endpoints::SchemeAnswered(Endpoint& ep, const std::string& scheme) {
  std::lock_guard lock(mutex_);
  if (ep.scheme_known) return;
  ep.scheme_known = true;
  if (ep.insecure && ep.fixed_scheme.empty() && NamesPort(ep.authority) &&
      scheme != ep.remembered) {
    schemes_.Remember(ep.authority, scheme);
  }
}

bool Endpoints::AsksInPlainHttp(const Endpoint& ep) {
  std::lock_guard lock(mutex_);
  return ep.scheme == "http";
}

void Endpoints::SetAuthorization(Endpoint& ep, const std::string& authorization) {
  std::lock_guard lock(mutex_);
  ep.authorization = authorization;
}

void Endpoints::MarkDown(Endpoint* ep) {
  if (ep == nullptr || !ep->mirror) return;
  std::lock_guard lock(mutex_);
  ep->down = true;
}

bool Endpoints::IsDown(const Endpoint& ep) {
  std::lock_guard lock(mutex_);
  return ep.down;
}

std::vector<Location> Endpoints::LocationsFor(const LayerSpec& layer) {
  std::vector<Location> locations;
  for (const std::string& text : layer.urls) {
    if (std::optional<http::Url> url = http::ParseUrl(text)) {
      Location l;
      l.url = *url;
      locations.push_back(std::move(l));
    }
  }
  std::lock_guard lock(mutex_);
  for (Endpoint& ep : list_) {
    if (ep.down) continue;
    Location l;
    l.endpoint = &ep;
    locations.push_back(std::move(l));
  }
  return locations;
}

}  // namespace grootfs::frontend::image
