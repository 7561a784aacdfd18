// HTTP/1.1 and HTTPS for the registry client: one request at a time, its body pulled by the
// caller (never buffered whole), redirects left to the caller, proxies from the environment.
// Connections are kept alive and reused (http_connection.h); the transport is Boost.Asio, TLS
// the grootfs-tls.so plugin (OpenSSL linked in, loaded at the first https connection), and the
// parser Boost.Beast's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frontend/util/error.h"

namespace grootfs::frontend::image::http {

// An absolute http:// or https:// URL without user info.
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // lowercase; an IPv6 address keeps its brackets
  std::string port;    // "" when the URL has none
  std::string path;    // from the first '/', query included ("/" at least)

  // host[:port], as written.
  std::string Authority() const { return port.empty() ? host : host + ":" + port; }
  // The port in effect: the given one, else 80 or 443.
  std::string EffectivePort() const {
    return !port.empty() ? port : scheme == "https" ? "443" : "80";
  }
  std::string ToString() const { return scheme + "://" + Authority() + path; }
  // For logs and messages: without the query (presigned storage URLs carry credentials there).
  std::string ForLog() const;
};

// A host without the brackets of an IPv6 literal ("[::1]" -> "::1"); others as they are.
std::string_view Unbracketed(std::string_view host);

// Parses an absolute http(s) URL; nullopt for anything else (other schemes, user info, spaces).
std::optional<Url> ParseUrl(std::string_view text);
// Resolves a Location header against the URL it answered; nullopt when not http(s).
std::optional<Url> ResolveLocation(const Url& base, std::string_view location);
// Same scheme, host and effective port.
bool SameOrigin(const Url& a, const Url& b);

struct TlsConfig {
  bool verify = true;        // check the peer's certificate and name
  std::string extra_ca_pem;  // CA certificates trusted in addition to the system's
  std::string client_cert;   // PEM file of a client certificate, "" for none
  std::string client_key;    // its key
};

struct ProxyConfig {
  std::string proxy;     // "" for a direct connection
  std::string no_proxy;  // hosts that bypass the proxy (curl's NOPROXY syntax, http_proxy.h)
};

// The proxy for a URL scheme from the environment, as curl and Go read it: http_proxy or
// HTTP_PROXY for http (curl itself ignores the upper-case one), https_proxy or HTTPS_PROXY for
// https, then all_proxy or ALL_PROXY; no_proxy or NO_PROXY. Lower case wins.
ProxyConfig ProxyFromEnvironment(std::string_view scheme,
                                 const std::function<const char*(const char*)>& getenv_fn);

struct Request {
  Url url;
  std::vector<std::string> headers;  // "Name: value"
  std::uint64_t range_start = 0;     // > 0: "Range: bytes=N-"
  TlsConfig tls;
  // This many seconds without a byte ends the transfer (kStalled).
  long stall_seconds = 30;
};

// A transfer that failed below HTTP: no connection, TLS, a reset, a stall, a short body.
class TransferError : public Error {
 public:
  enum class Kind { kConnect, kResolve, kTls, kTlsVerify, kDropped, kStalled, kOther };
  // what() is "HOST: detail".
  TransferError(const std::string& host, const std::string& detail, Kind kind)
      : Error(host + ": " + detail), detail_(detail), kind_(kind) {}
  Kind kind() const { return kind_; }
  const std::string& detail() const { return detail_; }
  // Worth another attempt: the connection dropped, stalled or was cut short.
  bool retryable() const { return kind_ == Kind::kDropped || kind_ == Kind::kStalled; }

 private:
  std::string detail_;
  Kind kind_;
};

// One HTTP request. The constructor sends it and waits for the final response's headers
// (throwing TransferError when there is none); Read then pulls the body. At most 64 KiB is
// held at a time: the body is read from the connection when the caller reads, into the caller's
// buffer when its length is known. A body read to its end returns the connection to the pool.
class Stream {
 public:
  explicit Stream(const Request& request);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  long status() const;
  // The first value of a header (name compared case-insensitively).
  std::optional<std::string> Header(std::string_view name) const;
  std::vector<std::string> Headers(std::string_view name) const;
  // Content-Length of this response, when given.
  std::optional<std::uint64_t> ContentLength() const;

  // Up to size bytes of the body; 0 at its end. Throws TransferError when the transfer fails
  // (bytes that arrived before the failure are returned first).
  std::size_t Read(void* buffer, std::size_t size);
  // The whole body, refused (Error naming `what`) when longer than limit bytes.
  std::string ReadAll(std::size_t limit, const std::string& what);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "Authorization: Basic ..." value for user:password.
std::string Base64(std::string_view data);

}  // namespace grootfs::frontend::image::http
