// What a registry pull keeps in the store's cache directory (STORE/cache), best effort: a cache
// that cannot be read or written only costs requests. What is made there is given to the
// store's owner when root runs for it.
//   sha256/HEX            manifests and configs by digest (DigestCache)
//   plain-http/HOST_PORT  insecure registries that answered only plain HTTP (PlainHttpMemory)
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

// Insecure registries that answered only plain HTTP, so that the next pull from one asks over
// HTTP first instead of paying a failed TLS handshake first (about 5 ms of CPU: OpenSSL's
// start-up and a second connection). A registry that has since turned to TLS costs one failed
// plain request, after which it is forgotten.
class PlainHttpMemory {
 public:
  explicit PlainHttpMemory(CacheDir dir) : dir_(std::move(dir)) {}
  bool Knows(const std::string& authority) const;
  void Remember(const std::string& authority) const;
  void Forget(const std::string& authority) const;

  // The file name for host[:port]: letters, digits, '.' and '-' kept, any other byte as %XX;
  // "" for a name that cannot be one ("", ".", "..", too long).
  static std::string FileName(const std::string& authority);

 private:
  std::string Path(const std::string& authority) const;

  CacheDir dir_;
};

}  // namespace grootfs::frontend::image
