#include "frontend/image/plain_http_memory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "frontend/log.h"

namespace grootfs::frontend::image {
namespace {

constexpr const char* kSubdir = "/plain-http";
constexpr std::size_t kMaxName = 200;  // an authority is far shorter; NAME_MAX is 255

// Makes dir (0700) unless it exists; chowns what it made when root runs for another owner.
bool MakeDir(const std::string& dir, uid_t uid, gid_t gid) {
  if (mkdir(dir.c_str(), 0700) == 0) {
    if (geteuid() == 0 && (uid != 0 || gid != 0)) return chown(dir.c_str(), uid, gid) == 0;
    return true;
  }
  return errno == EEXIST;
}

}  // namespace

std::string PlainHttpMemory::FileName(const std::string& authority) {
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
  // "." and ".." cannot come out: a '.'-only authority is not a host a pull gets this far with,
  // but keep the name a plain one whatever it is.
  if (name.empty() || name == "." || name == ".." || name.size() > kMaxName) return "";
  return name;
}

std::string PlainHttpMemory::Path(const std::string& authority) const {
  const std::string name = FileName(authority);
  if (dir_.empty() || name.empty()) return "";
  return dir_ + kSubdir + "/" + name;
}

bool PlainHttpMemory::Knows(const std::string& authority) const {
  const std::string path = Path(authority);
  struct stat st {};
  return !path.empty() && lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void PlainHttpMemory::Remember(const std::string& authority) const {
  const std::string path = Path(authority);
  if (path.empty() || Knows(authority)) return;
  if (!MakeDir(dir_, uid_, gid_) || !MakeDir(dir_ + kSubdir, uid_, gid_)) return;
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  if (geteuid() == 0 && (uid_ != 0 || gid_ != 0)) (void)!fchown(fd, uid_, gid_);
  close(fd);
  Logger::Get().Debug("registry-plain-http-remembered", {{"registry", authority}});
}

void PlainHttpMemory::Forget(const std::string& authority) const {
  const std::string path = Path(authority);
  if (!path.empty()) unlink(path.c_str());
}

}  // namespace grootfs::frontend::image
