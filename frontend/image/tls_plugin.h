// The TLS plugin, grootfs-tls.so (tlsplugin/): OpenSSL in a module of its own, loaded at the
// first https connection of a process, so that commands that make none (a warm create from a
// plain-HTTP registry or by digest, delete, list, stats...) never map OpenSSL or pay for its
// relocations and initialisation.
//
// It is found as the helper is: ../libexec/grootfs/grootfs-tls.so from the running executable
// (/proc/self/exe), else /usr/libexec/grootfs/grootfs-tls.so. No environment variable or flag
// changes the path: grootfs runs as root in root's stores, and what it loads must be what was
// installed beside it. The build tree has the same layout (build/libexec/grootfs), so test
// executables in it find the build's plugin.
#pragma once

#include <string>

#include "tlsplugin/tls_plugin_abi.h"

namespace grootfs::frontend::image::http {

// Where the plugin is looked for.
std::string TlsPluginPath();

// The plugin's functions, loaded once a process (thread-safe). Throws TransferError (kOther,
// "where: cannot load PATH: why", one line) when the plugin is missing or not ours; the failure
// is remembered, not retried.
const grootfs_tls_api& TlsPlugin(const std::string& where);

}  // namespace grootfs::frontend::image::http
