// Which registries listed with --insecure-registry answered only plain HTTP, remembered in the
// store's cache (STORE/cache/plain-http/HOST_PORT, an empty file) so that the next pull from
// such a registry asks over HTTP first instead of paying a failed TLS handshake first (about
// 5 ms of CPU: OpenSSL's start-up and a second connection). A registry that has since turned
// to TLS costs one failed plain request, after which it is forgotten. Best effort: a cache
// that cannot be read or written only means the TLS attempt comes first, as without it.
#pragma once

#include <sys/types.h>

#include <string>

namespace grootfs::frontend::image {

class PlainHttpMemory {
 public:
  // cache_dir "" remembers nothing. What is made in it is given to uid:gid when run as root.
  PlainHttpMemory(std::string cache_dir, uid_t uid, gid_t gid)
      : dir_(std::move(cache_dir)), uid_(uid), gid_(gid) {}

  bool Knows(const std::string& authority) const;
  void Remember(const std::string& authority) const;
  void Forget(const std::string& authority) const;

  // The file name for host[:port]: letters, digits, '.' and '-' kept, any other byte as %XX.
  static std::string FileName(const std::string& authority);

 private:
  std::string Path(const std::string& authority) const;

  std::string dir_;
  uid_t uid_;
  gid_t gid_;
};

}  // namespace grootfs::frontend::image
