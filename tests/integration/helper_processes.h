// Finding the helper processes of a store, to show none outlives its grootfs.
#pragma once

#include "tests/integration/support.h"

namespace grootfs_it {

// Processes named grootfs-helper or grootfs-unpack (helpers, their children, the unpackers
// those became) that hold an fd in `store`: the store's own helpers, whoever started them.
inline std::vector<pid_t> HelpersOf(const std::string& store) {
  std::vector<pid_t> pids;
  for (const auto& entry : DirEntries("/proc")) {
    if (entry.empty() || !std::isdigit(static_cast<unsigned char>(entry[0]))) continue;
    const fs::path proc = fs::path("/proc") / entry;
    const std::string comm = Trim(ReadFile(proc / "comm"));
    if (comm != "grootfs-helper" && comm != "grootfs-unpack") continue;
    for (const auto& fd : DirEntries(proc / "fd")) {
      std::error_code ec;
      const std::string target = fs::read_symlink(proc / "fd" / fd, ec).string();
      if (!ec && (target == store || StartsWith(target, store + "/"))) {
        pids.push_back(std::stoi(entry));
        break;
      }
    }
  }
  return pids;
}

// How long until no helper of the store is left (gives up at `limit`).
inline std::chrono::milliseconds UntilNoHelpers(const std::string& store,
                                         std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (HelpersOf(store).empty() || took > limit) return took;
    usleep(10000);
  }
}

}  // namespace grootfs_it
