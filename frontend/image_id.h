// The contract's image ID: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$ (so never ".", "..", a leading dash
// or a slash, and a 255-character ID is a whole file name).
#pragma once

#include <cstddef>
#include <string_view>

namespace grootfs::frontend {

inline constexpr std::size_t kMaxImageIdLength = 255;

bool IsValidImageId(std::string_view id);

}  // namespace grootfs::frontend
