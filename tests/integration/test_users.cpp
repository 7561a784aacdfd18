#include "tests/integration/test_users.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <regex>
#include <stdexcept>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

constexpr const char* kPrefix = "grootfs-t";

// Serialises this suite's useradd and userdel calls across test processes.
class UsersLock {
 public:
  UsersLock() : fd_(open("/tmp/grootfs-test-users.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ >= 0)
      while (flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
  }
  ~UsersLock() {
    if (fd_ >= 0) close(fd_);
  }
  UsersLock(const UsersLock&) = delete;
  UsersLock& operator=(const UsersLock&) = delete;

 private:
  int fd_;
};

// Removes the users a killed test process left (its pid is in the name and no longer runs).
void RemoveLeftovers() {
  const std::regex ours(std::string("^") + kPrefix + "([0-9]+)-[a-z0-9]+$");
  for (const auto& line : Lines(ReadFile("/etc/passwd"))) {
    const std::string name = line.substr(0, line.find(':'));
    std::smatch m;
    if (!std::regex_match(name, m, ours)) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(m[1]));
    if (kill(pid, 0) != 0 && errno == ESRCH) RunCmd({"userdel", "-f", name});
  }
}

// The start and count of `name`'s line in an /etc/subuid-format file; {0, 0} if none.
std::pair<unsigned long, unsigned long> SubordinateRange(const char* file,
                                                         const std::string& name) {
  for (const auto& line : Lines(ReadFile(file))) {
    const auto fields = Split(line, ':');
    if (fields.size() == 3 && fields[0] == name)
      return {std::stoul(fields[1]), std::stoul(fields[2])};
  }
  return {0, 0};
}

}  // namespace

TestUser::TestUser(const std::string& role)
    : name_(kPrefix + std::to_string(getpid()) + "-" + role) {
  UsersLock lock;
  RemoveLeftovers();
  // useradd allocates subordinate ids only when these files exist (a minimal root may lack them).
  for (const char* file : {"/etc/subuid", "/etc/subgid"}) {
    const int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
  }
  RunCmd({"userdel", "-f", name_});  // a leftover of this very pid (a reused pid): start clean
  auto r = RunCmd({"useradd", "-M", "-N", "-g", "nogroup", "-s", "/usr/sbin/nologin", name_});
  if (!r.ok()) throw std::runtime_error("useradd " + name_ + " failed: " + r.Describe());
  const passwd* pw = getpwnam(name_.c_str());
  if (pw == nullptr) throw std::runtime_error("useradd made no " + name_);
  uid_ = pw->pw_uid;
  const auto uids = SubordinateRange("/etc/subuid", name_);
  const auto gids = SubordinateRange("/etc/subgid", name_);
  if (uids.second < 65536 || gids.second < 65536) {
    RunCmd({"userdel", "-f", name_});
    throw std::runtime_error("useradd gave " + name_ +
                             " no subordinate ids (SUB_UID_COUNT in /etc/login.defs?)");
  }
  subuid_start_ = uids.first;
  subgid_start_ = gids.first;
  subid_count_ = std::min(uids.second, gids.second);
}

TestUser::~TestUser() {
  UsersLock lock;
  auto r = RunCmd({"userdel", "-f", name_});
  if (!r.ok()) ADD_FAILURE() << "userdel " << name_ << ": " << r.Describe();
}

}  // namespace grootfs_it
