// docker:// images through the registry HTTP API v2, and layers fetched from their `urls`.
//
// Rules (see also registry_util.h):
// - Registries are spoken to over verified TLS (system CAs, or SSL_CERT_FILE/SSL_CERT_DIR).
//   A registry listed in insecure_registries may answer in unverified TLS or plain HTTP. Named
//   with its port, it is asked first in the scheme the store's cache remembers it answered in,
//   else in plain HTTP (one port speaks one protocol); named without, in TLS (port 443 before
//   80). The other scheme is the last try (registry_endpoints.h). The same list governs every other host we reach (token realms, redirect
//   targets, layer urls): plain HTTP or an unverified certificate only for listed hosts.
// - Auth: anonymous first; a 401's challenge says what next: Bearer (a token from the realm,
//   with the basic credentials when given) or Basic (the credentials). Credentials go to the
//   registry named in the image and to the token realm it names; never to mirrors, layer urls
//   or a redirect target on another origin (scheme, host, port). Nothing secret is logged.
// - Mirrors are tried before the registry (Docker Hub: plain URL entries; any registry:
//   REGISTRY=URL entries), each with a short retry budget; any failure falls back to the next.
// - Blobs stream (never held whole): retries with backoff on 5xx, 429 and dropped or stalled
//   connections (30 s without a byte), resuming with Range from the byte reached, giving up
//   after 5 retries or 60 s without progress. Verification is StreamLayer's, over these bytes.
// - Manifests and configs are cached by digest under cache_dir (verified again when read): an
//   image by tag whose layers are cached costs one manifest request; by digest, none.
// - A cold pull asks for its bottom layer's blob while the config downloads (see
//   RegistryOptions::store_has_layer_from); the layer's reader takes that response.
//
// Where each rule lives: registry_endpoints.h (mirrors, then the registry; the scheme of an
// insecure one), registry_auth.h (a 401's challenges), url_opener.h (redirects, token realms,
// layers' urls), registry_puller.h (one pull's requests, retries and fall back),
// remote_blob.h (layers' blobs), registry.cpp (the manifest and the config).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "frontend/image/image_spec.h"
#include "frontend/image/reference.h"

namespace grootfs::frontend::image {

struct RegistryOptions {
  std::vector<std::string> insecure_registries;  // HOST[:PORT] entries
  std::vector<std::string> registry_mirrors;     // URL or REGISTRY=URL entries
  std::string username, password;
  std::string credentials_source;  // where they came from, for "check ..." messages
  std::string certs_dir;           // *.crt CAs, *.cert/*.key client pairs, for layers' urls
  std::string cache_dir;           // manifests and configs by digest; "" for none
  uid_t cache_uid = 0;             // owner of what is made in cache_dir (when running as root)
  gid_t cache_gid = 0;
  std::string os = "linux";
  std::string architecture;  // "" for the host's
  // Set by a caller that goes on to fetch the layers (create): on a cold pull (the image config
  // not in cache_dir) the bottom layer's blob is then asked for while the config downloads
  // (blob_prefetch.h), unless this says the store already holds a layer made from that blob.
  // Called on another thread. Null: nothing is asked for ahead.
  std::function<bool(const std::string& blob_digest)> store_has_layer_from;
};

// Resolves a docker:// reference to an image (manifest lists and indexes resolved to the
// host's platform) whose layers stream from the registry (or their urls). Throws Error with one
// line: "cannot pull docker://...: <why>".
ImageSpec LoadRegistryImage(const ImageRef& ref, const RegistryOptions& options);

// Gives every layer that has no local blob but lists urls (an oci:/// layout's remote layer) a
// way to fetch them: HTTPS with the client certificates of options.certs_dir.
void AttachUrlOpeners(ImageSpec& spec, const std::string& image_name,
                      const RegistryOptions& options);

}  // namespace grootfs::frontend::image
