// The transport under http::Stream: a TCP connection (direct, to an HTTP proxy, or a CONNECT
// tunnel through one) made with Boost.Asio, with TLS for https done by the TLS plugin
// (grootfs-tls.so, tls_plugin.h: OpenSSL linked into a module loaded at the first https
// connection, so that no other command pays for it). Every operation has a time limit, and a
// thread's operations can be cut short from another thread (http_cancel.h).
// Idle connections are kept in a process-wide pool, keyed by where they go and how, so that the
// requests of one command (manifest, config, layers on several threads) share connections.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "frontend/image/http.h"
#include "frontend/image/http_proxy.h"

namespace grootfs::frontend::image::http {

// Where a connection goes and how.
struct Endpoint {
  Url url;  // scheme, host and port matter
  TlsConfig tls;
  std::optional<ProxyRoute> proxy;
  // The pool's key: scheme, host, port, proxy and the TLS settings.
  std::string Key() const;
};

class Connection {
 public:
  // Connects within `timeout` and, for https, completes the TLS handshake (SNI, the peer's
  // certificate and name checked unless tls.verify is off). Throws TransferError.
  static std::unique_ptr<Connection> Open(const Endpoint& endpoint, std::chrono::seconds timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Throws TransferError (kStalled when nothing could be sent for `stall`).
  void WriteAll(std::string_view data, std::chrono::seconds stall);
  // Up to size bytes into buffer, at least one; 0 when the peer closed the connection. Throws
  // TransferError (kStalled after `stall` without a byte).
  std::size_t ReadSome(void* buffer, std::size_t size, std::chrono::seconds stall);

  const std::string& key() const;
  // host[:port] of the URL, for messages.
  const std::string& where() const;
  // False when the peer closed the connection (or sent something unasked) while it was idle.
  bool LooksIdle() const;

  // A connection that was idle in the pool, or nullptr.
  static std::unique_ptr<Connection> TakeIdle(const std::string& key);
  // Keeps a connection whose last response was read to its end for the next request.
  static void PutIdle(std::unique_ptr<Connection> connection);

 private:
  Connection();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grootfs::frontend::image::http
