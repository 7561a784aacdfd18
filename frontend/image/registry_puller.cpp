#include "frontend/image/registry_puller.h"

#include <chrono>
#include <thread>
#include <utility>

#include "frontend/image/registry_cache.h"
#include "frontend/image/registry_util.h"
#include "frontend/log.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

namespace reg = registry;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxJson = 4 * 1024 * 1024;

// Thrown by a request to one endpoint; the next endpoint (or location) may still succeed.
class EndpointError : public Error {
 public:
  EndpointError(const std::string& message, bool endpoint_down)
      : Error(message), endpoint_down_(endpoint_down) {}
  bool endpoint_down() const { return endpoint_down_; }

 private:
  bool endpoint_down_;
};

http::Request RequestFor(const Endpoint& ep, const http::Url& url,
                         const std::vector<std::string>& headers, const std::string& auth,
                         std::uint64_t range) {
  http::Request req;
  req.url = url;
  req.headers = headers;
  if (!auth.empty()) req.headers.push_back(auth);
  req.range_start = range;
  req.tls.verify = !ep.insecure;
  return req;
}

}  // namespace

Puller::Puller(std::string image_name, RegistryOptions options, std::optional<ImageRef> ref)
    : image_(std::move(image_name)),
      options_(std::move(options)),
      ref_(std::move(ref)),
      endpoints_(options_, ref_,
                 CacheDir(options_.cache_dir, options_.cache_uid, options_.cache_gid)),
      urls_(options_.insecure_registries, options_.certs_dir),
      auth_(options_, ref_ ? ref_->repository : std::string(), urls_, endpoints_) {}

std::unique_ptr<http::Stream> Puller::OpenBlobAt(const Location& loc, const std::string& digest,
                                                 std::uint64_t offset) {
  if (loc.url) return urls_.OpenLayerUrl(*loc.url, offset);
  return OpenOnce(*loc.endpoint, "/v2/" + ref_->repository + "/blobs/" + digest, {}, offset);
}

void Puller::PrefetchBlob(const LayerSpec& layer) {
  if (!options_.store_has_layer_from) return;
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

std::unique_ptr<http::Stream> Puller::TakePrefetched(const std::string& digest,
                                                     const Location& loc) {
  if (!prefetch_) return nullptr;
  std::unique_ptr<http::Stream> s = prefetch_->Take(digest, loc.Key());
  if (s) Logger::Get().Debug("layer-prefetch-taken", {{"digest", digest}, {"from", loc.Name()}});
  return s;
}

std::string Puller::StatusMessage(const Endpoint* ep, long status, const std::string& host,
                                  const std::string& not_found) const {
  const std::string from = " (HTTP " + std::to_string(status) + " from " + host + ")";
  if (status == 404) return not_found + " not found" + from;
  if (status == 403) return "access denied" + from;
  if (status == 401) {
    if (ep != nullptr && ep->credentials && !options_.username.empty()) {
      return "authentication failed" + from + ": check " + CredentialsSource(options_);
    }
    if (ep != nullptr && ep->credentials) {
      return "authentication required" + from +
             "; if the image exists, give --username and --password";
    }
    return "authentication required" + from;
  }
  return "unexpected answer" + from;
}

std::unique_ptr<http::Stream> Puller::OpenOnce(Endpoint& ep, const std::string& path,
                                               const std::vector<std::string>& headers,
                                               std::uint64_t range) {
  bool authenticated = false;
  while (true) {
    const Endpoints::Attempt attempt = endpoints_.NextAttempt(ep);
    const std::string& scheme = attempt.scheme;
    const bool scheme_known = attempt.scheme_known;
    const std::string& auth = attempt.authorization;
    const std::optional<http::Url> url =
        http::ParseUrl(scheme + "://" + ep.authority + ep.prefix + path);
    if (!url) throw Error("cannot make a URL for " + ep.Name() + " and " + Printable(path));
    const http::Request req = RequestFor(ep, *url, headers, auth, range);
    std::unique_ptr<http::Stream> s;
    try {
      s = std::make_unique<http::Stream>(req);
    } catch (const http::TransferError& e) {
      if (!scheme_known && e.kind() != http::TransferError::Kind::kResolve &&
          endpoints_.SwitchScheme(ep, scheme, e.detail())) {
        continue;
      }
      // The last try failed too: its error, and the first one's (either may be the cause).
      if (!scheme_known && !attempt.first_failure.empty())
        throw http::TransferError(ep.authority, e.detail() + "; " + attempt.first_failure,
                                  e.kind());
      throw;
    }
    // A TLS server answers a plain request with 400 ("Client sent an HTTP request to an HTTPS
    // server"); a registry's own 400 says it is one.
    if (!scheme_known && scheme == "http" && s->status() == 400 &&
        !s->Header("docker-distribution-api-version") &&
        endpoints_.SwitchScheme(ep, scheme, "HTTP 400")) {
      continue;
    }
    if (!scheme_known) endpoints_.SchemeAnswered(ep, scheme);
    Logger::Get().Debug("http-response", {{"url", url->ForLog()}, {"status", s->status()}});
    if (s->status() == 401 && !authenticated) {
      if (std::optional<std::string> fresh =
              auth_.Authenticate(ep, s->Headers("www-authenticate"))) {
        s.reset();
        endpoints_.SetAuthorization(ep, *fresh);
        authenticated = true;
        continue;
      }
      return s;
    }
    if (reg::IsRedirect(s->status())) {
      return urls_.FollowRedirects(std::move(s), *url, headers, auth, range, req.tls);
    }
    return s;
  }
}

Puller::Small Puller::Fetch(const std::string& path, const std::vector<std::string>& headers,
                            const std::string& what, const std::string& not_found) {
  for (Endpoint& ep : endpoints_) {
    if (endpoints_.IsDown(ep)) continue;
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
      if (!reg::IsRetryableStatus(status)) {
        throw EndpointError(StatusMessage(&ep, status, ep.Name(), not_found), false);
      }
      failure = "HTTP " + std::to_string(status) + " from " + ep.Name();
      retry_after = reg::ParseRetryAfter(s->Header("retry-after"));
    } catch (const http::TransferError& e) {
      if (!e.retryable()) {
        throw EndpointError(reg::TransferMessage(e, ep.authority, !ep.mirror && !ep.insecure),
                            true);
      }
      failure = reg::TransferMessage(e, ep.Name(), false);
    }
    const auto delay = budget.OnFailure(Clock::now(), retry_after);
    if (!delay) {
      throw EndpointError(ep.Name() + " keeps failing: " + failure + " (gave up after " +
                              std::to_string(budget.failures()) + " attempts in " +
                              reg::Seconds(std::chrono::duration_cast<std::chrono::milliseconds>(
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

}  // namespace grootfs::frontend::image
