// Text from images, registries or the command line, made fit for a one-line message.
#pragma once

#include <string>
#include <string_view>

namespace grootfs::frontend {

// At most `max` characters (then "..."), control characters shown as '?'.
inline std::string Printable(std::string_view s, std::size_t max = 200) {
  std::string out;
  for (char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace grootfs::frontend
