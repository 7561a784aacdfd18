// Runs in: grootfs-helper (privileged). Trusts: nothing.
#include "helper/die.h"

#include <unistd.h>

#include <string>

namespace grootfs::helper {

void Die(std::string_view what, int code) noexcept {
  // One write, so the frontend relays it as one log line.
  const std::string line = "grootfs-helper: " + std::string(what.substr(0, 256)) + "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  _exit(code);
}

}  // namespace grootfs::helper
