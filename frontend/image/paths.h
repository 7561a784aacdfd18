// Paths that images declare (base directories, volumes), cleaned before use.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace grootfs::frontend::image {

// An absolute path without "..", with empty and "." components dropped; "/" becomes "".
// nullopt for a relative path, "..", or a control character.
std::optional<std::string> CleanAbsolutePath(std::string_view dir);

}  // namespace grootfs::frontend::image
