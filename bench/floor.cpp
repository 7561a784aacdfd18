// The floor a warm create and a delete are measured against: the least one fresh process can do
// to turn cached layers into a mounted rootfs with its JSON, and to take it away again.
//
//   floor create DIR LOWER[:LOWER...]  makes DIR, DIR/diff, DIR/work and DIR/rootfs, mounts an
//                                      overlay of the lower dirs on DIR/rootfs and writes
//                                      DIR/image.json
//   floor delete DIR                   unmounts DIR/rootfs and removes DIR with all it holds
//   floor create2 DIR LOWER[:LOWER...] the same, with the mount (the unmount) made by a second
//   floor delete2 DIR                  process: floor-mount beside it, this file linked static
//                                      as grootfs-helper is, spawned (vfork and exec) and
//                                      awaited. The least that splitting a command between an
//                                      unprivileged frontend and a privileged helper costs.
//
// Built by bench/run with `g++ -O2` (floor-mount with `-static-pie` too); no library beyond
// libc++. Exit status 0 on success.
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "floor: %s: %s\n", what.c_str(), std::strerror(errno));
  return 1;
}

int Mount(const std::string& dir, const std::string& lower) {
  const std::string opts =
      "lowerdir=" + lower + ",upperdir=" + dir + "/diff,workdir=" + dir + "/work";
  if (mount("overlay", (dir + "/rootfs").c_str(), "overlay", 0, opts.c_str()) != 0) {
    return Fail("mount " + dir + "/rootfs");
  }
  return 0;
}

int Unmount(const std::string& dir) {
  return umount2((dir + "/rootfs").c_str(), 0) == 0 ? 0 : Fail("umount " + dir);
}

// Runs floor-mount (beside this program) with `args` and waits for it.
int InSecondProcess(const char* self, std::initializer_list<std::string> args) {
  std::string helper = self;
  helper = helper.substr(0, helper.find_last_of('/') + 1) + "floor-mount";
  std::vector<char*> argv{helper.data()};
  std::vector<std::string> copies(args);
  for (std::string& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  char* env[] = {nullptr};
  if ((errno = posix_spawn(&pid, helper.c_str(), nullptr, nullptr, argv.data(), env)) != 0) {
    return Fail("spawn " + helper);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return Fail("wait");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int Create(const std::string& dir, const std::string& lower, const char* split_self) {
  for (const char* sub : {"", "/diff", "/work", "/rootfs"}) {
    if (mkdir((dir + sub).c_str(), 0755) != 0) return Fail("mkdir " + dir + sub);
  }
  const int mounted =
      split_self ? InSecondProcess(split_self, {"mount", dir, lower}) : Mount(dir, lower);
  if (mounted != 0) return mounted;
  const std::string json = "{\"root\":{\"path\":\"" + dir +
                           "/rootfs\"},\"process\":{\"env\":[\"PATH=/usr/bin:/bin\"]},"
                           "\"mounts\":[]}\n";
  const int fd = open((dir + "/image.json").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Fail("open image.json");
  const bool ok = write(fd, json.data(), json.size()) == static_cast<ssize_t>(json.size());
  close(fd);
  if (!ok) return Fail("write image.json");
  std::fputs(json.c_str(), stdout);
  return 0;
}

// Removes the entry `name` of the directory `parent_fd`, and everything beneath it.
bool RemoveAt(int parent_fd, const char* name) {
  if (unlinkat(parent_fd, name, 0) == 0) return true;
  if (errno != EISDIR && errno != EPERM) return false;
  const int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return false;
  }
  bool ok = true;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    ok = RemoveAt(dirfd(d), e->d_name) && ok;
  }
  closedir(d);
  return ok && unlinkat(parent_fd, name, AT_REMOVEDIR) == 0;
}

int Delete(const std::string& dir, const char* split_self) {
  const int unmounted = split_self ? InSecondProcess(split_self, {"umount", dir}) : Unmount(dir);
  if (unmounted != 0) return unmounted;
  if (!RemoveAt(AT_FDCWD, dir.c_str())) return Fail("remove " + dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (argc == 4 && (cmd == "create" || cmd == "create2"))
    return Create(argv[2], argv[3], cmd == "create2" ? argv[0] : nullptr);
  if (argc == 3 && (cmd == "delete" || cmd == "delete2"))
    return Delete(argv[2], cmd == "delete2" ? argv[0] : nullptr);
  // floor-mount's commands (the second process of create2 and delete2).
  if (argc == 4 && cmd == "mount") return Mount(argv[2], argv[3]);
  if (argc == 3 && cmd == "umount") return Unmount(argv[2]);
  std::fprintf(stderr,
               "usage: floor create|create2 DIR LOWER[:LOWER...] | floor delete|delete2 DIR\n");
  return 2;
}
