// Runs in: grootfs-helper (privileged). Trusts: nothing.
#pragma once

#include <string_view>

namespace grootfs::helper {

enum ExitCode : int {
  kExitOk = 0,
  kExitRefused = 1,    // some request was refused or failed (the contract's status 1)
  kExitMalformed = 3,  // the peer broke the protocol: the session ends, no reply
  kExitInvariant = 4,  // the helper found itself in a state it must not continue from
  kExitSetup = 5,      // start-up failed before the first request was read
};

// Writes one line to stderr and ends the process at once, without running destructors.
[[noreturn]] void Die(std::string_view what, int code = kExitMalformed) noexcept;

}  // namespace grootfs::helper
