// The floor a warm create and a delete are measured against: the least one fresh process can do
// to turn cached layers into a mounted rootfs with its JSON, and to take it away again.
//
//   floor create DIR LOWER[:LOWER...]  makes DIR, DIR/diff, DIR/work and DIR/rootfs, mounts an
//                                      overlay of the lower dirs on DIR/rootfs and writes
//                                      DIR/image.json
//   floor delete DIR                   unmounts DIR/rootfs and removes DIR with all it holds
//
// Built by bench/run with `g++ -O2`; no library beyond libc++. Exit status 0 on success.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "floor: %s: %s\n", what.c_str(), std::strerror(errno));
  return 1;
}

int Create(const std::string& dir, const std::string& lower) {
  for (const char* sub : {"", "/diff", "/work", "/rootfs"}) {
    if (mkdir((dir + sub).c_str(), 0755) != 0) return Fail("mkdir " + dir + sub);
  }
  const std::string opts =
      "lowerdir=" + lower + ",upperdir=" + dir + "/diff,workdir=" + dir + "/work";
  if (mount("overlay", (dir + "/rootfs").c_str(), "overlay", 0, opts.c_str()) != 0) {
    return Fail("mount " + dir + "/rootfs");
  }
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

int Delete(const std::string& dir) {
  if (umount2((dir + "/rootfs").c_str(), 0) != 0) return Fail("umount " + dir);
  if (!RemoveAt(AT_FDCWD, dir.c_str())) return Fail("remove " + dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "create") == 0) return Create(argv[2], argv[3]);
  if (argc == 3 && std::strcmp(argv[1], "delete") == 0) return Delete(argv[2]);
  std::fprintf(stderr, "usage: floor create DIR LOWER[:LOWER...] | floor delete DIR\n");
  return 2;
}
