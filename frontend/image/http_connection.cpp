#include "frontend/image/http_connection.h"

#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <climits>
#include <map>
#include <mutex>

#include "frontend/image/http_cancel.h"
#include "frontend/image/tls_plugin.h"

namespace grootfs::frontend::image::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Kind = TransferError::Kind;

constexpr std::size_t kMaxIdlePerKey = 8;

Kind KindOf(int status) {
  switch (status) {
    case GROOTFS_TLS_TLS:
      return Kind::kTls;
    case GROOTFS_TLS_TLS_VERIFY:
      return Kind::kTlsVerify;
    case GROOTFS_TLS_STALLED:
      return Kind::kStalled;
    case GROOTFS_TLS_DROPPED:
      return Kind::kDropped;
    default:
      return Kind::kOther;
  }
}

int Milliseconds(std::chrono::seconds limit) {
  return static_cast<int>(std::min<long long>(limit.count() * 1000LL, INT_MAX));
}

// One plugin context for each TLS configuration, shared by its connections (a context is safe
// to use from several threads): the CA bundle is read once a process. Never freed.
grootfs_tls_context* ContextFor(const grootfs_tls_api& api, const TlsConfig& tls) {
  static std::mutex mutex;
  static auto* contexts = new std::map<std::string, grootfs_tls_context*>;
  const std::string key = std::string(tls.verify ? "1" : "0") + '\0' + tls.extra_ca_pem + '\0' +
                          tls.client_cert + '\0' + tls.client_key;
  std::lock_guard lock(mutex);
  auto it = contexts->find(key);
  if (it != contexts->end()) return it->second;
  const grootfs_tls_config config{tls.verify ? 1 : 0, tls.extra_ca_pem.data(),
                                  tls.extra_ca_pem.size(), tls.client_cert.c_str(),
                                  tls.client_key.c_str()};
  grootfs_tls_error err{};
  grootfs_tls_context* context = api.context_new(&config, &err);
  if (context == nullptr) throw TransferError("TLS", err.text, KindOf(err.status));
  contexts->emplace(key, context);
  return context;
}

struct Pool {
  std::mutex mutex;
  std::multimap<std::string, std::unique_ptr<Connection>> idle;
};

Pool& ThePool() {
  static auto* pool = new Pool;  // never destroyed: threads may still return connections at exit
  return *pool;
}

}  // namespace

std::string Endpoint::Key() const {
  std::string key = url.scheme + "://" + url.host + ":" + url.EffectivePort();
  if (proxy) key += " via " + proxy->spec;
  if (url.scheme == "https") {
    key += std::string(" tls ") + (tls.verify ? "verify" : "noverify") + " " +
           std::to_string(std::hash<std::string>{}(tls.extra_ca_pem)) + " " + tls.client_cert +
           " " + tls.client_key;
  }
  return key;
}

struct Connection::Impl {
  asio::io_context io{1};
  std::optional<tcp::socket> plain;  // the TCP connection, TLS's too
  const grootfs_tls_api* tls_api = nullptr;
  grootfs_tls_session* tls = nullptr;  // https: the plugin's session over plain's socket
  std::string key;
  std::string where;

  ~Impl() {
    if (tls != nullptr) tls_api->session_close(tls);
  }

  tcp::socket& Socket() { return *plain; }

  // Runs the started operation until its handler set `done` or `limit` passed; false when the
  // limit passed (the operation is cancelled and its handler has run).
  bool Run(const bool& done, std::chrono::seconds limit) {
    io.restart();
    io.run_for(limit);
    if (done) return true;
    error_code ignored;
    Socket().cancel(ignored);
    io.restart();
    io.run();
    return false;
  }

  [[noreturn]] void Fail(const error_code& ec) const {
    throw TransferError(where, ec.message(), Kind::kDropped);
  }

  // A failed plugin call: its text, or ours for a time limit.
  [[noreturn]] void FailTls(const grootfs_tls_error& err, const std::string& stalled) const {
    if (err.status == GROOTFS_TLS_STALLED) throw TransferError(where, stalled, Kind::kStalled);
    throw TransferError(where, err.text, KindOf(err.status));
  }

  void ConnectTcp(const Endpoint& endpoint, std::chrono::seconds timeout);
  void Tunnel(const Endpoint& endpoint, std::chrono::seconds timeout);
  void Handshake(const Endpoint& endpoint, std::chrono::seconds timeout);
};

void Connection::Impl::ConnectTcp(const Endpoint& endpoint, std::chrono::seconds timeout) {
  const std::string host =
      endpoint.proxy ? endpoint.proxy->host : std::string(Unbracketed(endpoint.url.host));
  const std::string port = endpoint.proxy ? endpoint.proxy->port : endpoint.url.EffectivePort();
  const std::string what = endpoint.proxy ? "proxy " + host : host;
  tcp::resolver resolver(io);
  error_code ec;
  const auto addresses = resolver.resolve(host, port, tcp::resolver::numeric_service, ec);
  if (ec)
    throw TransferError(where, "could not resolve " + what + ": " + ec.message(), Kind::kResolve);
  ec = asio::error::host_not_found;
  for (const auto& entry : addresses) {
    plain.emplace(io);
    plain->open(entry.endpoint().protocol(), ec);
    if (ec) continue;
    fcntl(plain->native_handle(), F_SETFD, FD_CLOEXEC);  // not into the helper
    const CancellableWait wait(plain->native_handle(), where);
    bool done = false;
    plain->async_connect(entry.endpoint(), [&](const error_code& e) {
      ec = e;
      done = true;
    });
    if (!Run(done, timeout)) {
      throw TransferError(
          where,
          "connection to " + what + " timed out after " + std::to_string(timeout.count()) + " s",
          Kind::kStalled);
    }
    if (!ec) break;
  }
  if (ec) throw TransferError(where, "connecting to " + what + ": " + ec.message(), Kind::kConnect);
  plain->set_option(tcp::no_delay(true), ec);
  plain->set_option(asio::socket_base::keep_alive(true), ec);
}

// CONNECT host:port through an HTTP proxy; the TLS handshake then runs inside the tunnel.
void Connection::Impl::Tunnel(const Endpoint& endpoint, std::chrono::seconds timeout) {
  const std::string target = endpoint.url.host + ":" + endpoint.url.EffectivePort();
  std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
  if (!endpoint.proxy->authorization.empty()) {
    request += "Proxy-Authorization: " + endpoint.proxy->authorization + "\r\n";
  }
  request += "User-Agent: grootfs\r\n\r\n";
  bool done = false;
  error_code ec;
  asio::async_write(*plain, asio::buffer(request), [&](const error_code& e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!Run(done, timeout)) throw TransferError(where, "the proxy did not answer", Kind::kStalled);
  if (ec) Fail(ec);
  // The proxy's answer, byte by byte: what follows its blank line belongs to the tunnel.
  std::string answer;
  while (answer.size() < 16384 && answer.find("\r\n\r\n") == std::string::npos) {
    char c = 0;
    done = false;
    std::size_t got = 0;
    plain->async_read_some(asio::buffer(&c, 1), [&](const error_code& e, std::size_t n) {
      ec = e;
      got = n;
      done = true;
    });
    if (!Run(done, timeout)) throw TransferError(where, "the proxy did not answer", Kind::kStalled);
    if (ec && ec != asio::error::eof) Fail(ec);
    if (got == 0) throw TransferError(where, "the proxy closed the tunnel", Kind::kConnect);
    answer += c;
  }
  const std::size_t space = answer.find(' ');
  const std::string status = space == std::string::npos ? "" : answer.substr(space + 1, 3);
  if (answer.compare(0, 5, "HTTP/") != 0 || status.empty() || status[0] != '2') {
    throw TransferError(
        where, "the proxy refused the tunnel (" + answer.substr(0, answer.find('\r')) + ")",
        Kind::kConnect);
  }
}

// The plugin's TLS session over the connected socket (SNI, the peer's certificate and name).
void Connection::Impl::Handshake(const Endpoint& endpoint, std::chrono::seconds timeout) {
  grootfs_tls_context* context = nullptr;
  try {
    context = ContextFor(*tls_api, endpoint.tls);
  } catch (const TransferError& e) {
    throw TransferError(where, e.detail(), e.kind());  // named after the host, not "TLS"
  }
  const std::string host(Unbracketed(endpoint.url.host));
  grootfs_tls_error err{};
  tls = tls_api->session_new(context, plain->native_handle(), host.c_str(), Milliseconds(timeout),
                             &err);
  if (tls == nullptr) {
    FailTls(err, "the TLS handshake timed out after " + std::to_string(timeout.count()) + " s");
  }
}

Connection::Connection() : impl_(std::make_unique<Impl>()) {}
Connection::~Connection() = default;

std::unique_ptr<Connection> Connection::Open(const Endpoint& endpoint,
                                             std::chrono::seconds timeout) {
  std::unique_ptr<Connection> c(new Connection);
  Impl& s = *c->impl_;
  s.key = endpoint.Key();
  s.where = endpoint.url.Authority();
  const bool https = endpoint.url.scheme == "https";
  if (https) s.tls_api = &TlsPlugin(s.where);  // loaded at the first https connection
  s.ConnectTcp(endpoint, timeout);
  if (https) {
    const CancellableWait wait(s.Socket().native_handle(), s.where);
    if (endpoint.proxy) s.Tunnel(endpoint, timeout);
    s.Handshake(endpoint, timeout);
  }
  return c;
}

void Connection::WriteAll(std::string_view data, std::chrono::seconds stall) {
  Impl& s = *impl_;
  const CancellableWait wait(s.Socket().native_handle(), s.where);
  const std::string stalled = "could not send for " + std::to_string(stall.count()) + " s";
  if (s.tls != nullptr) {
    grootfs_tls_error err{};
    if (s.tls_api->write_all(s.tls, data.data(), data.size(), Milliseconds(stall), &err) !=
        GROOTFS_TLS_OK) {
      s.FailTls(err, stalled);
    }
    return;
  }
  bool done = false;
  error_code ec;
  asio::async_write(*s.plain, asio::buffer(data.data(), data.size()),
                    [&](const error_code& e, std::size_t) {
                      ec = e;
                      done = true;
                    });
  if (!s.Run(done, stall)) throw TransferError(s.where, stalled, Kind::kStalled);
  if (ec) s.Fail(ec);
}

std::size_t Connection::ReadSome(void* buffer, std::size_t size, std::chrono::seconds stall) {
  Impl& s = *impl_;
  const CancellableWait wait(s.Socket().native_handle(), s.where);
  const std::string stalled = "no data for " + std::to_string(stall.count()) + " s";
  if (s.tls != nullptr) {
    // 0 at the end of the stream, with or without TLS's close_notify: whether the response was
    // complete is the caller's to judge.
    grootfs_tls_error err{};
    std::size_t got = 0;
    if (s.tls_api->read_some(s.tls, buffer, size, &got, Milliseconds(stall), &err) !=
        GROOTFS_TLS_OK) {
      s.FailTls(err, stalled);
    }
    return got;
  }
  bool done = false;
  error_code ec;
  std::size_t got = 0;
  s.plain->async_read_some(asio::buffer(buffer, size), [&](const error_code& e, std::size_t n) {
    ec = e;
    got = n;
    done = true;
  });
  if (!s.Run(done, stall)) throw TransferError(s.where, stalled, Kind::kStalled);
  if (got > 0) return got;
  if (!ec || ec == asio::error::eof) return 0;
  s.Fail(ec);
}

const std::string& Connection::key() const { return impl_->key; }
const std::string& Connection::where() const { return impl_->where; }

bool Connection::LooksIdle() const {
  Impl& s = *impl_;
  if (s.tls != nullptr && s.tls_api->pending(s.tls) != 0) return false;
  pollfd p{s.Socket().native_handle(), POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

std::unique_ptr<Connection> Connection::TakeIdle(const std::string& key) {
  Pool& pool = ThePool();
  while (true) {
    std::unique_ptr<Connection> c;
    {
      std::lock_guard lock(pool.mutex);
      auto it = pool.idle.find(key);
      if (it == pool.idle.end()) return nullptr;
      c = std::move(it->second);
      pool.idle.erase(it);
    }
    if (c->LooksIdle()) return c;
  }
}

void Connection::PutIdle(std::unique_ptr<Connection> connection) {
  Pool& pool = ThePool();
  std::lock_guard lock(pool.mutex);
  if (pool.idle.count(connection->key()) >= kMaxIdlePerKey) return;
  const std::string key = connection->key();
  pool.idle.emplace(key, std::move(connection));
}

}  // namespace grootfs::frontend::image::http
