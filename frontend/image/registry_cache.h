// What a registry pull keeps in the store's cache directory (STORE/cache), best effort: a cache
// that cannot be read or written only costs requests. What is made there is given to the
// store's owner when root runs for it.
//   sha256/HEX            manifests and configs by digest (DigestCache)
//   plain-http/HOST_PORT  insecure registries that answered plain HTTP (SchemeMemory)
//   https/HOST_PORT       insecure registries that answered TLS (SchemeMemory)
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>

namespace grootfs::frontend::image {

// The cache directory and its owner; "" caches nothing.
class CacheDir {
 public:
  CacheDir(std::string dir, uid_t uid, gid_t gid) : dir_(std::move(dir)), uid_(uid), gid_(gid) {}
  bool enabled() const { return !dir_.empty(); }
  const std::string& path() const { return dir_; }
  // Makes the cache directory and its `sub` directory (0700) where missing; throws Error.
  void MakeSubdir(const std::string& sub) const;
  // Gives fd to the store's owner when run as root for another owner.
  void Own(int fd) const;

 private:
  void MakeDir(const std::string& path) const;

  std::string dir_;
  uid_t uid_;
  gid_t gid_;
};

// Manifests and configs by digest under sha256/. Verified when read; written atomically (a
// unique temporary name, fsync, rename).
class DigestCache {
 public:
  explicit DigestCache(CacheDir dir) : dir_(std::move(dir)) {}
  std::optional<std::string> Get(const std::string& digest) const;
  void Put(const std::string& digest, const std::string& content) const;

 private:
  CacheDir dir_;
};

// The scheme an insecure registry last answered in, so that the next pull from it asks in that
// one first instead of paying a failed attempt in the other: a failed TLS handshake costs
// loading OpenSSL (tens of ms from a cold disk) and a second connection; a failed plain request
// a round trip. A memory gone stale costs that one failed attempt, then the other scheme is
// remembered.
class SchemeMemory {
 public:
  explicit SchemeMemory(CacheDir dir) : dir_(std::move(dir)) {}
  // "http", "https", or "" when nothing is remembered.
  std::string Remembered(const std::string& authority) const;
  // Remembers `scheme` ("http" or "https") in place of the other.
  void Remember(const std::string& authority, const std::string& scheme) const;
  void Forget(const std::string& authority) const;

  // The file name for host[:port]: letters, digits, '.' and '-' kept, any other byte as %XX;
  // "" for a name that cannot be one ("", ".", "..", too long).
  static std::string FileName(const std::string& authority);

 private:
  std::string Path(const std::string& authority, const std::string& scheme) const;

  CacheDir dir_;
};

}  // namespace grootfs::frontend::image
