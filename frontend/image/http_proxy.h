// Where a request goes when the environment names a proxy: curl's proxy-URL and NOPROXY rules,
// kept here apart from the transport so they can be tested as plain logic.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "frontend/image/http.h"

namespace grootfs::frontend::image::http {

// An HTTP proxy to send a request through.
struct ProxyRoute {
  std::string host;           // without brackets for an IPv6 address
  std::string port;           // 1080 when the proxy URL gives none, as curl
  std::string authorization;  // "Basic ..." for user:password in the proxy URL, "" for none
  std::string spec;           // the proxy as configured, for the connection pool's key
};

// True when `host` (of the request URL; brackets allowed) is listed in a NOPROXY value: "*" for
// every host; otherwise comma- or space-separated entries, each a domain that matches itself and
// its subdomains (a leading dot allowed), an IP address, or an IP range in CIDR notation.
bool NoProxyMatches(std::string_view no_proxy, std::string_view host);

// The proxy for `url` under `config`; nullopt for a direct connection. Throws TransferError
// (kOther) for a proxy URL that is not an http:// proxy (socks, https proxies) or is malformed.
std::optional<ProxyRoute> RouteFor(const Url& url, const ProxyConfig& config);

}  // namespace grootfs::frontend::image::http
