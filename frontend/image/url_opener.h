// Requests to URLs a registry or an image names rather than to a registry endpoint: redirect
// targets, token realms and layers' urls. One rule for all of them (registry.h): plain HTTP or
// an unverified certificate only for hosts in insecure_registries. Redirects keep credentials
// with their origin; layers' urls are tried with the client certificates of
// remote_layer_client_certificates_path (client_certs.h).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "frontend/image/client_certs.h"
#include "frontend/image/http.h"

namespace grootfs::frontend::image {

class UrlOpener {
 public:
  UrlOpener(std::vector<std::string> insecure_registries, std::string certs_dir)
      : insecure_registries_(std::move(insecure_registries)), certs_dir_(std::move(certs_dir)) {}
  UrlOpener(const UrlOpener&) = delete;
  UrlOpener& operator=(const UrlOpener&) = delete;

  // Plain HTTP only to listed hosts (a mirror URL written with http:// is its own consent).
  // Throws Error naming `via`, how the URL came up.
  void CheckAllowed(const http::Url& url, const std::string& via) const;

  // Verified TLS unless the URL's host is listed.
  http::TlsConfig TlsFor(const http::Url& url) const;

  // Follows the redirects `s`, the answer to a request for `origin`, leads to (at most 10),
  // asking each target with `headers` from byte `range`. `auth` and `origin_tls` go only to
  // targets of the same origin; another origin gets its own TLS rule and, still, the extra CAs.
  // The stream returned is the first answer that is not a redirect (or one without Location).
  // Throws TransferError or Error.
  std::unique_ptr<http::Stream> FollowRedirects(std::unique_ptr<http::Stream> s,
                                                const http::Url& origin,
                                                const std::vector<std::string>& headers,
                                                const std::string& auth, std::uint64_t range,
                                                const http::TlsConfig& origin_tls) const;

  // A layer's url from byte `offset`, redirects followed; over TLS, with each client
  // certificate in turn while the handshake fails. Throws TransferError or Error (also for a
  // client certificates directory that cannot be read: at every call, read once).
  std::unique_ptr<http::Stream> OpenLayerUrl(const http::Url& url, std::uint64_t offset);

 private:
  const ClientCerts& Certs();

  const std::vector<std::string> insecure_registries_;
  const std::string certs_dir_;
  std::once_flag certs_once_;
  ClientCerts certs_;
  std::string certs_error_;
};

}  // namespace grootfs::frontend::image
