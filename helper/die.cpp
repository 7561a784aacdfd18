// Runs in: grootfs-helper (privileged). Trusts: nothing.
#include "helper/die.h"

#include <unistd.h>

#include <cstring>
#include <string>

namespace grootfs::helper {

void Die(std::string_view what, int code) noexcept {
  // One write, so the frontend relays it as one log line.
  char line[300];
  const std::string_view prefix = "grootfs-helper: ";
  std::size_t n = 0;
  for (std::string_view part : {prefix, what.substr(0, 256), std::string_view("\n")}) {
    std::memcpy(line + n, part.data(), part.size());
    n += part.size();
  }
  (void)!write(STDERR_FILENO, line, n);
  _exit(code);
}

}  // namespace grootfs::helper
