// Real unprivileged users for the tests that need them (rootless, btrfs quotas), made and
// removed by the test itself, so a machine needs no users of its own and keeps none afterwards.
//
// useradd picks a uid that is free on the machine and a free range of 65,536 subordinate ids
// (SUB_UID_COUNT), which it writes to /etc/subuid and /etc/subgid; userdel removes the user and
// those lines. Both lock /etc/passwd themselves, and the calls here also take an flock of their
// own, so tests running in parallel (ctest -j) never race. A user's name carries the pid of the
// test process that made it (grootfs-t<PID>-<role>): users left by a test that was killed are
// removed by the next test that makes one.
#pragma once

#include <sys/types.h>

#include <string>

namespace grootfs_it {

class TestUser {
 public:
  // Makes the user (primary group nogroup, no home, no login shell); throws std::runtime_error
  // with useradd's output when it cannot.
  explicit TestUser(const std::string& role);
  ~TestUser();  // userdel: the user and its /etc/subuid and /etc/subgid lines
  TestUser(const TestUser&) = delete;
  TestUser& operator=(const TestUser&) = delete;

  const std::string& name() const { return name_; }
  uid_t uid() const { return uid_; }
  // The first of its subordinate uids and gids (from /etc/subuid, /etc/subgid) and their count.
  unsigned long subuid_start() const { return subuid_start_; }
  unsigned long subgid_start() const { return subgid_start_; }
  unsigned long subid_count() const { return subid_count_; }

 private:
  std::string name_;
  uid_t uid_ = 0;
  unsigned long subuid_start_ = 0, subgid_start_ = 0, subid_count_ = 0;
};

}  // namespace grootfs_it
