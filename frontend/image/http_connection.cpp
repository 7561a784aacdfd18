#include "frontend/image/http_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <mutex>

namespace grootfs::frontend::image::http {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Kind = TransferError::Kind;

constexpr std::size_t kMaxIdlePerKey = 8;
constexpr const char* kSystemCaFile = "/etc/ssl/certs/ca-certificates.crt";
constexpr const char* kSystemCaDir = "/etc/ssl/certs";

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

std::string Getenv(const char* name) {
  const char* value = getenv(name);
  return value != nullptr ? value : "";
}

// The trusted CAs: the system's (SSL_CERT_FILE and SSL_CERT_DIR replace its bundle and its
// directory, as they did for libcurl), with the extra PEM added to them, not replacing them.
void LoadTrust(SSL_CTX* ctx, const TlsConfig& tls) {
  std::string file = Getenv("SSL_CERT_FILE");
  std::string dir = Getenv("SSL_CERT_DIR");
  if (file.empty()) file = kSystemCaFile;
  if (dir.empty()) dir = kSystemCaDir;
  if (access(file.c_str(), R_OK) != 0) file.clear();
  if (access(dir.c_str(), X_OK) != 0) dir.clear();
  if ((!file.empty() || !dir.empty()) &&
      SSL_CTX_load_verify_locations(ctx, file.empty() ? nullptr : file.c_str(),
                                    dir.empty() ? nullptr : dir.c_str()) != 1) {
    throw TransferError("TLS", "cannot read the CA certificates in " + file + ": " + OpenSslError(),
                        Kind::kTlsVerify);
  }
  if (tls.extra_ca_pem.empty()) return;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(tls.extra_ca_pem.data(), static_cast<int>(tls.extra_ca_pem.size())),
      &BIO_free);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);  // fails harmlessly for a certificate already there
    X509_free(cert);
    ++added;
  }
  ERR_clear_error();
  if (added == 0) throw TransferError("TLS", "no certificate in the extra CAs", Kind::kTlsVerify);
}

std::shared_ptr<ssl::context> MakeContext(const TlsConfig& tls) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (tls.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    LoadTrust(ctx, tls);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!tls.client_cert.empty()) {
    const std::string& key = tls.client_key.empty() ? tls.client_cert : tls.client_key;
    if (SSL_CTX_use_certificate_chain_file(ctx, tls.client_cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw TransferError(
          "TLS", "cannot use the client certificate " + tls.client_cert + ": " + OpenSslError(),
          Kind::kTls);
    }
  }
  return context;
}

// One context for each TLS configuration, shared by its connections (a context is safe to use
// from several threads): the CA bundle is read once a process.
std::shared_ptr<ssl::context> ContextFor(const TlsConfig& tls) {
  static std::mutex mutex;
  static auto* contexts = new std::map<std::string, std::shared_ptr<ssl::context>>;
  const std::string key = std::string(tls.verify ? "1" : "0") + '\0' + tls.extra_ca_pem + '\0' +
                          tls.client_cert + '\0' + tls.client_key;
  std::lock_guard lock(mutex);
  auto it = contexts->find(key);
  if (it == contexts->end()) it = contexts->emplace(key, MakeContext(tls)).first;
  return it->second;
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
  std::optional<tcp::socket> plain;
  std::shared_ptr<ssl::context> context;
  std::optional<ssl::stream<tcp::socket>> tls;
  std::string key;
  std::string where;

  tcp::socket& Socket() { return tls ? tls->next_layer() : *plain; }

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
    const std::string message = ec.message();
    // A peer that refuses our certificate (or lack of one) says so with an alert: that is a TLS
    // failure, not a dropped connection worth retrying.
    if (ec.category() == asio::error::get_ssl_category() &&
        message.find("alert") != std::string::npos) {
      throw TransferError(where, message, Kind::kTls);
    }
    throw TransferError(where, message, Kind::kDropped);
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

void Connection::Impl::Handshake(const Endpoint& endpoint, std::chrono::seconds timeout) {
  try {
    context = ContextFor(endpoint.tls);
  } catch (const TransferError& e) {
    throw TransferError(where, e.detail(), e.kind());  // named after the host, not "TLS"
  }
  tls.emplace(std::move(*plain), *context);
  plain.reset();
  SSL* ssl = tls->native_handle();
  const std::string host(Unbracketed(endpoint.url.host));
  const bool ip = IsIpAddress(host);
  if (!ip) SSL_set_tlsext_host_name(ssl, host.c_str());
  if (endpoint.tls.verify) {
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, host.c_str());
    }
  }
  bool done = false;
  error_code ec;
  tls->async_handshake(ssl::stream_base::client, [&](const error_code& e) {
    ec = e;
    done = true;
  });
  if (!Run(done, timeout)) {
    throw TransferError(
        where, "the TLS handshake timed out after " + std::to_string(timeout.count()) + " s",
        Kind::kStalled);
  }
  if (!ec) return;
  const long verify = SSL_get_verify_result(ssl);
  if (endpoint.tls.verify && verify != X509_V_OK) {
    throw TransferError(
        where, std::string("SSL certificate problem: ") + X509_verify_cert_error_string(verify),
        Kind::kTlsVerify);
  }
  throw TransferError(where, "TLS handshake: " + ec.message(), Kind::kTls);
}

Connection::Connection() : impl_(std::make_unique<Impl>()) {}
Connection::~Connection() = default;

std::unique_ptr<Connection> Connection::Open(const Endpoint& endpoint,
                                             std::chrono::seconds timeout) {
  std::unique_ptr<Connection> c(new Connection);
  Impl& s = *c->impl_;
  s.key = endpoint.Key();
  s.where = endpoint.url.Authority();
  s.ConnectTcp(endpoint, timeout);
  if (endpoint.url.scheme == "https") {
    if (endpoint.proxy) s.Tunnel(endpoint, timeout);
    s.Handshake(endpoint, timeout);
  }
  return c;
}

void Connection::WriteAll(std::string_view data, std::chrono::seconds stall) {
  Impl& s = *impl_;
  bool done = false;
  error_code ec;
  auto handler = [&](const error_code& e, std::size_t) {
    ec = e;
    done = true;
  };
  if (s.tls) {
    asio::async_write(*s.tls, asio::buffer(data.data(), data.size()), handler);
  } else {
    asio::async_write(*s.plain, asio::buffer(data.data(), data.size()), handler);
  }
  if (!s.Run(done, stall)) {
    throw TransferError(s.where, "could not send for " + std::to_string(stall.count()) + " s",
                        Kind::kStalled);
  }
  if (ec) s.Fail(ec);
}

std::size_t Connection::ReadSome(void* buffer, std::size_t size, std::chrono::seconds stall) {
  Impl& s = *impl_;
  bool done = false;
  error_code ec;
  std::size_t got = 0;
  auto handler = [&](const error_code& e, std::size_t n) {
    ec = e;
    got = n;
    done = true;
  };
  if (s.tls) {
    s.tls->async_read_some(asio::buffer(buffer, size), handler);
  } else {
    s.plain->async_read_some(asio::buffer(buffer, size), handler);
  }
  if (!s.Run(done, stall)) {
    throw TransferError(s.where, "no data for " + std::to_string(stall.count()) + " s",
                        Kind::kStalled);
  }
  if (got > 0) return got;
  // The end of the stream, with or without TLS's close_notify: whether the response was
  // complete is the caller's to judge.
  if (!ec || ec == asio::error::eof || ec == ssl::error::stream_truncated) return 0;
  s.Fail(ec);
}

const std::string& Connection::key() const { return impl_->key; }
const std::string& Connection::where() const { return impl_->where; }

bool Connection::LooksIdle() const {
  Impl& s = *impl_;
  if (s.tls && SSL_pending(s.tls->native_handle()) > 0) return false;
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
