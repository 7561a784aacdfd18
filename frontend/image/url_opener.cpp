#include "frontend/image/url_opener.h"

#include "frontend/image/registry_util.h"
#include "frontend/log.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

namespace reg = registry;

constexpr int kMaxRedirects = 10;

}  // namespace

void UrlOpener::CheckAllowed(const http::Url& url, const std::string& via) const {
  if (url.scheme == "http" && !reg::IsInsecure(insecure_registries_, url.Authority())) {
    throw Error("refusing plain HTTP to " + url.Authority() + via + "; list it with " +
                "--insecure-registry " + url.Authority() + " to allow it");
  }
}

http::TlsConfig UrlOpener::TlsFor(const http::Url& url) const {
  http::TlsConfig tls;
  tls.verify = !reg::IsInsecure(insecure_registries_, url.Authority());
  return tls;
}

std::unique_ptr<http::Stream> UrlOpener::FollowRedirects(std::unique_ptr<http::Stream> s,
                                                         const http::Url& origin,
                                                         const std::vector<std::string>& headers,
                                                         const std::string& auth,
                                                         std::uint64_t range,
                                                         const http::TlsConfig& origin_tls) const {
  http::Url current = origin;
  for (int hop = 0; reg::IsRedirect(s->status()); ++hop) {
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

std::unique_ptr<http::Stream> UrlOpener::OpenLayerUrl(const http::Url& url, std::uint64_t offset) {
  CheckAllowed(url, " (a layer url)");
  const ClientCerts& certs = Certs();
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
    if (reg::IsRedirect(s->status())) {
      return FollowRedirects(std::move(s), url, {}, "", offset, req.tls);
    }
    return s;
  }
}

const ClientCerts& UrlOpener::Certs() {
  std::call_once(certs_once_, [&] {
    try {
      certs_ = LoadClientCerts(certs_dir_);
    } catch (const Error& e) {
      certs_error_ = e.what();
    }
  });
  if (!certs_error_.empty()) throw Error(certs_error_);
  return certs_;
}

}  // namespace grootfs::frontend::image
