// The C interface between grootfs and its TLS plugin, grootfs-tls.so (tlsplugin/README.md).
// The frontend makes the TCP connection (direct, through a proxy or a CONNECT tunnel) and hands
// its socket to the plugin, which runs OpenSSL over it: handshake, reads, writes, close_notify.
// Only C types cross the boundary; the plugin exports one symbol, GROOTFS_TLS_ENTRY, which
// returns the function table below. A change of the table's meaning bumps the ABI version (and
// the entry point's name with it).
#ifndef GROOTFS_TLSPLUGIN_TLS_PLUGIN_ABI_H_
#define GROOTFS_TLSPLUGIN_TLS_PLUGIN_ABI_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GROOTFS_TLS_ABI_VERSION 1
#define GROOTFS_TLS_ENTRY "grootfs_tls_plugin_v1"
#define GROOTFS_TLS_PLUGIN_NAME "grootfs-tls.so"

// What a call ended with. The kinds of failure are those of http::TransferError.
enum grootfs_tls_status {
  GROOTFS_TLS_OK = 0,
  GROOTFS_TLS_TLS = 1,         // a TLS failure (an alert, a bad handshake, a client certificate)
  GROOTFS_TLS_TLS_VERIFY = 2,  // the peer's certificate or name is not trusted, or no CAs
  GROOTFS_TLS_DROPPED = 3,     // the connection failed under TLS (a reset, a bad record)
  GROOTFS_TLS_STALLED = 4,     // the time limit passed (the caller words the message)
};

// Why a call failed: a status and one line of text.
struct grootfs_tls_error {
  int status;
  char text[480];
};

// One client configuration: an SSL_CTX, shared by every session of it (safe across threads).
struct grootfs_tls_config {
  int verify;                // check the peer's certificate and name
  const char* extra_ca_pem;  // CAs trusted in addition to the system's (SSL_CERT_FILE/DIR)
  size_t extra_ca_pem_size;  // 0: none
  const char* client_cert;   // PEM file of a client certificate chain, "" for none
  const char* client_key;    // its key, "" when in the certificate's file
};

struct grootfs_tls_context;
struct grootfs_tls_session;

struct grootfs_tls_api {
  unsigned abi_version;  // GROOTFS_TLS_ABI_VERSION
  size_t size;           // sizeof(struct grootfs_tls_api)
  // NULL on failure (err says why).
  struct grootfs_tls_context* (*context_new)(const struct grootfs_tls_config* config,
                                             struct grootfs_tls_error* err);
  void (*context_free)(struct grootfs_tls_context* context);
  // The handshake over the connected socket fd (made non-blocking; it stays the caller's to
  // close) within timeout_ms: SNI for a name, the peer's name or IP address checked when the
  // context verifies. NULL on failure.
  struct grootfs_tls_session* (*session_new)(struct grootfs_tls_context* context, int fd,
                                             const char* host, int timeout_ms,
                                             struct grootfs_tls_error* err);
  // All of data within timeout_ms.
  int (*write_all)(struct grootfs_tls_session* session, const void* data, size_t size,
                   int timeout_ms, struct grootfs_tls_error* err);
  // At least one byte, up to size, within timeout_ms; *got = 0 at the end of the stream
  // (close_notify, or the peer's close without it).
  int (*read_some)(struct grootfs_tls_session* session, void* buffer, size_t size, size_t* got,
                   int timeout_ms, struct grootfs_tls_error* err);
  // Non-zero when decrypted or received bytes wait in the session.
  int (*pending)(const struct grootfs_tls_session* session);
  // Sends close_notify (without waiting) unless the session failed, and frees it.
  void (*session_close)(struct grootfs_tls_session* session);
};

typedef const struct grootfs_tls_api* (*grootfs_tls_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif  // GROOTFS_TLSPLUGIN_TLS_PLUGIN_ABI_H_
