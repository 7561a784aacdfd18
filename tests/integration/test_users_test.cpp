// The test users fixture (test_users.h): what the rootless and quota tests rely on to run in
// parallel on any machine and to leave nothing behind.
#include "tests/integration/test_users.h"

#include <pwd.h>

#include <thread>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

bool HasLine(const char* file, const std::string& name) {
  for (const auto& line : Lines(ReadFile(file)))
    if (StartsWith(line, name + ":")) return true;
  return false;
}

TEST(TestUserTest, UsersMadeAtOnceGetTheirOwnIdsAndAreRemovedWithTheirSubordinateIds) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  std::string names[2];
  {
    // Two threads at once, as two ctest -j2 processes would.
    std::optional<TestUser> users[2];
    std::thread other([&] { users[1].emplace("two"); });
    users[0].emplace("one");
    other.join();
    for (int i = 0; i < 2; ++i) {
      names[i] = users[i]->name();
      const passwd* pw = getpwnam(names[i].c_str());
      ASSERT_NE(pw, nullptr) << names[i];
      EXPECT_EQ(pw->pw_uid, users[i]->uid());
      EXPECT_TRUE(HasLine("/etc/subuid", names[i]));
      EXPECT_TRUE(HasLine("/etc/subgid", names[i]));
      EXPECT_GE(users[i]->subid_count(), 65536u);
    }
    EXPECT_NE(users[0]->uid(), users[1]->uid());
    const auto a = users[0]->subuid_start(), b = users[1]->subuid_start();
    EXPECT_TRUE(a + users[0]->subid_count() <= b || b + users[1]->subid_count() <= a)
        << "overlapping subordinate ranges " << a << " and " << b;
  }
  for (const auto& name : names) {
    EXPECT_EQ(getpwnam(name.c_str()), nullptr) << name << " is still a user";
    EXPECT_FALSE(HasLine("/etc/subuid", name)) << name;
    EXPECT_FALSE(HasLine("/etc/subgid", name)) << name;
  }
}

}  // namespace
}  // namespace grootfs_it
