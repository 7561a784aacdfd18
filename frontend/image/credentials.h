// Registry credentials kept the way the container tools keep them, looked up by registry host.
//
// Where (the first file that knows the registry wins; the order is containers/image's):
//   1. $REGISTRY_AUTH_FILE, or else ${XDG_RUNTIME_DIR}/containers/auth.json
//   2. ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json
//   3. ${DOCKER_CONFIG:-~/.docker}/config.json
// In one file (as docker reads it): credHelpers[host], else credsStore, run as
// `docker-credential-NAME get` with the server URL on stdin (JSON {"Username","Secret"} back;
// a helper that does not know the server lets the file's `auths` answer); else the `auths`
// entry: base64 "user:pass" in `auth`, or `username`/`password`. Keys may carry a scheme and a
// path (https://host/v1/); a key host/namespace matches repositories under that namespace, the
// longest first. Docker Hub answers to https://index.docker.io/v1/, index.docker.io, docker.io
// and registry-1.docker.io.
//
// The files are read and helpers run with the invoking user's environment (HOME, XDG_*),
// before the frontend takes the store owner's identity. Secrets are never logged.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "frontend/cli.h"

namespace grootfs::frontend::image {

struct Credentials {
  std::string username, password;
  std::string source;  // where they came from, for messages: a file, a helper, the flags
};

// Where to look; from the process's environment by default.
struct CredentialPlaces {
  std::string registry_auth_file, xdg_runtime_dir, xdg_config_home, home, docker_config;
  std::chrono::milliseconds helper_timeout{10000};
  static CredentialPlaces FromEnvironment();
};

// The credentials for REGISTRY (host[:port]; "registry-1.docker.io" for Docker Hub) and
// REPOSITORY (e.g. "library/alpine"), if any file or helper has them. Throws Error with one line
// (no secret) for a file that is not JSON, an `auth` that is not base64 "user:pass", or a
// helper that fails, hangs or answers nonsense.
std::optional<Credentials> LookupCredentials(const std::string& registry,
                                             const std::string& repository,
                                             const CredentialPlaces& places);

// Runs `docker-credential-NAME get` (from PATH) with `server` on stdin. nullopt when the helper
// says it has no credentials for the server. Throws Error otherwise (one line, no secret).
std::optional<Credentials> RunCredentialHelper(const std::string& name, const std::string& server,
                                               std::chrono::milliseconds timeout);

// For create of a docker:// image: --password-stdin's line read into inv.password, and, without
// --username, the stored credentials of the image's registry filled in. Anything else: nothing.
void ResolveRegistryCredentials(Invocation& inv);

}  // namespace grootfs::frontend::image
