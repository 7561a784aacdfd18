// grootfs-unpack: a layer tar's reader (libarchive) and writer, kept out of the setuid helper.
// Only grootfs-helper starts it, from its user-namespace child (helper/ops/unpack_layer.cpp,
// helper/userns.cpp), which confines itself before the exec: root only inside the store's user
// namespace, Landlock beneath the work directory (the lower layers' directories listable), the
// children's seccomp filter, no_new_privs, no environment. It is linked statically, so it
// opens no library, and it opens nothing but what the tar names beneath the work directory.
// Runs in: that child. Trusts: its arguments (the helper's); nothing in the tar stream.
//
//   grootfs-unpack STREAM WORK RESULT BUDGET [LOWER...] -- [BASE...]
//
// STREAM: the tar's fd. WORK: the work directory's fd, in which it makes diff/. RESULT: the
// socket the helper reads a ChildResult from. BUDGET: the most file data in bytes (0: none).
// LOWER: the lower layers' diff directories' fds, topmost first. BASE: the components of the
// directory under diff/ the tar unpacks into. Exit status 0 once the result is written.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "helper/userns.h"
#include "unpacker/unpack_tar.h"

namespace {

using grootfs::helper::Error;
using grootfs::helper::Result;

bool Number(const char* s, std::uint64_t& out) {
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, out);
  return ec == std::errc() && p == end && p != s;
}

int Fd(const char* s) {
  std::uint64_t n = 0;
  return Number(s, n) && n <= INT_MAX ? static_cast<int>(n) : -1;
}

Result<grootfs::ipc::CountReply> Unpack(int stream, int work, std::uint64_t budget,
                                        const std::vector<int>& lowers,
                                        const std::vector<std::string>& base) {
  if (mkdirat(work, "diff", 0755) != 0) return Error::FromErrno("mkdir diff");
  auto diff = grootfs::helper::OpenBeneath(work, "diff", O_RDONLY | O_DIRECTORY);
  if (!diff) return diff.error();
  return grootfs::unpacker::UnpackTar(stream, diff->get(), base, lowers, budget);
}

}  // namespace

int main(int argc, char** argv) {
  constexpr int kUsage = 2;
  if (argc < 6) return kUsage;
  const int stream = Fd(argv[1]), work = Fd(argv[2]), result = Fd(argv[3]);
  std::uint64_t budget = 0;
  if (stream < 0 || work < 0 || result < 0 || !Number(argv[4], budget)) return kUsage;
  std::vector<int> lowers;
  int i = 5;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    lowers.push_back(Fd(argv[i]));
    if (lowers.back() < 0) return kUsage;
  }
  if (i == argc) return kUsage;
  const std::vector<std::string> base(argv + i + 1, argv + argc);
  for (const std::string& name : base)
    if (!grootfs::ipc::IsPlainName(name)) return kUsage;
  const auto out = grootfs::helper::ToChildResult(Unpack(stream, work, budget, lowers, base));
  return write(result, &out, sizeof out) == sizeof out ? 0 : 1;
}
