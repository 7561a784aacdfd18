// The frontend's user-facing error: its message is the one line printed on stdout.
#pragma once

#include <stdexcept>
#include <string>

namespace grootfs::frontend {

// Thrown for anything that ends a command. what() must be one line a user can act on.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace grootfs::frontend
