#include "frontend/image/registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "frontend/image/blob_prefetch.h"
#include "frontend/image/digest.h"
#include "frontend/image/http.h"
#include "frontend/image/layer_stream.h"
#include "frontend/image/oci_layout.h"
#include "frontend/image/registry_cache.h"
#include "frontend/image/registry_manifest.h"
#include "frontend/image/registry_util.h"
#include "frontend/log.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

namespace reg = registry;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::size_t kMaxJson = 4 * 1024 * 1024;
constexpr std::size_t kMaxToken = 1024 * 1024;
constexpr int kMaxRedirects = 10;
constexpr int kMaxIndexDepth = 4;

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool IsRetryableStatus(long status) { return status >= 500 || status == 429 || status == 408; }

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string Seconds(std::chrono::milliseconds ms) {
  const auto tenths = (ms.count() + 50) / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

// One line about a failed transfer, with what to do about it.
std::string TransferMessage(const http::TransferError& e, const std::string& host, bool hint) {
  using Kind = http::TransferError::Kind;
  const std::string& detail = e.detail();
  switch (e.kind()) {
    case Kind::kTlsVerify:
      return "the TLS certificate of " + host + " is not trusted (" + detail + ")" +
             (hint ? "; to use it anyway, list it with --insecure-registry " + host : "");
    case Kind::kTls:
      return "TLS with " + host + " failed (" + detail + ")" +
             (hint ? "; if it serves plain HTTP or an untrusted certificate, list it with "
                     "--insecure-registry " +
                         host
                   : "");
    case Kind::kConnect:
      return "cannot connect to " + host + " (" + detail + ")";
    case Kind::kResolve:
      return "cannot resolve " + host + " (" + detail + ")";
    case Kind::kStalled:
      return "no data from " + host + " for too long (" + detail + ")";
    default:
      return "the connection to " + host + " failed (" + detail + ")";
  }
}

// Thrown by a request to one endpoint; the next endpoint (or location) may still succeed.
class EndpointError : public Error {
 public:
  EndpointError(const std::string& message, bool endpoint_down)
      : Error(message), endpoint_down_(endpoint_down) {}
  bool endpoint_down() const { return endpoint_down_; }

 private:
  bool endpoint_down_;
};

// A registry or a mirror of it.
struct Endpoint {
  std::string authority;     // host[:port]
  std::string prefix;        // a mirror URL's path, "" otherwise
  std::string fixed_scheme;  // a mirror URL's scheme; "" for a registry (https, maybe http)
  bool insecure = false;     // unverified TLS, then plain HTTP, allowed
  bool mirror = false;
  bool credentials = false;  // may receive --username/--password
  // Learned while pulling; guarded by Puller::mutex_.
  std::string scheme;
  bool scheme_known = false;  // it answered in `scheme`, or that is fixed: no other is tried
  bool switched = false;      // the first scheme failed: `scheme` is the last try
  std::string remembered;     // the scheme the store's cache says it answered in last, or ""
  std::string authorization;  // "Authorization: ..." for this endpoint's origin
  bool down = false;

  std::string Name() const {
    return mirror ? "mirror " + fixed_scheme + "://" + authority + prefix : authority;
  }
};

struct UrlTls {
  std::string ca_pem;
  std::vector<std::pair<std::string, std::string>> identities;  // client cert, key files
};

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string ReadSmallFile(const std::string& path, const std::string& what) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    throw Error("cannot read " + what + " " + Printable(path) + ": " + std::strerror(errno));
  std::string content;
  char buffer[65536];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
    if (content.size() > kMaxJson) break;
  }
  close(fd);
  return content;
}

// remote_layer_client_certificates_path: *.crt CAs, *.cert/*.key client pairs (docker's
// certs.d convention).
UrlTls LoadCertsDir(const std::string& dir) {
  UrlTls tls;
  if (dir.empty()) return tls;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    throw Error("cannot read the client certificates directory " + Printable(dir) + ": " +
                std::strerror(errno));
  }
  std::vector<std::string> names;
  while (const dirent* entry = readdir(d)) names.emplace_back(entry->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  auto has = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    if (EndsWith(name, ".crt")) {
      tls.ca_pem += ReadSmallFile(path, "CA certificate") + "\n";
    } else if (EndsWith(name, ".cert")) {
      const std::string key = name.substr(0, name.size() - 5) + ".key";
      if (!has(key)) {
        throw Error("client certificate " + Printable(path) + " has no key " + Printable(key));
      }
      tls.identities.emplace_back(path, dir + "/" + key);
    } else if (EndsWith(name, ".key")) {
      const std::string cert = name.substr(0, name.size() - 4) + ".cert";
      if (!has(cert)) {
        throw Error("client key " + Printable(path) + " has no certificate " + Printable(cert));
      }
    }
  }
  return tls;
}

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

// The state of one pull, shared by every thread fetching its layers.
class Puller : public std::enable_shared_from_this<Puller> {
 public:
  Puller(std::string image_name, RegistryOptions options, std::optional<ImageRef> ref)
      : image_(std::move(image_name)),
        options_(std::move(options)),
        ref_(std::move(ref)),
        cache_(CacheDir(options_.cache_dir, options_.cache_uid, options_.cache_gid)),
        schemes_(CacheDir(options_.cache_dir, options_.cache_uid, options_.cache_gid)) {
    if (!ref_) return;
    for (const http::Url& url : reg::MirrorsFor(options_.registry_mirrors, ref_->registry)) {
      Endpoint ep;
      ep.authority = url.Authority();
      ep.prefix = url.path;
      ep.fixed_scheme = url.scheme;
      ep.scheme = url.scheme;
      ep.scheme_known = true;
      ep.insecure = reg::IsInsecure(options_.insecure_registries, ep.authority);
      ep.mirror = true;
      endpoints_.push_back(std::move(ep));
    }
    Endpoint origin;
    origin.authority = ref_->registry;
    origin.scheme = "https";
    origin.insecure = reg::IsInsecure(options_.insecure_registries, origin.authority);
    if (origin.insecure) origin.scheme = FirstScheme(origin);
    origin.credentials = true;
    endpoints_.push_back(std::move(origin));
  }

  const std::string& image() const { return image_; }

  ImageSpec Load() {
    try {
      return LoadUnwrapped();
    } catch (const Error& e) {
      throw Error("cannot pull " + image_ + ": " + e.what());
    }
  }

  std::vector<Location> LocationsFor(const LayerSpec& layer) {
    std::vector<Location> locations;
    for (const std::string& text : layer.urls) {
      if (std::optional<http::Url> url = http::ParseUrl(text)) {
        Location l;
        l.url = *url;
        locations.push_back(std::move(l));
      }
    }
    std::lock_guard lock(mutex_);
    for (Endpoint& ep : endpoints_) {
      if (ep.down) continue;
      Location l;
      l.endpoint = &ep;
      locations.push_back(std::move(l));
    }
    return locations;
  }

  // Opens a blob at `offset` from one location (redirects followed, auth done). The stream's
  // status is whatever the final response said. Throws TransferError or Error.
  std::unique_ptr<http::Stream> OpenBlobAt(const Location& loc, const std::string& digest,
                                           std::uint64_t offset) {
    if (loc.url) return OpenUrl(*loc.url, offset);
    return OpenOnce(*loc.endpoint, "/v2/" + ref_->repository + "/blobs/" + digest, {}, offset);
  }

  // The response a cold pull asked for ahead of time (PrefetchBottomLayer), if it is this
  // blob's at this location; nullptr otherwise. Only its first opener at byte 0 may take it.
  std::unique_ptr<http::Stream> TakePrefetched(const std::string& digest, const Location& loc) {
    if (!prefetch_) return nullptr;
    std::unique_ptr<http::Stream> s = prefetch_->Take(digest, loc.Key());
    if (s) Logger::Get().Debug("layer-prefetch-taken", {{"digest", digest}, {"from", loc.Name()}});
    return s;
  }

  // A one-line reason for a final HTTP status from an endpoint.
  std::string StatusMessage(const Endpoint* ep, long status, const std::string& host,
                            const std::string& not_found) {
    const std::string from = " (HTTP " + std::to_string(status) + " from " + host + ")";
    if (status == 404) return not_found + " not found" + from;
    if (status == 403) return "access denied" + from;
    if (status == 401) {
      if (ep != nullptr && ep->credentials && !options_.username.empty()) {
        return "authentication failed" + from + ": check " + CredentialsSource();
      }
      if (ep != nullptr && ep->credentials) {
        return "authentication required" + from +
               "; if the image exists, give --username and --password";
      }
      return "authentication required" + from;
    }
    return "unexpected answer" + from;
  }

  std::string CredentialsSource() const {
    return options_.credentials_source.empty()
               ? "--username and --password"
               : "the credentials from " + options_.credentials_source;
  }

  void MarkDown(Endpoint* ep) {
    if (ep == nullptr || !ep->mirror) return;
    std::lock_guard lock(mutex_);
    ep->down = true;
  }

 private:
  ImageSpec LoadUnwrapped();
  void PrefetchBottomLayer(const json& manifest);

  struct Document {
    std::string digest;
    json body;
    reg::DocumentKind kind = reg::DocumentKind::kUnknown;
  };
  Document GetManifest(const std::string& reference, const std::string& expected_digest);

  struct Small {
    std::string body;
    std::string content_type;
    std::optional<std::string> docker_digest;
    std::string from;
  };
  // GET path from the first endpoint that answers (mirrors first), with retries.
  Small Fetch(const std::string& path, const std::vector<std::string>& headers,
              const std::string& what, const std::string& not_found);
  Small FetchFrom(Endpoint& ep, const std::string& path, const std::vector<std::string>& headers,
                  const std::string& what, const std::string& not_found);

  http::Request RequestFor(Endpoint& ep, const http::Url& url,
                           const std::vector<std::string>& headers, const std::string& auth,
                           std::uint64_t range) const {
    http::Request req;
    req.url = url;
    req.headers = headers;
    if (!auth.empty()) req.headers.push_back(auth);
    req.range_start = range;
    req.tls.verify = !ep.insecure;
    return req;
  }

  // Plain HTTP only to listed hosts (a mirror URL written with http:// is its own consent).
  void CheckAllowed(const http::Url& url, const std::string& via) const {
    if (url.scheme == "http" && !reg::IsInsecure(options_.insecure_registries, url.Authority())) {
      throw Error("refusing plain HTTP to " + url.Authority() + via + "; list it with " +
                  "--insecure-registry " + url.Authority() + " to allow it");
    }
  }

  http::TlsConfig TlsFor(const http::Url& url) const {
    http::TlsConfig tls;
    tls.verify = !reg::IsInsecure(options_.insecure_registries, url.Authority());
    return tls;
  }

  // The scheme an insecure registry is asked in first: the one it last answered in; else, when
  // its port is named, plain HTTP: one port speaks one protocol, so the order changes only
  // what the failed attempt costs (a round trip, not loading OpenSSL for a handshake); else
  // TLS, to port 443, before plain HTTP to port 80, where another server may answer.
  std::string FirstScheme(Endpoint& ep) const {
    ep.remembered = schemes_.Remembered(ep.authority);
    if (!ep.remembered.empty()) return ep.remembered;
    const std::optional<http::Url> url = http::ParseUrl("https://" + ep.authority);
    return url && !url->port.empty() ? "http" : "https";
  }

  // The first request to an insecure registry failed in `scheme`: the other one is the last
  // try. False when there is nothing else to try.
  bool SwitchScheme(Endpoint& ep, const std::string& scheme, const std::string& why) {
    if (!ep.insecure || !ep.fixed_scheme.empty()) return false;
    std::lock_guard lock(mutex_);
    if (ep.switched || ep.scheme != scheme) return ep.scheme != scheme;  // another thread did
    ep.switched = true;
    ep.scheme = scheme == "https" ? "http" : "https";
    Logger::Get().Info(scheme == "https" ? "registry-plain-http" : "registry-tls",
                       {{"registry", ep.authority}, {scheme + "-error", why}});
    return true;
  }

  // The first answer of an insecure registry: its scheme is kept for this pull and remembered
  // for the next.
  void SchemeAnswered(Endpoint& ep, const std::string& scheme) {
    std::lock_guard lock(mutex_);
    if (ep.scheme_known) return;
    ep.scheme_known = true;
    if (ep.insecure && ep.fixed_scheme.empty() && scheme != ep.remembered) {
      schemes_.Remember(ep.authority, scheme);
    }
  }

  std::unique_ptr<http::Stream> OpenOnce(Endpoint& ep, const std::string& path,
                                         const std::vector<std::string>& headers,
                                         std::uint64_t range);
  std::unique_ptr<http::Stream> FollowRedirects(std::unique_ptr<http::Stream> s, http::Url current,
                                                const http::Url& origin,
                                                const std::vector<std::string>& headers,
                                                const std::string& auth, std::uint64_t range,
                                                const http::TlsConfig& origin_tls);
  std::optional<std::string> Authenticate(Endpoint& ep, const std::vector<std::string>& headers);
  std::string FetchToken(Endpoint& ep, const reg::Challenge& challenge);
  std::unique_ptr<http::Stream> OpenUrl(const http::Url& url, std::uint64_t offset);
  const UrlTls& Certs() {
    std::call_once(certs_once_, [&] {
      try {
        certs_ = LoadCertsDir(options_.certs_dir);
      } catch (const Error& e) {
        certs_error_ = e.what();
      }
    });
    if (!certs_error_.empty()) throw Error(certs_error_);
    return certs_;
  }

  const std::string image_;
  const RegistryOptions options_;
  const std::optional<ImageRef> ref_;
  const DigestCache cache_;
  const SchemeMemory schemes_;
  std::mutex mutex_;
  std::deque<Endpoint> endpoints_;  // mirrors first, then the registry; addresses stay put
  std::once_flag certs_once_;
  UrlTls certs_;
  std::string certs_error_;
  // Set before any layer opens (LoadUnwrapped), not changed after. Last: destroyed first, so
  // its thread, which uses this Puller, is joined before the rest goes.
  std::unique_ptr<BlobPrefetch> prefetch_;
};

std::unique_ptr<http::Stream> Puller::OpenOnce(Endpoint& ep, const std::string& path,
                                               const std::vector<std::string>& headers,
                                               std::uint64_t range) {
  bool authenticated = false;
  while (true) {
    std::string scheme, auth;
    bool scheme_known = false;
    {
      std::lock_guard lock(mutex_);
      scheme = ep.scheme;
      scheme_known = ep.scheme_known;
      auth = ep.authorization;
    }
    const std::optional<http::Url> url =
        http::ParseUrl(scheme + "://" + ep.authority + ep.prefix + path);
    if (!url) throw Error("cannot make a URL for " + ep.Name() + " and " + Printable(path));
    const http::Request req = RequestFor(ep, *url, headers, auth, range);
    std::unique_ptr<http::Stream> s;
    try {
      s = std::make_unique<http::Stream>(req);
    } catch (const http::TransferError& e) {
      if (!scheme_known && e.kind() != http::TransferError::Kind::kResolve &&
          SwitchScheme(ep, scheme, e.what())) {
        continue;
      }
      throw;
    }
    // A TLS server answers a plain request with 400 ("Client sent an HTTP request to an HTTPS
    // server"); a registry's own 400 says it is one.
    if (!scheme_known && scheme == "http" && s->status() == 400 &&
        !s->Header("docker-distribution-api-version") &&
        SwitchScheme(ep, scheme, "HTTP 400")) {
      continue;
    }
    if (!scheme_known) SchemeAnswered(ep, scheme);
    Logger::Get().Debug("http-response", {{"url", url->ForLog()}, {"status", s->status()}});
    if (s->status() == 401 && !authenticated) {
      if (std::optional<std::string> fresh = Authenticate(ep, s->Headers("www-authenticate"))) {
        s.reset();
        std::lock_guard lock(mutex_);
        ep.authorization = *fresh;
        authenticated = true;
        continue;
      }
      return s;
    }
    if (IsRedirect(s->status())) {
      return FollowRedirects(std::move(s), *url, *url, headers, auth, range, req.tls);
    }
    return s;
  }
}

std::unique_ptr<http::Stream> Puller::FollowRedirects(std::unique_ptr<http::Stream> s,
                                                      http::Url current, const http::Url& origin,
                                                      const std::vector<std::string>& headers,
                                                      const std::string& auth, std::uint64_t range,
                                                      const http::TlsConfig& origin_tls) {
  for (int hop = 0; IsRedirect(s->status()); ++hop) {
    if (hop == kMaxRedirects) throw Error("too many redirects from " + origin.Authority());
    const std::optional<std::string> location = s->Header("location");
    if (!location) return s;
    const std::optional<http::Url> next = http::ResolveLocation(current, *location);
    if (!next) {
      throw Error(origin.Authority() + " redirected to an unsupported URL '" +
                  Printable(*location, 100) + "'");
    }
    s.reset();
    CheckAllowed(*next, " (redirected from " + origin.Authority() + ")");
    http::Request req;
    req.url = *next;
    req.headers = headers;
    req.range_start = range;
    const bool same = http::SameOrigin(*next, origin);
    // Credentials (and client certificates) stay with the origin they were meant for.
    if (same && !auth.empty()) req.headers.push_back(auth);
    req.tls = same ? origin_tls : TlsFor(*next);
    if (!same) req.tls.extra_ca_pem = origin_tls.extra_ca_pem;
    Logger::Get().Debug("following-redirect", {{"from", origin.Authority()},
                                               {"to", next->ForLog()},
                                               {"credentials", same && !auth.empty()}});
    s = std::make_unique<http::Stream>(req);
    current = *next;
  }
  return s;
}

std::optional<std::string> Puller::Authenticate(Endpoint& ep,
                                                const std::vector<std::string>& headers) {
  std::vector<reg::Challenge> challenges;
  for (const std::string& h : headers) {
    for (reg::Challenge& c : reg::ParseWwwAuthenticate(h)) challenges.push_back(std::move(c));
  }
  const bool creds = ep.credentials && !options_.username.empty();
  for (const reg::Challenge& c : challenges) {
    if (c.scheme == "bearer") return "Authorization: Bearer " + FetchToken(ep, c);
  }
  for (const reg::Challenge& c : challenges) {
    if (c.scheme == "basic" && creds) {
      bool plain = false;
      {
        std::lock_guard lock(mutex_);
        plain = ep.scheme == "http";
      }
      if (plain) Logger::Get().Info("basic-auth-over-plain-http", {{"registry", ep.authority}});
      return "Authorization: Basic " + http::Base64(options_.username + ":" + options_.password);
    }
  }
  return std::nullopt;
}

std::string Puller::FetchToken(Endpoint& ep, const reg::Challenge& challenge) {
  const auto realm_it = challenge.params.find("realm");
  if (realm_it == challenge.params.end() || realm_it->second.empty()) {
    throw Error(ep.Name() + " asks for a bearer token but names no realm");
  }
  std::optional<http::Url> realm = http::ParseUrl(realm_it->second);
  if (!realm) {
    throw Error(ep.Name() + " names an unsupported token realm '" +
                Printable(realm_it->second, 100) + "'");
  }
  CheckAllowed(*realm, " (the token service of " + ep.authority + ")");
  std::string query;
  if (auto it = challenge.params.find("service"); it != challenge.params.end()) {
    query += "service=" + PercentEncode(it->second);
  }
  std::string scope = "repository:" + (ref_ ? ref_->repository : std::string()) + ":pull";
  if (auto it = challenge.params.find("scope");
      it != challenge.params.end() && !it->second.empty()) {
    scope = it->second;
  }
  query += std::string(query.empty() ? "" : "&") + "scope=" + PercentEncode(scope);
  realm->path += (realm->path.find('?') == std::string::npos ? "?" : "&") + query;

  const bool creds = ep.credentials && !options_.username.empty();
  const std::string auth =
      creds ? "Authorization: Basic " + http::Base64(options_.username + ":" + options_.password)
            : "";
  const std::string host = realm->Authority();
  Logger::Get().Info(
      "fetching-token",
      {{"registry", ep.authority}, {"realm", realm->ForLog()}, {"with-credentials", creds}});
  reg::RetryBudget budget;
  while (true) {
    std::string failure;
    std::optional<std::chrono::milliseconds> retry_after;
    try {
      http::Request req;
      req.url = *realm;
      if (!auth.empty()) req.headers.push_back(auth);
      req.tls = TlsFor(*realm);
      auto s = std::make_unique<http::Stream>(req);
      s = FollowRedirects(std::move(s), *realm, *realm, {}, auth, 0, req.tls);
      const long status = s->status();
      if (status == 200) {
        const json j = json::parse(s->ReadAll(kMaxToken, "the token response"), nullptr, false);
        for (const char* key : {"token", "access_token"}) {
          if (j.is_object() && j.contains(key) && j[key].is_string() &&
              !j[key].get<std::string>().empty()) {
            return j[key].get<std::string>();
          }
        }
        throw Error("the token service at " + host + " sent no token");
      }
      if (status == 401 || status == 403) {
        throw Error(creds ? "authentication failed: the token service at " + host +
                                " refused the credentials (HTTP " + std::to_string(status) +
                                "); check " + CredentialsSource()
                          : "the token service at " + host + " refused anonymous access (HTTP " +
                                std::to_string(status) + "); give --username and --password");
      }
      if (!IsRetryableStatus(status)) {
        throw Error("the token service at " + host + " answered HTTP " + std::to_string(status));
      }
      failure = "HTTP " + std::to_string(status) + " from the token service at " + host;
      retry_after = reg::ParseRetryAfter(s->Header("retry-after"));
    } catch (const http::TransferError& e) {
      if (!e.retryable()) throw Error(TransferMessage(e, host, false));
      failure = TransferMessage(e, host, false);
    }
    const auto delay = budget.OnFailure(Clock::now(), retry_after);
    if (!delay) {
      throw Error(failure + " (gave up after " + std::to_string(budget.failures()) + " attempts)");
    }
    Logger::Get().Info("retrying",
                       {{"from", host}, {"reason", failure}, {"delay_ms", delay->count()}});
    std::this_thread::sleep_for(*delay);
  }
}

std::unique_ptr<http::Stream> Puller::OpenUrl(const http::Url& url, std::uint64_t offset) {
  CheckAllowed(url, " (a layer url)");
  const UrlTls& certs = Certs();
  std::vector<http::TlsConfig> configs;
  http::TlsConfig base = TlsFor(url);
  base.extra_ca_pem = certs.ca_pem;
  if (certs.identities.empty() || url.scheme == "http") configs.push_back(base);
  for (const auto& [cert, key] : certs.identities) {
    if (url.scheme == "http") break;
    http::TlsConfig with = base;
    with.client_cert = cert;
    with.client_key = key;
    configs.push_back(with);
  }
  for (std::size_t i = 0;; ++i) {
    http::Request req;
    req.url = url;
    req.range_start = offset;
    req.tls = configs[i];
    std::unique_ptr<http::Stream> s;
    try {
      s = std::make_unique<http::Stream>(req);
    } catch (const http::TransferError& e) {
      // The server may want another of our client certificates.
      if (e.kind() == http::TransferError::Kind::kTls && i + 1 < configs.size()) continue;
      throw;
    }
    if (IsRedirect(s->status()))
      return FollowRedirects(std::move(s), url, url, {}, "", offset, req.tls);
    return s;
  }
}

Puller::Small Puller::Fetch(const std::string& path, const std::vector<std::string>& headers,
                            const std::string& what, const std::string& not_found) {
  for (Endpoint& ep : endpoints_) {
    {
      std::lock_guard lock(mutex_);
      if (ep.down) continue;
    }
    if (!ep.mirror) return FetchFrom(ep, path, headers, what, not_found);
    try {
      return FetchFrom(ep, path, headers, what, not_found);
    } catch (const Error& e) {
      if (const auto* ee = dynamic_cast<const EndpointError*>(&e); ee && ee->endpoint_down()) {
        MarkDown(&ep);
      }
      Logger::Get().Info("mirror-failed",
                         {{"mirror", ep.Name()}, {"what", what}, {"error", e.what()}});
    }
  }
  throw Error("no registry to fetch " + what + " from");
}

Puller::Small Puller::FetchFrom(Endpoint& ep, const std::string& path,
                                const std::vector<std::string>& headers, const std::string& what,
                                const std::string& not_found) {
  reg::RetryBudget budget =
      ep.mirror ? reg::RetryBudget(reg::RetryBudget::Limits{1, std::chrono::milliseconds(250),
                                                            std::chrono::milliseconds(1000),
                                                            std::chrono::milliseconds(10000)})
                : reg::RetryBudget();
  const auto started = Clock::now();
  while (true) {
    std::string failure;
    std::optional<std::chrono::milliseconds> retry_after;
    try {
      std::unique_ptr<http::Stream> s = OpenOnce(ep, path, headers, 0);
      const long status = s->status();
      if (status == 200) {
        Small small;
        small.body = s->ReadAll(kMaxJson, what);
        small.content_type = s->Header("content-type").value_or("");
        small.docker_digest = s->Header("docker-content-digest");
        small.from = ep.Name();
        return small;
      }
      if (!IsRetryableStatus(status)) {
        throw EndpointError(StatusMessage(&ep, status, ep.Name(), not_found), false);
      }
      failure = "HTTP " + std::to_string(status) + " from " + ep.Name();
      retry_after = reg::ParseRetryAfter(s->Header("retry-after"));
    } catch (const http::TransferError& e) {
      if (!e.retryable()) throw EndpointError(TransferMessage(e, ep.authority, !ep.mirror), true);
      failure = TransferMessage(e, ep.Name(), false);
    }
    const auto delay = budget.OnFailure(Clock::now(), retry_after);
    if (!delay) {
      throw EndpointError(ep.Name() + " keeps failing: " + failure + " (gave up after " +
                              std::to_string(budget.failures()) + " attempts in " +
                              Seconds(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  Clock::now() - started)) +
                              ")",
                          false);
    }
    Logger::Get().Info("retrying", {{"from", ep.Name()},
                                    {"what", what},
                                    {"reason", failure},
                                    {"attempt", budget.failures()},
                                    {"delay_ms", delay->count()}});
    std::this_thread::sleep_for(*delay);
  }
}

Puller::Document Puller::GetManifest(const std::string& reference,
                                     const std::string& expected_digest) {
  Document doc;
  if (!expected_digest.empty()) {
    if (std::optional<std::string> cached = cache_.Get(expected_digest)) {
      doc.digest = expected_digest;
      doc.body = json::parse(*cached, nullptr, false);
      doc.kind = reg::ClassifyDocument("", doc.body);
      if (doc.body.is_object() && doc.kind != reg::DocumentKind::kUnknown) {
        Logger::Get().Debug("manifest-from-cache", {{"digest", expected_digest}});
        return doc;
      }
    }
  }
  const bool top = expected_digest.empty() || reference == ref_->digest;
  const std::string what = top ? "the manifest of " + image_ : "manifest " + expected_digest;
  Logger::Get().Info(
      "fetching-manifest",
      {{"registry", ref_->registry}, {"repository", ref_->repository}, {"reference", reference}});
  const Small small = Fetch("/v2/" + ref_->repository + "/manifests/" + reference,
                            {reg::ManifestAcceptHeader()}, what, top ? "image" : what);
  doc.digest = "sha256:" + Sha256Hex(small.body);
  if (!expected_digest.empty() && doc.digest != expected_digest) {
    throw Error(what + " from " + small.from + " does not match its digest (the registry sent " +
                doc.digest + ")");
  }
  doc.body = json::parse(small.body, nullptr, false);
  if (doc.body.is_discarded() || !doc.body.is_object()) {
    throw Error(what + " from " + small.from + " is not a JSON object");
  }
  doc.kind = reg::ClassifyDocument(small.content_type, doc.body);
  if (doc.kind == reg::DocumentKind::kSchema1) return doc;
  if (expected_digest.empty() && small.docker_digest && IsValidDigest(*small.docker_digest) &&
      *small.docker_digest != doc.digest) {
    throw Error(what + " from " + small.from +
                " does not match the digest the registry gives it (Docker-Content-Digest)");
  }
  if (doc.kind != reg::DocumentKind::kUnknown) cache_.Put(doc.digest, small.body);
  return doc;
}

ImageSpec Puller::LoadUnwrapped() {
  const std::string& reference = ref_->digest.empty() ? ref_->tag : ref_->digest;
  Document doc = GetManifest(reference, ref_->digest);
  std::string arch = options_.architecture.empty() ? HostArchitecture() : options_.architecture;
  for (int depth = 0;; ++depth) {
    if (doc.kind == reg::DocumentKind::kSchema1) {
      throw Error(
          "the registry serves a Docker schema 1 manifest, which is not supported (convert the "
          "image to Docker schema 2 or OCI, e.g. with skopeo copy)");
    }
    if (doc.kind == reg::DocumentKind::kManifest) break;
    if (doc.kind != reg::DocumentKind::kIndex) {
      throw Error("manifest " + doc.digest + " has an unsupported media type");
    }
    if (depth >= kMaxIndexDepth) throw Error("image indexes are nested too deeply");
    const reg::Descriptor chosen =
        reg::ChoosePlatform(doc.body, options_.os, arch, "the manifest list " + doc.digest);
    doc = GetManifest(chosen.digest, chosen.digest);
  }
  const reg::Descriptor config_desc = reg::ConfigDescriptor(doc.body, "manifest " + doc.digest);
  std::string config_text;
  if (std::optional<std::string> cached = cache_.Get(config_desc.digest)) {
    config_text = *cached;
  } else {
    PrefetchBottomLayer(doc.body);
    const std::string what = "image config " + config_desc.digest;
    Logger::Get().Info("fetching-config",
                       {{"registry", ref_->registry}, {"digest", config_desc.digest}});
    config_text =
        Fetch("/v2/" + ref_->repository + "/blobs/" + config_desc.digest, {}, what, what).body;
    if ("sha256:" + Sha256Hex(config_text) != config_desc.digest) {
      throw Error("image config " + config_desc.digest + " does not match its digest");
    }
    cache_.Put(config_desc.digest, config_text);
  }
  const json config = json::parse(config_text, nullptr, false);
  if (config.is_discarded()) throw Error("image config " + config_desc.digest + " is not JSON");
  return reg::SpecFromManifest(doc.body, doc.digest, config, config_desc.digest);
}

// A cold pull: the bottom layer's blob asked for from the location its reader will try first,
// while the config downloads (blob_prefetch.h). Not when the caller does not fetch layers or
// the store already holds a layer made from that blob (checked on the prefetch's thread: it
// reads the store's layer records). A manifest this cannot read is left to SpecFromManifest.
void Puller::PrefetchBottomLayer(const json& manifest) {
  if (!options_.store_has_layer_from) return;
  LayerSpec layer;
  try {
    const auto layers = manifest.find("layers");
    if (layers == manifest.end() || !layers->is_array() || layers->empty()) return;
    layer = reg::LayerFromDescriptor(reg::ParseDescriptor(layers->front(), "layer 0"));
  } catch (const std::exception&) {
    return;
  }
  const std::vector<Location> locations = LocationsFor(layer);
  if (locations.empty()) return;
  const Location first = locations.front();
  prefetch_ = std::make_unique<BlobPrefetch>(
      layer.digest, first.Key(), [this, first, digest = layer.digest]() {
        std::unique_ptr<http::Stream> none;
        if (options_.store_has_layer_from(digest)) {
          Logger::Get().Debug("layer-prefetch-skipped", {{"digest", digest}, {"reason", "cached"}});
          return none;
        }
        Logger::Get().Debug("layer-prefetch", {{"digest", digest}, {"from", first.Name()}});
        return OpenBlobAt(first, digest, 0);
      });
}

// A layer's blob from the network: locations tried in order (urls, mirrors, the registry),
// each with retries that resume from the byte reached.
class RemoteBlob : public BlobSource {
 public:
  RemoteBlob(std::shared_ptr<Puller> puller, const LayerSpec& layer)
      : puller_(std::move(puller)),
        digest_(layer.digest),
        expected_size_(layer.verify ? layer.size : -1),
        locations_(puller_->LocationsFor(layer)) {
    if (locations_.empty()) Fail("it lists no usable url and there is no registry to ask");
    ResetBudget();
  }

  std::size_t Read(unsigned char* buffer, std::size_t size) override {
    while (true) {
      if (done_) return 0;
      if (!stream_) {
        Open();
        continue;
      }
      std::size_t n = 0;
      try {
        n = stream_->Read(buffer, size);
      } catch (const http::TransferError& e) {
        stream_.reset();
        const std::string host = Host();
        if (e.retryable()) {
          Retry(TransferMessage(e, host, false), std::nullopt);
        } else {
          Next(TransferMessage(e, host, false), false);
        }
        continue;
      }
      if (n == 0) {
        stream_.reset();
        if (!length_known_ && expected_size_ >= 0 &&
            offset_ < static_cast<std::uint64_t>(expected_size_)) {
          Retry("the connection to " + Host() + " closed at byte " + std::to_string(offset_),
                std::nullopt);
          continue;
        }
        done_ = true;
        return 0;
      }
      if (skip_ > 0) {
        const std::size_t drop = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, n));
        skip_ -= drop;
        if (drop == n) continue;
        std::memmove(buffer, buffer + drop, n - drop);
        n -= drop;
      }
      offset_ += n;
      budget_.OnProgress();
      return n;
    }
  }

 private:
  std::string Host() const {
    const Location& loc = locations_[current_];
    return loc.url ? loc.url->Authority() : loc.endpoint->Name();
  }

  [[noreturn]] void Fail(const std::string& why) const {
    throw Error("cannot pull " + puller_->image() + ": layer " + digest_ + ": " + why);
  }

  void ResetBudget() {
    const Location& loc = locations_[current_];
    if (loc.endpoint != nullptr && !loc.endpoint->mirror) {
      budget_ = reg::RetryBudget();
    } else {
      budget_ = reg::RetryBudget(reg::RetryBudget::Limits{2, std::chrono::milliseconds(250),
                                                          std::chrono::milliseconds(2000),
                                                          std::chrono::milliseconds(20000)});
    }
    attempts_started_ = Clock::now();
  }

  // This location is no good: the next one, from the byte reached, or the end.
  void Next(const std::string& why, bool endpoint_down) {
    const Location& loc = locations_[current_];
    if (endpoint_down) puller_->MarkDown(loc.endpoint);
    if (current_ + 1 >= locations_.size()) {
      Fail(earlier_.empty() ? why : why + " (also failed: " + earlier_ + ")");
    }
    Logger::Get().Info("layer-source-failed", {{"digest", digest_},
                                               {"from", loc.Name()},
                                               {"error", why},
                                               {"next", locations_[current_ + 1].Name()},
                                               {"offset", offset_}});
    if (!earlier_.empty()) earlier_ += "; ";
    earlier_ += loc.Name() + ": " + Printable(why, 150);
    ++current_;
    ResetBudget();
  }

  void Retry(const std::string& why, std::optional<std::chrono::milliseconds> retry_after) {
    const auto delay = budget_.OnFailure(Clock::now(), retry_after);
    if (!delay) {
      Next(Host() + " keeps failing: " + why + " (gave up after " +
               std::to_string(budget_.failures()) + " attempts in " +
               Seconds(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                             attempts_started_)) +
               ")",
           false);
      return;
    }
    Logger::Get().Info("retrying", {{"digest", digest_},
                                    {"from", locations_[current_].Name()},
                                    {"reason", why},
                                    {"attempt", budget_.failures()},
                                    {"delay_ms", delay->count()},
                                    {"offset", offset_}});
    std::this_thread::sleep_for(*delay);
  }

  void Open() {
    const Location& loc = locations_[current_];
    std::unique_ptr<http::Stream> s;
    try {
      if (current_ == 0 && offset_ == 0) s = puller_->TakePrefetched(digest_, loc);
      if (!s) s = puller_->OpenBlobAt(loc, digest_, offset_);
    } catch (const http::TransferError& e) {
      if (e.retryable()) {
        Retry(TransferMessage(e, Host(), false), std::nullopt);
      } else {
        const bool down = e.kind() == http::TransferError::Kind::kConnect ||
                          e.kind() == http::TransferError::Kind::kResolve;
        Next(TransferMessage(e, Host(), loc.endpoint != nullptr && !loc.endpoint->mirror), down);
      }
      return;
    } catch (const Error& e) {
      Next(e.what(), false);
      return;
    }
    const long status = s->status();
    if (status == 200 || status == 206) {
      const reg::ResumeDecision d = reg::CheckRangeResponse(
          offset_, status, s->Header("content-range"), s->ContentLength(), expected_size_);
      if (!d.ok) {
        if (d.size_mismatch) {
          Next("layer " + digest_ + " does not match its size (" + d.error + ")", false);
        } else {
          Retry(Host() + " sent " + d.error, std::nullopt);
        }
        return;
      }
      skip_ = d.skip;
      const std::string encoding = s->Header("transfer-encoding").value_or("");
      length_known_ =
          s->ContentLength().has_value() || encoding.find("chunked") != std::string::npos;
      Logger::Get().Info("fetching-layer", {{"digest", digest_},
                                            {"from", loc.Name()},
                                            {"size", expected_size_},
                                            {"offset", offset_}});
      stream_ = std::move(s);
      return;
    }
    const std::string host = Host();
    if (IsRetryableStatus(status)) {
      const auto retry_after = reg::ParseRetryAfter(s->Header("retry-after"));
      s.reset();
      Retry("HTTP " + std::to_string(status) + " from " + host, retry_after);
      return;
    }
    s.reset();
    Next(puller_->StatusMessage(loc.endpoint, status, host, "blob " + digest_), false);
  }

  std::shared_ptr<Puller> puller_;
  std::string digest_;
  std::int64_t expected_size_;
  std::vector<Location> locations_;
  std::size_t current_ = 0;
  std::unique_ptr<http::Stream> stream_;
  std::uint64_t offset_ = 0;
  std::uint64_t skip_ = 0;
  bool length_known_ = false;
  bool done_ = false;
  reg::RetryBudget budget_;
  Clock::time_point attempts_started_;
  std::string earlier_;
};

class PullerOpener : public BlobOpener {
 public:
  explicit PullerOpener(std::shared_ptr<Puller> puller) : puller_(std::move(puller)) {}
  std::unique_ptr<BlobSource> Open(const LayerSpec& layer) const override {
    return std::make_unique<RemoteBlob>(puller_, layer);
  }

 private:
  std::shared_ptr<Puller> puller_;
};

}  // namespace

ImageSpec LoadRegistryImage(const ImageRef& ref, const RegistryOptions& options) {
  std::shared_ptr<Puller> puller;
  try {
    puller = std::make_shared<Puller>(ref.original, options, ref);
  } catch (const Error& e) {
    throw Error("cannot pull " + ref.original + ": " + e.what());
  }
  ImageSpec spec = puller->Load();
  const auto opener = std::make_shared<PullerOpener>(puller);
  for (LayerSpec& layer : spec.layers) layer.remote = opener;
  return spec;
}

void AttachUrlOpeners(ImageSpec& spec, const std::string& image_name,
                      const RegistryOptions& options) {
  std::shared_ptr<PullerOpener> opener;
  for (LayerSpec& layer : spec.layers) {
    if (!layer.blob_path.empty() || layer.urls.empty() || layer.remote) continue;
    if (!opener) {
      opener = std::make_shared<PullerOpener>(
          std::make_shared<Puller>(image_name, options, std::nullopt));
    }
    layer.remote = opener;
  }
}

}  // namespace grootfs::frontend::image
