#include "frontend/image/registry_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

#include "frontend/image/digest.h"
#include "frontend/log.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::image {
namespace {

constexpr std::size_t kMaxJson = 4 * 1024 * 1024;  // as the registry client reads them
constexpr std::size_t kMaxName = 200;              // an authority is far shorter; NAME_MAX 255

}  // namespace

void CacheDir::MakeDir(const std::string& path) const {
  if (mkdir(path.c_str(), 0700) == 0) {
    if (geteuid() == 0 && (uid_ != 0 || gid_ != 0) && chown(path.c_str(), uid_, gid_) != 0) {
      throw Error("cannot chown " + path + ": " + std::strerror(errno));
    }
  } else if (errno != EEXIST) {
    throw Error("cannot make " + path + ": " + std::strerror(errno));
  }
}

void CacheDir::MakeSubdir(const std::string& sub) const {
  MakeDir(dir_);
  MakeDir(dir_ + "/" + sub);
}

void CacheDir::Own(int fd) const {
  if (geteuid() == 0 && (uid_ != 0 || gid_ != 0)) (void)!fchown(fd, uid_, gid_);
}

std::optional<std::string> DigestCache::Get(const std::string& digest) const {
  if (!dir_.enabled() || !IsValidDigest(digest)) return std::nullopt;
  const std::string path = dir_.path() + "/sha256/" + DigestHex(digest);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::string content;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<std::uint64_t>(st.st_size) <= kMaxJson) {
    content.resize(static_cast<std::size_t>(st.st_size));
    std::size_t used = 0;
    while (used < content.size()) {
      const ssize_t n = read(fd, content.data() + used, content.size() - used);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      used += static_cast<std::size_t>(n);
    }
    content.resize(used);
  }
  close(fd);
  if ("sha256:" + Sha256Hex(content) != digest) return std::nullopt;
  return content;
}

void DigestCache::Put(const std::string& digest, const std::string& content) const {
  if (!dir_.enabled() || !IsValidDigest(digest)) return;
  const std::string sub = dir_.path() + "/sha256";
  const std::string final_path = sub + "/" + DigestHex(digest);
  struct stat st {};
  if (lstat(final_path.c_str(), &st) == 0) return;
  try {
    dir_.MakeSubdir("sha256");
    std::random_device random;
    const std::string tmp = sub + "/.tmp-" + std::to_string(random()) + std::to_string(random());
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw Error("cannot create " + tmp + ": " + std::strerror(errno));
    bool ok = true;
    std::size_t done = 0;
    while (ok && done < content.size()) {
      const ssize_t n = write(fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        ok = false;
      else
        done += static_cast<std::size_t>(n);
    }
    dir_.Own(fd);
    ok = ok && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp.c_str(), final_path.c_str()) != 0) {
      const int err = errno;
      unlink(tmp.c_str());
      throw Error("cannot write " + final_path + ": " + std::strerror(err));
    }
  } catch (const Error& e) {
    Logger::Get().Info("cache-write-failed", {{"error", e.what()}});
  }
}

std::string SchemeMemory::FileName(const std::string& authority) {
  std::string name;
  for (const unsigned char c : authority) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '-';
    if (plain) {
      name += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      name += hex;
    }
  }
  if (name.empty() || name == "." || name == ".." || name.size() > kMaxName) return "";
  return name;
}

namespace {

// The cache's directory for a scheme's memories.
const char* SchemeDir(const std::string& scheme) {
  return scheme == "http" ? "plain-http" : "https";
}

}  // namespace

std::string SchemeMemory::Path(const std::string& authority, const std::string& scheme) const {
  const std::string name = FileName(authority);
  if (!dir_.enabled() || name.empty()) return "";
  return dir_.path() + "/" + SchemeDir(scheme) + "/" + name;
}

std::string SchemeMemory::Remembered(const std::string& authority) const {
  for (const char* scheme : {"http", "https"}) {
    const std::string path = Path(authority, scheme);
    struct stat st {};
    if (!path.empty() && lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return scheme;
  }
  return "";
}

void SchemeMemory::Remember(const std::string& authority, const std::string& scheme) const {
  const std::string path = Path(authority, scheme);
  if (path.empty()) return;
  const std::string other = Path(authority, scheme == "http" ? "https" : "http");
  unlink(other.c_str());
  try {
    dir_.MakeSubdir(SchemeDir(scheme));
  } catch (const Error& e) {
    Logger::Get().Info("cache-write-failed", {{"error", e.what()}});
    return;
  }
  // O_NONBLOCK: a fifo the store's owner put there fails the open instead of blocking it.
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd < 0) return;
  dir_.Own(fd);
  close(fd);
  Logger::Get().Debug("registry-scheme-remembered", {{"registry", authority}, {"scheme", scheme}});
}

void SchemeMemory::Forget(const std::string& authority) const {
  for (const char* scheme : {"http", "https"}) {
    const std::string path = Path(authority, scheme);
    if (!path.empty()) unlink(path.c_str());
  }
}

}  // namespace grootfs::frontend::image
