// ASCII case for protocol names (URL schemes, hosts, HTTP header names), whatever the locale.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace grootfs::frontend {

inline char AsciiLower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

inline bool AsciiEqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return AsciiLower(x) == AsciiLower(y);
         });
}

}  // namespace grootfs::frontend
