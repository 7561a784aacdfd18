// grootfs-tls.so: TLS over a socket the frontend connected, with the statically linked OpenSSL
// (tls_plugin_abi.h). Loaded by the frontend at its first https connection only, so that no
// other command pays for OpenSSL's relocations and initialisation. Errors are worded and sorted
// as the frontend's Boost.Asio transport worded and sorted them before the plugin existed.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <memory>

#include "tlsplugin/tls_plugin_abi.h"

#define GROOTFS_TLS_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr const char* kSystemCaFile = "/etc/ssl/certs/ca-certificates.crt";
constexpr const char* kSystemCaDir = "/etc/ssl/certs";

int Fail(grootfs_tls_error* err, int status, const char* format, ...)
    __attribute__((format(printf, 3, 4)));

int Fail(grootfs_tls_error* err, int status, const char* format, ...) {
  err->status = status;
  va_list args;
  va_start(args, format);
  vsnprintf(err->text, sizeof err->text, format, args);
  va_end(args);
  return status;
}

// OpenSSL's reason for its first queued error, as Boost.Asio's ssl category words it.
const char* ReasonOf(unsigned long code) {
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  return reason != nullptr ? reason : "asio.ssl error";
}

// The first queued error for a message about a file or a key ("unknown error" for none).
const char* FirstError(char* buf, size_t size) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  ERR_error_string_n(code, buf, size);
  return buf;
}

bool IsIpAddress(const char* host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

const char* EnvOr(const char* name, const char* fallback) {
  const char* value = getenv(name);
  return value != nullptr && value[0] != '\0' ? value : fallback;
}

// The trusted CAs: the system's (SSL_CERT_FILE and SSL_CERT_DIR replace its bundle and its
// directory, as they did for libcurl), with the extra PEM added to them, not replacing them.
int LoadTrust(SSL_CTX* ctx, const grootfs_tls_config& config, grootfs_tls_error* err) {
  const char* file = EnvOr("SSL_CERT_FILE", kSystemCaFile);
  const char* dir = EnvOr("SSL_CERT_DIR", kSystemCaDir);
  const char* shown = file;
  if (access(file, R_OK) != 0) file = nullptr;
  if (access(dir, X_OK) != 0) dir = nullptr;
  if ((file != nullptr || dir != nullptr) && SSL_CTX_load_verify_locations(ctx, file, dir) != 1) {
    char buf[256];
    return Fail(err, GROOTFS_TLS_TLS_VERIFY, "cannot read the CA certificates in %s: %s",
                file != nullptr ? shown : "", FirstError(buf, sizeof buf));
  }
  if (config.extra_ca_pem_size == 0) return GROOTFS_TLS_OK;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(config.extra_ca_pem, static_cast<int>(config.extra_ca_pem_size)), &BIO_free);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);  // fails harmlessly for a certificate already there
    X509_free(cert);
    ++added;
  }
  ERR_clear_error();
  if (added == 0) return Fail(err, GROOTFS_TLS_TLS_VERIFY, "no certificate in the extra CAs");
  return GROOTFS_TLS_OK;
}

grootfs_tls_context* ContextNew(const grootfs_tls_config* config, grootfs_tls_error* err) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  if (!ctx) {
    char buf[256];
    Fail(err, GROOTFS_TLS_TLS, "SSL_CTX_new: %s", FirstError(buf, sizeof buf));
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx.get(), 1);  // whole socket reads, not a record header first
  if (config->verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (LoadTrust(ctx.get(), *config, err) != GROOTFS_TLS_OK) return nullptr;
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  if (config->client_cert[0] != '\0') {
    const char* key = config->client_key[0] != '\0' ? config->client_key : config->client_cert;
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), config->client_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), key, SSL_FILETYPE_PEM) != 1) {
      char buf[256];
      Fail(err, GROOTFS_TLS_TLS, "cannot use the client certificate %s: %s", config->client_cert,
           FirstError(buf, sizeof buf));
      return nullptr;
    }
  }
  return reinterpret_cast<grootfs_tls_context*>(ctx.release());
}

void ContextFree(grootfs_tls_context* context) {
  SSL_CTX_free(reinterpret_cast<SSL_CTX*>(context));
}

long long NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Waits until fd is ready for what OpenSSL asked; false when the deadline passed.
bool Await(int fd, int ssl_error, long long deadline) {
  pollfd p{fd, static_cast<short>(ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
  while (true) {
    const long long left = deadline - NowMs();
    if (left <= 0) return false;
    const int n = poll(&p, 1, static_cast<int>(left > 60000 ? 60000 : left));
    if (n > 0) return true;  // readable, writable, or an error the next call reports
    if (n < 0 && errno != EINTR) return true;
  }
}

}  // namespace

struct grootfs_tls_session {
  SSL* ssl;
  int fd;
  bool failed;  // no close_notify after a fatal error
};

namespace {

enum class Outcome { kDone, kEnd, kTruncated, kFailed };

// Runs op (an SSL call on s) until it succeeds or fails, waiting for the socket in between, all
// within timeout_ms. kEnd: close_notify; kTruncated: the peer closed without it.
template <class Op>
Outcome Drive(grootfs_tls_session* s, int timeout_ms, int* result, grootfs_tls_error* err, Op op) {
  const long long deadline = NowMs() + timeout_ms;
  while (true) {
    ERR_clear_error();
    errno = 0;
    const int r = op();
    const int saved_errno = errno;
    if (r > 0) {
      *result = r;
      return Outcome::kDone;
    }
    const int e = SSL_get_error(s->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!Await(s->fd, e, deadline)) {
        Fail(err, GROOTFS_TLS_STALLED, "timed out");
        return Outcome::kFailed;
      }
      continue;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return Outcome::kEnd;
    s->failed = true;
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (e == SSL_ERROR_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      return Outcome::kTruncated;
    }
    if (e == SSL_ERROR_SSL || (e == SSL_ERROR_SYSCALL && code != 0)) {
      const char* reason = ReasonOf(code);
      // A peer that refuses our certificate (or lack of one) says so with an alert: that is a
      // TLS failure, not a dropped connection worth retrying.
      Fail(err, strstr(reason, "alert") != nullptr ? GROOTFS_TLS_TLS : GROOTFS_TLS_DROPPED, "%s",
           reason);
    } else if (e == SSL_ERROR_SYSCALL && saved_errno != 0) {
      Fail(err, GROOTFS_TLS_DROPPED, "%s", strerror(saved_errno));
    } else if (e == SSL_ERROR_SYSCALL) {
      return Outcome::kTruncated;  // the peer closed the socket (OpenSSL before 3 says so)
    } else {
      Fail(err, GROOTFS_TLS_DROPPED, "unexpected result");
    }
    return Outcome::kFailed;
  }
}

grootfs_tls_session* SessionNew(grootfs_tls_context* context, int fd, const char* host,
                                int timeout_ms, grootfs_tls_error* err) {
  SSL_CTX* ctx = reinterpret_cast<SSL_CTX*>(context);
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    Fail(err, GROOTFS_TLS_DROPPED, "%s", strerror(errno));
    return nullptr;
  }
  SSL* ssl = SSL_new(ctx);
  auto* s = static_cast<grootfs_tls_session*>(calloc(1, sizeof(grootfs_tls_session)));
  if (ssl == nullptr || s == nullptr || SSL_set_fd(ssl, fd) != 1) {
    char buf[256];
    Fail(err, GROOTFS_TLS_TLS, "TLS handshake: %s", FirstError(buf, sizeof buf));
    SSL_free(ssl);
    free(s);
    return nullptr;
  }
  *s = {ssl, fd, false};
  const bool verify = SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER;
  const bool ip = IsIpAddress(host);
  if (!ip) SSL_set_tlsext_host_name(ssl, host);
  if (verify) {
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, host);
    }
  }
  int ignored = 0;
  const Outcome o = Drive(s, timeout_ms, &ignored, err, [ssl] { return SSL_connect(ssl); });
  if (o == Outcome::kDone) return s;
  s->failed = true;
  const long verdict = SSL_get_verify_result(ssl);
  if (o != Outcome::kFailed || err->status != GROOTFS_TLS_STALLED) {
    if (verify && verdict != X509_V_OK) {
      Fail(err, GROOTFS_TLS_TLS_VERIFY, "SSL certificate problem: %s",
           X509_verify_cert_error_string(verdict));
    } else if (o == Outcome::kFailed) {
      char detail[sizeof err->text];
      memcpy(detail, err->text, sizeof detail);
      Fail(err, GROOTFS_TLS_TLS, "TLS handshake: %s", detail);
    } else {
      Fail(err, GROOTFS_TLS_TLS, "TLS handshake: stream truncated");
    }
  }
  SSL_free(ssl);
  free(s);
  return nullptr;
}

int WriteAll(grootfs_tls_session* s, const void* data, size_t size, int timeout_ms,
             grootfs_tls_error* err) {
  const long long deadline = NowMs() + timeout_ms;
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const int chunk = size > (1 << 30) ? (1 << 30) : static_cast<int>(size);
    const long long left = deadline - NowMs();
    int written = 0;
    const int limit = left > 0 ? static_cast<int>(left) : 0;
    const Outcome o = Drive(s, limit, &written, err, [&] { return SSL_write(s->ssl, p, chunk); });
    if (o == Outcome::kFailed) return err->status;
    if (o != Outcome::kDone) {
      s->failed = true;
      return Fail(err, GROOTFS_TLS_DROPPED,
                  o == Outcome::kEnd ? "End of file" : "stream truncated");
    }
    p += written;
    size -= static_cast<size_t>(written);
  }
  return GROOTFS_TLS_OK;
}

int ReadSome(grootfs_tls_session* s, void* buffer, size_t size, size_t* got, int timeout_ms,
             grootfs_tls_error* err) {
  *got = 0;
  const int want = size > (1 << 30) ? (1 << 30) : static_cast<int>(size);
  int n = 0;
  const Outcome o = Drive(s, timeout_ms, &n, err, [&] { return SSL_read(s->ssl, buffer, want); });
  if (o == Outcome::kFailed) return err->status;
  // The end of the stream, with or without TLS's close_notify: whether the response was
  // complete is the caller's to judge.
  if (o == Outcome::kDone) *got = static_cast<size_t>(n);
  return GROOTFS_TLS_OK;
}

int Pending(const grootfs_tls_session* s) { return SSL_has_pending(s->ssl); }

void SessionClose(grootfs_tls_session* s) {
  if (s == nullptr) return;
  if (!s->failed) {
    ERR_clear_error();
    (void)SSL_shutdown(s->ssl);  // close_notify if the socket takes it now; no waiting
    ERR_clear_error();
  }
  SSL_free(s->ssl);
  free(s);
}

constexpr grootfs_tls_api kApi = {
    GROOTFS_TLS_ABI_VERSION,
    sizeof(grootfs_tls_api),
    ContextNew,
    ContextFree,
    SessionNew,
    WriteAll,
    ReadSome,
    Pending,
    SessionClose,
};

}  // namespace

// OpenSSL is initialised here, once (thread-safe), without an exit handler: connections may
// still be in use on other threads while the process exits.
GROOTFS_TLS_EXPORT const grootfs_tls_api* grootfs_tls_plugin_v1(void) {
  if (OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT, nullptr) != 1) return nullptr;
  return &kApi;
}
