#include "frontend/image/paths.h"

namespace grootfs::frontend::image {

std::optional<std::string> CleanAbsolutePath(std::string_view dir) {
  if (dir.empty() || dir.front() != '/') return std::nullopt;
  std::string clean;
  std::size_t i = 0;
  while (i <= dir.size()) {
    std::size_t j = dir.find('/', i);
    if (j == std::string_view::npos) j = dir.size();
    const std::string_view part = dir.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return std::nullopt;
    for (char c : part) {
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
    }
    clean += "/";
    clean += part;
  }
  return clean;
}

}  // namespace grootfs::frontend::image
